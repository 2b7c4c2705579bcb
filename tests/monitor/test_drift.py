"""Drift effect sizes: PSI, Jensen-Shannon and Wasserstein, and the noise floor that keeps
small windows from alerting on sampling noise while large ones ignore trivial shifts."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwright.data import reference_statistics
from mlwright.monitor import js_distance, noise_psi, psi, shift, wasserstein

shares = st.lists(st.floats(0.0, 1.0), min_size=2, max_size=12).filter(lambda v: sum(v) > 0.1)


@given(shares)
def test_psi_and_js_are_zero_for_identical_shares(values: list[float]) -> None:
    a = np.asarray(values) / sum(values)
    assert psi(a, a) == pytest.approx(0.0, abs=1e-12)
    assert js_distance(a, a) == pytest.approx(0.0, abs=1e-7)


@given(st.data())
def test_psi_is_non_negative_and_symmetric_and_js_is_bounded(data: st.DataObject) -> None:
    a = data.draw(shares)
    b = data.draw(st.lists(st.floats(0.0, 1.0), min_size=len(a), max_size=len(a)))
    if sum(b) <= 0.1:
        return
    p, q = np.asarray(a) / sum(a), np.asarray(b) / sum(b)
    assert psi(p, q) >= 0.0
    assert psi(p, q) == pytest.approx(psi(q, p))
    assert 0.0 <= js_distance(p, q) <= 1.0 + 1e-9


@given(st.data())
def test_js_distance_is_scipys_away_from_underflow(data: st.DataObject) -> None:
    from scipy.spatial.distance import jensenshannon

    a = data.draw(st.lists(st.floats(1e-6, 1.0), min_size=2, max_size=12))
    b = data.draw(st.lists(st.floats(0.0, 1.0), min_size=len(a), max_size=len(a)))
    if sum(b) <= 0.1:
        return
    assert js_distance(np.asarray(a), np.asarray(b)) == pytest.approx(
        float(jensenshannon(a, b, base=2)), abs=1e-9
    )


def test_js_distance_of_identical_shares_is_zero() -> None:
    # hypothesis found 8.9e-9 here in a fresh-clone suite (a rounding error under the root)
    assert js_distance(np.asarray([0.7265625, 1.0]), np.asarray([0.7265625, 1.0])) == 0.0


def test_js_distance_survives_a_subnormal_share() -> None:
    """Hypothesis found this: the mixture of 5e-324 and 0 underflows to 0 (scipy: inf)."""
    p = np.array([0.0, 0.0, 0.0, 5e-324, 1.0])
    q = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    assert js_distance(p, q) == pytest.approx(0.0, abs=1e-9)
    assert js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert js_distance(np.zeros(3), q[:3]) == 0.0


def numeric_reference(n: int = 20_000, seed: int = 0) -> dict:
    values = np.random.default_rng(seed).normal(size=n)
    return reference_statistics(pl.DataFrame({"x": values}), [("x", "numeric")])["x"]


def test_wasserstein_reads_a_mean_shift_in_standard_deviations() -> None:
    stats = numeric_reference()
    moved = np.random.default_rng(1).normal(0.5, 1.0, 20_000)
    assert wasserstein(stats["percentiles"], moved, stats["std"]) == pytest.approx(0.5, abs=0.05)
    same = np.random.default_rng(2).normal(0.0, 1.0, 20_000)
    assert wasserstein(stats["percentiles"], same, stats["std"]) < 0.05


def test_small_windows_of_the_reference_rarely_pass_the_noise_floor() -> None:
    stats = numeric_reference()
    rng = np.random.default_rng(3)
    alpha = 0.01
    passed = 0
    for _ in range(400):
        window = rng.normal(size=60)
        found = shift(stats, window, warn=0.1, alert=0.2, alpha=alpha)
        assert found is not None
        passed += found.psi > found.noise
        assert found.level == "stable" or found.psi > found.noise
    # Sixty rows in ten bins: PSI alone is often above 0.1, the floor holds it back.
    assert passed / 400 <= 3 * alpha


def test_large_windows_ignore_trivial_shifts_and_catch_real_ones() -> None:
    stats = numeric_reference()
    rng = np.random.default_rng(4)
    trivial = shift(stats, rng.normal(0.03, 1.0, 200_000), warn=0.1, alert=0.2, alpha=0.001)
    assert trivial is not None
    assert trivial.level == "stable"  # a p-value test would call this drift at this size
    real = shift(stats, rng.normal(0.7, 1.0, 300), warn=0.1, alert=0.2, alpha=0.001)
    assert real is not None
    assert real.level == "drift"
    assert real.wasserstein == pytest.approx(0.7, abs=0.15)


def test_the_noise_floor_shrinks_with_the_window() -> None:
    assert noise_psi(10, 100, 10_000, 0.01) > noise_psi(10, 1_000, 10_000, 0.01) > 0
    assert noise_psi(1, 100, 100, 0.01) == 0.0


def test_categorical_shift_counts_unseen_values_as_other() -> None:
    plan = np.random.default_rng(5).choice(["a", "b", "c"], 5_000, p=[0.5, 0.3, 0.2])
    stats = reference_statistics(pl.DataFrame({"plan": plan}), [("plan", "categorical")])["plan"]
    window = np.asarray(["a"] * 100 + ["b"] * 60 + ["c"] * 20 + ["new"] * 20 + [None] * 10)
    found = shift(stats, window, warn=0.1, alert=0.2, alpha=0.01)
    assert found is not None
    assert found.rows == 200  # missing values are not counted
    assert found.level == "drift"
    assert found.wasserstein is None


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_a_windows_psi_does_not_depend_on_its_order(seed: int) -> None:
    stats = numeric_reference(2_000)
    window = np.random.default_rng(seed).normal(size=300)
    a = shift(stats, window, warn=0.1, alert=0.2, alpha=0.01)
    b = shift(stats, window[::-1].copy(), warn=0.1, alert=0.2, alpha=0.01)
    assert a == b
