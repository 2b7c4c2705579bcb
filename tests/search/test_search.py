from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlwright.evaluate import paired_noise, score
from mlwright.features import FeatureKind
from mlwright.learners import LearnerTask
from mlwright.pipeline import encode_target
from mlwright.search import (
    Candidate,
    InlineExecutor,
    Limits,
    Prepared,
    ProcessExecutor,
    SearchSettings,
    TrialResult,
    bagged_members,
    family_bests,
    measure_trials,
    portfolio,
    refit_members,
    refit_seconds,
    run_search,
    select,
    stack,
)
from mlwright.search._executor import WORKER_THREAD_ENV, _one_thread_each
from searching import StandInModel, prepared_binary, random_folds, roc_auc
from synth import make_frame

COLUMNS: list[tuple[str, FeatureKind]] = [
    ("num", "numeric"),
    ("count", "numeric"),
    ("plan", "categorical"),
    ("vip", "boolean"),
    ("signup", "datetime"),
]
FOLDS = 3


def prepared(tmp_path: Path, n: int = 300) -> Prepared:
    return prepared_binary(tmp_path, n, random_folds(n, FOLDS), COLUMNS)


def settings(max_trials: int | None = 4, **kw: object) -> SearchSettings:
    base = {
        "families": ["lightgbm", "linear"],
        "metric": "roc_auc",
        "seed": 0,
        "deadline": None,
        "max_trials": max_trials,
    }
    return SearchSettings(**{**base, **kw})  # type: ignore[arg-type]


def search(tmp_path: Path, executor=None, resume: bool = False, **kw: object):  # type: ignore[no-untyped-def]
    data = prepared(tmp_path)
    return run_search(
        prepared=data,
        problem_type="binary",
        settings=settings(**kw),
        scorer=roc_auc,
        journal=tmp_path / "trials",
        executor=executor,
        resume=resume,
    )


def test_portfolio_interleaves_families_best_first() -> None:
    names = [c.name for c in portfolio(["linear", "lightgbm"], LearnerTask("binary", 2), 1000)]
    assert names[:2] == ["lightgbm_1", "linear"]
    assert names[2:] == ["lightgbm_2", "lightgbm_3"]


def test_baseline_first_then_the_portfolio_then_tuning(tmp_path: Path) -> None:
    result = search(tmp_path, max_trials=6)
    names = [t.candidate.name for t in result.trials if t.status != "skipped"]
    assert names[0] == "baseline"
    assert names[1:5] == ["lightgbm_1", "linear", "lightgbm_2", "lightgbm_3"]
    assert all(t.candidate.origin == "tpe" for t in result.trials[5:7])
    assert len(names) == 7  # the baseline and six trials
    for trial in result.trials:
        assert trial.status == "ok"
        assert len(trial.fold_scores) == FOLDS
        assert trial.oof is not None
        assert not np.isnan(trial.oof).any()
    assert result.best.cv_score > result.baseline.cv_score + 0.2


def test_same_seed_and_trial_count_give_the_same_models(tmp_path: Path) -> None:
    first = search(tmp_path / "a", max_trials=6)
    second = search(tmp_path / "b", max_trials=6)
    assert [t.candidate for t in first.trials] == [t.candidate for t in second.trials]
    for a, b in zip(first.trials, second.trials, strict=True):
        assert a.fold_scores == b.fold_scores
        assert np.array_equal(a.oof, b.oof)


def test_worker_processes_give_the_same_results_as_inline(tmp_path: Path) -> None:
    inline = search(tmp_path / "inline", max_trials=6)
    parallel = search(tmp_path / "workers", executor=ProcessExecutor(2), max_trials=6)
    assert [t.candidate for t in inline.trials] == [t.candidate for t in parallel.trials]
    for a, b in zip(inline.trials, parallel.trials, strict=True):
        assert np.array_equal(a.oof, b.oof), a.candidate.name


