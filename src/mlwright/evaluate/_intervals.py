"""Conformal prediction intervals for regression, and how often they cover the truth.

Split conformal on out-of-fold residuals: every training row was predicted by a model that
did not see it, so its absolute residual is an honest sample of the error on new rows. The
half-width at level L is the ceil((m + 1) L)-th smallest of a bin's m residuals, which
covers a new row of that bin with probability at least L when rows are exchangeable
(Vovk et al. 2005; Mondrian bins by predicted value, so widths follow the error's scale).
"""

from __future__ import annotations

import math

import numpy as np

from mlwright.artifact import PredictionIntervals, level_key
from mlwright.evaluate._metrics import Interval

LEVELS = (0.8, 0.9, 0.95)
# Each bin of the predicted value holds at least this many residuals: enough for the 95%
# quantile to rest on about ten rows above it.
MIN_BIN_ROWS = 200
MAX_BINS = 5


def conformal_quantile(residuals: np.ndarray, level: float) -> float:
    """The ceil((m + 1) level)-th smallest absolute residual (the largest when m is too
    small for that rank, where the guarantee no longer holds)."""
    r = np.sort(np.abs(np.asarray(residuals, dtype=np.float64)))
    if len(r) == 0:
        raise ValueError("no residuals to take a conformal quantile of")
    rank = min(len(r), math.ceil((len(r) + 1) * level))
    return float(r[rank - 1])


def fit_intervals(
    y: np.ndarray, pred: np.ndarray, levels: tuple[float, ...] = LEVELS
) -> PredictionIntervals:
    """Half-widths per bin of ``pred`` (out-of-fold predictions) at each level."""
    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    bins = max(1, min(MAX_BINS, len(y) // MIN_BIN_ROWS))
    edges = np.unique(np.quantile(pred, np.arange(1, bins) / bins)) if bins > 1 else np.array([])
    index = np.searchsorted(edges, pred, side="right")
    residuals = np.abs(y - pred)
    halfwidths = {
        level_key(level): [
            conformal_quantile(residuals[index == b], level) for b in range(len(edges) + 1)
        ]
        for level in levels
    }
    return PredictionIntervals(edges.tolist(), halfwidths)


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> Interval:
    """Share of rows whose truth lies in [lower, upper], with a 95% Wilson interval."""
    y = np.asarray(y, dtype=np.float64)
    inside = int(np.sum((y >= lower) & (y <= upper)))
    return proportion_interval(inside, len(y))


def proportion_interval(successes: int, n: int, z: float = 1.959963984540054) -> Interval:
    """A proportion with its Wilson score interval (95% by default)."""
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - spread), min(1.0, centre + spread))
