"""The second layer's plan and its rows: whether a run stacks (``search.stack_levels``), the
stacking holdout carved from the training rows, and the out-of-sample first-layer outputs a
refit second layer learns from.

A second-layer model learns from the first layer's out-of-fold predictions, so its own
cross-validated score flatters it (the inputs of a fold's rows came from models that saw the
other folds' labels). Whether it is kept is therefore decided on rows that no model of either
layer saw: the stacking holdout, a share of the search rows left out of every fold, drawn the
way the folds are (random rows, whole groups, or the latest rows of a time split).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from mlwright.artifact import Model
from mlwright.data import refold
from mlwright.pipeline._budget import budget_for_search, search_seconds
from mlwright.pipeline._prepare import (
    Framed,
    ModelFactory,
    group_labels,
    prepare_features,
    time_values,
)
from mlwright.search import (
    Prepared,
    SearchResult,
    SearchSplit,
    carve_holdout,
    carve_stopping,
    ensemble_model,
)
from mlwright.spec import TaskSpec

STACK_SKIPPED = "second layer (stacking)"
# AutoGluon's dynamic stacking holds out a ninth of the training rows for the same check.
HOLDOUT_FRACTION = 1 / 9
# Below these, the check (or the search's share for the first layer) would be noise.
MIN_HOLDOUT_ROWS = 60
MIN_STACK_SEARCH_SECONDS = 120.0


def stacking_plan(spec: TaskSpec, framed: Framed, work_seconds: float) -> str | None:
    """None when the run fits a second layer, else why not (for the run log and the card);
    "" when nothing need be said (``search.max_trials`` bounds a search set to 'auto')."""
    levels = spec.search.stack_levels
    if levels == 0:
        return "search.stack_levels = 0"
    holdout_rows = round(len(framed.splits.train) * HOLDOUT_FRACTION)
    if holdout_rows < MIN_HOLDOUT_ROWS:
        return (
            f"{len(framed.splits.train):,} training rows give a stacking holdout of "
            f"{holdout_rows} rows, fewer than {MIN_HOLDOUT_ROWS}"
        )
    if levels == 1:
        return None
    if spec.search.max_trials is not None:
        return ""
    window = search_seconds(work_seconds)
    if window < MIN_STACK_SEARCH_SECONDS:
        return (
            f"the time budget leaves the search {window:.0f} s, and a second layer is tried "
            f"from {MIN_STACK_SEARCH_SECONDS:.0f} s (a time budget of about "
            f"{math.ceil(budget_for_search(MIN_STACK_SEARCH_SECONDS))} s before saving and "
            "registering)"
        )
    return None


DECISION = "stacking.json"  # in the work folder: whether its folds lack a stacking holdout


def kept_decision(work: Path, stack: bool, *, resume: bool) -> tuple[bool, str | None]:
    """Whether the run stacks, and a line to log when that is not what it planned: a resumed
    run keeps the interrupted run's choice (its journaled trials were fitted on those folds;
    a resume may change the budget or max_trials, which decide "auto"). A fresh run records
    its choice."""
    path = work / DECISION
    if not resume or not path.is_file():
        path.write_text(json.dumps({"stacking_holdout": stack}))
        return stack, None
    kept = bool(json.loads(path.read_text()).get("stacking_holdout", False))
    if kept == stack:
        return stack, None
    return kept, (
        "resumed: the interrupted run "
        + ("stacked, and so does this one" if kept else "did not stack, nor does this one")
        + " (its trials were fitted on its folds)"
    )


def search_split(spec: TaskSpec, framed: Framed, stack: bool) -> SearchSplit:
    """The search's folds, less the stacking holdout when the run stacks, with each fold's
    early-stopping rows carved from its training rows (see ``search.carve_stopping``)."""
    strategy, rows = framed.splits.strategy, framed.train_frame
    groups = group_labels(spec, rows) if strategy == "group" else None
    times = time_values(spec, rows) if strategy == "time" else None
    classification = spec.resolved_problem_type != "regression"
    split = SearchSplit(framed.splits.folds)
    if stack:
        split = carve_holdout(
            split.folds,
            framed.y_train,
            fraction=HOLDOUT_FRACTION,
            classification=classification,
            seed=spec.seed,
            groups=groups,
            times=times,
        )
    return carve_stopping(
        split,
        framed.y_train,
        classification=classification,
        seed=spec.seed,
        groups=groups,
        times=times,
    )


def new_splits(
    spec: TaskSpec, framed: Framed, work: Path, holdout: np.ndarray | None
) -> Callable[[int], Prepared] | None:
    """What repeated k-fold bagging fits on: split ``r`` (1, 2, ...) draws the folds anew
    over the search's rows with seed ``spec.seed + r``, keeps the stacking ``holdout`` out
    of all of them, carves each fold's early-stopping rows, and prepares its matrices under
    ``work``. None for a time split, whose folds have one order only."""
    strategy, rows = framed.splits.strategy, framed.train_frame
    if strategy == "time" or spec.search.repeats <= 1:
        return None
    groups = group_labels(spec, rows) if strategy == "group" else None
    classification = spec.resolved_problem_type != "regression"
    y = framed.y_train
    searched = np.arange(len(y)) if holdout is None else np.setdiff1d(np.arange(len(y)), holdout)

    def prepare_split(r: int) -> Prepared:
        seed = spec.seed + r
        folds = refold(
            searched,
            y,
            strategy=strategy,
            folds=len(framed.splits.folds),
            seed=seed,
            classification=classification,
            groups=groups,
        )
        split = carve_stopping(
            SearchSplit(folds, holdout), y, classification=classification, seed=seed, groups=groups
        )
        return prepare_features(framed, spec, work, split, folder=f"data/split{r + 1}")

    return prepare_split


def first_layer_outputs(
    names: list[str], searched: SearchResult, framed: Framed, make_model: ModelFactory
) -> dict[str, np.ndarray]:
    """Each named first-layer trial's out-of-sample outputs on every labelled row (the
    refit's rows): its out-of-fold predictions on the rows its folds validated, its
    holdout predictions on the stacking holdout's, and its bagged fold models' on the rest
    (rows no fold model saw: the evaluation holdout, rows outside a large table's sample)."""
    prepared = searched.prepared
    positions = framed.search_positions  # the search set's rows in the refit's frame
    validated = prepared.validated
    outputs = {}
    for name in names:
        trial = searched.by_name(name)
        bagged = ensemble_model({name: 1.0}, searched, make_model)
        out = _raw(bagged, framed.frame.select([c for c, _ in framed.columns]))
        assert trial.oof is not None
        out[positions[validated]] = np.asarray(trial.oof)[validated]
        if prepared.holdout is not None:
            assert trial.holdout_pred is not None
            out[positions[prepared.holdout]] = trial.holdout_pred
        outputs[name] = out
    return outputs


def _raw(model: Model, frame: pl.DataFrame) -> np.ndarray:
    """The model's outputs as its learners give them: values, or class probabilities."""
    if model.problem_type == "regression":
        return np.array(model.predict(frame), dtype=np.float64)
    return np.array(model.predict_proba(frame).to_numpy(), dtype=np.float64)
