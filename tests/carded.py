"""Models whose evidence is edited, for the model card's tests: a copy of a fitted model
with other metrics, as a troubled holdout or a long slice would give them."""

from __future__ import annotations

import copy

from mlwright.artifact import Model


def edited(model: Model, **metrics: object) -> Model:
    """A copy of ``model`` whose metrics are changed (the shared fixture stays as it is)."""
    clone = copy.copy(model)
    clone.metadata = copy.deepcopy(model.metadata)
    clone.metadata["metrics"].update(copy.deepcopy(metrics))
    clone.spec = model.spec.model_copy(deep=True)
    return clone


def troubled(model: Model) -> Model:
    """The regression model as the holdout of a trending series judges it (ggplot2/economics:
    47% coverage at 90%, negative R², a holdout far worse than cross-validation)."""
    metrics = model.metadata["metrics"]
    holdout = copy.deepcopy(metrics["holdout"])
    holdout.update(rows=115, model={"value": 3267.27, "low": 2914.35, "high": 3590.92})
    holdout["all"]["r2"] = -0.2614
    intervals = copy.deepcopy(metrics["intervals"])
    for key, covered in (("0.8", 0.478), ("0.9", 0.472), ("0.95", 0.574)):
        intervals["levels"][key]["holdout_coverage"] = {
            "value": covered,
            "low": covered - 0.09,
            "high": covered + 0.09,
        }
    cv = {**metrics["cv"], "score": 1178.4, "folds": [2212.1, 1572.3, 506.5, 1167.5, 433.6]}
    return edited(model, holdout=holdout, intervals=intervals, cv=cv)


def with_slices(model: Model) -> Model:
    """``model`` with two reported slices whose names are long, as pairs of bins are."""
    errors = copy.deepcopy(model.metadata["metrics"].get("errors", {}))
    errors["slices"] = {
        "tested": 120,
        "rows": 80,
        "min_support": 30,
        "loss": "absolute error",
        "slices": [
            {
                "slice": "signup in [2021-03-01, 2021-07-30) and plan = a plan with a long name",
                "rows": 31,
                "loss": 9.5,
                "rest_loss": 4.2,
                "loss_ratio": 2.26,
                "metric": 11.3,
                "p_value_holm": 0.0004,
            },
            {
                "slice": "count in [4, 9) and num in [-0.5123, 0.2345)",
                "rows": 35,
                "loss": 7.4,
                "rest_loss": 4.4,
                "loss_ratio": 1.68,
                "metric": 9.1,
                "p_value_holm": 0.031,
            },
        ],
    }
    return edited(model, errors=errors)
