"""Sizing the search to the time and memory budgets: fewer rows and folds, never a crash.

On large tables the search runs on a seeded sample of the rows (stratified for
classification), with fewer folds, so that a first strong candidate fits in a fraction
of the budget and every worker's copy of a fold fits in memory. The final model can
still be refit on every row afterwards when the budget allows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Rough cost of gradient boosting on one core: seconds per (row x feature) per fold fit,
# early stopping included. Measured: LightGBM's first configuration on 2.7 million rows x 8
# features took at least 1.2e-6 per cell (it was cut off at the deadline).
SECONDS_PER_CELL = 1.5e-6
# The first candidate's folds together should use at most this share of the search time.
FIRST_TRIAL_SHARE = 0.25
# Bytes per matrix cell, and how many copies of a fold's matrix a worker holds at its peak
# (the memory-mapped matrix, the learner's own binned or float32 copy, temporaries).
CELL_BYTES = 8
WORKER_COPIES = 3
MIN_SEARCH_ROWS = 20_000
FEWER_FOLDS_ROWS = 200_000
# Columns each feature kind becomes in the tree style (text is hashed into 128 buckets).
WIDTH = {"numeric": 1, "categorical": 1, "boolean": 1, "datetime": 6, "text": 128}


def machine_memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8 * 1024**3


@dataclass(frozen=True)
class SearchScale:
    rows: int
    folds: int
    reason: str | None  # why the search is smaller than the data, if it is

    def to_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "folds": self.folds, "reason": self.reason}


def plan_scale(
    *,
    n_rows: int,
    kinds: Sequence[str],
    search_seconds: float,
    memory_gb: float | None,
    workers: int,
    folds: int,
) -> SearchScale:
    """How many rows and folds the search can afford."""
    width = sum(WIDTH.get(k, 1) for k in kinds) or 1
    memory = memory_gb * 1024**3 if memory_gb is not None else machine_memory_bytes() / 2
    by_memory = int(memory / (width * CELL_BYTES * (2 + WORKER_COPIES * max(workers, 1))))
    if math.isinf(search_seconds):
        by_time = n_rows  # a trial count, not a clock, bounds the search
    else:
        cost = SECONDS_PER_CELL * width * folds
        by_time = int(FIRST_TRIAL_SHARE * search_seconds * max(workers, 1) / cost)
    rows = min(n_rows, by_memory, max(by_time, MIN_SEARCH_ROWS))
    reasons = []
    if rows < n_rows:
        if by_memory < n_rows and by_memory <= max(by_time, MIN_SEARCH_ROWS):
            reasons.append(f"memory budget {memory / 1024**3:.1f} GB")
        else:
            reasons.append(f"time budget {search_seconds:.0f} s of search")
    fold_count = folds
    if rows > FEWER_FOLDS_ROWS and folds > 3:
        fold_count = 3
        reasons.append(f"{rows:,} rows need fewer folds")
    return SearchScale(rows=rows, folds=fold_count, reason="; ".join(reasons) or None)


def sample_rows(y: np.ndarray, rows: int, *, classification: bool, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of ``rows`` rows, stratified by class."""
    n = len(y)
    if rows >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if not classification:
        return np.sort(rng.choice(n, rows, replace=False))
    picked = []
    classes, counts = np.unique(y, return_counts=True)
    for cls, count in zip(classes, counts, strict=True):
        take = max(1, round(rows * count / n))
        members = np.nonzero(y == cls)[0]
        picked.append(rng.choice(members, min(take, count), replace=False))
    return np.sort(np.concatenate(picked))
