"""FeaturePlan: fitted transforms with a batch path and a single-record path that agree exactly."""

from mlwright.features._plan import (
    FEATURE_KINDS,
    FEATURE_STYLES,
    FeatureKind,
    FeaturePlan,
    FeatureStyle,
    PlanSettings,
    target_matrix,
)
from mlwright.features._values import (
    boolean_column,
    category_column,
    number_column,
    timestamp_column,
)

__all__ = [
    "FEATURE_KINDS",
    "FEATURE_STYLES",
    "FeatureKind",
    "FeaturePlan",
    "FeatureStyle",
    "PlanSettings",
    "boolean_column",
    "category_column",
    "number_column",
    "target_matrix",
    "timestamp_column",
]
