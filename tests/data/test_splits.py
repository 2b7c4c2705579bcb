"""Splits: the holdout and the folds keep their promises for any table (property tests)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwright.data import Splits, choose_strategy, make_splits, refold
from mlwright.errors import DataError

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

seeds = st.integers(0, 2**31 - 1)
fold_counts = st.integers(2, 6)
holdouts = st.floats(0.05, 0.45)


def assert_train_and_holdout_partition(splits: Splits, n: int) -> None:
    train, holdout = splits.train, splits.holdout
    assert len(train) > 0
    assert len(holdout) > 0
    assert np.intersect1d(train, holdout).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, holdout])), np.arange(n))


def assert_folds_partition_train(splits: Splits) -> None:
    """Validation parts are disjoint, cover every train position, and each fold fits on the
    other train positions."""
    m = len(splits.train)
    positions = np.arange(m)
    valid_parts = [valid for _, valid in splits.folds]
    assert all(len(valid) > 0 for valid in valid_parts)
    assert np.array_equal(np.sort(np.concatenate(valid_parts)), positions)
    for fit, valid in splits.folds:
        assert np.array_equal(np.sort(fit), np.setdiff1d(positions, valid))


def attempt(**arguments: Any) -> Splits | DataError:
    """The splits, or the DataError that refused them (any other exception propagates)."""
    try:
        return make_splits(**arguments)
    except DataError as error:
        return error


def shuffled_labels(counts: list[int], seed: int) -> np.ndarray:
    y = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(y)
    return y


def same(a: Splits, b: Splits) -> bool:
    return (
        np.array_equal(a.train, b.train)
        and np.array_equal(a.holdout, b.holdout)
        and len(a.folds) == len(b.folds)
        and all(
            np.array_equal(f1, f2) and np.array_equal(v1, v2)
            for (f1, v1), (f2, v2) in zip(a.folds, b.folds, strict=True)
        )
    )


# -- stratified and plain k-fold ----------------------------------------------------------------


@PROPERTY
@given(
    counts=st.lists(st.integers(10, 80), min_size=2, max_size=5),
    folds=fold_counts,
    holdout=st.floats(0.1, 0.45),  # with >= 10 rows a class, the holdout fits every class
    seed=seeds,
)
def test_stratified(counts: list[int], folds: int, holdout: float, seed: int) -> None:
    y = shuffled_labels(counts, seed)
    n = len(y)

    splits = make_splits(
        strategy="stratified", y=y, classification=True, folds=folds, holdout=holdout, seed=seed
    )

    assert splits.strategy == "stratified"
    assert_train_and_holdout_partition(splits, n)
    assert len(splits.holdout) == math.ceil(n * holdout)
    assert_folds_partition_train(splits)
    classes = set(range(len(counts)))
    smallest_in_train = np.bincount(y[splits.train]).min()
    assert len(splits.folds) == min(folds, smallest_in_train)
    for fit, _ in splits.folds:
        assert set(y[splits.train[fit]]) == classes
    assert splits.validated.all()
    again = make_splits(
        strategy="stratified", y=y, classification=True, folds=folds, holdout=holdout, seed=seed
    )
    assert same(splits, again)


@PROPERTY
@given(n=st.integers(10, 400), folds=fold_counts, holdout=holdouts, seed=seeds)
def test_kfold(n: int, folds: int, holdout: float, seed: int) -> None:
    y = np.random.default_rng(seed).normal(size=n)

    splits = make_splits(
        strategy="kfold", y=y, classification=False, folds=folds, holdout=holdout, seed=seed
    )

    assert splits.strategy == "kfold"
    assert_train_and_holdout_partition(splits, n)
    assert_folds_partition_train(splits)
    assert len(splits.folds) == min(folds, len(splits.train))


@PROPERTY
@given(
    counts=st.lists(st.integers(1, 6), min_size=1, max_size=6),
    strategy=st.sampled_from(["stratified", "kfold"]),
    folds=st.integers(2, 20),
    holdout=holdouts,
    seed=seeds,
)
def test_tiny_tables_split_or_raise_data_error(
    counts: list[int], strategy: str, folds: int, holdout: float, seed: int
) -> None:
    y = shuffled_labels(counts, seed)

    splits = attempt(
        strategy=strategy,
        y=y,
        classification=strategy == "stratified",
        folds=folds,
        holdout=holdout,
        seed=seed,
    )

    if isinstance(splits, DataError):
        assert splits.hint
        return
    assert_train_and_holdout_partition(splits, len(y))
    assert_folds_partition_train(splits)


def test_a_class_of_one_row_cannot_be_stratified() -> None:
    y = np.array([0] * 30 + [1])

    with pytest.raises(DataError, match="only 1 row") as info:
        make_splits(strategy="stratified", y=y, classification=True, folds=5, holdout=0.2, seed=0)

    assert "target.rare_class" in (info.value.hint or "")


def test_more_classes_than_holdout_rows() -> None:
    y = np.repeat(np.arange(10), 3)

    with pytest.raises(DataError, match="10 classes") as info:
        make_splits(strategy="stratified", y=y, classification=True, folds=2, holdout=0.1, seed=0)

    assert info.value.field == "validation.holdout"
    assert info.value.hint


def test_folds_are_capped_by_the_training_rows() -> None:
    splits = make_splits(
        strategy="kfold", y=np.arange(20.0), classification=False, folds=20, holdout=0.2, seed=0
    )

    assert len(splits.train) == 16
    assert len(splits.folds) == 16
    assert splits.description.startswith("16-fold k-fold on 16 rows")


# -- groups -------------------------------------------------------------------------------------


@st.composite
def grouped(draw: st.DrawFn, min_size: int = 3) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Labels, groups (at least folds + 1 of them, ``min_size`` rows or more each), folds, and
    whether the task is classification."""
    folds = draw(fold_counts)
    sizes = draw(st.lists(st.integers(min_size, 15), min_size=folds + 1, max_size=30))
    classification = draw(st.booleans())
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.array([f"g{i}" for i in range(len(sizes))]), sizes)
    order = rng.permutation(len(groups))
    groups = groups[order]
    y = rng.integers(0, 2, len(groups)) if classification else rng.normal(size=len(groups))
    if classification:
        y[:2] = [0, 1]  # both classes present
    return y, groups, folds, classification