def test_a_process_search_leaves_the_callers_thread_settings_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers run one thread each (OMP_NUM_THREADS=1); the caller's own environment
    stays as it was (left there, it made a later recommender single-threaded)."""
    for name in WORKER_THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    executor = ProcessExecutor(2)
    search(tmp_path, executor=executor, max_trials=2)  # shuts the executor down at the end
    assert not set(WORKER_THREAD_ENV) & set(os.environ)
    again = ProcessExecutor(2)
    try:
        with _one_thread_each():
            asked = again._pool.submit(os.getenv, "OMP_NUM_THREADS")
        assert asked.result(timeout=60) == "1"
    finally:
        again.shutdown()
    assert not set(WORKER_THREAD_ENV) & set(os.environ)


def test_resume_reuses_finished_trials(tmp_path: Path) -> None:
    first = search(tmp_path, max_trials=2)
    resumed = search(tmp_path, resume=True, max_trials=4)
    done = {t.candidate.name: t for t in resumed.trials if t.status == "ok"}
    assert done["baseline"].resumed
    assert done["lightgbm_1"].resumed
    assert done["linear"].resumed
    assert not done["lightgbm_2"].resumed
    assert done["lightgbm_1"].fold_scores == first.by_name("lightgbm_1").fold_scores
    fresh = search(tmp_path, max_trials=2)  # without --resume the journal starts over
    assert not any(t.resumed for t in fresh.trials)


def test_an_interrupt_keeps_the_finished_trials(tmp_path: Path) -> None:
    data = prepared(tmp_path)
    calls = {"n": 0}

    def interrupting(truth: np.ndarray, pred: np.ndarray) -> float | None:
        calls["n"] += 1
        if calls["n"] > 3 * FOLDS:  # Ctrl-C while the fourth trial is being scored
            raise KeyboardInterrupt
        return roc_auc(truth, pred)

    result = run_search(
        prepared=data,
        problem_type="binary",
        settings=settings(max_trials=None, deadline=None, tune=False),
        scorer=interrupting,
        journal=tmp_path / "trials",
        executor=InlineExecutor(),
    )
    assert result.interrupted
    assert [t.candidate.name for t in result.trials if t.status == "ok"] == [
        "baseline",
        "lightgbm_1",
        "linear",
    ]
    skipped = [t for t in result.trials if t.status == "skipped"]
    assert {t.candidate.name for t in skipped} == {"lightgbm_2", "lightgbm_3"}
    assert all(t.message == "interrupted" for t in skipped)


def test_a_real_ctrl_c_mid_fit_stops_the_trial_and_journals_only_finished_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGINT arrives while LightGBM boosts (a native library calling back into Python):
    it only requests a stop, the learner ends at its next round, and the cut trial is
    neither scored nor journaled."""
    import os
    import signal

    from mlwright.learners import _lightgbm

    original = _lightgbm.out_of_time
    rounds = {"n": 0}

    def ctrl_c_at_the_tenth_round(deadline: float | None) -> bool:
        rounds["n"] += 1
        if rounds["n"] == 10:  # in lightgbm_1's first fold, the first trial after the baseline
            os.kill(os.getpid(), signal.SIGINT)
        return original(deadline)

    monkeypatch.setattr(_lightgbm, "out_of_time", ctrl_c_at_the_tenth_round)
    before = signal.getsignal(signal.SIGINT)
    result = search(tmp_path, max_trials=None, tune=False, executor=InlineExecutor())
    assert result.interrupted
    assert signal.getsignal(signal.SIGINT) is before
    assert rounds["n"] == 10, "boosting stopped at the round the request arrived in"
    assert [t.candidate.name for t in result.trials if t.status == "ok"] == ["baseline"]
    cut = result.by_name("lightgbm_1")
    assert (cut.status, cut.message) == ("skipped", "interrupted")
    assert not (tmp_path / "trials" / "lightgbm_1" / "outcome.json").exists()
    assert (tmp_path / "trials" / "baseline" / "outcome.json").is_file()


def test_ctrl_c_while_worker_processes_fit_ends_the_search(tmp_path: Path) -> None:
    import os
    import signal
    import threading

    scored = {"n": 0}

    def ctrl_c_soon_after_the_first_trial(truth: np.ndarray, pred: np.ndarray) -> float | None:
        scored["n"] += 1
        if scored["n"] == 2 * FOLDS:  # the baseline and one trial scored; more in flight
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        return roc_auc(truth, pred)

    result = run_search(
        prepared=prepared(tmp_path),
        problem_type="binary",
        settings=settings(max_trials=None, deadline=None, tune=False),
        scorer=ctrl_c_soon_after_the_first_trial,
        journal=tmp_path / "trials",
        executor=ProcessExecutor(2),
    )
    assert result.interrupted
    assert [t.message for t in result.trials if t.status == "skipped"]
    assert all(t.message == "interrupted" for t in result.trials if t.status == "skipped")


