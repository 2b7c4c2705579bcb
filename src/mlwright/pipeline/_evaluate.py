"""The evaluate stage: the chosen model on the holdout, which neither the search nor the
choice saw, beside the baseline and the best single model (see ``mlwright.evaluate``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlwright.artifact import class_name
from mlwright.evaluate import Evaluation, Predictions, defined, evaluate, paired_noise, score
from mlwright.learners import Baseline, LearnerTask
from mlwright.pipeline._prepare import Framed, ModelFactory
from mlwright.pipeline._runner import Run
from mlwright.pipeline._search import limits
from mlwright.search import (
    SearchResult,
    Selection,
    blend,
    ensemble_model,
    stack,
    wins_beyond_noise,
)
from mlwright.spec import METRICS, ProblemType, TaskSpec


@dataclass
class Evaluated:
    """The holdout's verdict on the choice."""

    selection: Selection  # the choice, or the stacked model if stacking won on the holdout
    evaluation: Evaluation
    pred_raw: np.ndarray  # the choice's holdout predictions, before any calibration
    pred: np.ndarray  # as served: calibrated when the evaluation chose a calibrator
    single_pred: np.ndarray | None  # the best single model's, when the choice is not it
    batch_seconds: float  # predicting the whole holdout in one batch
    stacking: dict[str, Any] | None

    @property
    def metrics(self) -> dict[str, Any]:
        return self.evaluation.metrics


def evaluate_on_holdout(
    run: Run, framed: Framed, searched: SearchResult, selection: Selection, make_model: ModelFactory
) -> Evaluated:
    """Holdout predictions of the choice (and of a stacked model, kept only if better),
    then scores with intervals, calibration and the decision threshold."""
    spec = run.spec
    holdout_frame = framed.holdout_frame
    batch_started = time.perf_counter()
    pred = selection.model._raw(holdout_frame)
    batch_seconds = time.perf_counter() - batch_started
    stacking: dict[str, Any] | None = None
    if spec.search.stacking:
        selection, pred, stacking = _try_stacking(
            run, framed, searched, selection=selection, holdout_pred=pred, make_model=make_model
        )
        run.progress.log(f"stacking: {stacking['summary']}")
    best_single = searched.best
    single_pred = None
    if set(selection.weights) != {best_single.candidate.name}:
        single_pred = ensemble_model({best_single.candidate.name: 1.0}, searched, make_model)._raw(
            holdout_frame
        )
    evaluation = _evaluate(
        spec, framed, searched, selection=selection, pred=pred, single_pred=single_pred
    )
    served = pred
    if evaluation.calibrator is not None:
        # What the served model outputs, for the monitoring reference.
        served = evaluation.calibrator.apply(pred)
        run.progress.log(f"calibration: {evaluation.metrics['calibration']['reason']}")
    return Evaluated(selection, evaluation, pred, served, single_pred, batch_seconds, stacking)


def _try_stacking(
    run: Run,
    framed: Framed,
    searched: SearchResult,
    *,
    selection: Selection,
    holdout_pred: np.ndarray,
    make_model: ModelFactory,
) -> tuple[Selection, np.ndarray, dict[str, Any]]:
    """The stacked candidate replaces the selection only if it beats it by more than the
    noise on rows the choice may use (``judge_stacker``); the holdout then scores whichever
    was kept, and gives both scores for reference, never choosing (a holdout that chose
    would report an optimistic score)."""
    metric = run.spec.task.metric
    stacked, why = stack(
        searched,
        limits=limits(run),
        problem_type=run.spec.resolved_problem_type,
        n_classes=framed.n_classes,
        make_model=make_model,
        records=framed.records,
    )
    if stacked is None:
        return selection, holdout_pred, {"kept": False, "summary": f"not tried: {why}"}
    judged = judge_stacker(searched, stacked, selection, metric, seed=run.spec.seed)
    stack_pred = stacked.model._raw(framed.holdout_frame)
    y_hold = framed.y_hold
    on_stack, on_selection = score(metric, y_hold, stack_pred), score(metric, y_hold, holdout_pred)
    kept = judged["kept"]
    note = {
        **judged,
        "members": list(stacked.weights),
        "holdout_stack": on_stack,
        "holdout_without": on_selection,
        "summary": (
            f"{stacked.name} {'kept' if kept else 'dropped'} on {judged['judged_on']}: "
            f"{metric} {judged['stack']:.4g} vs {judged['without']:.4g} for {selection.name} "
            f"(noise {_noise(judged['noise'])}); holdout {on_stack:.4g} vs {on_selection:.4g}"
        ),
    }
    if kept:
        stacked.rejected = selection.rejected
        return stacked, stack_pred, note
    return selection, holdout_pred, note


