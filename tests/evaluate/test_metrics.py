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
    defined,
    paired_difference,
    paired_noise,
    per_1000_interval,
    row_values,
    score,
    value_curve,
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


def test_paired_difference_of_a_model_with_itself_is_exactly_zero() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(size=300)
    pred = y + rng.normal(size=300)
    same = paired_difference("rmse", y, pred, pred.copy(), n_boot=200)
    assert (same.value, same.low, same.high, same.a_better_share) == (0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("metric", ["rmse", "roc_auc"])
def test_paired_difference_finds_the_better_model_with_the_right_sign(metric: str) -> None:
    rng = np.random.default_rng(6)
    n = 600
    if metric == "rmse":
        y = rng.normal(size=n)
        good, bad = y + rng.normal(0, 0.5, n), y + rng.normal(0, 1.0, n)
    else:
        y = rng.integers(0, 2, n)
        z = y - 0.5
        pg, pb = z * 1.5 + rng.normal(0, 0.8, n), z * 0.5 + rng.normal(0, 0.8, n)
        good = np.column_stack([1 - 1 / (1 + np.exp(-pg)), 1 / (1 + np.exp(-pg))])
        bad = np.column_stack([1 - 1 / (1 + np.exp(-pb)), 1 / (1 + np.exp(-pb))])
    diff = paired_difference(metric, y, good, bad, n_boot=300)
    assert diff.value == pytest.approx(score(metric, y, good) - score(metric, y, bad))
    assert diff.low <= diff.value <= diff.high
    assert diff.a_better_share > 0.99
    # Lower RMSE is better: the difference is negative and its interval stays below zero.
    assert diff.high < 0 if metric == "rmse" else diff.low > 0
    # The paired interval is narrower than the two unpaired intervals side by side.
    a = bootstrap_interval(metric, y, good, n_boot=300)
    b = bootstrap_interval(metric, y, bad, n_boot=300)
    assert diff.high - diff.low < (a.high - a.low) + (b.high - b.low)


@settings(max_examples=100, deadline=None)
@given(
    binary_predictions(),
    st.tuples(*[st.integers(-100, 100)] * 4),
    st.integers(0, 10),
)
def test_row_values_add_up_to_the_decision_value(
    case: tuple[np.ndarray, np.ndarray], vals: tuple[int, int, int, int], cut: int
) -> None:
    y, proba = case
    values = ValueSection(tp=vals[0], fp=vals[1], tn=vals[2], fn=vals[3])
    per_row = row_values(y, proba[:, 1], cut / 10, values)
    assert math.isclose(per_row.sum(), decision_value(y, proba[:, 1], cut / 10, values))
    interval = per_1000_interval(per_row, n_boot=100)
    assert math.isclose(interval.value, per_row.mean() * 1000, abs_tol=1e-9)
    assert min(vals) * 1000 <= interval.low <= interval.value <= interval.high <= max(vals) * 1000


def test_value_curve_runs_from_acting_on_everyone_to_acting_on_almost_no_one() -> None:
    y = np.array([1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.4, 0.2, 0.0])
    values = ValueSection(tp=10, fp=-2, tn=0, fn=-5)
    curve = value_curve(y, p, values, points=11)
    assert [round(c["threshold"], 1) for c in curve] == [i / 10 for i in range(11)]
    assert curve[0]["acted_share"] == 1.0
    assert curve[0]["value_per_1000"] == (10 * 2 - 2 * 3) / 5 * 1000
    assert curve[-1]["acted_share"] == 0.0
    assert curve[-1]["value_per_1000"] == -5 * 2 / 5 * 1000
    at_half = curve[5]
    assert at_half["acted_share"] == 0.4
    assert at_half["value_per_1000"] == decision_value(y, p, 0.5, values) / 5 * 1000


@settings(max_examples=150, deadline=None)
@given(binary_predictions(), st.integers(0, 2**32 - 1))
def test_weighted_resample_scores_equal_scoring_the_resampled_rows(
    case: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    from mlwright.evaluate._metrics import _weighted_scorer

    y, proba = case
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(y), len(y))
    counts = np.bincount(rows, minlength=len(y)).astype(float)[None, :]
    values = rng.normal(size=len(y))
    truth = values + rng.normal(size=len(y))
    cases = [(m, y, proba) for m in ("roc_auc", "log_loss", "brier", "accuracy")]
    cases += [(m, truth, values) for m in ("rmse", "mae", "r2")]
    for metric, target, pred in cases:
        fast = _weighted_scorer(metric, target, pred)(counts)[0]
        if not defined(metric, target[rows]) or (metric == "r2" and np.ptp(target[rows]) == 0):
            continue
        assert math.isclose(
            fast, score(metric, target[rows], pred[rows]), rel_tol=1e-9, abs_tol=1e-9
        ), metric


def test_the_noise_of_a_paired_difference() -> None:
    rng = np.random.default_rng(3)

    def case(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        truth = (rng.random(n) < 0.1).astype(np.int64)
        a = np.clip(0.5 * truth + rng.normal(0.25, 0.25, n), 0, 1)
        b = np.clip(a + rng.normal(0, 0.1, n), 0, 1)
        return truth, np.column_stack([1 - a, a]), np.column_stack([1 - b, b])

    truth, a, b = case(400)
    assert paired_noise("roc_auc", truth, a, a, seed=0) == 0.0
    small = paired_noise("roc_auc", truth, a, b, seed=0)
    assert small == paired_noise("roc_auc", truth, a, b, seed=0)  # seeded
    # Four times the rows, about half the noise.
    big = paired_noise("roc_auc", *case(1600), seed=0)
    assert small is not None
    assert big is not None
    assert 0.3 < big / small < 0.8
    # Two positives among 40 rows: the resamples that keep one are enough.
    few = np.zeros(40, dtype=np.int64)
    few[:2] = 1
    assert paired_noise("roc_auc", few, a[:40], b[:40], seed=0) is not None
    # No positive: the difference is never defined.
    assert paired_noise("roc_auc", np.zeros(40, dtype=np.int64), a[:40], b[:40], seed=0) is None
    # A regression score.
    y = rng.normal(size=300)
    noise = paired_noise("rmse", y, y + rng.normal(0, 1, 300), y + rng.normal(0, 1, 300), seed=0)
    assert noise is not None
    assert 0.02 < noise < 0.2
    # Above 20,000 rows each resample draws 20,000 and the spread is scaled to all rows.
    y = rng.normal(size=80_000)
    one, two = y + rng.normal(0, 1, 80_000), y + rng.normal(0, 1, 80_000)
    large = paired_noise("rmse", y, one, two, seed=0)
    quarter = paired_noise("rmse", y[:20_000], one[:20_000], two[:20_000], seed=0)
    assert large is not None
    assert quarter is not None
    assert 0.35 < large / quarter < 0.7