def test_a_spent_deadline_still_runs_the_baseline_and_one_real_candidate(tmp_path: Path) -> None:
    import time

    result = search(tmp_path, max_trials=None, deadline=time.monotonic() - 1)
    finished = [t.candidate.name for t in result.trials if t.status == "ok"]
    assert finished == ["baseline", "lightgbm_1"]
    assert {t.status for t in result.trials[2:]} == {"skipped"}


def test_the_search_keeps_free_the_time_its_caller_reserves(tmp_path: Path) -> None:
    import time

    seen: list[int] = []

    def reserve(trials, running, members) -> float:  # type: ignore[no-untyped-def]
        # Nothing to keep free until a real model finished; then more than the time left.
        real = [t for t in trials if t.status == "ok" and t.candidate.family != "baseline"]
        seen.append(len(real))
        return 3600.0 if real else 0.0

    result = search(tmp_path, max_trials=None, deadline=time.monotonic() + 600, reserve=reserve)
    finished = [t.candidate.name for t in result.trials if t.status == "ok"]
    assert finished == ["baseline", "lightgbm_1"]
    assert seen
    assert max(seen) == 1
    # Without tuning: a search that spends its budget would otherwise tune for the 600 s.
    unlimited = search(
        tmp_path / "free", max_trials=None, deadline=time.monotonic() + 600, tune=False
    )
    assert len([t for t in unlimited.trials if t.status == "ok"]) > 2


def test_a_trial_leaves_room_for_what_its_own_result_will_need(tmp_path: Path) -> None:
    """A slow family started first must not take the whole search: its allowance leaves the
    reserve that it and the trials already running would need once finished."""
    import time

    class Recording(InlineExecutor):
        def __init__(self) -> None:
            super().__init__()
            self.allowances: list[float | None] = []

        def submit(self, spec):  # type: ignore[no-untyped-def]
            self.allowances.append(spec.seconds)
            return super().submit(spec)

    calls: list[list[float]] = []

    def reserve(trials, running, members) -> float:  # type: ignore[no-untyped-def]
        calls.append(list(running))
        return 4.0 * sum(running)  # each second per fold still running needs 4 s afterwards

    executor = Recording()
    span = 70.0
    search(
        tmp_path,
        executor=executor,
        max_trials=None,
        deadline=time.monotonic() + span,
        reserve=reserve,
        families=["lightgbm"],
        tune=False,
    )
    # T + 4 * T / FOLDS = span: the first trial may take 30 s of the 70, not all of them.
    first = executor.allowances[0]
    assert first is not None
    assert first == pytest.approx(span / (1 + 4 / FOLDS), rel=0.05)
    # One worker: the trial being sized is the only one running, so a finished trial's
    # allowance stopped counting.
    assert max(len(running) for running in calls) == 1
    assert len(executor.allowances) >= 2


def test_tuning_goes_on_with_a_family_that_still_fits_the_time_left(tmp_path: Path) -> None:
    import time

    from mlwright._progress import Silent
    from mlwright.search import Candidate, TrialResult
    from mlwright.search._search import _Run, _Tuner

    run = _Run(
        prepared=prepared(tmp_path),
        problem_type="binary",
        settings=settings(max_trials=None, deadline=time.monotonic() + 30),
        scorer=roc_auc,
        journal=tmp_path / "trials",
        executor=InlineExecutor(),
        progress=Silent(),
    )
    first = TrialResult(Candidate("lightgbm_1", "lightgbm", {}), "ok", fold_scores=[0.8])
    run.trials.append(first)
    # CatBoost trials took far longer than the time left; LightGBM ones a moment.
    run.seconds_per_trial = {"catboost": 1000.0, "lightgbm": 0.5}
    run.tuner = _Tuner(["catboost", "lightgbm"], run.task, 300, greater=True, seed=0)

    asked = []

    def asks():  # type: ignore[no-untyped-def]
        while True:  # as the run's tuning loop asks: each candidate is the tuner's to tell
            candidate = run.tuner.ask()
            asked.append(candidate.name)
            run.asked[candidate.name] = run.tuner
            yield candidate

    chosen = run.next_candidate(asks(), in_flight=0)
    assert chosen is not None
    assert chosen.family == "lightgbm"
    # When no tuned family fits, tuning stops rather than asking until the deadline.
    run.seconds_per_trial["lightgbm"] = 1000.0
    asked.clear()
    assert run.next_candidate(asks(), in_flight=0) is None
    assert run.time_left() > 0
    assert len(asked) == len(run.tuner.active)  # one misfit per tuned family, then stop


