"""User features: a users table (or columns of the log) describes users to the ranker; a
user without a row, or one the model does not know, has none; the artifact keeps them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlwright.errors import DataError
from mlwright.recommend import (
    FeatureSources,
    UserFeatures,
    interactions_from_frame,
    load_recommender,
    save_recommender,
    train_recommender,
)
from mlwright.recommend._candidates import build_candidates
from recsynth import interaction_log, quick_settings


def users_table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user": list(range(0, 120, 2)),  # every other user has a row
            "age": [float(20 + u % 50) for u in range(0, 120, 2)],
            "plan": [("basic", "pro", None)[u % 3] for u in range(0, 120, 2)],
        }
    )


def test_numbers_stay_numbers_and_categories_become_codes() -> None:
    data = interactions_from_frame(interaction_log(), user="user", item="item", time="time")
    features = UserFeatures.from_frame(users_table(), "user", ["age", "plan"], data.user_ids)
    assert features.names == ["user.age", "user.plan"]
    age, plan = features.columns["age"], features.columns["plan"]
    assert age[0] == 20.0
    assert age[4] == 24.0
    assert np.isnan(age[1])  # no row for user 1
    assert plan[0] == 0.0  # "basic", the first level seen
    assert plan[4] == 1.0  # "pro"
    assert np.isnan(plan[2])  # user 2's plan is missing
    assert features.row(-1) != features.row(-1)  # NaN for an unknown user


def test_candidates_carry_the_users_features(tmp_path: Path) -> None:
    model = train_recommender(
        interaction_log(),
        user="user",
        item="item",
        time_column="time",
        user_features=("age",),
        users=users_table(),
        settings=quick_settings(),
        time_budget=60,
    )
    assert model.user_features is not None
    history = [np.asarray([0, 1, 2])]
    candidates = build_candidates(
        model.generators,
        history,
        FeatureSources(model.stats, user_features=model.user_features),
        depth=10,
        allowed=model.catalogue,
        users=[4],
    )
    column = candidates.names.index("user.age")
    assert (candidates.X[:, column] == 24.0).all()
    again = load_recommender(save_recommender(model, tmp_path / "model"))
    assert again.user_features is not None
    np.testing.assert_array_equal(
        again.user_features.columns["age"], model.user_features.columns["age"]
    )
    assert again.recommend(user=4, k=5) == model.recommend(user=4, k=5)
    assert model.metadata["user_features"] == ["age"]


def test_a_missing_user_feature_column_is_named() -> None:
    with pytest.raises(DataError) as info:
        train_recommender(
            interaction_log(),
            user="user",
            item="item",
            user_features=("income",),
            users=users_table(),
            settings=quick_settings(),
        )
    assert info.value.field == "income"
    assert "users table" in info.value.message