@PROPERTY
@given(data=grouped(), holdout=holdouts, seed=seeds)
def test_group(data: tuple[np.ndarray, np.ndarray, int, bool], holdout: float, seed: int) -> None:
    y, groups, folds, classification = data

    splits = make_splits(
        strategy="group",
        y=y,
        classification=classification,
        folds=folds,
        holdout=holdout,
        seed=seed,
        groups=groups,
    )

    assert splits.strategy == "group"
    assert_train_and_holdout_partition(splits, len(y))
    assert not set(groups[splits.train]) & set(groups[splits.holdout])
    assert len(splits.folds) == folds
    assert_folds_partition_train(splits)
    train_groups = groups[splits.train]
    for fit, valid in splits.folds:
        assert not set(train_groups[fit]) & set(train_groups[valid])


@PROPERTY
@given(data=grouped(min_size=1), holdout=holdouts, seed=seeds)
def test_tiny_groups_split_or_raise_data_error(
    data: tuple[np.ndarray, np.ndarray, int, bool], holdout: float, seed: int
) -> None:
    y, groups, folds, classification = data

    splits = attempt(
        strategy="group",
        y=y,
        classification=classification,
        folds=folds,
        holdout=holdout,
        seed=seed,
        groups=groups,
    )

    if isinstance(splits, DataError):
        assert classification, "folds + 1 groups always suffice for regression"
        assert splits.field == "task.group"
        return
    assert_train_and_holdout_partition(splits, len(y))
    assert not set(groups[splits.train]) & set(groups[splits.holdout])
    assert_folds_partition_train(splits)


