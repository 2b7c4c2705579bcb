"""Monitoring a served model: drift, data quality, estimated and realised performance from
the prediction log, and late labels joined by prediction id."""

from mlwright.monitor._dashboard import dashboard
from mlwright.monitor._drift import Shift, js_distance, noise_psi, psi, shift, wasserstein
from mlwright.monitor._feedback import (
    LABELS,
    FeedbackResult,
    Labelled,
    add_feedback,
    labelled_answers,
    read_labels,
)
from mlwright.monitor._live import LiveTest, Measure, confidence_sequence, live_test
from mlwright.monitor._loop import (
    COMPARE_FROM_TAG,
    PROMOTION_TAG,
    Comparison,
    Promotion,
    RetrainResult,
    compare,
    promote,
    retrain,
    traffic_frame,
)
from mlwright.monitor._monitor import (
    MonitorReport,
    Window,
    expected_auc,
    monitor,
    require_table_model,
    settings_for,
)

__all__ = [
    "COMPARE_FROM_TAG",
    "LABELS",
    "PROMOTION_TAG",
    "Comparison",
    "FeedbackResult",
    "Labelled",
    "LiveTest",
    "Measure",
    "MonitorReport",
    "Promotion",
    "RetrainResult",
    "Shift",
    "Window",
    "add_feedback",
    "compare",
    "confidence_sequence",
    "dashboard",
    "expected_auc",
    "js_distance",
    "labelled_answers",
    "live_test",
    "monitor",
    "noise_psi",
    "promote",
    "psi",
    "read_labels",
    "require_table_model",
    "retrain",
    "settings_for",
    "shift",
    "traffic_frame",
    "wasserstein",
]