def judge_stacker(
    searched: SearchResult, stacked: Selection, selection: Selection, metric: str, *, seed: int
) -> dict[str, Any]:
    """The linear stacker against the selection, on the stacking holdout when the search
    carved one (rows that no model of either saw), else on the out-of-fold rows (the
    stacker's own predictions there are cross-fitted; the greedy ensemble chose its weights
    on those rows, which favours it). Kept only if it wins by more than one standard error
    of the difference, as the multi-layer stack is (``judge_second_layer``)."""
    prepared = searched.prepared
    assert stacked.stacker is not None
    if prepared.holdout is not None:
        truth = prepared.y[prepared.holdout]
        outputs = [np.asarray(searched.by_name(n).holdout_pred) for n in stacked.weights]
        with_stack = stacked.stacker.combine(outputs)
        without = blend(selection.weights, searched.by_name, holdout=True)
        where = f"the stacking holdout ({len(truth)} rows)"
    else:
        rows = prepared.validated
        truth = prepared.y[rows]
        with_stack, without = stacked.oof[rows], selection.oof[rows]
        where = f"the out-of-fold rows ({len(truth)})"
    on_stack, on_without = score(metric, truth, with_stack), score(metric, truth, without)
    greater = METRICS[metric].greater_is_better
    noise = paired_noise(metric, truth, np.asarray(without), np.asarray(with_stack), seed=seed)
    return {
        "judged_on": where,
        "stack": on_stack,
        "without": on_without,
        "noise": noise,
        "kept": wins_beyond_noise(on_stack, on_without, noise, greater=greater),
    }


def _noise(noise: float | None) -> str:
    return "undefined" if noise is None else f"{noise:.2g}"


def _evaluate(
    spec: TaskSpec,
    framed: Framed,
    searched: SearchResult,
    *,
    selection: Selection,
    pred: np.ndarray,
    single_pred: np.ndarray | None,
) -> Evaluation:
    """Cross-validated scores of the choice beside the baseline's, then the holdout
    evaluation (calibration, intervals, threshold: see ``mlwright.evaluate.evaluate``)."""
    metric = spec.task.metric
    y_train, y_hold = framed.y_train, framed.y_hold
    validated = searched.prepared.validated
    base_pred = baseline_holdout(spec.resolved_problem_type, framed.n_classes, y_train, len(y_hold))
    fold_scores = [
        score(metric, y_train[valid], selection.oof[valid])
        for _, valid in searched.prepared.folds
        if defined(metric, y_train[valid])
    ]
    best = searched.best
    evaluation = evaluate(
        spec,
        Predictions(
            y_oof=y_train[validated], oof=selection.oof[validated], y_hold=y_hold, hold=pred
        ),
        baseline_hold=base_pred,
        single=(best.candidate.name, single_pred) if single_pred is not None else None,
        holdout_frame=framed.holdout_inputs,
        columns=framed.columns,
        class_names=[class_name(c) for c in framed.classes],
    )
    evaluation.metrics = {
        "metric": metric,
        "cv": _cv_scores(selection, searched, fold_scores),
        **evaluation.metrics,
    }
    return evaluation


def _cv_scores(
    selection: Selection, searched: SearchResult, fold_scores: Sequence[float]
) -> dict[str, Any]:
    best = searched.best
    return {
        "model": selection.name,
        "score": float(np.mean(fold_scores)),
        "std": float(np.std(fold_scores)),
        "folds": list(fold_scores),
        "best_single": {"model": best.candidate.name, "score": best.cv_score},
        "baseline": searched.baseline.cv_score,
    }


def baseline_holdout(
    problem_type: ProblemType, n_classes: int, y_train: np.ndarray, rows: int
) -> np.ndarray:
    """The baseline's holdout predictions: the training rows' prior or mean."""
    baseline = Baseline().fit(
        np.zeros((len(y_train), 0)), y_train, LearnerTask(problem_type, n_classes)
    )
    return np.asarray(baseline.predict(np.zeros((rows, 0))))