def test_folds_plus_one_groups_suffice() -> None:
    groups = np.repeat(np.arange(6), 10)
    y = np.tile([0, 1], 30)

    for classification in (True, False):
        for holdout in (0.1, 0.2, 0.45):
            splits = make_splits(
                strategy="group",
                y=y,
                classification=classification,
                folds=5,
                holdout=holdout,
                seed=0,
                groups=groups,
            )
            assert len(set(groups[splits.holdout])) == 1
            assert len(splits.folds) == 5


def test_too_few_groups() -> None:
    with pytest.raises(DataError, match="4 distinct groups") as info:
        make_splits(
            strategy="group",
            y=np.arange(40.0),
            classification=False,
            folds=4,
            holdout=0.2,
            seed=0,
            groups=np.repeat(np.arange(4), 10),
        )

    assert info.value.field == "task.group"
    assert info.value.hint


def test_group_split_needs_groups() -> None:
    with pytest.raises(ValueError, match="needs groups"):
        make_splits(
            strategy="group", y=np.zeros(10), classification=False, folds=2, holdout=0.2, seed=0
        )


# -- time ---------------------------------------------------------------------------------------


@st.composite
def timestamps(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(2, 300))
    distinct = draw(st.integers(1, n))
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    # Few distinct values among many rows: plenty of ties, unsorted.
    values = np.sort(rng.choice(10_000, size=distinct, replace=False)).astype(np.float64)
    return values[rng.integers(0, distinct, n)]


@PROPERTY
@given(times=timestamps(), folds=fold_counts, holdout=holdouts)
def test_time(times: np.ndarray, folds: int, holdout: float) -> None:
    n = len(times)
    splits = attempt(
        strategy="time",
        y=np.zeros(n),
        classification=False,
        folds=folds,
        holdout=holdout,
        seed=0,
        times=times,
    )

    if isinstance(splits, DataError):
        # Only a table whose times barely change may be refused.
        largest_tie = np.unique(times, return_counts=True)[1].max()
        assert n < 4 or largest_tie > n / 4, splits
        assert splits.field == "task.time"
        return
    assert splits.strategy == "time"
    assert_train_and_holdout_partition(splits, n)
    train_times = times[splits.train]
    assert np.all(np.diff(train_times) >= 0)  # train is in time order
    assert train_times.max() < times[splits.holdout].min()
    assert 1 <= len(splits.folds) <= folds
    previous_end = None
    for fit, valid in splits.folds:
        assert len(fit) > 0
        assert len(valid) > 0
        # Forward chaining: fit on everything before the validation block, all of it earlier.
        assert np.array_equal(fit, np.arange(valid.min()))
        assert np.array_equal(valid, np.arange(valid.min(), valid.max() + 1))
        assert train_times[fit].max() < train_times[valid].min()
        if previous_end is not None:
            assert valid.min() == previous_end
        previous_end = valid.max() + 1
    assert previous_end == len(splits.train)
    # Only the first block is never validated.
    first = splits.folds[0][1].min()
    assert not splits.validated[:first].any()
    assert splits.validated[first:].all()


def test_time_holdout_when_the_last_timestamp_holds_many_rows() -> None:
    # Four monthly snapshots of equal size: the last month is more than the 20% asked for,
    # and it becomes the holdout rather than a refusal.
    times = np.repeat([1.0, 2.0, 3.0, 4.0], 25)
    np.random.default_rng(0).shuffle(times)

    splits = make_splits(
        strategy="time",
        y=np.zeros(100),
        classification=False,
        folds=3,
        holdout=0.2,
        seed=0,
        times=times,
    )

    assert set(times[splits.holdout]) == {4.0}
    assert len(splits.holdout) == 25
    assert len(splits.folds) == 2  # months 1 | 2, then months 1-2 | 3
    assert [set(times[splits.train[v]]) for _, v in splits.folds] == [{2.0}, {3.0}]


