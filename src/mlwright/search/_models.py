"""Turning trials into model members: the bagged fold models, or refits on all rows."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypedDict, TypeVar, Unpack

import numpy as np
import polars as pl

from mlwright.artifact import Member
from mlwright.features import FeatureKind, FeaturePlan, FeatureStyle
from mlwright.learners import LearnerTask, learner_class
from mlwright.search._prepare import Prepared, plan_key
from mlwright.search._search import TrialResult
from mlwright.spec import ProblemType

J = TypeVar("J")
R = TypeVar("R")


def bagged_members(
    trial: TrialResult, prepared: Prepared, weight: float
) -> tuple[list[Member], dict[str, FeaturePlan]]:
    """The trial's fold models (each reading its fold's plan), sharing ``weight`` equally; a
    second-layer trial's read its input trials' outputs too."""
    cls = learner_class(trial.candidate.family)
    assert trial.out_dir is not None
    members = []
    plans = {}
    k = len(trial.fold_infos)
    for i, info in enumerate(trial.fold_infos):
        key = plan_key(trial.style, i)
        learner = cls.from_files(Path(trial.out_dir) / f"fold{i}", info, trusted=True)
        name = f"{trial.candidate.name}/fold{i}"
        members.append(Member(name, learner, weight / k, key, inputs=trial.candidate.inputs))
        plans[key] = prepared.plans[key]
    return members, plans


class RefitRun(TypedDict, total=False):
    """How :func:`refit_members` runs: on the GPU (default no), in how many threads (default
    1), and for second-layer trials the out-of-sample outputs of their input trials on the
    refit's rows (trial name -> outputs)."""

    gpu: bool
    workers: int
    inputs: Mapping[str, np.ndarray]


def refit_members(
    weights: Mapping[str, float],
    trials: Sequence[TrialResult],
    *,
    frame: pl.DataFrame,
    y: np.ndarray,
    columns: Sequence[tuple[str, FeatureKind]],
    problem_type: ProblemType,
    n_classes: int,
    seed: int,
    **run: Unpack[RefitRun],
) -> tuple[list[Member], dict[str, FeaturePlan]]:
    """One model per weighted trial, refit on ``frame`` (every row) with what its folds
    learned; one plan per feature style, fitted on the same rows. A second-layer trial
    learns from its inputs' out-of-sample outputs (``inputs``) beside the features; weight
    0 marks a trial refit only as such an input. With ``workers`` > 1 the members fit side
    by side in threads, one CPU thread each, as the trials did (the libraries release the
    GIL while they fit; those that hold it fit one at a time: ``Learner.holds_gil``)."""
    from mlwright.artifact import stack_columns

    gpu = run.get("gpu", False)
    workers = run.get("workers", 1)
    outputs = run.get("inputs", {})
    by_name = {t.candidate.name: t for t in trials}
    plans: dict[str, FeaturePlan] = {}
    matrices: dict[str, np.ndarray] = {}
    jobs = []
    for name, weight in weights.items():
        trial = by_name[name]
        cls = learner_class(trial.candidate.family)
        style: FeatureStyle = cls.feature_style
        key = plan_key(style, None)
        if key not in plans:
            plan = FeaturePlan(columns, style, n_classes=n_classes, seed=seed)
            matrices[key] = plan.fit_transform(frame, y)
            plans[key] = plan
        params = cls.refit_params(trial.candidate.params, trial.best_iterations)
        if gpu:
            params.update(cls.gpu_params())
        task = LearnerTask(problem_type, n_classes, tuple(plans[key].categorical_indices))
        inputs = trial.candidate.inputs
        X = matrices[key]
        if inputs:
            X = np.hstack([X, stack_columns([outputs[n] for n in inputs], problem_type)])
        learner = cls(
            params, seed=seed + trial.candidate.seed_offset, threads=1 if workers > 1 else 0
        )
        jobs.append((Member(name, learner, weight, key, inputs=inputs), X, task))

    def fit(job: tuple[Member, np.ndarray, LearnerTask]) -> Member:
        member, X, task = job
        member.learner.fit(X, y, task)
        member.learner.threads = 0  # the artifact predicts batches on every core
        return member

    if workers <= 1 or len(jobs) == 1:
        return [fit(job) for job in jobs], plans
    # Longest fit first, so that no thread starts a long fit when the others are done; the
    # members keep the order of ``weights``.
    longest_first = sorted(jobs, key=lambda job: -_refit_work(by_name[job[0].name]))
    fitted = {
        m.name: m
        for m in side_by_side(
            longest_first, fit, workers, alone=lambda job: type(job[0].learner).holds_gil
        )
    }
    return [fitted[job[0].name] for job in jobs], plans


