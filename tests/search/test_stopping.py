"""Early-stopping rows: carved from each fold's training rows the way the folds split, and
read by the learners that stop early, so that no out-of-fold prediction comes from a model
whose stopping point its own validated rows chose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwright.learners import LearnerTask, learner_class
from mlwright.search import (
    SearchSplit,
    TrialSpec,
    carve_stopping,
    run_trial,
)
from mlwright.search._prepare import MIN_STOPPING_ROWS, fold_rounds, stopping_rows
from searching import binary_data, prepared_binary, random_folds

ROWS = 600
FOLDS = 3


def test_stopping_rows_are_a_fifth_up_to_500_then_a_tenth_or_500() -> None:
    assert stopping_rows(400) == 80
    assert stopping_rows(2_500) == 500
    assert stopping_rows(4_000) == 500
    assert stopping_rows(50_000) == 5_000
    assert stopping_rows(5 * MIN_STOPPING_ROWS - 5) == 0  # too few: validated rows stop it


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 20_000))
def test_stopping_rows_leave_most_of_a_fold_to_fit(n: int) -> None:
    size = stopping_rows(n)
    assert size == 0 or MIN_STOPPING_ROWS <= size <= 0.2 * n + 0.5


def test_random_folds_stop_on_a_stratified_sample_of_their_training_rows() -> None:
    y = binary_data(ROWS)[1]
    folds = random_folds(ROWS, FOLDS)
    split = carve_stopping(SearchSplit(folds), y, classification=True, seed=0)
    assert split.stopping is not None
    assert len(split.stopping) == FOLDS
    for (fit, valid), stop in zip(split.folds, split.stopping, strict=True):
        assert set(stop.tolist()) <= set(fit.tolist())  # never a validated row
        assert not set(stop.tolist()) & set(valid.tolist())
        assert len(stop) == stopping_rows(len(fit))
        assert abs(y[stop].mean() - y[fit].mean()) < 0.05  # stratified by class
    again = carve_stopping(SearchSplit(folds), y, classification=True, seed=0)
    assert again.stopping is not None
    assert all(np.array_equal(a, b) for a, b in zip(again.stopping, split.stopping, strict=True))
    assert not np.array_equal(split.stopping[0], split.stopping[1])  # each fold its own draw


def test_a_time_split_stops_on_each_folds_latest_training_rows() -> None:
    times = np.random.default_rng(1).permutation(ROWS).astype(float)
    order = np.argsort(times)
    blocks = np.array_split(order, FOLDS + 1)
    folds = [
        (np.sort(np.concatenate(blocks[: i + 1])), np.sort(blocks[i + 1])) for i in range(FOLDS)
    ]
    y = binary_data(ROWS)[1]
    split = carve_stopping(SearchSplit(folds), y, classification=True, seed=0, times=times)
    assert split.stopping is not None
    for (fit, _), stop in zip(folds, split.stopping, strict=True):
        rest = np.setdiff1d(fit, stop)
        assert len(stop)
        assert times[stop].min() > times[rest].max()


def test_a_group_split_stops_on_whole_groups() -> None:
    y = binary_data(ROWS)[1]
    groups = np.arange(ROWS) % 37
    split = carve_stopping(
        SearchSplit(random_folds(ROWS, FOLDS)), y, classification=True, seed=0, groups=groups
    )
    assert split.stopping is not None
    for (fit, _), stop in zip(split.folds, split.stopping, strict=True):
        rest = np.setdiff1d(fit, stop)
        assert len(stop)
        assert not set(groups[stop].tolist()) & set(groups[rest].tolist())


def test_a_class_is_never_left_only_in_the_stopping_rows() -> None:
    y = np.zeros(ROWS, dtype=np.int64)
    y[:3] = 2  # a class of three rows: stratification would put one in each sample
    y[3:200] = 1
    split = carve_stopping(SearchSplit(random_folds(ROWS, FOLDS)), y, classification=True, seed=0)
    assert split.stopping is not None
    for (fit, _), stop in zip(split.folds, split.stopping, strict=True):
        rest = np.setdiff1d(fit, stop)
        assert set(y[fit].tolist()) == set(y[rest].tolist())


def test_tiny_folds_keep_stopping_on_their_validated_rows() -> None:
    y = binary_data(60)[1]
    split = carve_stopping(SearchSplit(random_folds(60, FOLDS)), y, classification=True, seed=0)
    assert split.stopping is not None
    assert all(len(s) == 0 for s in split.stopping)


def _trial(tmp_path: Path, family: str, split: SearchSplit) -> tuple[list[dict[str, Any]], Any]:
    """Run one trial of ``family`` and record what each fold's ``fit`` was given."""
    data = prepared_binary(tmp_path / "data", ROWS, split)
    seen: list[dict[str, Any]] = []
    reached: dict[int, int | None] = {}  # fold -> the round its early stopping reached
    cls = learner_class(family)
    fit = cls.fit

    def spy(self: Any, X: np.ndarray, y: np.ndarray, task: Any, **kwargs: Any) -> Any:
        valid = kwargs.get("X_valid")
        seen.append({"rows": X.shape[0], "valid": None if valid is None else valid.shape[0]})
        fitted = fit(self, X, y, task, **kwargs)
        reached[len(seen) - 1] = getattr(self, "best_iteration_", None)
        return fitted

    style = cls.feature_style
    spec = TrialSpec(
        trial_id=family,
        family=family,
        params=dict(cls.default_configs(LearnerTask("binary", 2), ROWS)[0]),
        seed=0,
        style=style,
        folds=data.files[style],
        valid_positions=[v.tolist() for _, v in data.folds],
        n_rows=data.n_rows,
        problem_type="binary",
        n_classes=2,
        categorical=data.categorical[style],
        out_dir=str(tmp_path / family),
        seconds=None,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cls, "fit", spy)
        outcome = run_trial(spec)
    for i, fold in enumerate(seen):
        fold["reached"] = reached[i]
    return seen, (outcome, data)