@pytest.mark.parametrize("clock", [False, True])
def test_stalled_tuning_gives_way_to_the_next_leading_families(tmp_path: Path, clock: bool) -> None:
    import time

    from mlwright._progress import Silent
    from mlwright.search import TrialResult
    from mlwright.search._search import TUNING_PATIENCE, _Run

    deadline = time.monotonic() + 3600 if clock else None
    run = _Run(
        prepared=prepared(tmp_path),
        problem_type="binary",
        settings=settings(
            max_trials=None, deadline=deadline, families=["lightgbm", "linear", "knn"]
        ),
        scorer=roc_auc,
        journal=tmp_path / "trials",
        executor=InlineExecutor(),
        progress=Silent(),
    )
    # The portfolio ranks LightGBM, then kNN, then the linear model; of the tuning trials,
    # only the first linear one improves the best score.
    first_scores = {"lightgbm": 0.9, "knn": 0.8, "linear": 0.7}
    tuned: list[str] = []
    for candidate in run.candidates():
        value = first_scores.get(candidate.family, 0.5) if candidate.origin != "tpe" else 0.6
        if candidate.name == "linear_tpe1":
            value = 0.95
        result = TrialResult(candidate, "ok", fold_scores=[value])
        run.trials.append(result)
        if candidate.origin == "tpe":
            run.asked.pop(candidate.name).tell(candidate.name, value)
            tuned.append(candidate.family)
        if len(tuned) == 5 * TUNING_PATIENCE + 1:
            break  # under a clock, tuning goes on until the budget is spent
    n = TUNING_PATIENCE
    assert set(tuned[:n]) == {"lightgbm", "knn"}
    assert tuned[n : 2 * n + 1] == ["linear"] * (n + 1)  # the improvement restarts its count
    if clock:
        # Under a clock the groups take turns until the budget is spent, improving or not.
        assert set(tuned[2 * n + 1 : 3 * n + 1]) == {"lightgbm", "knn"}
        assert tuned[3 * n + 1 : 4 * n + 1] == ["linear"] * n
        assert set(tuned[4 * n + 1 :]) == {"lightgbm", "knn"}
    else:
        assert len(tuned) == 2 * n + 1  # with nothing to bound it, one turn each


def test_a_failing_configuration_is_a_result_not_a_crash(tmp_path: Path) -> None:
    data = prepared(tmp_path)
    from mlwright.search import Candidate, TrialSpec, run_trial

    spec = TrialSpec(
        trial_id="bad",
        family="lightgbm",
        params={"num_leaves": -3},
        seed=0,
        style="tree",
        folds=data.files["tree"],
        valid_positions=[v.tolist() for _, v in data.folds],
        n_rows=data.n_rows,
        problem_type="binary",
        n_classes=2,
        categorical=data.categorical["tree"],
        out_dir=str(tmp_path / "bad"),
        seconds=None,
    )
    outcome = run_trial(spec)
    assert outcome.status == "failed"
    assert "num_leaves" in outcome.message
    assert (tmp_path / "bad" / "error.txt").exists()
    assert Candidate("x", "lightgbm", {}).origin == "portfolio"


@pytest.mark.parametrize("style", ["tree", "linear"])
def test_fold_plans_are_fitted_on_fold_rows_only(tmp_path: Path, style: str) -> None:
    data = prepared(tmp_path)
    for i, (fit_rows, _) in enumerate(data.folds):
        plan = data.plans[f"{style}/fold{i}"]
        frame = make_frame("binary", n=300, seed=3)
        from mlwright.features import FeaturePlan

        again = FeaturePlan(COLUMNS, style, n_classes=2, seed=0)  # type: ignore[arg-type]
        again.fit(frame[fit_rows], data.y[fit_rows])
        assert plan.to_dict() == again.to_dict()


# -- refitting the chosen trials on every row ----------------------------------------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp: Path = tmp_path_factory.mktemp("refit")
    return search(tmp, families=["lightgbm", "linear", "mlp"], max_trials=4)


