"""The document stage: the evidence of a run, written into the model's metadata (and so its
manifest), and the model card built from it."""

from __future__ import annotations

from typing import Any

from mlwright.artifact import Model
from mlwright.data import prediction_statistics, reference_statistics
from mlwright.evaluate import Evaluation, score
from mlwright.pipeline._budget import search_seconds
from mlwright.pipeline._check import Checked
from mlwright.pipeline._evaluate import Evaluated
from mlwright.pipeline._prepare import Framed
from mlwright.pipeline._refit import Refitted
from mlwright.pipeline._runner import Run
from mlwright.search import SearchResult, Selection, TrialResult, pareto_front
from mlwright.spec import METRICS


def ship(model: Model, evaluation: Evaluation) -> None:
    """What the holdout decided, onto the shipped model: threshold, calibration, intervals."""
    model.threshold = evaluation.threshold
    model.set_calibrator(evaluation.calibrator)
    model.intervals = evaluation.intervals


def evidence(
    run: Run,
    checked: Checked,
    framed: Framed,
    *,
    searched: SearchResult,
    evaluated: Evaluated,
    shipped: Refitted,
    data_fingerprint: str,
) -> dict[str, Any]:
    """The run's evidence for the manifest: the choice, its scores, the leaderboard, what it
    costs, how it was trained, the data it saw and the reference for monitoring."""
    selection, model = evaluated.selection, shipped.model
    splits = framed.splits
    batch = evaluated.batch_seconds
    return {
        "chosen": selection.name,
        "ensemble": selection.weights,
        "rejected_by_constraints": selection.rejected,
        **({"stacking": evaluated.stacking} if evaluated.stacking is not None else {}),
        **({"layers": selection.layers} if selection.layers is not None else {}),
        **({"tuning": selection.tuning} if selection.tuning is not None else {}),
        "interrupted": searched.interrupted,
        "metrics": evaluated.metrics,
        "leaderboard": leaderboard(searched, selection),
        "latency": {
            **shipped.latency,
            "batch_rows_per_second": len(framed.holdout_frame) / batch if batch > 0 else None,
        },
        "size_mb": shipped.size_mb,
        "training": _training(run, framed, shipped.refit),
        "data": {
            "fingerprint": data_fingerprint,
            "rows": checked.frame.height,
            "labelled_rows": framed.frame.height,
            "train_rows": len(splits.train),
            "holdout_rows": len(splits.holdout),
            "validation": splits.description,
            "search": framed.scale.to_dict(),
            "schema": checked.report.schema.to_dict(),
        },
        "checks": [f.to_dict() for f in checked.report.findings],
        "notes": list(checked.resolution.notes),
        "reference": {
            "features": reference_statistics(framed.frame, framed.columns),
            "predictions": prediction_statistics(
                evaluated.pred, run.spec.resolved_problem_type, model.class_names
            ),
        },
    }


def _training(run: Run, framed: Framed, refit: bool) -> dict[str, Any]:
    if refit:
        note = (
            "holdout scores were measured on the fold models of the same configurations (each "
            "fitted without the holdout rows); the final model refits them on every labelled row"
        )
    else:
        note = "the model is the bagged fold models the holdout scored" + (
            " (refit skipped: time budget)" if run.spec.validation.refit else ""
        )
    return {
        "refit_on_all_rows": refit,
        "bagged_folds": None if refit else len(framed.splits.folds),
        "rows": framed.frame.height if refit else len(framed.splits.train),
        "note": note,
    }


def budget_evidence(run: Run, metrics: dict[str, Any]) -> dict[str, Any]:
    """How the budget was shared, and each step it could not hold, with the reason."""
    for name, key in (("learning curve", "learning_curve"), ("input importance", "importance")):
        if metrics[key].get("computed") is False:
            run.skipped[name] = str(metrics[key].get("reason", ""))
    return {
        "seconds": run.budget,
        "search_seconds": round(search_seconds(run.budget - run.finish), 3)
        if run.spec.search.max_trials is None
        else None,
        "kept_for_card_save_register": round(run.finish, 3),
        "refit_seconds": run.refit_seconds,
        "skipped": run.skipped,
    }


def leaderboard(searched: SearchResult, selection: Selection) -> list[dict[str, Any]]:
    """Every trial: score, spread, fit seconds, single-row latency, size, Pareto front,
    ensemble weight; finished ones best first, then the rest, then repeated bagging's fits
    (each a trial's configuration on a new fold split, scored into that trial's row)."""
    ranked = searched.ranked()
    front = pareto_front(ranked, METRICS[searched.metric].greater_is_better)
    rest = [t for t in searched.trials if t.status != "ok"]
    rows = [
        _row(trial, searched, selection, rank if trial.status == "ok" else None, front)
        for rank, trial in enumerate([*ranked, *rest], start=1)
    ]
    return rows + [_row(r, searched, selection, None, set()) for r in searched.repeats]


def _row(
    trial: TrialResult,
    searched: SearchResult,
    selection: Selection,
    rank: int | None,
    front: set[str],
) -> dict[str, Any]:
    """One leaderboard row. A fit of repeated bagging has no rank, cross-validated score,
    latency or size of its own (they are its trial's, pooled over splits): its note names
    the trial and the split, with its score there."""
    metric = searched.metric
    ok = trial.status == "ok"
    repeat_of = trial.candidate.extra.get("repeat_of")
    scored = ok and repeat_of is None
    latency = (trial.latency or {}) if repeat_of is None else {}
    where = (
        f"{repeat_of} on fold split {trial.candidate.split + 1}"
        + (f" ({metric} {trial.cv_score:.4g} there)" if ok else "")
        if repeat_of is not None
        else ""
    )
    return {
        "rank": rank,
        "model": trial.candidate.name,
        "family": trial.candidate.family,
        "origin": trial.candidate.origin,
        f"cv_{metric}": trial.cv_score if scored else None,
        "cv_std": trial.cv_std if scored else None,
        "fit_seconds": round(trial.fit_seconds, 3),
        "p50_us": latency.get("p50_us"),
        "p99_us": latency.get("p99_us"),
        "size_mb": trial.size_mb if repeat_of is None else None,
        "pareto": trial.candidate.name in front,
        "weight": selection.weights.get(trial.candidate.name, 0.0),
        "chosen": trial.candidate.name in selection.weights,
        "status": trial.status,
        "params": trial.candidate.params,
        "note": "; ".join(
            n for n in (where, trial.message, "resumed" if trial.resumed else "") if n
        ),
        **_layer_columns(trial, searched),
        "splits": trial.splits,
    }


def _layer_columns(trial: TrialResult, searched: SearchResult) -> dict[str, Any]:
    """The trial's layer, when it finished (what the time bought, in order), and its score
    on the stacking holdout when the search had one (a second-layer trial's cross-validated
    score flatters it)."""
    columns: dict[str, Any] = {
        "layer": trial.candidate.layer,
        "finished_s": round(trial.finished_s, 3) if trial.status == "ok" else None,
    }
    holdout = searched.prepared.holdout
    if holdout is not None and trial.status == "ok" and trial.holdout_pred is not None:
        truth = searched.prepared.y[holdout]
        columns["stack_holdout"] = score(searched.metric, truth, trial.holdout_pred)
    return columns