def test_one_timestamp_for_all_rows() -> None:
    with pytest.raises(DataError, match="share one timestamp") as info:
        make_splits(
            strategy="time",
            y=np.zeros(50),
            classification=False,
            folds=3,
            holdout=0.2,
            seed=0,
            times=np.full(50, 7.0),
        )

    assert info.value.field == "task.time"


def test_time_split_needs_times() -> None:
    with pytest.raises(ValueError, match="needs times"):
        make_splits(
            strategy="time", y=np.zeros(10), classification=False, folds=2, holdout=0.2, seed=0
        )


# -- choosing a strategy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "classification", "has_group", "has_time", "expected"),
    [
        ("auto", True, False, False, "stratified"),
        ("auto", False, False, False, "kfold"),
        ("auto", True, True, False, "group"),
        ("auto", True, True, True, "time"),
        ("auto", False, False, True, "time"),
        ("kfold", True, True, True, "kfold"),
    ],
)
def test_choose_strategy(
    requested: str, classification: bool, has_group: bool, has_time: bool, expected: str
) -> None:
    chosen = choose_strategy(
        requested, classification=classification, has_group=has_group, has_time=has_time
    )

    assert chosen == expected


# -- new folds for repeated bagging -------------------------------------------------------------


def assert_folds_partition(folds: list[tuple[np.ndarray, np.ndarray]], rows: np.ndarray) -> None:
    """Validated parts are disjoint and cover ``rows``; each fold fits on the other rows."""
    valid_parts = [valid for _, valid in folds]
    assert all(len(valid) > 0 for valid in valid_parts)
    assert np.array_equal(np.sort(np.concatenate(valid_parts)), np.sort(rows))
    for fit, valid in folds:
        assert np.array_equal(np.sort(fit), np.setdiff1d(rows, valid))


@PROPERTY
@given(
    counts=st.lists(st.integers(10, 60), min_size=2, max_size=4),
    folds=fold_counts,
    seed=seeds,
    stratified=st.booleans(),
)
def test_refold_partitions_the_rows_it_is_given(
    counts: list[int], folds: int, seed: int, stratified: bool
) -> None:
    y = shuffled_labels(counts, seed)
    rows = np.sort(np.random.default_rng(seed).permutation(len(y))[: len(y) * 3 // 4])
    strategy = "stratified" if stratified else "kfold"
    new = refold(rows, y, strategy=strategy, folds=folds, seed=seed, classification=stratified)
    assert len(new) == (min(folds, *np.bincount(y[rows])) if stratified else folds)
    assert_folds_partition(new, rows)
    if stratified:  # each class spread over the folds as evenly as it can be
        for _, valid in new:
            share = np.bincount(y[valid], minlength=len(counts)) / len(valid)
            overall = np.bincount(y[rows], minlength=len(counts)) / len(rows)
            assert np.all(np.abs(share - overall) < 0.25)


@PROPERTY
@given(data=grouped(), seed=seeds)
def test_refold_keeps_every_group_on_one_side(
    data: tuple[np.ndarray, np.ndarray, int, bool], seed: int
) -> None:
    y, groups, folds, classification = data
    rows = np.arange(len(y))
    new = refold(
        rows,
        y,
        strategy="group",
        folds=folds,
        seed=seed,
        classification=classification,
        groups=groups,
    )
    assert_folds_partition(new, rows)
    for fit, valid in new:
        assert not set(groups[fit]) & set(groups[valid])


def test_refold_draws_other_folds_with_another_seed() -> None:
    y = shuffled_labels([100, 60], 0)
    rows = np.arange(len(y))
    first = refold(rows, y, strategy="stratified", folds=5, seed=1, classification=True)
    again = refold(rows, y, strategy="stratified", folds=5, seed=1, classification=True)
    other = refold(rows, y, strategy="stratified", folds=5, seed=2, classification=True)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, other, strict=True))


def test_a_time_split_has_no_other_folds() -> None:
    with pytest.raises(ValueError, match="time split"):
        refold(np.arange(10), np.zeros(10), strategy="time", folds=3, seed=0, classification=False)
