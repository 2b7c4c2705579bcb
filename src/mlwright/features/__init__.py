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
from mlwright.features._values import boolean as boolean_value
from mlwright.features._values import (
    boolean_column,
    category_column,
    number_column,
    timestamp_column,
)
from mlwright.features._values import category as category_value
from mlwright.features._values import number as number_value
from mlwright.features._values import timestamp as timestamp_value

__all__ = [
    "FEATURE_KINDS",
    "FEATURE_STYLES",
    "FeatureKind",
    "FeaturePlan",
    "FeatureStyle",
    "PlanSettings",
    "boolean_column",
    "boolean_value",
    "category_column",
    "category_value",
    "number_column",
    "number_value",
    "target_matrix",
    "timestamp_column",
    "timestamp_value",
]
