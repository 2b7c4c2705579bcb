"""Turning trials into model members: the bagged fold models, or refits on all rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np
import polars as pl

from mlwright.artifact import Member
from mlwright.features import FeatureKind, FeaturePlan, FeatureStyle
from mlwright.learners import Learner, LearnerTask, learner_class
from mlwright.search._prepare import Prepared, plan_key
from mlwright.search._search import TrialResult
from mlwright.spec import ProblemType


def bagged_members(
    trial: TrialResult, prepared: Prepared, weight: float
) -> tuple[list[Member], dict[str, FeaturePlan]]:
    """The trial's fold models (each reading its fold's plan), sharing ``weight`` equally."""
    cls = learner_class(trial.candidate.family)
    assert trial.out_dir is not None
    members = []
    plans = {}
    k = len(trial.fold_infos)
    for i, info in enumerate(trial.fold_infos):
        key = plan_key(trial.style, i)
        learner = cls.from_files(Path(trial.out_dir) / f"fold{i}", info, trusted=True)
        members.append(Member(f"{trial.candidate.name}/fold{i}", learner, weight / k, key))
        plans[key] = prepared.plans[key]
    return members, plans


class RefitRun(TypedDict, total=False):
    """How :func:`refit_members` runs: on the GPU (default no), and in how many threads
    (default 1)."""

    gpu: bool
    workers: int


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
    learned; one plan per feature style, fitted on the same rows. With ``workers`` > 1 the
    members fit side by side in threads, one CPU thread each, as the trials did (the
    libraries release the GIL while they fit)."""
    gpu = run.get("gpu", False)
    workers = run.get("workers", 1)
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
        jobs.append(
            (name, weight, key, cls(params, seed=seed, threads=1 if workers > 1 else 0), task)
        )

    def fit(job: tuple[str, float, str, Learner, LearnerTask]) -> Member:
        name, weight, key, learner, task = job
        learner.fit(matrices[key], y, task)
        learner.threads = 0  # the artifact predicts batches on every core
        return Member(name, learner, weight, key)

    if workers <= 1 or len(jobs) == 1:
        return [fit(job) for job in jobs], plans
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        return list(pool.map(fit, jobs)), plans


def refit_seconds(
    trials: Sequence[TrialResult], growth: float, workers: int, running: Sequence[float] = ()
) -> float:
    """Expected wall time of :func:`refit_members`: each trial's mean fold fit (or, for a
    trial still ``running``, the seconds per fold it may take), scaled by ``growth`` (rows
    refit / rows per fold), spread over ``workers`` threads."""
    per_fold = [t.fit_seconds / max(len(t.fold_infos), 1) for t in trials] + list(running)
    each = [seconds * growth for seconds in per_fold]
    if not each:
        return 0.0
    return max(*each, sum(each) / max(workers, 1))