def test_refit_in_threads_gives_the_same_models_as_one_at_a_time(finished) -> None:  # type: ignore[no-untyped-def]
    ok = [t for t in finished.trials if t.status == "ok" and t.candidate.family != "baseline"]
    assert len({t.candidate.family for t in ok}) >= 2
    weights = {t.candidate.name: 1 / len(ok) for t in ok}
    frame = make_frame("binary", n=300, seed=3)
    y, _ = encode_target(frame["y"], "binary", "yes")
    kwargs = dict(frame=frame, y=y, columns=COLUMNS, problem_type="binary", n_classes=2, seed=0)
    one, plans_one = refit_members(weights, ok, workers=1, **kwargs)  # type: ignore[arg-type]
    two, _ = refit_members(weights, ok, workers=2, **kwargs)  # type: ignore[arg-type]
    assert [m.name for m in one] == [m.name for m in two] == list(weights)
    for a, b in zip(one, two, strict=True):
        X = plans_one[a.plan].transform(frame)
        np.testing.assert_array_equal(a.learner.predict(X), b.learner.predict(X))
        # Fitted on one thread each, the artifact still predicts batches on every core.
        assert b.learner.threads == 0


def test_refit_seconds_spreads_the_fits_over_the_workers(finished) -> None:  # type: ignore[no-untyped-def]
    ok = [t for t in finished.trials if t.status == "ok"][:3]
    each = [t.fit_seconds / len(t.fold_infos) * t.refit_effort * 1.5 for t in ok]
    assert refit_seconds(ok, 1.5, 1) == pytest.approx(sum(each))
    assert refit_seconds(ok, 1.5, 2) >= max(*each, sum(each) / 2) - 1e-9
    assert refit_seconds([], 1.5, 2) == 0.0


def test_refit_seconds_is_the_busiest_threads_total_longest_fit_first(finished) -> None:  # type: ignore[no-untyped-def]
    # Seconds per fold of six members (five folds each); on two threads, longest first:
    # one thread takes 22, 5, 3 and 2, the other 20 and 19: 39 s, where the mean says 35.5.
    model = next(t for t in finished.trials if t.status == "ok" and not _holds_gil(t))
    trials = [
        dataclasses.replace(model, fit_seconds=5 * s, fold_infos=[{}] * 5, refit_effort=1.0)
        for s in (5.0, 22.0, 2.0, 20.0, 3.0, 19.0)
    ]
    assert refit_seconds(trials, 1.0, 2) == pytest.approx(39.0)
    assert refit_seconds(trials, 2.0, 2) == pytest.approx(78.0)
    assert refit_seconds(trials, 1.0, 2, running=[30.0]) == pytest.approx(51.0)
    # A member whose refit runs 1.5 times a fold fit's work: 33, 5 and 3 s on one thread.
    trials[1] = dataclasses.replace(trials[1], refit_effort=1.5)
    assert refit_seconds(trials, 1.0, 2) == pytest.approx(33 + 5 + 3)


def _holds_gil(trial: TrialResult) -> bool:
    from mlwright.learners import learner_class

    return learner_class(trial.candidate.family).holds_gil


def test_refit_seconds_runs_fits_that_hold_the_gil_one_at_a_time(finished) -> None:  # type: ignore[no-untyped-def]
    # Two network refits (10 s and 8 s) and a tree refit (3 s) on two threads: the second
    # network waits for the first (the tree fills the wait): 18 s, where 11 s would be
    # read if they ran side by side.
    mlp = next(t for t in finished.trials if t.status == "ok" and t.candidate.family == "mlp")
    tree = next(t for t in finished.trials if t.status == "ok" and t.candidate.family == "lightgbm")
    assert _holds_gil(mlp)
    assert not _holds_gil(tree)

    def per_fold(trial: TrialResult, seconds: float) -> TrialResult:
        return dataclasses.replace(trial, fit_seconds=seconds, fold_infos=[{}], refit_effort=1.0)

    trials = [per_fold(mlp, 10.0), per_fold(mlp, 8.0), per_fold(tree, 3.0)]
    assert refit_seconds(trials, 1.0, 2) == pytest.approx(18.0)
    assert refit_seconds(trials, 1.0, 1) == pytest.approx(21.0)
    assert refit_seconds([trials[0], trials[2]], 1.0, 2) == pytest.approx(10.0)
    # A trial still running counts as a fit beside the others: 20 s on one thread, the
    # networks and then the tree on the other (10 + 8 + 3).
    assert refit_seconds(trials, 1.0, 2, running=[20.0]) == pytest.approx(21.0)


