"""A small interaction log with structure a recommender can find (users in taste groups,
each group preferring its own items), and settings that fit it in seconds."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from mlwright.recommend import Recommender, RecommendSettings, train_recommender

GROUPS = 4


def interaction_log(
    users: int = 120, items: int = 48, per_user: int = 14, seed: int = 0
) -> pl.DataFrame:
    """``users`` x ``per_user`` interactions; user u likes items of group u % GROUPS four
    times as often as others. Item ids are text ("i7"), user ids integers, times epoch s."""
    rng = np.random.default_rng(seed)
    group_of_item = np.arange(items) % GROUPS
    rows = []
    for u in range(users):
        taste = np.where(group_of_item == u % GROUPS, 4.0, 1.0)
        taste /= taste.sum()
        chosen = rng.choice(items, size=per_user, replace=False, p=taste)
        start = 1_600_000_000 + int(rng.integers(0, 86_400 * 30))
        for j, item in enumerate(chosen):
            rows.append((u, f"i{item}", start + 3_600 * j, f"g{group_of_item[item]}"))
    return pl.DataFrame(rows, schema=["user", "item", "time", "genre"], orient="row").with_columns(
        pl.col("time").cast(pl.Int64)
    )


def quick_settings() -> RecommendSettings:
    """One setting per generator, two folds, few trees: a fit in a few seconds."""
    return RecommendSettings(
        depth=20,
        folds=2,
        max_trees=50,
        grids={
            "ease": [{"l2": 50.0, "min_users": 1}],
            "als": [{"factors": 8, "l2": 0.1, "alpha": 2.0, "iterations": 5}],
            "item_knn": [{"neighbours": 20, "weighting": "cosine"}],
            "popularity": [{"half_life_days": None}],
        },
    )


def quick_recommender(log: pl.DataFrame | None = None, **options: Any) -> Recommender:
    """A recommender trained on ``log`` (default ``interaction_log()``) with
    ``quick_settings()``."""
    return train_recommender(
        interaction_log() if log is None else log,
        user="user",
        item="item",
        time_column="time",
        settings=quick_settings(),
        time_budget=60,
        **options,
    )
