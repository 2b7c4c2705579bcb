"""Honest evaluation: metrics with intervals, baselines beside scores, calibration,
business-value decisions and prediction intervals."""

from mlwright.evaluate._calibration import (
    CalibrationChoice,
    ReliabilityBin,
    choose_calibrator,
    expected_calibration_error,
    fit_calibrator,
    reliability,
)
from mlwright.evaluate._errors import (
    Slice,
    SliceSearch,
    bin_column,
    confusion,
    find_slices,
    per_row_loss,
    residuals_by_prediction,
    worst_examples,
)
from mlwright.evaluate._holdout import Evaluation, Predictions, evaluate
from mlwright.evaluate._importance import global_importance
from mlwright.evaluate._intervals import (
    conformal_quantile,
    coverage,
    fit_intervals,
    proportion_interval,
)
from mlwright.evaluate._ladder import Step, complexity_ladder
from mlwright.evaluate._learning import learning_curve
from mlwright.evaluate._metrics import (
    Difference,
    Interval,
    Resampled,
    all_metrics,
    better,
    bootstrap_interval,
    defined,
    greater_is_better,
    paired_difference,
    paired_noise,
    resample,
    score,
)
from mlwright.evaluate._value import (
    ThresholdChoice,
    best_threshold,
    decision_value,
    per_1000_interval,
    row_values,
    value_curve,
)

__all__ = [
    "CalibrationChoice",
    "Difference",
    "Evaluation",
    "Interval",
    "Predictions",
    "ReliabilityBin",
    "Resampled",
    "Slice",
    "SliceSearch",
    "Step",
    "ThresholdChoice",
    "all_metrics",
    "best_threshold",
    "better",
    "bin_column",
    "bootstrap_interval",
    "choose_calibrator",
    "complexity_ladder",
    "conformal_quantile",
    "confusion",
    "coverage",
    "decision_value",
    "defined",
    "evaluate",
    "expected_calibration_error",
    "find_slices",
    "fit_calibrator",
    "fit_intervals",
    "global_importance",
    "greater_is_better",
    "learning_curve",
    "paired_difference",
    "paired_noise",
    "per_1000_interval",
    "per_row_loss",
    "proportion_interval",
    "reliability",
    "resample",
    "residuals_by_prediction",
    "row_values",
    "score",
    "value_curve",
    "worst_examples",
]
