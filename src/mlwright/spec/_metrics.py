"""The catalogue of metrics a spec may name: which problem types each fits, and its direction.

The scoring functions live in ``mlwright.evaluate``; this is the part the spec validates against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ProblemType = Literal["binary", "multiclass", "regression"]
PROBLEM_TYPES: tuple[ProblemType, ...] = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    problem_types: tuple[ProblemType, ...]
    greater_is_better: bool
    uses_probabilities: bool
    description: str


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("roc_auc", ("binary",), True, True, "area under the ROC curve"),
        MetricInfo(
            "average_precision", ("binary",), True, True, "area under the precision-recall curve"
        ),
        MetricInfo("log_loss", ("binary", "multiclass"), False, True, "cross-entropy"),
        MetricInfo("brier", ("binary",), False, True, "mean squared error of the probability"),
        MetricInfo("accuracy", ("binary", "multiclass"), True, False, "share of correct labels"),
        MetricInfo(
            "balanced_accuracy",
            ("binary", "multiclass"),
            True,
            False,
            "mean recall over classes",
        ),
        MetricInfo("f1", ("binary",), True, False, "F1 of the positive class"),
        MetricInfo("f1_macro", ("multiclass",), True, False, "F1 averaged over classes"),
        MetricInfo("rmse", ("regression",), False, False, "root mean squared error"),
        MetricInfo("mae", ("regression",), False, False, "mean absolute error"),
        MetricInfo("r2", ("regression",), True, False, "coefficient of determination"),
    )
}

DEFAULT_METRIC: dict[ProblemType, str] = {
    "binary": "roc_auc",
    "multiclass": "log_loss",
    "regression": "rmse",
}


def metrics_for(problem_type: ProblemType) -> list[str]:
    return [m.name for m in METRICS.values() if problem_type in m.problem_types]
