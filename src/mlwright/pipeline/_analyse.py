"""The analyse stage: what each step up in complexity buys on the holdout, how the score
grows with the training rows, and what each input contributes. Each gets the share of the
budget that is left; what the budget could not hold is said to be skipped."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mlwright.artifact import Model
from mlwright.evaluate import Step, complexity_ladder, global_importance, learning_curve
from mlwright.pipeline._budget import LINEAR_STEP_SECONDS
from mlwright.pipeline._evaluate import Evaluated, baseline_holdout
from mlwright.pipeline._prepare import Framed, ModelFactory
from mlwright.pipeline._runner import Run
from mlwright.search import Prepared, SearchResult, TrialResult, ensemble_model

# Shares of the budget left that the learning curve and the importance may use: the curve
# leaves the rest for the importance, which leaves half of its rest for saving.
LEARNING_CURVE_SHARE = 0.4
IMPORTANCE_SHARE = 0.5


def weigh_complexity(
    run: Run, framed: Framed, searched: SearchResult, evaluated: Evaluated, make_model: ModelFactory
) -> dict[str, Any]:
    """The complexity ladder: baseline -> linear -> best single -> ensemble, as shipped.
    The linear step's holdout prediction is left out when the budget is spent."""
    linear = _best_linear(searched)
    if linear is not None and linear.candidate.name == searched.best.candidate.name:
        linear = None  # the best single model is linear: it has its own step
    linear_step = None
    if linear is not None and run.clock.end - time.monotonic() > LINEAR_STEP_SECONDS:
        model = ensemble_model({linear.candidate.name: 1.0}, searched, make_model)
        linear_step = (linear, model._raw(framed.holdout_frame))
    ladder = _ladder(run, framed, searched, evaluated, linear_step)
    if linear is not None and linear_step is None:
        ladder["note"] = "the linear step is left out: the time budget was spent before it"
        run.skipped["complexity ladder's linear step"] = "the time budget was spent before it"
    return ladder


def _ladder(
    run: Run,
    framed: Framed,
    searched: SearchResult,
    evaluated: Evaluated,
    linear: tuple[TrialResult, np.ndarray] | None,
) -> dict[str, Any]:
    """``linear``: the best linear trial and its holdout predictions, when it is not already
    the best single model."""
    validated = searched.prepared.validated
    best = searched.best
    selection, calibrator = evaluated.selection, evaluated.evaluation.calibrator
    pred, single_pred = evaluated.pred_raw, evaluated.single_pred
    y_train, y_hold = framed.y_train, framed.y_hold
    base_pred = baseline_holdout(
        run.spec.resolved_problem_type, framed.n_classes, y_train, len(y_hold)
    )
    chosen_hold = pred if calibrator is None else calibrator.apply(pred)
    chosen_oof = selection.oof[validated]
    if calibrator is not None:
        chosen_oof = calibrator.apply(chosen_oof)

    def rung(name: str, trial: TrialResult, hold: np.ndarray) -> Step:
        latency = trial.latency or {}
        oof = np.asarray(trial.oof)[validated]
        return Step(name, trial.candidate.name, hold, oof, latency.get("p99_us"), trial.size_mb)

    steps = [rung("baseline", searched.baseline, base_pred)]
    if linear is not None:
        steps.append(rung("linear", *linear))
    steps.append(rung("best single", best, pred if single_pred is None else single_pred))
    p99, size = selection.latency.get("p99_us"), selection.size_mb
    if single_pred is not None:
        name = "stacked ensemble" if selection.stacker is not None else "ensemble"
        steps.append(Step(name, selection.name, chosen_hold, chosen_oof, p99, size))
    else:  # the best single model is the choice: as shipped, calibrated if it is
        steps[-1] = Step("best single", best.candidate.name, chosen_hold, chosen_oof, p99, size)
    return complexity_ladder(run.spec, steps, y_oof=y_train[validated], y_hold=y_hold)


def _best_linear(searched: SearchResult) -> TrialResult | None:
    """The best finished linear trial, for the complexity ladder."""
    linear = [t for t in searched.ranked() if t.candidate.family == "linear"]
    return linear[0] if linear else None


def curve(run: Run, prepared: Prepared, searched: SearchResult) -> dict[str, Any]:
    """How the best single model's score grows with its training rows, on the fold files;
    after the refit, which has the time first."""
    result = learning_curve(
        prepared,
        searched.best,
        metric=run.spec.task.metric,
        problem_type=run.spec.resolved_problem_type,
        seconds=max(0.0, run.clock.end - time.monotonic()) * LEARNING_CURVE_SHARE,
        seed=run.spec.seed,
    )
    run.timings["learning_curve"] = float(result.get("seconds", 0.0))
    return result


def importance(run: Run, model: Model, framed: Framed) -> dict[str, Any]:
    """What each input contributes to the shipped model's holdout predictions; the rest of
    the budget is for saving and registering."""
    result = global_importance(
        model,
        framed.holdout_inputs,
        framed.y_hold,
        seconds=max(0.0, run.clock.end - time.monotonic()) * IMPORTANCE_SHARE,
        seed=run.spec.seed,
    )
    run.timings["importance"] = float(result.get("seconds", 0.0))
    return result
