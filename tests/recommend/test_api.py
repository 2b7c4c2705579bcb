"""``mlwright.fit(task="recommendation")``: an interaction log in, an evaluated
``Recommender`` out; what it refuses before any work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

import mlwright
from mlwright.errors import SpecError
from mlwright.pipeline import OVERRUN_ALLOWED
from mlwright.recommend import Recommender


@pytest.fixture(scope="module")
def fitted(log_maker: Callable[..., pl.DataFrame]) -> tuple[Recommender, pl.DataFrame]:
    frame = log_maker(80, 40, per_user=12, seed=3)
    model = mlwright.fit(
        frame.to_pandas(),
        task="recommendation",
        user="user",
        item="item",
        time="ts",
        time_budget=30,
    )
    assert isinstance(model, Recommender)
    return model, frame


def test_fit_returns_an_evaluated_recommender(fitted: tuple[Recommender, pl.DataFrame]) -> None:
    model, frame = fitted
    meta = model.metadata
    evaluation = meta["evaluation"]
    assert evaluation["protocol"] == "users"
    assert evaluation["k"] == 10
    assert 0 < evaluation["users"] <= 16  # a fifth of 80 users held out
    assert {"model", "popularity"} <= set(evaluation["scores"])
    ndcg = evaluation["scores"]["model"]["ndcg@10"]
    assert 0.0 <= ndcg["low"] <= ndcg["value"] <= ndcg["high"] <= 1.0
    assert "model - popularity" in evaluation["differences"]
    assert meta["columns"] == {"user": "user", "item": "item", "time": "ts", "weight": None}
    assert {k: meta["data"][k] for k in ("interactions", "users", "items")} == {
        "interactions": frame.height,
        "users": frame["user"].n_unique(),
        "items": frame["item"].n_unique(),
    }
    assert meta["settings"]["k"] == 10
    assert meta["plan"]["chosen"] == model.chosen
    assert meta["choice"]["chosen"] == model.chosen


def test_fit_says_why_its_scorer_recommends_within_its_budget(
    fitted: tuple[Recommender, pl.DataFrame],
) -> None:
    model, _ = fitted
    meta = model.metadata
    because = meta["choice"]["because"]
    if model.chosen == "ranker":
        assert because.startswith("the ranker beat every generator alone: cross-validated")
    else:
        assert because.startswith(("the ranker did not beat it:", "the ranker was not trained:"))
    assert meta["budget"]["seconds"] == 30
    assert 0 < meta["timings"]["wall"] <= 30 * (1 + OVERRUN_ALLOWED)


def test_the_returned_model_is_fitted_on_every_user(
    fitted: tuple[Recommender, pl.DataFrame],
) -> None:
    model, frame = fitted
    # Held-out users too: the final fit sees every row.
    for user in frame["user"].unique().to_list()[::9]:
        seen = set(frame.filter(pl.col("user") == user)["item"].to_list())
        detail = model.recommend_detail(user=user, k=5)
        assert detail.known_user
        assert not detail.cold_start
        assert detail.history_used == len(seen)
        assert len(detail.items) == 5
        assert not set(detail.items) & seen
    assert len(model.user_ids) == frame["user"].n_unique()


def names(field: str | None, option: str) -> bool:
    """The error's field is the option, alone or as its spec path ('recommend.k')."""
    return field is not None and (field == option or field.endswith(f".{option}"))


@pytest.mark.parametrize(
    ("kwargs", "option", "words"),
    [
        (
            {"target": "ts", "task": "recommendation", "user": "user", "item": "item"},
            "target",
            "no target",
        ),
        (
            {"task": "recommendation", "user": "user", "item": "item", "colour": "red"},
            "colour",
            "'colour'",
        ),
        ({"task": "recommendation", "item": "item"}, "user", "needs"),
        ({"task": "recommendation", "user": "user"}, "item", "needs"),
        ({"task": "recommendation", "user": 3, "item": "item"}, "user", "user"),
        ({"task": "bogus", "user": "user", "item": "item"}, "task", "unknown task 'bogus'"),
        ({"problem_type": "recommendation", "target": "ts"}, "target", "no target"),
    ],
    ids=[
        "target",
        "unknown-option",
        "no-user",
        "no-item",
        "user-not-text",
        "bogus-task",
        "problem-type-with-target",
    ],
)
def test_fit_refuses_a_bad_recommendation_task(
    kwargs: dict[str, Any], option: str, words: str
) -> None:
    frame = pl.DataFrame({"user": [1, 2], "item": ["a", "b"], "ts": [1, 2]})
    with pytest.raises(SpecError) as caught:
        mlwright.fit(frame, **kwargs)
    assert names(caught.value.field, option), caught.value.field
    assert words in caught.value.message
    assert caught.value.hint or "got" in caught.value.message


@pytest.mark.parametrize(
    ("option", "value"),
    [("protocol", "user"), ("protocol", "bogus"), ("k", 0), ("k", 1001), ("k", "ten")],
)
def test_fit_refuses_an_invalid_option_value(option: str, value: Any) -> None:
    # The spec's [recommend] section allows protocol 'users' or 'time' and k from 1 to
    # 1000; fit's keywords are the same options and must not slip past those checks
    # (another protocol would silently run the time split; k=0 scores every list as 0).
    frame = pl.DataFrame({"user": [1, 2], "item": ["a", "b"], "ts": [1, 2]})
    with pytest.raises(SpecError) as caught:
        mlwright.fit(
            frame, task="recommendation", user="user", item="item", time="ts", **{option: value}
        )
    assert names(caught.value.field, option), caught.value.field


def test_fit_issues_a_logs_warnings_at_the_callers_line(
    log_maker: Callable[..., pl.DataFrame],
) -> None:
    frame = log_maker(80, 40, per_user=12, seed=3)
    lonely = pl.DataFrame(  # users with one interaction each: a data-check warning
        {"user": list(range(10_000, 10_005)), "item": frame["item"][:5], "ts": frame["ts"][:5]}
    )
    with pytest.warns(mlwright.MlwrightWarning, match="single_interaction_users") as seen:
        model = mlwright.fit(
            pl.concat([frame, lonely.cast(frame.schema)]),
            task="recommendation",
            user="user",
            item="item",
            time="ts",
            time_budget=10,
            progress=False,
        )
    assert seen[0].filename == __file__, "the warning points at the caller's line"
    assert any("single_interaction_users" in line for line in model.warnings)
