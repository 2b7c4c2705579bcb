"""Evaluation protocols that never let a model see what it is scored on.

Strong generalisation (docs/architecture.md): a share of users is held out whole; each held-out
user's earliest interactions are the history the model is given at recommendation time,
the latest are the items it should find. The models never train on a held-out user.

Global time split: everything before a cut-off time trains; users active on both sides are
scored on the items they met after the cut-off, given their interactions before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from mlwright.errors import DataError
from mlwright.recommend._interactions import Interactions

Protocol = Literal["users", "time"]


@dataclass(frozen=True)
class HeldOut:
    """Users scored by a protocol: each one's history (item codes, time order) and the
    distinct items to find (not in the history)."""

    users: np.ndarray
    history: list[np.ndarray]
    relevant: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.users)

    def take(self, index: np.ndarray) -> HeldOut:
        return HeldOut(
            self.users[index],
            [self.history[i] for i in index],
            [self.relevant[i] for i in index],
        )


@dataclass(frozen=True)
class Split:
    """Rows to train on, and the users to score."""

    train: Interactions
    test: HeldOut
    protocol: Protocol


def split_history(items: np.ndarray, history_share: float) -> tuple[np.ndarray, np.ndarray] | None:
    """One user's items in time order -> (history, relevant): the first ``history_share``
    (at least one) and the distinct later items that are not in the history. None when
    the user has fewer than two interactions or nothing new after the history."""
    n = len(items)
    if n < 2:
        return None
    cut = min(max(1, int(np.floor(history_share * n))), n - 1)
    history = items[:cut]
    later = np.unique(items[cut:])
    relevant = later[~np.isin(later, history)]
    if len(relevant) == 0:
        return None
    return history, relevant


def held_out_users(
    data: Interactions, users: np.ndarray, history_share: float
) -> tuple[HeldOut, np.ndarray]:
    """Split each of ``users`` into history and relevant items. Also returns the users
    that could not be split (too few interactions)."""
    offsets = data.user_rows()
    kept, histories, relevants, skipped = [], [], [], []
    for u in users:
        parts = split_history(data.items[offsets[u] : offsets[u + 1]], history_share)
        if parts is None:
            skipped.append(u)
            continue
        kept.append(u)
        histories.append(parts[0])
        relevants.append(parts[1])
    return (
        HeldOut(np.asarray(kept, dtype=np.int64), histories, relevants),
        np.asarray(skipped, dtype=np.int64),
    )


def user_split(
    data: Interactions, *, test_share: float = 0.2, history_share: float = 0.8, seed: int = 0
) -> Split:
    """Strong generalisation: ``test_share`` of the users (``default_rng(seed)``) held out.
    A held-out user who cannot be split (fewer than two interactions) trains instead."""
    if not 0.0 < test_share < 1.0:
        raise DataError(
            f"test_share must be in (0, 1), got {test_share}",
            field="test_share",
            hint="hold out a share such as 0.2",
        )
    n_test = round(test_share * data.n_users)
    if n_test < 1 or n_test >= data.n_users:
        raise DataError(
            f"holding out {test_share:.0%} of {data.n_users} user(s) leaves no user to train "
            "on or none to test",
            hint="give interactions of more users",
        )
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.permutation(data.n_users)[:n_test])
    test, _ = held_out_users(data, chosen, history_share)
    training = ~np.isin(data.users, test.users)
    return Split(data.subset(training), test, "users")


def time_split(data: Interactions, *, test_share: float = 0.2) -> Split:
    """Global time split at the time before which ``1 - test_share`` of the rows fall. Users
    with interactions on both sides are scored; an item met again after the cut-off is not
    something to find."""
    if not 0.0 < test_share < 1.0:
        raise DataError(
            f"test_share must be in (0, 1), got {test_share}",
            field="test_share",
            hint="hold out a share such as 0.2",
        )
    order = np.sort(data.times)
    cut_time = order[min(len(order) - 1, int(np.floor((1.0 - test_share) * len(order))))]
    before = data.times < cut_time
    if before.sum() == 0 or before.all():
        raise DataError(
            "the time split leaves no interaction on one side of the cut-off",
            hint="interactions need at least two distinct times",
        )
    offsets = data.user_rows()
    kept, histories, relevants = [], [], []
    for u in range(data.n_users):
        rows = slice(offsets[u], offsets[u + 1])
        past = before[rows]
        if not past.any() or past.all():
            continue
        items = data.items[rows]
        history = items[past]
        later = np.unique(items[~past])
        relevant = later[~np.isin(later, history)]
        if len(relevant):
            kept.append(u)
            histories.append(history)
            relevants.append(relevant)
    if not kept:
        raise DataError(
            "no user has interactions both before and after the time split's cut-off",
            hint="use the user protocol (holding out whole users) for this log",
        )
    return Split(
        data.subset(before), HeldOut(np.asarray(kept, np.int64), histories, relevants), "time"
    )


def make_split(
    data: Interactions,
    protocol: Protocol,
    *,
    test_share: float = 0.2,
    history_share: float = 0.8,
    seed: int = 0,
) -> Split:
    if protocol == "users":
        return user_split(data, test_share=test_share, history_share=history_share, seed=seed)
    return time_split(data, test_share=test_share)
