from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mlwright.evaluate import (
    all_metrics,
    best_threshold,
    better,
    bootstrap_interval,
    decision_value,
    score,
)
from mlwright.spec import METRICS
from mlwright.spec._model import ValueSection


@st.composite
def binary_predictions(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_value=2, max_value=60))
    y = np.asarray(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    # Coarse probabilities so that ties are common.
    p = np.asarray(draw(st.lists(st.integers(0, 10), min_size=n, max_size=n)), dtype=float) / 10
    return y, np.column_stack([1 - p, p])


@settings(max_examples=200, deadline=None)
@given(binary_predictions())
def test_roc_auc_equals_scikit_learn(case: tuple[np.ndarray, np.ndarray]) -> None:
    y, proba = case
    if len(np.unique(y)) < 2:
        with pytest.raises(ValueError, match="both classes"):
            score("roc_auc", y, proba)
        return
    assert math.isclose(
        score("roc_auc", y, proba), skm.roc_auc_score(y, proba[:, 1]), abs_tol=1e-12
    )


def test_other_metrics_equal_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    p = rng.dirichlet([1, 1, 1], 200)
    assert math.isclose(score("log_loss", y, p), skm.log_loss(y, p), rel_tol=1e-9)
    assert math.isclose(score("accuracy", y, p), skm.accuracy_score(y, p.argmax(1)))
    assert math.isclose(score("f1_macro", y, p), skm.f1_score(y, p.argmax(1), average="macro"))
    values = rng.normal(size=200)
    truth = values + rng.normal(size=200)
    assert math.isclose(score("rmse", truth, values), skm.root_mean_squared_error(truth, values))
    assert math.isclose(score("mae", truth, values), skm.mean_absolute_error(truth, values))
    assert math.isclose(score("r2", truth, values), skm.r2_score(truth, values))


def test_every_catalogue_metric_is_computable() -> None:
    rng = np.random.default_rng(1)
    y2 = rng.integers(0, 2, 100)
    p2 = rng.dirichlet([1, 1], 100)
    y3 = rng.integers(0, 3, 100)
    p3 = rng.dirichlet([1, 1, 1], 100)
    yr, pr = rng.normal(size=100), rng.normal(size=100)
    computed = (
        set(all_metrics("binary", y2, p2))
        | set(all_metrics("multiclass", y3, p3))
        | set(all_metrics("regression", yr, pr))
    )
    assert computed == set(METRICS)


def test_direction_of_better() -> None:
    assert better("roc_auc", 0.9, 0.8)
    assert better("rmse", 1.0, 2.0)
    assert not better("log_loss", 0.7, 0.6)


def test_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    p = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1)
    interval = bootstrap_interval("roc_auc", y, np.column_stack([1 - p, p]), n_boot=300)
    assert interval.low <= interval.value <= interval.high
    assert interval.high - interval.low < 0.2
    again = bootstrap_interval("roc_auc", y, np.column_stack([1 - p, p]), n_boot=300)
    assert again == interval  # seeded: reproducible


def brute_force_best(y: np.ndarray, p: np.ndarray, values: ValueSection) -> float:
    candidates = [*np.unique(p), math.inf]
    return max(decision_value(y, p, t, values) for t in candidates)


@settings(max_examples=200, deadline=None)
@given(
    binary_predictions(),
    st.tuples(*[st.integers(-100, 100)] * 4),
)
def test_best_threshold_maximises_value(
    case: tuple[np.ndarray, np.ndarray], vals: tuple[int, int, int, int]
) -> None:
    y, proba = case
    p = proba[:, 1]
    values = ValueSection(tp=vals[0], fp=vals[1], tn=vals[2], fn=vals[3])
    choice = best_threshold(y, p, values)
    achieved = decision_value(y, p, choice.threshold, values)
    assert math.isclose(achieved, brute_force_best(y, p, values), abs_tol=1e-9)
    assert math.isclose(choice.value_per_1000, achieved / len(y) * 1000, abs_tol=1e-6)


@pytest.mark.parametrize("metric", ["rmse", "roc_auc"])
def test_a_large_holdout_bootstraps_a_sample_and_scales_the_spread(
    metric: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlwright.evaluate import _metrics

    rng = np.random.default_rng(0)
    n = 120_000
    if metric == "rmse":
        y = rng.normal(size=n)
        pred = y + rng.normal(scale=0.5, size=n)
    else:
        y = rng.integers(0, 2, n)
        p = np.clip(0.5 + (y - 0.5) * 0.3 + rng.normal(0, 0.25, n), 0.001, 0.999)
        pred = np.column_stack([1 - p, p])
    scaled = bootstrap_interval(metric, y, pred, n_boot=300)
    monkeypatch.setattr(_metrics, "BOOTSTRAP_ROWS", n)
    full = bootstrap_interval(metric, y, pred, n_boot=300)
    assert scaled.value == full.value
    assert scaled.low < scaled.value < scaled.high
    width, full_width = scaled.high - scaled.low, full.high - full.low
    assert width == pytest.approx(full_width, rel=0.25)
    assert abs((scaled.low + scaled.high) / 2 - (full.low + full.high) / 2) < 0.25 * full_width
