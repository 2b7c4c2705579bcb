"""Evaluation protocols: held-out users never train, and nothing scored is given to the
model as history."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwright.errors import DataError
from mlwright.recommend import (
    Interactions,
    interactions_from_frame,
    make_split,
    time_split,
    user_split,
)
from mlwright.recommend._split import split_history


def random_log(
    n_users: int = 40, n_items: int = 30, max_rows: int = 15, seed: int = 0
) -> Interactions:
    """Users with 1..max_rows interactions (repeats allowed), random times."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        n = int(rng.integers(1, max_rows + 1))
        users += [u] * n
        items += rng.integers(0, n_items, size=n).tolist()
        times += rng.uniform(0, 1000, size=n).tolist()
    frame = pl.DataFrame({"u": users, "i": items, "t": times})
    return interactions_from_frame(frame, user="u", item="i", time="t")


def user_items(data: Interactions, user: int) -> np.ndarray:
    """The user's item codes in time order (rows are sorted by user, time, item)."""
    return data.items[data.users == user]


# -- user split ----------------------------------------------------------------------------------


def test_held_out_users_never_train() -> None:
    data = random_log()
    split = user_split(data, test_share=0.25, seed=3)
    assert split.protocol == "users"
    assert len(split.test) > 0
    assert not np.isin(split.train.users, split.test.users).any()
    # Everything else trains: the training rows are exactly the other users' rows.
    others = ~np.isin(data.users, split.test.users)
    assert len(split.train) == int(others.sum())
    np.testing.assert_array_equal(split.train.items, data.items[others])
    np.testing.assert_array_equal(split.train.times, data.times[others])
    assert split.train.n_users == data.n_users
    assert split.train.n_items == data.n_items


def test_each_held_out_history_is_the_users_earliest_items() -> None:
    data = random_log(seed=1)
    split = user_split(data, test_share=0.3, seed=1)
    assert len(split.test) > 3
    for u, history, relevant in zip(
        split.test.users, split.test.history, split.test.relevant, strict=True
    ):
        items = user_items(data, int(u))
        times = data.times[data.users == u]
        cut = int(np.floor(0.8 * len(items)))
        assert 1 <= cut < len(items)
        np.testing.assert_array_equal(history, items[:cut])
        # Relevant: distinct, met after the history, never in it.
        assert len(relevant) == len(np.unique(relevant)) > 0
        assert set(relevant.tolist()) <= set(items[cut:].tolist())
        assert not np.isin(relevant, history).any()
        assert set(relevant.tolist()) == set(items[cut:].tolist()) - set(history.tolist())
        assert times[:cut].max() <= times[cut:].min()


def test_held_out_users_are_about_the_test_share() -> None:
    data = random_log(n_users=50, max_rows=6, seed=2)
    split = user_split(data, test_share=0.2, seed=0)
    chosen = np.sort(np.random.default_rng(0).permutation(50)[:10])
    # A chosen user who cannot be split (one interaction, or nothing new) trains instead.
    assert set(split.test.users.tolist()) <= set(chosen.tolist())
    for u in chosen:
        splittable = split_history(user_items(data, int(u)), 0.8) is not None
        assert (u in split.test.users) == splittable
        assert (u in split.train.users) == (not splittable)


def test_same_seed_same_split_and_another_seed_another() -> None:
    data = random_log(n_users=60, seed=4)
    a = user_split(data, seed=7)
    b = user_split(data, seed=7)
    np.testing.assert_array_equal(a.test.users, b.test.users)
    np.testing.assert_array_equal(a.train.users, b.train.users)
    for x, y in zip(a.test.history, b.test.history, strict=True):
        np.testing.assert_array_equal(x, y)
    c = user_split(data, seed=8)
    assert not np.array_equal(a.test.users, c.test.users)


@pytest.mark.parametrize("share", [0.0, 1.0, -0.1, 1.5])
def test_test_share_outside_zero_one_is_refused(share: float) -> None:
    with pytest.raises(DataError, match="test_share must be in"):
        user_split(random_log(), test_share=share)


def test_a_split_that_leaves_no_user_on_one_side_is_refused() -> None:
    frame = pl.DataFrame({"u": [1, 1, 2, 2], "i": [1, 2, 1, 3], "t": [1, 2, 3, 4]})
    data = interactions_from_frame(frame, user="u", item="i", time="t")
    with pytest.raises(DataError, match="leaves no user"):
        user_split(data, test_share=0.2)  # round(0.4) = 0 users to test
    with pytest.raises(DataError, match="leaves no user"):
        user_split(data, test_share=0.8)  # round(1.6) = 2: nobody trains


def test_split_history_edges() -> None:
    assert split_history(np.array([4]), 0.8) is None
    # At least one item of history, at least one after it.
    history, relevant = split_history(np.array([1, 2]), 0.1) or (None, None)
    assert history is not None
    assert relevant is not None
    assert history.tolist() == [1]
    assert relevant.tolist() == [2]
    history, relevant = split_history(np.array([1, 2]), 0.99) or (None, None)
    assert history is not None
    assert history.tolist() == [1]
    # Nothing new after the history: no targets.
    assert split_history(np.array([1, 2, 1, 2, 2]), 0.4) is None
    history, relevant = split_history(np.array([5, 3, 5, 9, 9, 3, 1]), 0.5) or (None, None)
    assert history is not None
    assert relevant is not None
    assert history.tolist() == [5, 3, 5]
    assert relevant.tolist() == [1, 9]


