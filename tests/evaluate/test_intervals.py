"""Conformal prediction intervals: the quantile rule, coverage on fresh rows, and widths that
follow the error's scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwright.evaluate import conformal_quantile, coverage, fit_intervals, proportion_interval


def _heteroscedastic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictions whose error grows with the predicted value, as prices' do."""
    rng = np.random.default_rng(seed)
    pred = rng.uniform(1, 100, n)
    return pred + rng.normal(0, 1, n) * pred * 0.1, pred


@settings(max_examples=100, deadline=None)
@given(
    residuals=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300),
    level=st.sampled_from([0.5, 0.8, 0.9, 0.95]),
)
def test_conformal_quantile_is_the_rank_of_the_rule(residuals: list[float], level: float) -> None:
    q = conformal_quantile(np.asarray(residuals), level)
    m = len(residuals)
    below = sum(abs(r) <= q for r in residuals)
    # At least ceil((m + 1) level) residuals lie within q (or all of them, when m is small).
    assert below >= min(m, math.ceil((m + 1) * level))
    assert q in [abs(r) for r in residuals]


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95])
def test_intervals_cover_fresh_rows_at_their_level(level: float) -> None:
    y, pred = _heteroscedastic(3000, 0)
    intervals = fit_intervals(y, pred)
    y_new, pred_new = _heteroscedastic(20_000, 1)
    lower, upper = intervals.bounds(pred_new, level)
    covered = coverage(y_new, lower, upper)
    assert covered.value >= level - 0.015
    assert covered.value <= level + 0.03  # valid without being needlessly wide


def test_widths_follow_the_scale_of_the_error() -> None:
    y, pred = _heteroscedastic(3000, 2)
    intervals = fit_intervals(y, pred)
    widths = intervals.halfwidths["0.9"]
    assert len(widths) == 5
    assert widths == sorted(widths)
    assert widths[-1] > 3 * widths[0]


def test_few_rows_give_one_bin() -> None:
    y, pred = _heteroscedastic(150, 3)
    intervals = fit_intervals(y, pred)
    assert intervals.edges == []
    assert set(intervals.halfwidths) == {"0.8", "0.9", "0.95"}


def test_wilson_interval_of_a_proportion() -> None:
    interval = proportion_interval(90, 100)
    assert interval.value == 0.9
    # Known values of the 95% Wilson interval for 90 of 100.
    assert interval.low == pytest.approx(0.8256, abs=1e-4)
    assert interval.high == pytest.approx(0.9448, abs=1e-4)
    assert proportion_interval(0, 10).low == 0.0
    assert math.isnan(proportion_interval(0, 0).value)
