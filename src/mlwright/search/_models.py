"""Turning trials into model members: the bagged fold models, or refits on all rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from mlwright.artifact import Member
from mlwright.features import FeatureKind, FeaturePlan, FeatureStyle
from mlwright.learners import LearnerTask, learner_class
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
        learner = cls.from_files(Path(trial.out_dir) / f"fold{i}", info)
        members.append(Member(f"{trial.candidate.name}/fold{i}", learner, weight / k, key))
        plans[key] = prepared.plans[key]
    return members, plans


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
    gpu: bool = False,
) -> tuple[list[Member], dict[str, FeaturePlan]]:
    """One model per weighted trial, refit on ``frame`` (every row) with what its folds
    learned; one plan per feature style, fitted on the same rows."""
    by_name = {t.candidate.name: t for t in trials}
    plans: dict[str, FeaturePlan] = {}
    matrices: dict[str, np.ndarray] = {}
    members = []
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
        learner = cls(params, seed=seed)
        task = LearnerTask(problem_type, n_classes, tuple(plans[key].categorical_indices))
        learner.fit(matrices[key], y, task)
        members.append(Member(name, learner, weight, key))
    return members, plans
