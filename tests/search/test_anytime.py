"""The anytime end of the search: once tuning stalls, rounds of steps (each layer's tuning,
seed bagging of the ensemble's members) chosen by the ensemble score each round gained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlwright.learners import LearnerTask
from mlwright.learners._portfolio import use_portfolio
from mlwright.pipeline import encode_target
from mlwright.search import (
    SearchResult,
    SearchSettings,
    _search,
    refit_members,
)
from mlwright.search._search import Candidate, _next_step
from mlwright.search._trial import read_outcome
from searching import COLUMNS, bare_run, prepared_binary, random_folds, search_binary
from synth import make_frame

ROWS = 500


def search(root: Path, lines: list[str]) -> SearchResult:
    data = prepared_binary(root, ROWS, random_folds(ROWS))
    settings = SearchSettings(
        families=["lightgbm", "linear"], metric="roc_auc", seed=0, deadline=None, max_trials=30
    )
    return search_binary(data, settings, root / "trials", lines)


@pytest.fixture(scope="module")
def anytime(tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchResult, list[str]]:
    patch = pytest.MonkeyPatch()
    patch.setattr(_search, "TUNING_PATIENCE", 2)  # tuning stalls soon: the anytime steps run
    lines: list[str] = []
    try:
        return search(tmp_path_factory.mktemp("anytime"), lines), lines
    finally:
        patch.undo()


def test_seed_bagging_copies_ensemble_members_with_another_seed(
    anytime: tuple[SearchResult, list[str]],
) -> None:
    searched, lines = anytime
    copies = [t for t in searched.trials if t.candidate.origin == "seed"]
    assert copies, "the anytime steps reached seed bagging"
    for copy in copies:
        base = searched.by_name(copy.candidate.extra["seed_of"])
        assert copy.candidate.name.startswith(f"{base.candidate.name}_seed")
        assert copy.candidate.family == base.candidate.family != "linear"  # its seed matters
        assert copy.candidate.params == base.candidate.params
        assert copy.candidate.seed_offset >= 1
        found = read_outcome(copy.out_dir)  # type: ignore[arg-type]
        assert found is not None
        assert found[0].extra["seed_offset"] == copy.candidate.seed_offset
        if copy.status == "ok" and base.status == "ok":
            assert not np.array_equal(copy.oof, base.oof), "another seed, another model"
    assert any(x.startswith("seed bagging: ") and "ensemble score gained" in x for x in lines)
    assert any(x.startswith("tuning the first layer: ") for x in lines)


def test_a_counted_anytime_search_is_deterministic(
    anytime: tuple[SearchResult, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_search, "TUNING_PATIENCE", 2)
    again = search(tmp_path, [])
    first, _ = anytime
    assert [t.candidate.name for t in again.trials] == [t.candidate.name for t in first.trials]


def test_a_seed_copy_is_refit_with_its_own_seed(anytime: tuple[SearchResult, list[str]]) -> None:
    searched, _ = anytime
    copy = next(t for t in searched.trials if t.candidate.origin == "seed" and t.status == "ok")
    frame = make_frame("binary", n=200, seed=4)
    y, _ = encode_target(frame["y"], "binary", "yes")
    members, _ = refit_members(
        {copy.candidate.name: 1.0},
        searched.trials,
        frame=frame,
        y=y,
        columns=COLUMNS,
        problem_type="binary",
        n_classes=2,
        seed=7,
    )
    assert members[0].learner.seed == 7 + copy.candidate.seed_offset


def test_a_journaled_trial_of_another_seed_is_not_reused(
    anytime: tuple[SearchResult, list[str]],
) -> None:
    searched, _ = anytime
    copy = next(t for t in searched.trials if t.candidate.origin == "seed")
    run = bare_run(searched.prepared, copy.out_dir.parent)  # type: ignore[union-attr]
    same = copy.candidate
    assert run.resumed(same) is not None
    other = Candidate(same.name, same.family, same.params, origin="seed", extra=same.extra)
    assert run.resumed(other) is None


def test_the_next_step_is_the_untried_then_the_best_rate_then_the_least_recent() -> None:
    steps = {"a": 0, "b": 0, "c": 0}
    assert _next_step(steps, {"a": 1.0}, {"a": 1}) == "b"
    assert _next_step(steps, {"a": 0.1, "b": 0.5, "c": 0.2}, {"a": 1, "b": 2, "c": 3}) == "b"
    assert _next_step(steps, {"a": 0.0, "b": -1.0, "c": 0.0}, {"a": 3, "b": 1, "c": 2}) == "b"


def test_the_refit_reserve_is_told_the_latest_ensembles_members(
    anytime: tuple[SearchResult, list[str]], tmp_path: Path
) -> None:
    import dataclasses
    import time

    searched, _ = anytime
    told: list[list[str]] = []

    def reserve(trials, running, members) -> float:  # type: ignore[no-untyped-def]
        told.append([t.candidate.name for t in members])
        return 0.0

    run = bare_run(searched.prepared, tmp_path)
    run.settings = dataclasses.replace(
        run.settings, deadline=time.monotonic() + 60, reserve=reserve
    )
    run.trials = list(searched.trials)
    run.time_left()
    assert told == [[]]  # before the anytime rounds score an ensemble: the leaders only
    run.ensemble_score()
    assert run.members
    assert run.members == list(run.greedy(run.usable(1) + run.usable(2)))
    run.time_left()
    assert told[-1] == run.members


# A learned linear list of five configurations: three run up front, two wait for the anytime
# rounds (linear, so that every trial is quick).
LONG_LIST = {"linear": {"any": [{"C": c} for c in (1.0, 0.3, 3.0, 0.1, 10.0)]}}


def _long_list_search(
    root: Path, lines: list[str] | None = None, **settings: object
) -> SearchResult:
    data = prepared_binary(root, ROWS, random_folds(ROWS))
    base = {"families": ["linear"], "metric": "roc_auc", "seed": 0, "deadline": None}
    with use_portfolio(LONG_LIST):
        return search_binary(
            data,
            SearchSettings(**(base | settings)),  # type: ignore[arg-type]
            root / "t",
            [] if lines is None else lines,
        )


def test_a_long_learned_list_runs_its_first_rounds_up_front_and_the_rest_as_a_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_search, "TUNING_PATIENCE", 2)
    lines: list[str] = []
    searched = _long_list_search(tmp_path, lines, max_trials=12)
    names = [t.candidate.name for t in searched.trials if t.status != "skipped"]
    assert names[:4] == ["baseline", "linear_1", "linear_2", "linear_3"]
    # Tuning's first turn comes next; the later rounds wait for the anytime steps, where the
    # step not yet tried goes first.
    assert names[4].startswith("linear_tpe")
    steps = [x for x in lines if x.startswith("more portfolio configurations: ")]
    assert len(steps) == 2, "one round (a configuration of each family) a step"
    assert all(x.startswith("more portfolio configurations: 1 trials") for x in steps)
    fourth = names.index("linear_4")
    assert names.index("linear_5") > fourth
    assert all(n.startswith("linear_tpe") for n in names[4:fourth])
    assert searched.by_name("linear_4").candidate.origin == "portfolio"
    # Not reached is said only of the rounds that run up front.
    assert not any(t.status == "skipped" for t in searched.trials)


def test_without_tuning_the_whole_list_runs_in_order(tmp_path: Path) -> None:
    searched = _long_list_search(tmp_path, max_trials=10, tune=False)
    names = [t.candidate.name for t in searched.trials]
    assert names == ["baseline"] + [f"linear_{i}" for i in range(1, 6)]


def test_the_hand_written_configurations_all_run_up_front() -> None:
    """No family's hand-written list is longer than the rounds run up front, so without a
    learned portfolio the search runs as before the reserve existed."""
    families = list(_search.FAMILY_PRIORITY)
    task = LearnerTask("binary", 2)
    with use_portfolio(None):
        rounds = _search.portfolio_rounds(families, task, 500)
        up_front = _search.portfolio(families, task, 500)
    assert len(rounds) <= _search.PORTFOLIO_FIRST
    assert [c.name for c in up_front] == [c.name for batch in rounds for c in batch]


def test_without_tuning_a_bounded_search_still_runs_the_anytime_steps(tmp_path: Path) -> None:
    """``tune = false`` keeps Optuna out, not the rest of the budget: the portfolio's reserve
    and seed bagging of the ensemble's members still follow (they used to run only beside a
    tuner, so such a run stopped after its first rounds)."""
    lines: list[str] = []
    data = prepared_binary(tmp_path, ROWS, random_folds(ROWS))
    settings = SearchSettings(
        families=["lightgbm"], metric="roc_auc", seed=0, deadline=None, max_trials=20, tune=False
    )
    searched = search_binary(data, settings, tmp_path / "trials", lines)
    origins = [t.candidate.origin for t in searched.trials if t.status == "ok"]
    assert "tpe" not in origins
    assert "seed" in origins, "seed bagging ran without a tuner"
    assert any(x.startswith("seed bagging: ") for x in lines)
