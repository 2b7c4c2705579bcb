"""Monitoring a served model: drift, data quality, estimated and realised performance from
the prediction log, and late labels joined by prediction id."""

from mlwright.monitor._dashboard import dashboard
from mlwright.monitor._drift import Shift, js_distance, noise_psi, psi, shift, wasserstein
from mlwright.monitor._feedback import LABELS, FeedbackResult, add_feedback, read_labels
from mlwright.monitor._monitor import (
    MonitorReport,
    Window,
    expected_auc,
    monitor,
    settings_for,
)

__all__ = [
    "LABELS",
    "FeedbackResult",
    "MonitorReport",
    "Shift",
    "Window",
    "add_feedback",
    "dashboard",
    "expected_auc",
    "js_distance",
    "monitor",
    "noise_psi",
    "psi",
    "read_labels",
    "settings_for",
    "shift",
    "wasserstein",
]