def test_a_learner_that_stops_early_fits_the_other_rows_and_stops_on_its_own(
    tmp_path: Path,
) -> None:
    folds = random_folds(ROWS, FOLDS)
    split = carve_stopping(SearchSplit(folds), binary_data(ROWS)[1], classification=True, seed=0)
    assert split.stopping is not None
    seen, (outcome, data) = _trial(tmp_path, "lightgbm", split)
    assert outcome.status == "ok", outcome.message
    for (fit, _), stop, fitted in zip(folds, split.stopping, seen, strict=True):
        assert {k: fitted[k] for k in ("rows", "valid")} == {
            "rows": len(fit) - len(stop),
            "valid": len(stop),
        }
    assert outcome.best_iterations == [f["reached"] for f in seen]
    oof = np.load(tmp_path / "lightgbm" / "oof.npy")
    assert not np.isnan(oof[data.validated]).any()  # every validated row still predicted


def test_without_stopping_rows_a_learner_stops_on_the_validated_rows(tmp_path: Path) -> None:
    folds = random_folds(ROWS, FOLDS)
    seen, (outcome, _) = _trial(tmp_path, "lightgbm", SearchSplit(folds))
    assert outcome.status == "ok", outcome.message
    assert [{k: s[k] for k in ("rows", "valid")} for s in seen] == [
        {"rows": len(f), "valid": len(v)} for f, v in folds
    ]
    assert outcome.best_iterations == [s["reached"] for s in seen]  # nothing left out


def test_a_learner_that_does_not_stop_early_fits_every_training_row(tmp_path: Path) -> None:
    folds = random_folds(ROWS, FOLDS)
    split = carve_stopping(SearchSplit(folds), binary_data(ROWS)[1], classification=True, seed=0)
    seen, (outcome, _) = _trial(tmp_path, "random_forest", split)
    assert outcome.status == "ok", outcome.message
    assert not learner_class("random_forest").stops_early()
    assert [{k: s[k] for k in ("rows", "valid")} for s in seen] == [
        {"rows": len(f), "valid": None} for f, _ in folds
    ]


def test_fold_rounds_scale_to_the_folds_training_rows() -> None:
    assert fold_rounds(100, 400, 500) == 125
    assert fold_rounds(100, 500, 500) == 100
    assert fold_rounds(0, 400, 500) == 1


def test_the_refit_rounds_stand_for_the_folds_training_rows(tmp_path: Path) -> None:
    from mlwright.search import InlineExecutor, SearchSettings, read_outcome, run_search
    from searching import roc_auc

    y = binary_data(ROWS)[1]
    split = carve_stopping(SearchSplit(random_folds(ROWS, FOLDS)), y, classification=True, seed=0)
    data = prepared_binary(tmp_path / "data", ROWS, split)
    settings = SearchSettings(
        families=["lightgbm", "random_forest"],
        metric="roc_auc",
        seed=0,
        deadline=None,
        max_trials=4,
        tune=False,
    )
    result = run_search(
        prepared=data,
        problem_type="binary",
        settings=settings,
        scorer=roc_auc,
        journal=tmp_path / "trials",
        executor=InlineExecutor(),
    )
    ran = [t for t in result.trials if t.status == "ok"]
    boosted = [t for t in ran if t.candidate.family == "lightgbm"]
    assert boosted
    for trial in boosted:
        assert trial.out_dir is not None
        journaled = read_outcome(trial.out_dir)
        assert journaled is not None
        reached = journaled[0].best_iterations
        assert trial.best_iterations == [
            fold_rounds(b, len(f) - len(s), len(f))
            for b, (f, _), s in zip(reached, data.folds, split.stopping or [], strict=True)
        ]
        assert sum(trial.best_iterations) > sum(reached)  # the refit is not shortened
    forest = next(t for t in ran if t.candidate.family == "random_forest")
    assert forest.best_iterations == []
