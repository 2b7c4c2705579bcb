"""The holdout evaluation of a chosen model, assembled from predictions.

Everything that is fitted here (the calibrator, the decision threshold, the prediction
intervals) is fitted on the out-of-fold predictions of the training rows; the holdout,
which neither the search nor these fits saw, only judges. Scores carry 95% bootstrap
intervals, and the baseline and best single model stand beside the chosen one with paired
intervals of the difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlwright.artifact import Calibrator, PredictionIntervals, level_key
from mlwright.evaluate._calibration import (
    choose_calibrator,
    reliability,
    table_calibration_error,
)
from mlwright.evaluate._errors import (
    confusion,
    find_slices,
    per_row_loss,
    residuals_by_prediction,
    worst_examples,
)
from mlwright.evaluate._intervals import coverage, fit_intervals
from mlwright.evaluate._metrics import all_metrics, resample, score
from mlwright.evaluate._value import (
    best_threshold,
    per_1000_interval,
    row_values,
    value_curve,
)
from mlwright.spec import TaskSpec

# Metrics judged by the order of the scores alone: calibration must not tie rows there.
RANKING_METRICS = frozenset({"roc_auc", "average_precision"})


@dataclass
class Evaluation:
    """``metrics`` (JSON-ready, for the manifest and the model card) and what the model
    should carry: a calibrator (classification), prediction intervals (regression) and
    the decision threshold (binary, with business values)."""

    metrics: dict[str, Any]
    calibrator: Calibrator | None = None
    intervals: PredictionIntervals | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class Predictions:
    """Truths and predictions of one model on the training rows that were validated
    (out of fold) and on the holdout."""

    y_oof: np.ndarray
    oof: np.ndarray
    y_hold: np.ndarray
    hold: np.ndarray


def evaluate(
    spec: TaskSpec,
    chosen: Predictions,
    *,
    baseline_hold: np.ndarray,
    single: tuple[str, np.ndarray] | None = None,
    holdout_frame: pl.DataFrame | None = None,
    columns: Sequence[tuple[str, str]] = (),
    class_names: Sequence[str] = (),
) -> Evaluation:
    """Calibrate (classification) or fit intervals (regression) on ``chosen.oof``; choose
    the threshold (binary with business values); score everything on the holdout.
    ``single`` is the best single model's name and holdout predictions when the chosen
    model is an ensemble. With ``holdout_frame`` (the holdout's input columns, ``columns``
    their names and feature kinds), the error analysis too."""
    problem_type = spec.resolved_problem_type
    y_hold = chosen.y_hold
    out = Evaluation(metrics={})
    oof, hold = chosen.oof, chosen.hold
    if problem_type != "regression":
        oof, hold = _calibrate(spec, chosen, out)
    out.metrics["holdout"] = _holdout_scores(
        spec, y_hold, hold, baseline_hold=baseline_hold, single=single
    )

    if problem_type == "binary" and spec.value.stated:
        out.metrics["decision"] = _decision(spec, chosen.y_oof, oof[:, 1], y_hold, hold[:, 1])
        out.threshold = out.metrics["decision"]["threshold"]
    if problem_type == "multiclass" and spec.value.matrix is not None:
        out.metrics["decision"] = _matrix_decision(
            spec, class_names, y_oof=chosen.y_oof, oof=oof, y_hold=y_hold, hold=hold
        )
    if problem_type == "regression":
        out.intervals = fit_intervals(chosen.y_oof, oof)
        out.metrics["intervals"] = _interval_report(out.intervals, y_hold, hold)
    if holdout_frame is not None:
        out.metrics["errors"] = _errors(
            spec,
            holdout_frame,
            columns=columns,
            y=y_hold,
            pred=hold,
            threshold=out.threshold,
            class_names=class_names,
        )
    return out


def _calibrate(
    spec: TaskSpec, chosen: Predictions, out: Evaluation
) -> tuple[np.ndarray, np.ndarray]:
    """Choose a calibrator on the out-of-fold predictions, record it and its holdout
    before/after report in ``out``, and return the calibrated out-of-fold and holdout
    predictions."""
    metric = spec.task.metric
    y_hold, oof, hold = chosen.y_hold, chosen.oof, chosen.hold
    choice = choose_calibrator(
        chosen.y_oof, oof, ranking_metric=metric in RANKING_METRICS, seed=spec.seed
    )
    calibrated = hold
    if choice.calibrator is not None:
        out.calibrator = choice.calibrator
        oof = choice.calibrator.apply(oof)
        calibrated = choice.calibrator.apply(hold)
    before, after = reliability(y_hold, hold), reliability(y_hold, calibrated)
    out.metrics["calibration"] = {
        **choice.to_dict(),
        "holdout": {
            "metric": metric,
            "score_before": score(metric, y_hold, hold),
            "score_after": score(metric, y_hold, calibrated),
            "log_loss_before": score("log_loss", y_hold, hold),
            "log_loss_after": score("log_loss", y_hold, calibrated),
            "ece_before": table_calibration_error(before),
            "ece_after": table_calibration_error(after),
            "reliability_before": [b.to_dict() for b in before],
            "reliability_after": [b.to_dict() for b in after],
        },
    }
    return oof, calibrated


def _holdout_scores(
    spec: TaskSpec,
    y_hold: np.ndarray,
    hold: np.ndarray,
    *,
    baseline_hold: np.ndarray,
    single: tuple[str, np.ndarray] | None,
) -> dict[str, Any]:
    """The model's holdout score beside the baseline's (and the best single model's), with
    intervals and paired intervals of the differences."""
    problem_type = spec.resolved_problem_type
    metric = spec.task.metric
    compared = {"model": hold, "baseline": baseline_hold}
    if single is not None:
        compared["best_single"] = single[1]
    # One pass of resamples gives every interval and every paired difference.
    scored = resample(metric, y_hold, compared, seed=spec.seed)
    holdout: dict[str, Any] = {
        "rows": len(y_hold),
        "model": scored.interval("model").to_dict(),
        "baseline": scored.interval("baseline").to_dict(),
        "all": all_metrics(problem_type, y_hold, hold),
        "baseline_all": all_metrics(problem_type, y_hold, baseline_hold),
        "vs_baseline": scored.difference("model", "baseline").to_dict(),
    }
    if single is not None:
        holdout["best_single"] = {"model": single[0], **scored.interval("best_single").to_dict()}
        holdout["vs_best_single"] = scored.difference("model", "best_single").to_dict()
    return holdout


def _errors(
    spec: TaskSpec,
    frame: pl.DataFrame,
    *,
    columns: Sequence[tuple[str, str]],
    y: np.ndarray,
    pred: np.ndarray,
    threshold: float | None,
    class_names: Sequence[str],
) -> dict[str, Any]:
    """Where the model fails on the holdout: slices, confusion or residuals, worst rows."""
    problem_type = spec.resolved_problem_type
    loss = per_row_loss(problem_type, y, pred)
    slices = find_slices(
        frame, columns, loss, metric=spec.task.metric, y=y, pred=pred, seed=spec.seed
    )
    out: dict[str, Any] = {"slices": slices.to_dict()}
    if problem_type == "regression":
        out["residuals"] = residuals_by_prediction(y, pred)
        truth: list[Any] = [float(v) for v in y]
        shown: list[Any] = [float(v) for v in pred]
    else:
        if problem_type == "binary":
            cut = 0.5 if threshold is None else threshold
            labels = (pred[:, 1] >= cut).astype(np.int64)
        else:
            labels = pred.argmax(axis=1)
        out["confusion"] = {
            **confusion(y, labels, class_names),
            "threshold": threshold if problem_type == "binary" else None,
        }
        truth = [class_names[int(v)] for v in y]
        shown = [
            {
                "label": class_names[int(c)],
                "probabilities": dict(zip(class_names, map(float, pred[r]), strict=True)),
            }
            for r, c in enumerate(labels)
        ]
    out["worst"] = worst_examples(frame, loss, truth, shown)
    return out


def _decision(
    spec: TaskSpec, y_oof: np.ndarray, p_oof: np.ndarray, y_hold: np.ndarray, p_hold: np.ndarray
) -> dict[str, Any]:
    """The threshold of most business value on the out-of-fold predictions, and what it is
    worth on the holdout beside the simple policies, with paired intervals of the gain."""
    values = spec.value
    choice = best_threshold(y_oof, p_oof, values)
    policies = {
        "model_at_threshold": choice.threshold,
        "model_at_0.5": 0.5,
        "act_on_everyone": -math.inf,
        "act_on_no_one": math.inf,
    }
    per_row = {name: row_values(y_hold, p_hold, t, values) for name, t in policies.items()}
    return {
        "threshold": choice.threshold,
        "chosen_on": "out-of-fold predictions of the training rows",
        "oof_value_per_1000": choice.value_per_1000,
        **_policy_values(per_row, "model_at_threshold", seed=spec.seed),
        "curve": value_curve(y_hold, p_hold, values),
        "values": values.model_dump(),
    }


def _policy_values(
    per_row: dict[str, np.ndarray], chosen: str, *, seed: int
) -> dict[str, dict[str, dict[str, float]]]:
    """Each policy's holdout value per 1,000 decisions and the chosen one's paired gain over
    each other, with 95% intervals."""
    return {
        "holdout_value_per_1000": {
            name: per_1000_interval(v, seed=seed).to_dict() for name, v in per_row.items()
        },
        "gain_per_1000": {
            name: per_1000_interval(per_row[chosen] - v, seed=seed).to_dict()
            for name, v in per_row.items()
            if name != chosen
        },
    }


def _matrix_decision(
    spec: TaskSpec,
    class_names: Sequence[str],
    *,
    y_oof: np.ndarray,
    oof: np.ndarray,
    y_hold: np.ndarray,
    hold: np.ndarray,
) -> dict[str, Any]:
    """Multiclass decisions under the spec's value matrix: the class of highest expected
    value, beside the most probable class and the one class worth most on the out-of-fold
    rows, as value per 1,000 decisions on the holdout with paired intervals of the gain."""
    matrix = spec.value.matrix_for(class_names)
    assert matrix is not None
    y_oof, y_hold = y_oof.astype(np.int64), y_hold.astype(np.int64)
    constant = int(matrix[y_oof].sum(axis=0).argmax())
    policies = {
        "highest_expected_value": (hold @ matrix).argmax(axis=1),
        "most_probable_class": hold.argmax(axis=1),
        f"always_{class_names[constant]}": np.full(len(y_hold), constant),
    }
    per_row = {name: matrix[y_hold, picked] for name, picked in policies.items()}
    return {
        "rule": "the class of highest expected value under the value matrix",
        "oof_value_per_1000": float(matrix[y_oof, (oof @ matrix).argmax(axis=1)].mean() * 1000.0),
        **_policy_values(per_row, "highest_expected_value", seed=spec.seed),
        "matrix": {"classes": list(class_names), "values": matrix.tolist()},
    }


def _interval_report(
    intervals: PredictionIntervals, y_hold: np.ndarray, pred_hold: np.ndarray
) -> dict[str, Any]:
    levels = {}
    for level in intervals.levels:
        lower, upper = intervals.bounds(pred_hold, level)
        levels[level_key(level)] = {
            "halfwidths": intervals.halfwidths[level_key(level)],
            "mean_width": float(np.mean(upper - lower)),
            "holdout_coverage": coverage(y_hold, lower, upper).to_dict(),
        }
    return {
        "method": "split conformal on out-of-fold residuals, by bins of the predicted value",
        "edges": intervals.edges,
        "levels": levels,
    }
