"""Link functions from a booster's raw scores to the Learner contract's outputs, in float64.

A batch (NumPy) and one row (plain Python floats) go through the same operations in the
same order, so ``predict_one`` agrees with ``predict`` to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlwright.learners._base import LearnerTask

PAIRWISE_SUM_BLOCK = 8


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only, so large |z| never overflows.
    e = np.exp(-np.abs(z))
    out: np.ndarray = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out


def _sigmoid_one(z: float) -> float:
    # The batch formulas, operation for operation; NumPy's exp on a scalar runs the same
    # loop as on an array (math.exp can differ in the last bit).
    if z >= 0:
        return 1.0 / (1.0 + float(np.exp(-z)))
    e = float(np.exp(z))
    return e / (1.0 + e)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _softmax_one(z: list[float]) -> list[float]:
    if len(z) >= PAIRWISE_SUM_BLOCK:
        # NumPy sums eight or more numbers in blocks: let it sum this row as it sums a batch.
        out: list[float] = _softmax(np.asarray([z], dtype=np.float64))[0].tolist()
        return out
    top = max(z)
    e = [float(np.exp(v - top)) for v in z]
    total = sum(e)  # below eight terms NumPy sums left to right too
    return [v / total for v in e]


def link(raw: np.ndarray, task: LearnerTask) -> np.ndarray:
    """Raw scores, (n,) or (n, k), to probabilities (n, k) or values (n,)."""
    raw = np.asarray(raw, dtype=np.float64)
    if task.problem_type == "binary":
        p = _sigmoid(raw.reshape(-1))
        return np.column_stack([1.0 - p, p])
    if task.problem_type == "multiclass":
        # Row-contiguous, so each row is summed in the order a single row is.
        return _softmax(np.ascontiguousarray(raw.reshape(len(raw), -1)))
    return raw.reshape(-1)


def link_one(raw: Sequence[float], task: LearnerTask) -> list[float]:
    """One row's raw scores to k probabilities, or [value]."""
    if task.problem_type == "binary":
        p = _sigmoid_one(float(raw[0]))
        return [1.0 - p, p]
    if task.problem_type == "multiclass":
        return _softmax_one([float(v) for v in raw])
    return [float(raw[0])]
