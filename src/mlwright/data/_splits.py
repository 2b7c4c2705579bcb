"""Validation that matches the data: a final holdout, then cross-validation folds on the rest.

* stratified k-fold (classification) or k-fold (regression) by default;
* group k-fold when a group column is given: a group never spans train and validation;
* forward-chaining time splits when a time column is given: always train on the past.

The holdout is chosen first and is used only to report, never to choose.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from mlwright.errors import DataError

Strategy = Literal["stratified", "kfold", "group", "time"]


@dataclass(frozen=True)
class Splits:
    """Row indices into the labelled table.

    ``folds`` index into ``train`` positions: fold ``(fit, valid)`` trains on
    ``train[fit]`` and validates on ``train[valid]``.
    """

    strategy: Strategy
    train: np.ndarray
    holdout: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    description: str

    @property
    def validated(self) -> np.ndarray:
        """Train positions that some fold validates (all of them, except the first block of a
        time split, which is never in the future of anything)."""
        mask = np.zeros(len(self.train), dtype=bool)
        for _, valid in self.folds:
            mask[valid] = True
        return mask


def choose_strategy(
    requested: str, *, classification: bool, has_group: bool, has_time: bool
) -> Strategy:
    if requested != "auto":
        return requested  # type: ignore[return-value]
    if has_time:
        return "time"
    if has_group:
        return "group"
    return "stratified" if classification else "kfold"


def make_splits(
    *,
    strategy: Strategy,
    y: np.ndarray,
    classification: bool,
    folds: int,
    holdout: float,
    seed: int,
    groups: np.ndarray | None = None,
    times: np.ndarray | None = None,
) -> Splits:
    n = len(y)
    if strategy == "time":
        if times is None:
            raise ValueError("a time split needs times")
        return _time_splits(times, folds, holdout)
    if strategy == "group":
        if groups is None:
            raise ValueError("a group split needs groups")
        return _group_splits(
            y, groups=groups, classification=classification, folds=folds, holdout=holdout, seed=seed
        )
    indices = np.arange(n)
    stratify = y if strategy == "stratified" else None
    train, test = train_test_split(
        indices, test_size=holdout, random_state=seed, shuffle=True, stratify=stratify
    )
    train, test = np.sort(train), np.sort(test)
    k = _fold_count(y[train] if stratify is not None else None, folds)
    splitter = (
        StratifiedKFold(k, shuffle=True, random_state=seed)
        if stratify is not None
        else KFold(k, shuffle=True, random_state=seed)
    )
    fold_list = [(fit, valid) for fit, valid in splitter.split(train, y[train])]
    name = "stratified k-fold" if stratify is not None else "k-fold"
    return Splits(
        strategy=strategy,
        train=train,
        holdout=test,
        folds=fold_list,
        description=f"{k}-fold {name} on {len(train)} rows; random {holdout:.0%} holdout "
        f"({len(test)} rows)" + (", stratified" if stratify is not None else ""),
    )


def _fold_count(y: np.ndarray | None, folds: int) -> int:
    """As many folds as asked, but no more than the rarest class has rows."""
    if y is None:
        return folds
    _, counts = np.unique(y, return_counts=True)
    k = min(folds, int(counts.min()))
    if k < 2:
        raise DataError(
            "a class has fewer than 2 training rows, so it cannot be cross-validated",
            hint="merge or drop the rarest classes (see the target.rare_class finding)",
        )
    return k


def _group_splits(
    y: np.ndarray,
    *,
    groups: np.ndarray,
    classification: bool,
    folds: int,
    holdout: float,
    seed: int,
) -> Splits:
    n_groups = len(np.unique(groups))
    if n_groups < folds + 1:
        raise DataError(
            f"the group column has {n_groups} distinct groups; group validation needs at least "
            f"{folds + 1} (the folds plus the holdout)",
            field="task.group",
            hint="use a finer group column, fewer validation.folds, or no group column",
        )
    indices = np.arange(len(y))
    # The holdout is one fold of a group split with about 1/holdout folds.
    n_holdout_folds = max(2, round(1.0 / holdout))
    outer = (
        StratifiedGroupKFold(n_holdout_folds, shuffle=True, random_state=seed)
        if classification
        else GroupKFold(n_holdout_folds, shuffle=True, random_state=seed)
    )
    train, test = next(iter(outer.split(indices, y, groups)))
    inner = (
        StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        if classification
        else GroupKFold(folds, shuffle=True, random_state=seed)
    )
    fold_list = [(fit, valid) for fit, valid in inner.split(train, y[train], groups[train])]
    return Splits(
        strategy="group",
        train=np.sort(train),
        holdout=np.sort(test),
        folds=fold_list,
        description=f"{folds}-fold group k-fold on {len(train)} rows; holdout of whole groups "
        f"({len(test)} rows)",
    )


def _time_splits(times: np.ndarray, folds: int, holdout: float) -> Splits:
    """Sort by time; the holdout is the latest rows; folds chain forward: fold i trains on
    every block before block i+1 and validates on block i+1. Ties in time never straddle a cut."""
    order = np.argsort(times, kind="stable")
    sorted_times = times[order]
    n = len(times)

    holdout_start = cut_at(sorted_times, min(max(round(n * (1.0 - holdout)), 1), n - 1))
    if holdout_start >= n:
        raise DataError(
            "all rows share the last timestamp, so no later rows are left for the holdout",
            field="task.time",
            hint="check the time column",
        )
    train = order[:holdout_start]
    test = order[holdout_start:]
    train_times = sorted_times[:holdout_start]
    m = len(train)
    bounds = sorted({cut_at(train_times, round(m * i / (folds + 1))) for i in range(1, folds + 1)})
    bounds = [b for b in bounds if 0 < b < m]
    if not bounds:
        raise DataError(
            "the training rows have too few distinct times for forward-chaining validation",
            field="task.time",
            hint="use fewer validation.folds, or a finer time column",
        )
    edges = [*bounds, m]
    fold_list = [
        (np.arange(0, start), np.arange(start, end)) for start, end in itertools.pairwise(edges)
    ]
    return Splits(
        strategy="time",
        train=train,
        holdout=test,
        folds=fold_list,
        description=f"{len(fold_list)} forward-chaining time folds on {m} rows; latest "
        f"{len(test)} rows held out",
    )


def cut_at(sorted_times: np.ndarray, position: int) -> int:
    """The first position at or after ``position`` where the time changes."""
    n = len(sorted_times)
    if position <= 0:
        return 0
    if position >= n:
        return n
    return int(np.searchsorted(sorted_times, sorted_times[position - 1], side="right"))
