"""Business value of binary decisions: act when the positive-class probability >= threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlwright.spec._model import ValueSection


def decision_value(y: np.ndarray, p: np.ndarray, threshold: float, values: ValueSection) -> float:
    """Total value of acting on rows with ``p >= threshold``."""
    act = p >= threshold
    pos = y == 1
    return float(
        values.tp * np.sum(act & pos)
        + values.fp * np.sum(act & ~pos)
        + values.fn * np.sum(~act & pos)
        + values.tn * np.sum(~act & ~pos)
    )


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
