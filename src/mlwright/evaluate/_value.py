"""Business value of binary decisions: act when the positive-class probability >= threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlwright.evaluate._metrics import Interval
from mlwright.spec._model import ValueSection


def row_values(y: np.ndarray, p: np.ndarray, threshold: float, values: ValueSection) -> np.ndarray:
    """Each row's value when acting on rows with ``p >= threshold``."""
    act = np.asarray(p) >= threshold
    pos = np.asarray(y) == 1
    return np.where(act, np.where(pos, values.tp, values.fp), np.where(pos, values.fn, values.tn))


def decision_value(y: np.ndarray, p: np.ndarray, threshold: float, values: ValueSection) -> float:
    """Total value of acting on rows with ``p >= threshold``."""
    return float(row_values(y, p, threshold, values).sum())


def per_1000_interval(
    per_row: np.ndarray, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> Interval:
    """Value per 1,000 decisions (1,000 x the mean of ``per_row``) with a percentile bootstrap
    interval over rows. For a difference between two policies, pass the per-row difference:
    the interval is then paired."""
    per_row = np.asarray(per_row, dtype=np.float64)
    if len(per_row) == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    # Chunks of resamples keep memory at a few MB for any number of rows.
    chunk = max(1, 2_000_000 // len(per_row))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        rows = rng.integers(0, len(per_row), (stop - start, len(per_row)))
        means[start:stop] = per_row[rows].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha]) * 1000.0
    return Interval(float(per_row.mean() * 1000.0), float(low), float(high))


def value_curve(
    y: np.ndarray, p: np.ndarray, values: ValueSection, points: int = 101
) -> list[dict[str, float]]:
    """Value per 1,000 decisions and the share of rows acted on, at ``points`` thresholds
    evenly spaced over [0, 1]."""
    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    order = np.sort(p)
    n = len(p)
    curve = []
    for threshold in np.linspace(0.0, 1.0, points):
        acted = n - int(np.searchsorted(order, threshold, side="left"))
        curve.append(
            {
                "threshold": float(threshold),
                "value_per_1000": decision_value(y, p, float(threshold), values) / n * 1000.0
                if n
                else float("nan"),
                "acted_share": acted / n if n else float("nan"),
            }
        )
    return curve


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    value_per_1000: float


def best_threshold(y: np.ndarray, p: np.ndarray, values: ValueSection) -> ThresholdChoice:
    """The threshold that maximises total value on (y, p); ties go to the higher threshold
    (fewer actions for the same value)."""
    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    n = len(y)
    n_pos = int(y.sum())
    # Acting on the top i rows (i = 0..n): cumulative positives among them.
    tp = np.concatenate([[0], np.cumsum(y_sorted)])
    acted = np.arange(n + 1)
    fp = acted - tp
    fn = n_pos - tp
    tn = (n - n_pos) - fp
    total = values.tp * tp + values.fp * fp + values.fn * fn + values.tn * tn
    # Only cut between distinct probabilities.
    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = p_sorted[1:] != p_sorted[:-1]
    candidates = np.nonzero(valid)[0]
    best = candidates[np.argmax(total[candidates])]
    if best == 0:
        # Act on no one: a threshold just above the highest probability.
        threshold = float(np.nextafter(p_sorted[0], np.inf)) if n else 1.0
    else:
        threshold = float(p_sorted[best - 1])
    return ThresholdChoice(threshold=threshold, value_per_1000=float(total[best]) / n * 1000.0)
