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

__all__ = [
    "FEATURE_KINDS",
    "FEATURE_STYLES",
    "FeatureKind",
    "FeaturePlan",
    "FeatureStyle",
    "PlanSettings",
    "target_matrix",
]
