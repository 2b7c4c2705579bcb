"""Full-ranking metrics against hand-computed values, their bounds, and the bootstrap
intervals over users."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwright.recommend import (
    RankingScores,
    mean_interval,
    paired_user_difference,
    ranking_scores,
)


def scores_of(recommended: list[list[int]], relevant: list[list[int]], k: int) -> RankingScores:
    n_items = 20
    return ranking_scores(
        np.asarray(recommended, dtype=np.int64),
        [np.asarray(r, dtype=np.int64) for r in relevant],
        k,
        item_users=np.ones(n_items),
        n_train_users=4,
    )


def one_user(recommended: list[int], relevant: list[int], k: int) -> dict[str, float]:
    s = scores_of([recommended], [relevant], k)
    return {name: float(values[0]) for name, values in s.per_user.items()}


LOG2_3 = math.log2(3)


# -- hand-computed cases -------------------------------------------------------------------------


def test_one_hit_at_rank_two_of_two_relevant() -> None:
    got = one_user([5, 2, 7], [2, 9], k=3)
    # DCG 1/log2(3); the best list of min(3, 2) = 2 hits has DCG 1 + 1/log2(3).
    assert got["ndcg"] == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3))
    assert got["recall"] == pytest.approx(1 / 2)
    assert got["map"] == pytest.approx((1 / 2) / 2)
    assert got["mrr"] == pytest.approx(1 / 2)


def test_more_relevant_items_than_k() -> None:
    got = one_user([1, 2, 3, 4], [1, 3, 8, 9, 10, 11], k=4)
    # Hits at ranks 1 and 3; the ideal list is 4 hits (min(K, |R|)).
    ideal = 1 + 1 / LOG2_3 + 1 / 2 + 1 / math.log2(5)
    assert got["ndcg"] == pytest.approx((1 + 1 / 2) / ideal)
    assert got["recall"] == pytest.approx(2 / 4)
    assert got["map"] == pytest.approx((1 / 1 + 2 / 3) / 4)
    assert got["mrr"] == pytest.approx(1.0)


def test_a_perfect_list_scores_one_however_many_items_are_relevant() -> None:
    got = one_user([3, 1, 2], [1, 2, 3, 4, 5, 6, 7], k=3)
    assert got == pytest.approx({"ndcg": 1.0, "recall": 1.0, "map": 1.0, "mrr": 1.0})
    got = one_user([6, 0, 9, 12], [0, 6], k=4)
    assert got == pytest.approx({"ndcg": 1.0, "recall": 1.0, "map": 1.0, "mrr": 1.0})


def test_only_the_first_k_count() -> None:
    got = one_user([1, 2, 3, 4, 5], [4, 5], k=3)
    assert got == {"ndcg": 0.0, "recall": 0.0, "map": 0.0, "mrr": 0.0}
    got = one_user([1, 2, 4, 5], [4, 5], k=3)
    assert got["recall"] == pytest.approx(1 / 2)
    assert got["mrr"] == pytest.approx(1 / 3)
    assert got["ndcg"] == pytest.approx((1 / 2) / (1 + 1 / LOG2_3))
    assert got["map"] == pytest.approx((1 / 3) / 2)


def test_padding_is_ignored() -> None:
    got = one_user([-1, -1, 4], [4], k=3)
    # -1 is no item: the hit is at rank 3.
    assert got["ndcg"] == pytest.approx((1 / 2) / 1)
    assert got["recall"] == pytest.approx(1.0)
    assert got["map"] == pytest.approx(1 / 3)
    assert got["mrr"] == pytest.approx(1 / 3)
    short = one_user([4, -1, -1], [4, 7], k=3)
    assert short["recall"] == pytest.approx(1 / 2)
    assert short["ndcg"] == pytest.approx(1 / (1 + 1 / LOG2_3))


def test_no_hits_and_no_relevant_items_score_zero() -> None:
    s = scores_of([[1, 2], [3, 4]], [[5], []], k=2)
    for name, values in s.per_user.items():
        assert values.tolist() == [0.0, 0.0], name
    assert s.users == 2
    assert s.mean("ndcg") == 0.0


def test_per_user_values_line_up_with_users() -> None:
    s = scores_of([[1, 2], [3, 4], [5, 6]], [[2], [3], [9]], k=2)
    assert s.per_user["mrr"].tolist() == pytest.approx([1 / 2, 1.0, 0.0])
    assert s.mean("mrr") == pytest.approx(0.5)
    assert s.k == 2


def test_coverage_novelty_and_popularity() -> None:
    item_users = np.array([10.0, 5.0, 0.0, 1.0])
    s = ranking_scores(
        np.array([[0, 1, 3], [0, 2, -1]]),
        [np.array([1]), np.array([3])],
        2,  # the third column is past K
        item_users=item_users,
        n_train_users=10,
    )
    # Shown in the top 2: 0, 1, 0, 2. The catalogue is the three items some training user
    # met; item 2 has none (no real list can show it), so it does not count: 2 of 3.
    assert s.coverage == pytest.approx(2 / 3)
    # Self-information -log2(share); an item no training user met counts as 1 / 10.
    information = [0.0, 1.0, 0.0, math.log2(10)]
    assert s.novelty == pytest.approx(sum(information) / 4)
    assert s.popularity == pytest.approx((1.0 + 0.5 + 1.0 + 0.0) / 4)


def test_padding_is_not_shown() -> None:
    item_users = np.array([2.0, 1.0, 1.0])
    s = ranking_scores(
        np.array([[1, -1], [-1, -1]]),
        [np.array([0]), np.array([0])],
        2,
        item_users=item_users,
        n_train_users=4,
    )
    assert s.coverage == pytest.approx(1 / 3)
    assert s.novelty == pytest.approx(2.0)  # -log2(1/4), item 1 only
    assert s.popularity == pytest.approx(1 / 4)
    nothing = ranking_scores(
        np.full((2, 2), -1),
        [np.array([0]), np.array([1])],
        2,
        item_users=item_users,
        n_train_users=4,
    )
    assert nothing.coverage == 0.0
    assert math.isnan(nothing.novelty)
    assert math.isnan(nothing.popularity)


def test_summary_names_each_metric_at_k() -> None:
    s = scores_of([[1, 2], [3, 4], [2, 1]], [[1], [4], [7]], k=2)
    summary = s.summary(n_boot=200)
    assert set(summary) == {
        "ndcg@2",
        "recall@2",
        "map@2",
        "mrr@2",
        "coverage@2",
        "novelty@2",
        "popularity@2",
    }
    assert summary["recall@2"]["value"] == pytest.approx(2 / 3)
    assert summary["recall@2"]["low"] <= 2 / 3 <= summary["recall@2"]["high"]
    assert summary["coverage@2"] == {"value": s.coverage}


def test_no_users_means_nan() -> None:
    s = ranking_scores(
        np.zeros((0, 3), dtype=np.int64), [], 3, item_users=np.ones(4), n_train_users=2
    )
    assert s.users == 0
    assert math.isnan(s.mean("ndcg"))
    assert s.coverage == 0.0


# -- properties ----------------------------------------------------------------------------------


@st.composite
def ranked_lists(draw: st.DrawFn) -> tuple[np.ndarray, list[np.ndarray], int, int]:
    n_items = draw(st.integers(3, 25))
    k = draw(st.integers(1, 12))
    width = draw(st.integers(k, k + 3))
    n_users = draw(st.integers(1, 6))
    rows, relevant = [], []
    for _ in range(n_users):
        shown = draw(st.permutations(range(n_items)))[: draw(st.integers(0, width))]
        rows.append(list(shown) + [-1] * (width - len(shown)))
        relevant.append(
            np.asarray(sorted(draw(st.sets(st.integers(0, n_items - 1), max_size=n_items))))
        )
    return np.asarray(rows, dtype=np.int64).reshape(n_users, width), relevant, k, n_items


@settings(max_examples=200, deadline=None)
@given(case=ranked_lists(), n_train=st.integers(1, 50))
def test_every_per_user_metric_is_in_zero_one(
    case: tuple[np.ndarray, list[np.ndarray], int, int], n_train: int
) -> None:
    recommended, relevant, k, n_items = case
    item_users = np.arange(n_items, dtype=np.float64) % (n_train + 1)
    s = ranking_scores(recommended, relevant, k, item_users=item_users, n_train_users=n_train)
    for name, values in s.per_user.items():
        assert values.shape == (len(relevant),)
        assert ((values >= 0.0) & (values <= 1.0 + 1e-12)).all(), (name, values)
    assert 0.0 <= s.coverage <= 1.0
    if not math.isnan(s.popularity):
        assert 0.0 <= s.popularity <= 1.0
        assert s.novelty >= 0.0
    # A user with a hit has positive NDCG, recall, MAP and MRR; one without, zeros.
    for u, rel in enumerate(relevant):
        hit = np.isin(recommended[u, :k], rel).any()
        assert all((s.per_user[m][u] > 0) == hit for m in ("ndcg", "recall", "map", "mrr"))


@settings(max_examples=200, deadline=None)
@given(
    n_items=st.integers(2, 30),
    k=st.integers(1, 15),
    data=st.data(),
)
def test_relevant_items_first_score_one(n_items: int, k: int, data: st.DataObject) -> None:
    order = data.draw(st.permutations(range(n_items)))
    n_relevant = data.draw(st.integers(1, n_items))
    relevant = np.asarray(sorted(order[:n_relevant]))
    # The relevant items first (in any order), then the rest, padded out to K.
    shown = list(data.draw(st.permutations(order[:n_relevant]))) + list(order[n_relevant:])
    shown = (shown + [-1] * k)[: max(k, len(shown))]
    s = ranking_scores(
        np.asarray([shown]), [relevant], k, item_users=np.ones(n_items), n_train_users=3
    )
    assert s.per_user["ndcg"][0] == pytest.approx(1.0)
    assert s.per_user["recall"][0] == pytest.approx(1.0)
    assert s.per_user["map"][0] == pytest.approx(1.0)
    assert s.per_user["mrr"][0] == pytest.approx(1.0)


# -- intervals -----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=60),
    seed=st.integers(0, 100),
)
def test_mean_interval_contains_the_mean(values: list[float], seed: int) -> None:
    interval = mean_interval(np.asarray(values), n_boot=300, seed=seed)
    assert interval.value == pytest.approx(float(np.mean(values)))
    assert interval.low - 1e-12 <= interval.value <= interval.high + 1e-12
    assert 0.0 <= interval.low <= interval.high <= 1.0


def test_mean_interval_is_seeded_and_narrows_with_more_users() -> None:
    rng = np.random.default_rng(0)
    few = rng.random(30)
    many = rng.random(3000)
    a = mean_interval(few, seed=4)
    assert a == mean_interval(few, seed=4)
    b = mean_interval(many, seed=4)
    assert b.high - b.low < (a.high - a.low) / 3
    assert b.low < 0.5 < b.high


def test_mean_interval_of_nothing_is_nan() -> None:
    interval = mean_interval(np.zeros(0))
    assert math.isnan(interval.value)
    assert math.isnan(interval.low)
    assert math.isnan(interval.high)


def test_paired_difference_of_identical_scores_is_zero() -> None:
    values = np.random.default_rng(1).random(50)
    difference = paired_user_difference(values, values.copy())
    assert difference.value == 0.0
    assert difference.low == 0.0
    assert difference.high == 0.0
    assert difference.a_better_share == 0.0


def test_paired_difference_sees_a_consistent_gain() -> None:
    rng = np.random.default_rng(2)
    b = rng.random(200)
    a = b + 0.1 + rng.normal(0, 0.01, size=200)
    difference = paired_user_difference(a, b)
    assert difference.value == pytest.approx(float((a - b).mean()))
    assert 0.0 < difference.low < difference.value < difference.high
    assert difference.a_better_share == 1.0
    reverse = paired_user_difference(b, a)
    assert reverse.value == pytest.approx(-difference.value)
    assert reverse.high < 0.0
    assert reverse.a_better_share == 0.0


def test_paired_difference_needs_the_same_users() -> None:
    with pytest.raises(ValueError, match="same users"):
        paired_user_difference(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="same users"):
        paired_user_difference(np.zeros((2, 3)), np.zeros(6))
