"""Validation that matches the data: a final holdout, then cross-validation folds on the rest.

* stratified k-fold (classification) or k-fold (regression) by default;
* group k-fold when a group column is given: a group never spans train and validation;
* forward-chaining time splits when a time column is given: always train on the past.

The holdout is chosen first and is used only to report, never to choose.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from mlwright.errors import DataError

P = ParamSpec("P")
R = TypeVar("R")
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
    _require_splittable(stratify, n, holdout)
    train, test = train_test_split(
        indices, test_size=holdout, random_state=seed, shuffle=True, stratify=stratify
    )
    train, test = np.sort(train), np.sort(test)
    k = _fold_count(y[train] if stratify is not None else None, min(folds, len(train)))
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


def _require_splittable(y: np.ndarray | None, n: int, holdout: float) -> None:
    """Refuse, with a hint, a table too small for the holdout and folds asked for (before
    scikit-learn refuses it with a bare ValueError)."""
    n_test = math.ceil(n * holdout)  # as train_test_split rounds
    n_train = n - n_test
    if n_train < 2:
        raise DataError(
            f"only {n} labelled rows: too few to hold out {holdout:.0%} and cross-validate "
            "the rest",
            hint="collect more labelled rows (see the data.too_few_rows finding)",
        )
    if y is None:
        return
    counts = np.unique(y, return_counts=True)[1]
    if counts.min() < 2:
        raise DataError(
            "a class has only 1 row, so a stratified holdout cannot be drawn",
            hint="merge or drop the rarest classes (see the target.rare_class finding)",
        )
    if min(n_test, n_train) < len(counts):
        raise DataError(
            f"a stratified split needs a row of each of the {len(counts)} classes on both "
            f"sides, but the holdout has {n_test} rows and training {n_train}",
            field="validation.holdout",
            hint="collect more rows, merge rare classes, or raise validation.holdout",
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


def _without_rare_class_warning(func: Callable[P, R]) -> Callable[P, R]:
    """A class rarer than the folds is reported by the target.rare_class finding; scikit-learn's
    own warning about it would only repeat that, in the middle of the progress bars."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="The least populated class", category=UserWarning
            )
            return func(*args, **kwargs)

    return wrapper


@_without_rare_class_warning
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
    # scikit-learn's stratified group split refuses more folds than its largest class has rows.
    limit = min(n_groups, _largest_class(y)) if classification else n_groups
    # The holdout is one fold of a group split with about 1/holdout folds: the first fold
    # that leaves enough to cross-validate on; failing that, as many folds as allowed, so
    # that folds + 1 groups suffice.
    found: tuple[np.ndarray, np.ndarray] | None = None
    for n_outer in dict.fromkeys((min(max(2, round(1.0 / holdout)), limit), limit)):
        if n_outer < 2:
            continue
        outer = (
            StratifiedGroupKFold(n_outer, shuffle=True, random_state=seed)
            if classification
            else GroupKFold(n_outer, shuffle=True, random_state=seed)
        )
        found = next(
            (
                (fit, held)
                for fit, held in outer.split(indices, y, groups)
                if len(held)
                and len(np.unique(groups[fit])) >= folds
                and (not classification or _largest_class(y[fit]) >= folds)
            ),
            None,
        )
        if found is not None:
            break
    if found is None:
        raise DataError(
            f"no holdout of whole groups leaves enough groups (of {n_groups}) and rows for "
            f"{folds}-fold group validation",
            field="task.group",
            hint="use a finer group column, or fewer validation.folds",
        )
    train, test = found
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


def _largest_class(y: np.ndarray) -> int:
    return int(np.unique(y, return_counts=True)[1].max())


def _time_splits(times: np.ndarray, folds: int, holdout: float) -> Splits:
    """Sort by time; the holdout is the latest rows; folds chain forward: fold i trains on
    every block before block i+1 and validates on block i+1. Ties in time never straddle a cut."""
    order = np.argsort(times, kind="stable")
    sorted_times = times[order]
    n = len(times)

    holdout_start = cut_at(sorted_times, min(max(round(n * (1.0 - holdout)), 1), n - 1))
    if holdout_start == 0:
        raise DataError(
            "all rows share one timestamp, so no rows are later than others for the holdout",
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
    """The first position at or after ``position`` where the time changes; when the time
    never changes after it, the start of that last run of equal times (0 if all are equal)."""
    n = len(sorted_times)
    if position <= 0:
        return 0
    if position >= n:
        return n
    tied = sorted_times[position - 1]
    forward = int(np.searchsorted(sorted_times, tied, side="right"))
    return forward if forward < n else int(np.searchsorted(sorted_times, tied, side="left"))


@_without_rare_class_warning
def refold(
    rows: np.ndarray,
    y: np.ndarray,
    *,
    strategy: Strategy,
    folds: int,
    seed: int,
    classification: bool,
    groups: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` new random folds over ``rows`` (positions into ``y`` and ``groups``), drawn
    the way ``strategy`` draws them but with ``seed``: what repeated k-fold bagging fits a
    configuration on again. A time split has one order only, so it has no other folds."""
    rows = np.asarray(rows)
    if strategy == "time":
        raise ValueError("a time split has no other folds to draw")
    labels = np.asarray(y)[rows]
    splitter: GroupKFold | StratifiedGroupKFold | StratifiedKFold | KFold
    if strategy == "group":
        if groups is None:
            raise ValueError("a group split needs groups")
        k = min(folds, len(np.unique(np.asarray(groups)[rows])))  # the holdout took some
        splitter = (
            StratifiedGroupKFold(k, shuffle=True, random_state=seed)
            if classification
            else GroupKFold(k, shuffle=True, random_state=seed)
        )
        split = splitter.split(rows, labels, np.asarray(groups)[rows])
    elif strategy == "stratified":
        splitter = StratifiedKFold(_fold_count(labels, folds), shuffle=True, random_state=seed)
        split = splitter.split(rows, labels)
    else:
        splitter = KFold(folds, shuffle=True, random_state=seed)
        split = splitter.split(rows)
    return [(rows[fit], rows[valid]) for fit, valid in split]