# -- time split ----------------------------------------------------------------------------------


def test_time_split_trains_before_the_cut_off() -> None:
    data = random_log(seed=5)
    split = time_split(data, test_share=0.2)
    assert split.protocol == "time"
    cut = np.sort(data.times)[int(np.floor(0.8 * len(data)))]
    assert (split.train.times < cut).all()
    assert len(split.train) == int((data.times < cut).sum())
    assert len(split.test) > 0
    for u, history, relevant in zip(
        split.test.users, split.test.history, split.test.relevant, strict=True
    ):
        mine = data.users == u
        items, times = data.items[mine], data.times[mine]
        np.testing.assert_array_equal(history, items[times < cut])
        np.testing.assert_array_equal(history, split.train.items[split.train.users == u])
        assert not np.isin(relevant, history).any()
        assert len(relevant) == len(np.unique(relevant)) > 0
        assert set(relevant.tolist()) <= set(items[times >= cut].tolist())


def test_time_split_scores_only_users_on_both_sides() -> None:
    frame = pl.DataFrame(
        {
            "u": ["early", "early", "late", "late", "both", "both", "both", "again", "again"],
            "i": [1, 2, 3, 4, 1, 2, 5, 6, 6],
            "t": [1, 2, 8, 9, 1, 2, 8, 1, 9],
        }
    )
    data = interactions_from_frame(frame, user="u", item="i", time="t")
    split = time_split(data, test_share=0.4)  # cut at the time of sorted row 5: t = 8
    scored = [data.user_ids[u] for u in split.test.users]
    # "again" is on both sides but only meets item 6 again: nothing new to find.
    assert scored == ["both"]
    assert [data.item_ids[i] for i in split.test.history[0]] == [1, 2]
    assert [data.item_ids[i] for i in split.test.relevant[0]] == [5]


def test_time_split_with_no_user_across_the_cut_off_is_refused() -> None:
    frame = pl.DataFrame({"u": [1, 1, 2, 2], "i": [1, 2, 1, 3], "t": [1, 2, 10, 11]})
    data = interactions_from_frame(frame, user="u", item="i", time="t")
    with pytest.raises(DataError, match="no user has interactions both before and after"):
        time_split(data, test_share=0.5)


def test_time_split_with_one_time_is_refused() -> None:
    frame = pl.DataFrame({"u": [1, 1, 2], "i": [1, 2, 1], "t": [5, 5, 5]})
    data = interactions_from_frame(frame, user="u", item="i", time="t")
    with pytest.raises(DataError, match="no interaction on one side"):
        time_split(data)


@pytest.mark.parametrize("share", [1.5, -0.5])
def test_time_split_test_share_outside_zero_one_is_refused(share: float) -> None:
    # As user_split refuses it: a share of 1.5 would cut at a negative position, which
    # NumPy reads from the end of the sorted times (a silently different split).
    with pytest.raises(DataError, match="test_share"):
        time_split(random_log(seed=6), test_share=share)


def test_make_split_dispatches_on_the_protocol() -> None:
    data = random_log(seed=7)
    by_users = make_split(data, "users", test_share=0.25, seed=2)
    direct = user_split(data, test_share=0.25, seed=2)
    np.testing.assert_array_equal(by_users.test.users, direct.test.users)
    by_time = make_split(data, "time", test_share=0.25)
    np.testing.assert_array_equal(by_time.test.users, time_split(data, test_share=0.25).test.users)
    assert (by_users.protocol, by_time.protocol) == ("users", "time")


def test_held_out_take_selects_users() -> None:
    split = user_split(random_log(seed=8), test_share=0.3)
    index = np.array([2, 0])
    part = split.test.take(index)
    assert part.users.tolist() == split.test.users[index].tolist()
    assert part.history[0] is split.test.history[2]
    assert part.relevant[1] is split.test.relevant[0]
    assert len(part) == 2


# -- property ------------------------------------------------------------------------------------

logs = st.lists(
    st.tuples(st.integers(0, 9), st.integers(0, 7), st.integers(0, 20)),
    min_size=2,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(rows=logs, share=st.floats(0.05, 0.95), seed=st.integers(0, 1000))
def test_user_split_never_trains_on_a_held_out_user(
    rows: list[tuple[int, int, int]], share: float, seed: int
) -> None:
    frame = pl.DataFrame(rows, schema=["u", "i", "t"], orient="row")
    data = interactions_from_frame(frame, user="u", item="i", time="t")
    try:
        split = user_split(data, test_share=share, seed=seed)
    except DataError:
        n_test = round(share * data.n_users)
        assert n_test < 1 or n_test >= data.n_users
        return
    assert not np.isin(split.train.users, split.test.users).any()
    assert len(split.train) + sum(int((data.users == u).sum()) for u in split.test.users) == len(
        data
    )
    for u, history, relevant in zip(
        split.test.users, split.test.history, split.test.relevant, strict=True
    ):
        mine = set(user_items(data, int(u)).tolist())
        assert set(history.tolist()) | set(relevant.tolist()) <= mine
        assert len(history) >= 1
        assert len(relevant) >= 1
        assert not set(history.tolist()) & set(relevant.tolist())