def test_side_by_side_never_runs_two_lone_jobs_at_once_and_fills_the_wait() -> None:
    from mlwright.search._models import side_by_side

    lock = threading.Lock()
    running = {"lone": 0, "most_lone": 0}
    plain_ran = threading.Event()

    def run(job: tuple[str, bool]) -> str:
        name, lone = job
        if lone:
            with lock:
                running["lone"] += 1
                running["most_lone"] = max(running["most_lone"], running["lone"])
            # The other thread, barred from the second lone job, runs a plain one meanwhile.
            assert plain_ran.wait(10)
            with lock:
                running["lone"] -= 1
        else:
            plain_ran.set()
        return name.upper()

    jobs = [("a", True), ("b", True), ("c", False), ("d", False)]
    assert side_by_side(jobs, run, 2, alone=lambda job: job[1]) == ["A", "B", "C", "D"]
    assert running["most_lone"] == 1
    assert side_by_side(jobs, run, 1, alone=lambda job: job[1]) == ["A", "B", "C", "D"]


def test_side_by_side_raises_the_first_error_and_starts_nothing_after_it() -> None:
    from mlwright.search._models import side_by_side

    started: list[int] = []

    def run(job: int) -> int:
        started.append(job)
        if job == 0:
            raise ValueError("job 0 failed")
        return job

    with pytest.raises(ValueError, match="job 0 failed"):
        side_by_side(list(range(6)), run, 1, alone=lambda job: False)
    assert started == [0]


def test_a_trials_refit_effort_is_the_refits_rounds_and_rows_over_a_fold_fits(finished) -> None:  # type: ignore[no-untyped-def]
    """A fold fit of a learner that stops early fits its fold less the stopping rows and
    runs its best round plus patience; the refit fits every row for the folds' mean best
    round (scaled to the fold's rows) times the family's factor."""
    from mlwright.learners import learner_class
    from mlwright.search._trial import read_outcome

    checked = 0
    for trial in (t for t in finished.trials if t.status == "ok"):
        cls = learner_class(trial.candidate.family)
        if not cls.stops_early():
            assert trial.refit_effort == 1.0
            continue
        found = read_outcome(trial.out_dir)
        assert found is not None
        ran = found[0].rounds_run
        assert len(ran) == len(trial.fold_infos)
        sizes = [finished.prepared.fitted_rows(trial.style, i) for i in range(len(ran))]
        rows = float(np.mean([fold / fitted for fitted, fold in sizes]))
        assert cls.refit_rounds_param is not None
        rounds = cls.refit_params(trial.candidate.params, trial.best_iterations)
        effort = rows * rounds[cls.refit_rounds_param] / float(np.mean(ran))
        assert trial.refit_effort == pytest.approx(effort)
        assert max(ran) > min(trial.best_iterations) / rows  # patience ran past the best
        checked += 1
    assert checked >= 2  # lightgbm and mlp