def side_by_side(
    jobs: Sequence[J], run: Callable[[J], R], workers: int, *, alone: Callable[[J], bool]
) -> list[R]:
    """``run`` over ``jobs`` in ``workers`` threads, each thread taking the first job left
    that it may start: a job for which ``alone`` holds never runs beside another such job
    (fits that hold the interpreter's lock), and a thread with only those left waits for the
    one running. Results in the order of ``jobs``; the first error is raised once every
    thread has stopped (no new job starts after it)."""
    pending = list(range(len(jobs)))
    results: dict[int, R] = {}
    errors: list[BaseException] = []
    turn = threading.Condition()
    lone_running = False

    def next_job() -> int | None:
        nonlocal lone_running
        with turn:
            while pending and not errors:
                index = next((i for i in pending if not (lone_running and alone(jobs[i]))), None)
                if index is not None:
                    pending.remove(index)
                    lone_running = lone_running or alone(jobs[index])
                    return index
                turn.wait()
            return None

    def thread() -> None:
        nonlocal lone_running
        while (index := next_job()) is not None:
            try:
                results[index] = run(jobs[index])
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)
            finally:
                with turn:
                    if alone(jobs[index]):
                        lone_running = False
                    turn.notify_all()

    threads = [threading.Thread(target=thread) for _ in range(min(workers, len(jobs)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(jobs))]


def refit_seconds(
    trials: Sequence[TrialResult], growth: float, workers: int, running: Sequence[float] = ()
) -> float:
    """Expected wall time of :func:`refit_members`: each trial's mean fold fit times its
    ``refit_effort`` (rounds and rows a refit runs beyond a fold fit's; for a trial still
    ``running``, the seconds per fold it may take), scaled by ``growth`` (rows refit / rows
    per fold), on ``workers`` threads that each take the longest fit left that they may
    start, fits that hold the GIL one at a time (as refit_members runs them): when the
    last thread ends. The run records this beside what the refit took in its budget
    evidence (``refit_seconds``)."""
    work = [(_refit_work(t) * growth, _holds_gil(t)) for t in trials]
    work += [(seconds * growth, False) for seconds in running]
    pending = sorted(work, key=lambda job: -job[0])
    free = [0.0] * max(workers, 1)  # when each thread is next free
    lone_free = 0.0  # when the running fit that holds the GIL ends
    while pending:
        thread = free.index(min(free))
        now = free[thread]
        job = next((j for j in pending if not (j[1] and lone_free > now)), None)
        if job is None:  # only GIL-holding fits are left: wait for the one running
            free[thread] = lone_free
            continue
        pending.remove(job)
        free[thread] = now + job[0]
        if job[1]:
            lone_free = free[thread]
    return max(free)


def _holds_gil(trial: TrialResult) -> bool:
    return learner_class(trial.candidate.family).holds_gil


def _refit_work(trial: TrialResult) -> float:
    """A trial's refit in seconds before the rows grow: its mean fold fit times its effort."""
    return trial.fit_seconds / max(len(trial.fold_infos), 1) * trial.refit_effort
