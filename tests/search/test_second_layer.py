"""The second layer in the search: the stacking holdout carved from the folds, second-layer
trials over the leading first-layer ones, and the check on the holdout that keeps them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlwright.evaluate import paired_noise, score
from mlwright.search import (
    InlineExecutor,
    SearchResult,
    SearchSettings,
    bagged_members,
    carve_holdout,
    run_search,
)
from mlwright.search._select import judge_second_layer
from searching import bare_run, binary_data, prepared_binary, random_folds, roc_auc

FOLDS = 3
ROWS = 600


def labels(n: int = ROWS) -> np.ndarray:
    return binary_data(n)[1]


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> SearchResult:
    root = tmp_path_factory.mktemp("stacked")
    split = carve_holdout(
        random_folds(ROWS, FOLDS), labels(), fraction=1 / 9, classification=True, seed=0
    )
    data = prepared_binary(root, ROWS, split)
    settings = SearchSettings(
        families=["lightgbm", "linear"],
        metric="roc_auc",
        seed=0,
        deadline=None,
        max_trials=10,
        stack=True,
    )
    return run_search(
        prepared=data,
        problem_type="binary",
        settings=settings,
        scorer=roc_auc,
        journal=root / "trials",
        executor=InlineExecutor(),
    )


def test_the_stacking_holdout_is_in_no_fold_and_keeps_every_class() -> None:
    y = labels()
    folds = random_folds(ROWS, FOLDS)
    split = carve_holdout(folds, y, fraction=1 / 9, classification=True, seed=0)
    assert split.holdout is not None
    holdout = set(split.holdout.tolist())
    assert abs(len(holdout) - ROWS / 9) <= 2
    for fit, valid in split.folds:
        assert not holdout & set(fit.tolist())
        assert not holdout & set(valid.tolist())
    kept = np.concatenate([v for _, v in split.folds])
    assert sorted([*kept.tolist(), *holdout]) == list(range(ROWS))  # every row: a fold or it
    assert set(y[split.holdout].tolist()) == {0, 1}
    again = carve_holdout(folds, y, fraction=1 / 9, classification=True, seed=0)
    assert again.holdout is not None
    assert np.array_equal(again.holdout, split.holdout)


def test_the_stacking_holdout_of_a_group_split_takes_whole_groups() -> None:
    y = labels()
    groups = np.arange(ROWS) % 37
    split = carve_holdout(
        random_folds(ROWS, FOLDS), y, fraction=1 / 9, classification=True, seed=0, groups=groups
    )
    assert split.holdout is not None
    held = set(groups[split.holdout].tolist())
    assert len(split.holdout) == sum(int((groups == g).sum()) for g in held)  # whole groups
    assert ROWS / 9 <= len(split.holdout) < ROWS / 9 + ROWS / 37 + 1
    for fit, valid in split.folds:
        assert not held & set(groups[fit].tolist())
        assert not held & set(groups[valid].tolist())


def test_the_stacking_holdout_of_a_time_split_is_the_latest_rows() -> None:
    times = np.random.default_rng(1).permutation(ROWS).astype(float)
    order = np.argsort(times)
    blocks = np.array_split(order, FOLDS + 1)  # forward chaining: fit on the past blocks
    folds = [
        (np.sort(np.concatenate(blocks[: i + 1])), np.sort(blocks[i + 1])) for i in range(FOLDS)
    ]
    split = carve_holdout(folds, labels(), fraction=1 / 9, classification=True, seed=0, times=times)
    assert split.holdout is not None
    assert times[split.holdout].min() > max(times[f].max() for f, _ in split.folds)
    assert times[split.holdout].min() > max(times[v].max() for _, v in split.folds)
    assert len(split.folds) == FOLDS  # no fold left empty at this size
    narrow = carve_holdout(folds, labels(), fraction=0.5, classification=True, seed=0, times=times)
    assert 0 < len(narrow.folds) < FOLDS  # folds that validate nothing any more are dropped
    assert all(len(v) for _, v in narrow.folds)


def test_second_layer_trials_read_the_leading_first_layer_trials(searched: SearchResult) -> None:
    second = [t for t in searched.trials if t.candidate.layer == 2]
    assert second, "the search ran second-layer trials"
    inputs = searched.stack_inputs
    assert len(inputs) >= 2
    first_names = {t.candidate.name for t in searched.trials if t.candidate.layer == 1}
    assert set(inputs) <= first_names - {"baseline"}
    # The portfolio and the first layer's tuning came first: inputs are finished trials.
    positions = {t.candidate.name: i for i, t in enumerate(searched.trials)}
    assert max(positions[n] for n in inputs) < min(positions[t.candidate.name] for t in second)
    for trial in second:
        assert trial.status == "ok", trial.message
        assert trial.candidate.inputs == inputs
        assert trial.candidate.name.startswith("l2_")
        assert trial.oof is not None
        assert not np.isnan(np.asarray(trial.oof)[searched.prepared.validated]).any()
    assert searched.best.candidate.layer == 1  # the best single model is a first-layer one


def test_every_trial_predicts_the_holdout_with_the_mean_of_its_fold_models(
    searched: SearchResult,
) -> None:
    prepared = searched.prepared
    assert prepared.holdout is not None
    first = next(t for t in searched.ranked() if t.candidate.layer == 1)
    members, _ = bagged_members(first, prepared, 1.0)
    files = prepared.files[first.style]
    by_fold = [
        m.learner.predict(np.asarray(files[i].load_holdout())) for i, m in enumerate(members)
    ]
    assert first.holdout_pred is not None
    np.testing.assert_allclose(first.holdout_pred, np.mean(by_fold, axis=0))
    for trial in searched.ranked():
        assert trial.holdout_pred is not None, trial.candidate.name
        assert len(trial.holdout_pred) == len(prepared.holdout)


def auc_noise(truth: np.ndarray, first: np.ndarray, second: np.ndarray) -> float | None:
    return paired_noise("roc_auc", truth, first, second, seed=0)


def test_the_second_layer_is_kept_only_if_it_wins_on_the_holdout(
    searched: SearchResult,
) -> None:
    prepared = searched.prepared
    assert prepared.holdout is not None
    truth = prepared.y[prepared.holdout]
    second = next(t for t in searched.trials if t.candidate.layer == 2)
    first = searched.best
    saved = second.holdout_pred

    def judge() -> tuple[dict[str, float], dict[str, Any]]:
        return judge_second_layer(
            searched,
            with_second={second.candidate.name: 1.0},
            first_only={first.candidate.name: 1.0},
            score=lambda t, p: score("roc_auc", t, p),
            greater=True,
            noise=auc_noise,
        )

    try:
        perfect = np.column_stack([1.0 - truth, truth]).astype(np.float64)
        second.holdout_pred = perfect
        weights, layers = judge()
        assert layers["kept"]
        assert weights == {second.candidate.name: 1.0}
        assert layers["with_second_layer"]["score"] == 1.0
        assert layers["holdout_rows"] == len(truth)
        assert 0 < layers["noise"] < 1.0 - layers["first_layer"]["score"]
        second.holdout_pred = perfect[:, ::-1].copy()  # every row wrong
        weights, layers = judge()
        assert not layers["kept"]
        assert weights == {first.candidate.name: 1.0}
        assert layers["first_layer"]["score"] > layers["with_second_layer"]["score"]
    finally:
        second.holdout_pred = saved


def test_a_second_layer_that_wins_by_less_than_the_noise_is_not_kept(
    searched: SearchResult,
) -> None:
    """The one-standard-error rule: on a holdout of a few dozen rows, a second layer whose
    ranking differs from the first layer's by one pair of rows wins on the holdout and is
    still not kept; the noise it had to beat is recorded beside the scores."""
    prepared = searched.prepared
    assert prepared.holdout is not None
    truth = prepared.y[prepared.holdout]
    second = next(t for t in searched.trials if t.candidate.layer == 2)
    first = searched.best
    assert first.holdout_pred is not None
    saved = second.holdout_pred
    nudged = first.holdout_pred.copy()
    # The lowest-scored positive row moves just above the highest negative below it.
    p = nudged[:, 1]
    positive = np.flatnonzero(truth == 1)
    low = positive[np.argmin(p[positive])]
    below = p[(truth == 0) & (p > p[low])]
    assert below.size > 0, "the first layer ranks every positive above every negative"
    p[low] = below.min() + 1e-9
    nudged[:, 0] = 1.0 - p
    try:
        second.holdout_pred = nudged
        weights, layers = judge_second_layer(
            searched,
            with_second={second.candidate.name: 1.0},
            first_only={first.candidate.name: 1.0},
            score=lambda t, q: score("roc_auc", t, q),
            greater=True,
            noise=auc_noise,
        )
        gain = layers["with_second_layer"]["score"] - layers["first_layer"]["score"]
        assert gain > 0
        assert layers["noise"] > gain
        assert not layers["kept"]
        assert weights == {first.candidate.name: 1.0}
    finally:
        second.holdout_pred = saved


def test_a_resumed_second_layer_trial_is_reused_only_with_the_same_inputs(
    searched: SearchResult, tmp_path: Path
) -> None:
    from mlwright.search._search import Candidate
    from mlwright.search._trial import read_outcome

    second = next(t for t in searched.trials if t.candidate.layer == 2)
    assert second.out_dir is not None
    found = read_outcome(second.out_dir)
    assert found is not None
    assert found[0].extra["inputs"] == list(second.candidate.inputs)
    run = bare_run(searched.prepared, second.out_dir.parent, stack=True)
    same = second.candidate
    assert run.resumed(same) is not None
    other = Candidate(
        same.name, same.family, same.params, origin=same.origin, inputs=same.inputs[:1]
    )
    assert run.resumed(other) is None


def test_the_second_layer_is_tuned_only_while_it_pays_on_the_holdout(
    searched: SearchResult,
) -> None:
    prepared = searched.prepared
    assert prepared.holdout is not None
    truth = prepared.y[prepared.holdout]
    run = bare_run(prepared, prepared.root.parent / "trials", stack=True)
    run.trials = list(searched.trials)
    second = [t for t in run.trials if t.candidate.layer == 2]
    saved = [(t.oof, t.holdout_pred) for t in second]
    y = prepared.y
    # Flattering out-of-fold predictions (what stacking's leak looks like): the greedy
    # ensemble takes the second layer; the holdout decides whether it pays.
    flattering = np.column_stack([1.0 - y, y]).astype(np.float64)
    perfect = np.column_stack([1.0 - truth, truth]).astype(np.float64)
    try:
        for trial in second:
            trial.oof, trial.holdout_pred = flattering, perfect
        pays, note = run.second_layer_pays()
        assert pays
        assert note.startswith("second layer tuned next (on the stacking holdout 1 with")
        for trial in second:
            trial.holdout_pred = perfect[:, ::-1].copy()  # every holdout row wrong
        pays, note = run.second_layer_pays()
        assert not pays
        assert "not tuned: the rest of the search is the first layer's" in note
    finally:
        for trial, (oof, pred) in zip(second, saved, strict=True):
            trial.oof, trial.holdout_pred = oof, pred


def test_measuring_takes_each_layers_leaders_in_turn() -> None:
    from mlwright.search import Candidate, TrialResult
    from mlwright.search._select import measuring_order

    def trial(name: str, inputs: tuple[str, ...] = ()) -> TrialResult:
        return TrialResult(Candidate(name, "lightgbm", {}, inputs=inputs), "ok")

    ranked = [
        trial("l2_a", ("x", "y")),
        trial("l2_b", ("x", "y")),
        trial("l2_c", ("x", "y")),
        trial("x"),
        trial("y"),
    ]
    names = [t.candidate.name for t in measuring_order(ranked)]
    assert names == ["x", "l2_a", "y", "l2_b", "l2_c"]
