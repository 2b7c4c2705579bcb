"""How long a recommender's steps will take, estimated before they run, so that a fit can
plan its time budget rather than discover it: each step's work is counted from the data's
size (``Size``), and multiplied by this machine's seconds per unit of that work, measured
as the fit goes (a small probe before the first expensive fit of a kind, then every real
fit), after a fixed start-up cost per fit. Until a kind is measured, a default rate stands
in, measured on movielens on a busy 2-core machine, where every step is slower than on an
idle one."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlwright.recommend._interactions import Interactions

# Seconds per unit of work (units below), movielens on 2 busy cores.
DEFAULT_RATES: dict[str, float] = {
    "popularity": 2e-8,  # per interaction
    "item_knn": 1.5e-8,  # per co-occurrence (a user's items squared, summed)
    "als": 1e-10,  # per iteration x (rows + users + items) x factors^2
    "ease": 1.2e-10,  # per n^3 + EASE_SQUARE n^2, n = items kept
    "score": 3e-8,  # scoring: per user x catalogue item (ALS adds a solve per user)
    "candidates": 4e-8,  # the ranker's candidates: per user x generator x catalogue item
    "trees": 1e-8,  # LightGBM on one thread: per candidate row x feature x tree
    "trees_base": 3e-6,  # LightGBM: per candidate row, once per training (binning)
}
# Seconds every fit of a kind takes however small its data (start-up, threads, copies):
# without them a tiny fit's time, scaled up, would predict minutes for a larger one.
BASE_SECONDS: dict[str, float] = {"item_knn": 0.01, "als": 0.03, "ease": 0.01, "score": 0.01}
# EASE's n^2 work (the dense Gram matrix, B = P / -diag(P), keeping each item's largest
# weights) against its n^3 inverse, fitted to fits of 1,500 and 4,758 items on movielens.
# Since the fit works in place (2026-12-07), it over-counts a little: from the probe's rate
# it predicted 0.87 s for fits of 2,964 items that took 0.71 to 0.79 s.
EASE_SQUARE = 1500.0
EASE_PROBE_ITEMS = 1000  # the probe fits EASE on this many of the most-met items


@dataclass(frozen=True)
class Size:
    """What a fit's cost depends on, counted once per set of rows."""

    rows: int  # distinct (user, item) pairs
    users: int  # users with rows
    items: int  # items with rows
    co_occurrences: float  # sum over users of their distinct items squared
    item_users: np.ndarray  # distinct users per item code

    @classmethod
    def of(cls, data: Interactions) -> Size:
        key = np.unique(data.users.astype(np.int64) * data.n_items + data.items)
        users = np.bincount(key // data.n_items, minlength=data.n_users)
        item_users = np.bincount(key % data.n_items, minlength=data.n_items)
        return cls(
            rows=len(key),
            users=int((users > 0).sum()),
            items=int((item_users > 0).sum()),
            co_occurrences=float(np.square(users.astype(np.float64)).sum()),
            item_users=item_users,
        )

    def kept(self, min_users: int) -> int:
        """Items EASE keeps: met by at least ``min_users`` users."""
        return int((self.item_users >= max(min_users, 1)).sum())


def ease_units(items: int) -> float:
    return float(items) ** 3 + EASE_SQUARE * float(items) ** 2


def fit_units(kind: str, params: Mapping[str, Any], size: Size) -> float:
    """The work of fitting one generator on rows of ``size``, in its kind's units."""
    if kind == "ease":
        return ease_units(size.kept(int(params.get("min_users", 2))))
    if kind == "als":
        factors = float(params.get("factors", 64))
        iterations = float(params.get("iterations", 15))
        return iterations * (size.rows + size.users + size.items) * factors**2
    if kind == "item_knn":
        return size.co_occurrences + size.items * float(params.get("neighbours", 100))
    return float(size.rows)


def score_units(kind: str, params: Mapping[str, Any], users: int, items: int) -> float:
    """The work of scoring ``users`` histories over ``items`` catalogue items."""
    units = float(users) * items
    if kind == "als":  # a least-squares solve per user, factors^3
        units += float(users) * float(params.get("factors", 64)) ** 3 / 10
    return units


class Costs:
    """Seconds per unit of work per step, as measured so far on this machine."""

    def __init__(self) -> None:
        self.rates = dict(DEFAULT_RATES)
        self.measured: set[str] = set()
        # The ranker's candidates per user and features, once a window has been built.
        self.pool: float | None = None
        self.features: int | None = None

    def fit(self, kind: str, params: Mapping[str, Any], size: Size) -> float:
        return BASE_SECONDS.get(kind, 0.0) + self.rates[kind] * fit_units(kind, params, size)

    def record_fit(self, kind: str, params: Mapping[str, Any], size: Size, seconds: float) -> None:
        self.record(kind, fit_units(kind, params, size), seconds)

    def score(self, kind: str, params: Mapping[str, Any], users: int, items: int) -> float:
        return BASE_SECONDS["score"] + self.rates["score"] * score_units(kind, params, users, items)

    def record_score(
        self, kind: str, params: Mapping[str, Any], users: int, items: int, seconds: float
    ) -> None:
        # One rate for all kinds: the slowest measured so far (scoring is a small share).
        units = score_units(kind, params, users, items)
        if units > 0:
            rate = _work(seconds, BASE_SECONDS["score"]) / units
            seen = "score" in self.measured
            self.rates["score"] = max(self.rates["score"], rate) if seen else rate
            self.measured.add("score")

    def candidates(self, users: int, generators: int, items: int) -> float:
        return self.rates["candidates"] * users * generators * items

    def pool_rows(self, users: int, depth: int, generators: int) -> float:
        """The ranker's candidate rows for ``users``: as measured, else about half of each
        generator's ``depth`` (their lists overlap)."""
        per_user = self.pool if self.pool is not None else 0.5 * depth * generators
        return per_user * users

    def n_features(self, generators: int) -> int:
        """The ranker's features: as measured, else three per generator and eight more."""
        return self.features if self.features is not None else 3 * generators + 8

    def trees(self, rows: float, features: int, trees: float) -> float:
        """One LightGBM training of ``trees`` trees on ``rows`` x ``features``."""
        return rows * (self.rates["trees_base"] + self.rates["trees"] * features * trees)

    def record_trees(self, rows: int, features: int, timed: Mapping[int, float]) -> None:
        """From trainings of two tree counts on the same data (``timed``: trees ->
        seconds): the seconds per tree, and what each training costs besides."""
        (few, quick), (many, slow) = sorted(timed.items())
        per_tree = max(slow - quick, 0.0) / max(many - few, 1)
        if per_tree == 0.0:
            per_tree = slow / many
        self.record("trees", float(rows) * features * many, per_tree * many)
        self.record("trees_base", float(rows), max(slow - per_tree * many, 0.0))

    def record(self, step: str, units: float, seconds: float) -> None:
        if units > 0 and math.isfinite(seconds):
            self.rates[step] = _work(seconds, BASE_SECONDS.get(step, 0.0)) / units
            self.measured.add(step)


def _work(seconds: float, base: float) -> float:
    """The part of a measured time that grows with the work: less the start-up, never
    below a tenth of it (a start-up can be quicker than its constant)."""
    return max(seconds - base, 0.1 * seconds)
