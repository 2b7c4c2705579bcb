"""The optional second layer: a linear stacker over the leading trials' out-of-fold
predictions (regularised: ridge for values, L2 logistic regression for classes).

Its own out-of-fold predictions are cross-fitted on the search's folds, so the threshold and
calibration steps that read them see honest numbers. Whether it is kept is decided by the
caller on the holdout (``search.stacking``): a stacker only earns its place if it beats the
greedy ensemble on rows neither layer saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlwright.artifact import Stacker
from mlwright.artifact._stack import link_for
from mlwright.search._search import SearchResult, TrialResult
from mlwright.search._select import (
    Limits,
    ModelFactory,
    Selection,
    ensemble_model,
    ensemble_size_mb,
)

STACK_MEMBERS = 5  # the leading trials the layer reads, at most


def fit_stacker(
    outputs: Sequence[np.ndarray], y: np.ndarray, problem_type: str, n_classes: int
) -> Stacker | None:
    """A stacker fitted on the members' outputs (rows aligned with ``y``); None if the
    labels cannot support one (a class absent from these rows)."""
    from sklearn.linear_model import LogisticRegression, RidgeCV

    link = link_for(problem_type)
    shell = Stacker(link, np.zeros((1, 1)), np.zeros(1))
    X = shell.inputs(outputs)
    if link == "identity":
        ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(X, y)
        return Stacker(link, np.atleast_2d(ridge.coef_), np.atleast_1d(ridge.intercept_))
    labels = np.asarray(y).astype(np.int64)
    if len(np.unique(labels)) != n_classes:
        return None
    logistic = LogisticRegression(C=1.0, max_iter=2000).fit(X, labels)
    return Stacker(link, np.atleast_2d(logistic.coef_), np.atleast_1d(logistic.intercept_))


def stack_members(ranked: Sequence[TrialResult], limits: Limits) -> list[TrialResult]:
    """The leading measured trials whose summed latency and size stay within the limits
    (so each one alone does too)."""
    chosen: list[TrialResult] = []
    p99 = size = 0.0
    for trial in ranked:
        if trial.candidate.family == "baseline" or trial.oof is None or trial.latency is None:
            continue
        if trial.candidate.layer != 1:  # a linear layer reads first-layer trials only
            continue
        if limits.breach(p99 + trial.latency["p99_us"], size + (trial.size_mb or 0.0)):
            continue
        chosen.append(trial)
        p99 += trial.latency["p99_us"]
        size += trial.size_mb or 0.0
        if len(chosen) == STACK_MEMBERS:
            break
    return chosen


def stack(
    search: SearchResult,
    *,
    limits: Limits,
    problem_type: str,
    n_classes: int,
    make_model: ModelFactory,
    records: Sequence[Mapping[str, Any]],
) -> tuple[Selection | None, str]:
    """The stacked candidate, or None and why there is none."""
    members = stack_members(search.ranked(), limits)
    if len(members) < 2:
        return None, "fewer than two trials fit the constraints together"
    prepared = search.prepared
    validated = prepared.validated
    y = prepared.y
    outputs = [np.asarray(t.oof) for t in members]
    stacker = fit_stacker([o[validated] for o in outputs], y[validated], problem_type, n_classes)
    if stacker is None:
        return None, "a class is missing from the out-of-fold rows"
    # Cross-fitted: each fold's rows predicted by a stacker fitted on the other folds.
    oof = np.full_like(outputs[0], np.nan, dtype=np.float64)
    for train_rows, valid_rows in prepared.folds:
        # Time-ordered folds train on rows no fold validated: those have no predictions.
        rows = train_rows[validated[train_rows]]
        inner = (
            fit_stacker([o[rows] for o in outputs], y[rows], problem_type, n_classes)
            if len(rows)
            else None
        )
        oof[valid_rows] = (inner or stacker).combine([o[valid_rows] for o in outputs])
    weights = {t.candidate.name: 1.0 / len(members) for t in members}
    model = ensemble_model(weights, search, make_model)
    model.set_stacker(stacker)
    latency, size_mb = model.measure_latency(records), ensemble_size_mb(weights, search)
    why = limits.breach(latency["p99_us"], size_mb)
    if why is not None:
        return None, f"measured, the stack breaks a limit: {why}"
    return (
        Selection(
            weights=weights,
            model=model,
            latency=latency,
            size_mb=size_mb,
            oof=oof,
            stacker=stacker,
        ),
        "",
    )
