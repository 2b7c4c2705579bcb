"""Estimates of a recommender fit's steps: the work counted from the data's size, times the
speed measured on this machine, after a fixed start-up."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mlwright.recommend import interactions_from_frame
from mlwright.recommend._costs import BASE_SECONDS, Costs, Size


@pytest.fixture
def size() -> Size:
    # User 0 met items a, b (a twice), user 1 met b, c, user 2 met c.
    frame = pl.DataFrame(
        {"u": [0, 0, 0, 1, 1, 2], "i": ["a", "a", "b", "b", "c", "c"], "t": [1, 2, 3, 4, 5, 6]}
    )
    return Size.of(interactions_from_frame(frame, user="u", item="i", time="t"))


def test_the_size_of_a_log(size: Size) -> None:
    assert (size.rows, size.users, size.items) == (5, 3, 3)  # distinct (user, item) pairs
    assert size.co_occurrences == 2**2 + 2**2 + 1**2
    assert size.item_users.tolist() == [1, 2, 2]
    assert (size.kept(1), size.kept(2), size.kept(3)) == (3, 2, 0)


def test_a_measured_fit_predicts_itself_and_scales_with_the_work(size: Size) -> None:
    costs = Costs()
    base = BASE_SECONDS["als"]
    costs.record_fit("als", {"factors": 8, "iterations": 5}, size, base + 2.0)
    assert "als" in costs.measured
    assert costs.fit("als", {"factors": 8, "iterations": 5}, size) == pytest.approx(base + 2.0)
    # Twice the iterations, twice the work; the start-up is paid once.
    assert costs.fit("als", {"factors": 8, "iterations": 10}, size) == pytest.approx(base + 4.0)
    # EASE costs the cube of the items it keeps (and their square, for its dense steps).
    costs.record_fit("ease", {"min_users": 1}, size, 1.0)
    assert costs.fit("ease", {"min_users": 2}, size) < costs.fit("ease", {"min_users": 1}, size)
    assert costs.fit("ease", {"min_users": 3}, size) == pytest.approx(BASE_SECONDS["ease"])


def test_a_tiny_fit_does_not_predict_minutes_for_a_larger_one(size: Size) -> None:
    costs = Costs()
    costs.record_fit("als", {"factors": 8}, size, 0.8 * BASE_SECONDS["als"])
    assert costs.fit("als", {"factors": 16}, size) < 2 * BASE_SECONDS["als"]


def test_trees_are_timed_per_tree_and_per_training() -> None:
    costs = Costs()
    costs.record_trees(1000, 10, {5: 1.0 + 5 * 0.1, 20: 1.0 + 20 * 0.1})
    assert costs.trees(1000, 10, 400) == pytest.approx(1.0 + 400 * 0.1)
    assert costs.trees(2000, 10, 400) == pytest.approx(2 * (1.0 + 400 * 0.1))
    assert np.isclose(costs.trees(1000, 10, 0), 1.0)
