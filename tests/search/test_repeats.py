"""Repeated k-fold bagging: the ensemble's members are fitted again on new fold splits, each
takes in its repeats (out-of-fold predictions of every split, fold scores and rounds of
every split's folds), and greedy selection scores an ensemble on every split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlwright.search import Prepared, SearchResult, SearchSettings, _search
from mlwright.search._search import Candidate, TrialResult, split_predictions
from mlwright.search._trial import read_outcome
from searching import bare_run, prepared_binary, random_folds, search_binary

ROWS = 400
REPEATS = 3


def search(root: Path, lines: list[str], repeats: int = REPEATS) -> SearchResult:
    data = prepared_binary(root, ROWS, random_folds(ROWS))

    def resplit(index: int) -> Prepared:
        return prepared_binary(root / f"split{index}", ROWS, random_folds(ROWS, seed=index))

    settings = SearchSettings(
        families=["lightgbm", "linear"],
        metric="roc_auc",
        seed=0,
        deadline=None,
        max_trials=24,
        repeats=repeats,
        resplit=resplit,
    )
    return search_binary(data, settings, root / "trials", lines)


@pytest.fixture(scope="module")
def repeated(tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchResult, list[str]]:
    patch = pytest.MonkeyPatch()
    patch.setattr(_search, "TUNING_PATIENCE", 2)  # tuning stalls soon: the anytime steps run
    lines: list[str] = []
    try:
        return search(tmp_path_factory.mktemp("repeats"), lines), lines
    finally:
        patch.undo()


def test_members_are_fitted_again_on_new_fold_splits(
    repeated: tuple[SearchResult, list[str]],
) -> None:
    searched, lines = repeated
    assert searched.repeats, "the anytime rounds reached repeated bagging"
    assert any(x.startswith("repeated bagging: ") for x in lines)
    for repeat in searched.repeats:
        of = searched.by_name(repeat.candidate.extra["repeat_of"])
        assert repeat.candidate.origin == "repeat"
        assert repeat.candidate.layer == 1 == of.candidate.layer
        assert repeat.candidate.params == of.candidate.params
        assert repeat.candidate.seed_offset == of.candidate.seed_offset
        assert 1 <= repeat.candidate.split < REPEATS
        assert repeat.candidate.name == f"{of.candidate.name}_split{repeat.candidate.split + 1}"
        found = read_outcome(repeat.out_dir)  # type: ignore[arg-type]
        assert found is not None
        assert found[0].extra["split"] == repeat.candidate.split
    # The counted search counts the repeats too: the baseline and max_trials in all.
    assert len(searched.trials) + len(searched.repeats) == 24 + 1 + sum(
        t.status == "skipped" for t in searched.trials
    )


def test_a_repeated_trial_keeps_every_splits_predictions(
    repeated: tuple[SearchResult, list[str]],
) -> None:
    searched, _ = repeated
    names = {r.candidate.extra["repeat_of"] for r in searched.repeats if r.status == "ok"}
    assert names
    for name in names:
        trial = searched.by_name(name)
        mine = [r for r in searched.repeats if r.candidate.extra["repeat_of"] == name]
        assert trial.splits == 1 + len(mine) <= REPEATS
        own = read_outcome(trial.out_dir)  # type: ignore[arg-type]
        assert own is not None
        np.testing.assert_array_equal(trial.oof, own[1])  # type: ignore[arg-type]
        mine.sort(key=lambda r: r.candidate.split)
        for split, repeat in enumerate(mine, start=1):
            np.testing.assert_array_equal(trial.split_oof(split), repeat.oof)  # type: ignore[arg-type]
        assert len(trial.fold_scores) == 3 * trial.splits
        assert trial.fold_scores[3:] == [s for r in mine for s in r.fold_scores]
        for repeat in mine:  # another split: other rows validated by each fold
            assert not np.array_equal(repeat.oof, own[1])


def test_absorb_keeps_each_split_and_pools_the_folds() -> None:
    def result(oof: list[float], scores: list[float], rounds: list[int]) -> TrialResult:
        return TrialResult(
            Candidate("a", "lightgbm", {}),
            "ok",
            fold_scores=scores,
            oof=np.array(oof),
            best_iterations=rounds,
            holdout_pred=np.array(oof[:1]),
        )

    trial = result([0.2, 0.4], [0.7, 0.8], [10, 20])
    trial.absorb(result([0.4, 0.6], [0.6, 0.9], [30, 40]))
    trial.absorb(result([0.6, 0.8], [0.5, 0.5], [50, 60]))
    assert [list(trial.split_oof(s)) for s in range(3)] == [[0.2, 0.4], [0.4, 0.6], [0.6, 0.8]]
    np.testing.assert_allclose(trial.holdout_pred, [0.2])  # type: ignore[arg-type]
    assert trial.splits == 3
    assert trial.fold_scores == [0.7, 0.8, 0.6, 0.9, 0.5, 0.5]
    assert trial.best_iterations == [10, 20, 30, 40, 50, 60]
    assert trial.cv_score == pytest.approx(np.mean([0.7, 0.8, 0.6, 0.9, 0.5, 0.5]))


def test_one_split_asked_repeats_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_search, "TUNING_PATIENCE", 2)
    searched = search(tmp_path, [], repeats=1)
    assert searched.repeats == []
    assert all(t.splits == 1 for t in searched.trials)


def test_a_journaled_repeat_of_another_split_is_not_reused(
    repeated: tuple[SearchResult, list[str]],
) -> None:
    searched, _ = repeated
    repeat = searched.repeats[0]
    run = bare_run(searched.prepared, repeat.out_dir.parent)  # type: ignore[union-attr]
    run.split_data[repeat.candidate.split] = searched.prepared  # its data: not read here
    same = repeat.candidate
    assert run.resumed(same) is not None
    other = Candidate(
        same.name, same.family, same.params, origin="repeat", extra=same.extra, split=same.split + 1
    )
    assert run.resumed(other) is None


def test_a_counted_search_with_repeats_is_deterministic(
    repeated: tuple[SearchResult, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_search, "TUNING_PATIENCE", 2)
    again = search(tmp_path, [])
    first, _ = repeated
    assert [r.candidate.name for r in again.repeats] == [r.candidate.name for r in first.repeats]
    np.testing.assert_array_equal(
        [t.cv_score for t in again.trials], [t.cv_score for t in first.trials]
    )


def test_greedy_selection_reads_every_split_a_single_model_at_a_time(
    repeated: tuple[SearchResult, list[str]],
) -> None:
    searched, _ = repeated
    trials = [t for t in searched.ranked() if t.candidate.family != "baseline"][:4]
    most = max(t.splits for t in trials)
    assert most >= 2
    predictions, truth = split_predictions(trials, searched.prepared)
    validated = searched.prepared.validated
    n = int(validated.sum())
    assert len(truth) == most * n
    for trial, blocks in zip(trials, predictions, strict=True):
        for s in range(most):  # fewer splits: its own repeated, never a mean over splits
            expected = trial.split_oof(s % trial.splits)[validated]
            np.testing.assert_array_equal(blocks[s * n : (s + 1) * n], expected)