def test_a_trials_size_is_what_its_members_write_to_an_artifact(finished, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    measure_trials(finished, StandInModel, [{}])  # type: ignore[arg-type]
    for trial in finished.ranked():
        members, _ = bagged_members(trial, finished.prepared, 1.0)
        for member in members:
            member.learner.to_files(tmp_path / trial.candidate.name / member.name.split("/")[1])
        files = [p for p in (tmp_path / trial.candidate.name).rglob("*") if p.is_file()]
        written = sum(p.stat().st_size for p in files)
        assert trial.size_mb == pytest.approx(written / 1e6)
        assert trial.size_mb > 0


def test_the_baseline_is_never_an_ensemble_member(tmp_path: Path) -> None:
    result = search(tmp_path, max_trials=3)
    # A "baseline" whose out-of-fold predictions carry the answer: a greedy ensemble over
    # every trial would take it.
    y = result.prepared.y
    base = result.baseline
    leak = np.where(y == 1, 0.6, 0.4)
    base.oof = np.stack([1 - leak, leak], axis=1) if base.oof.ndim == 2 else leak
    base.fold_scores = [1.0] * FOLDS
    measure_trials(result, StandInModel, [{}])  # type: ignore[arg-type]
    chosen = select(
        result,
        limits=Limits(None, None),
        ensemble=True,
        score=lambda truth, pred: score("roc_auc", truth, pred),
        make_model=StandInModel,  # type: ignore[arg-type]
        records=[{}],
        seed=0,
        noise=lambda truth, a, b: paired_noise("roc_auc", truth, a, b, seed=0),
    )
    assert "baseline" not in chosen.weights
    assert chosen.weights
    assert sum(chosen.weights.values()) == pytest.approx(1.0)


def test_the_stack_is_cross_fitted_on_each_folds_training_rows(
    finished, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from mlwright.search import _stack

    calls: list[int] = []
    fit = _stack.fit_stacker

    def counting(outputs, y, problem_type, n_classes):  # type: ignore[no-untyped-def]
        calls.append(len(y))
        return fit(outputs, y, problem_type, n_classes)

    monkeypatch.setattr(_stack, "fit_stacker", counting)
    measure_trials(finished, StandInModel, [{}])  # type: ignore[arg-type]
    chosen, why = stack(
        finished,
        limits=Limits(None, None),
        problem_type="binary",
        n_classes=2,
        make_model=StandInModel,  # type: ignore[arg-type]
        records=[{}],
    )
    assert chosen is not None, why
    n = finished.prepared.n_rows
    # Once on every out-of-fold row, then once per fold on the other folds' rows.
    assert calls == [n] + [len(fit_rows) for fit_rows, _ in finished.prepared.folds]
    assert not np.isnan(chosen.oof).any()
    assert chosen.stacker is not None
    assert chosen.name.startswith("stack(")
    assert "baseline" not in chosen.weights
    best = max(t.cv_score for t in finished.trials if t.status == "ok")
    assert score("roc_auc", finished.prepared.y, chosen.oof) > best - 0.05


def test_a_deadline_leaves_the_weaker_trials_unmeasured_and_unchosen(tmp_path: Path) -> None:
    """Measuring every trial on the single-row path takes seconds per trial when loading
    its models is slow: past its deadline the weaker trials are left out, said so, and
    never chosen; the best one is always measured."""
    from mlwright.search._select import measuring_order

    result = search(tmp_path, families=["lightgbm", "linear"], max_trials=4)
    ranked = result.ranked()
    assert len(ranked) >= 3
    left_out = measure_trials(result, StandInModel, [{}], deadline=time.monotonic() - 1)  # type: ignore[arg-type]
    best = ranked[0]
    assert best.latency is not None
    # Left out in the order measuring takes them (each family's best first), which are all
    # but the best.
    assert left_out == [t.candidate.name for t in measuring_order(ranked)[1:]]
    assert set(left_out) == {t.candidate.name for t in ranked[1:]}
    for trial in ranked[1:]:
        assert trial.latency is None
        assert trial.message == "not measured: time budget"
    chosen = select(
        result,
        limits=Limits(None, None),
        ensemble=True,
        score=lambda truth, pred: score("roc_auc", truth, pred),
        make_model=StandInModel,  # type: ignore[arg-type]
        records=[{}],
        seed=0,
        noise=lambda truth, a, b: paired_noise("roc_auc", truth, a, b, seed=0),
    )
    assert set(chosen.weights) == {best.candidate.name}
    # Without a deadline every trial is measured, as before.
    assert measure_trials(result, StandInModel, [{}]) == []  # type: ignore[arg-type]
    assert all(t.latency is not None for t in ranked)


@given(
    st.lists(st.sampled_from(["lightgbm", "xgboost", "linear", "mlp"]), max_size=12),
    st.sets(st.sampled_from(["lightgbm", "xgboost", "linear", "mlp"])),
)
def test_family_bests_are_each_familys_first_trial_in_order(
    families: list[str], besides: set[str]
) -> None:
    ranked = [TrialResult(Candidate(f"{f}_{i}", f, {}), "ok") for i, f in enumerate(families)]
    bests = family_bests(ranked, besides=besides)
    expected = [
        t for i, t in enumerate(ranked) if t.candidate.family not in besides
        and t.candidate.family not in families[:i]
    ]  # fmt: skip
    assert [t.candidate.name for t in bests] == [t.candidate.name for t in expected]
