"""Honest evaluation: metrics with intervals, baselines beside scores, business value."""

from mlwright.evaluate._metrics import (
    Interval,
    all_metrics,
    better,
    bootstrap_interval,
    defined,
    greater_is_better,
    score,
)
from mlwright.evaluate._value import ThresholdChoice, best_threshold, decision_value

__all__ = [
    "Interval",
    "ThresholdChoice",
    "all_metrics",
    "best_threshold",
    "better",
    "bootstrap_interval",
    "decision_value",
    "defined",
    "greater_is_better",
    "score",
]
