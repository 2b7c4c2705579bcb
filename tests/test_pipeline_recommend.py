"""The main job on a recommendation spec: the log checked (blocking findings stop it),
evaluated by the protocol, fitted on every interaction, saved with its card, registered,
and loaded back from the registry; `mlwright check` and `mlwright run` on such a spec."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from clirun import assert_clean_failure, mlwright
from mlwright.errors import DataCheckError, TrainingError
from mlwright.pipeline import train, train_recommendation
from mlwright.recommend import Recommender
from mlwright.registry import load_any
from mlwright.spec import TaskSpec, spec_from_dict
from recsynth import interaction_log

SPEC = """
name = "shop"

[data]
path = "log.csv"

[task]
problem_type = "recommendation"
user = "user"
item = "item"
time = "time"

[recommend]
item_features = ["genre"]
candidates = 20

[validation]
folds = 2

[constraints]
time_budget = "60s"
"""


def recommendation_spec(tmp_path: Path, **registry: str) -> TaskSpec:
    return spec_from_dict(
        {
            "name": "shop",
            "task": {
                "problem_type": "recommendation",
                "user": "user",
                "item": "item",
                "time": "time",
            },
            "recommend": {"item_features": ["genre"], "candidates": 20},
            "validation": {"folds": 2},
            "constraints": {"time_budget": 60},
            "registry": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}", **registry},
        },
        base_dir=tmp_path,
    )


def test_train_recommendation_saves_registers_and_loads_back(tmp_path: Path) -> None:
    spec = recommendation_spec(tmp_path)
    result = train_recommendation(spec, interaction_log(), out_dir=tmp_path / "model")
    model = result.model
    evaluation = model.metadata["evaluation"]
    assert evaluation["protocol"] == "users"
    assert {"model", "popularity"} <= set(evaluation["scores"])
    assert "model - popularity" in evaluation["differences"]
    assert model.metadata["data"]["fingerprint"]
    assert result.artifact_dir is not None
    card = (result.artifact_dir / "model_card.html").read_text()
    assert "NDCG@10" in card
    assert "<svg" in card
    assert "popularity" in (result.artifact_dir / "model_card.md").read_text()
    assert result.registration is not None
    loaded = load_any("models:/shop@champion", tracking_uri=spec.registry.tracking_uri)
    assert isinstance(loaded, Recommender)
    assert loaded.metadata["registry"]["version"] == result.registration.version
    assert loaded.recommend(user=3, k=5) == model.recommend(user=3, k=5)


def test_blocking_findings_stop_the_job(tmp_path: Path) -> None:
    log = interaction_log().with_columns(
        pl.when(pl.col("user") == 7).then(None).otherwise(pl.col("item")).alias("item")
    )
    with pytest.raises(DataCheckError) as info:
        train_recommendation(recommendation_spec(tmp_path), log, save=False)
    assert info.value.field == "item"
    assert "no item" in info.value.message


def test_train_refuses_a_recommendation_spec(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="recommendation"):
        train(recommendation_spec(tmp_path), interaction_log())


def test_check_and_run_commands_on_a_recommendation_spec(tmp_path: Path) -> None:
    interaction_log().write_csv(tmp_path / "log.csv")
    (tmp_path / "spec.toml").write_text(SPEC)
    checked = mlwright("check", "spec.toml", cwd=tmp_path)
    assert checked.code == 0, checked
    assert "interaction log" in checked.stdout
    assert "interactions.concentration" in checked.stdout
    ran = mlwright("run", "spec.toml", "--no-register", "--out", "model", "-q", cwd=tmp_path)
    assert ran.code == 0, ran
    assert "NDCG@10" in ran.stdout
    assert "popularity" in ran.stdout
    assert (tmp_path / "model" / "manifest.json").is_file()


def test_check_exits_4_on_times_that_do_not_parse(tmp_path: Path) -> None:
    interaction_log().with_columns(pl.lit("yesterday").alias("time")).write_csv(
        tmp_path / "log.csv"
    )
    (tmp_path / "spec.toml").write_text(SPEC)
    result = mlwright("check", "spec.toml", cwd=tmp_path)
    assert_clean_failure(result, DataCheckError.exit_code, "time", "yesterday")


def test_the_time_protocol_with_a_users_table(tmp_path: Path) -> None:
    interaction_log().write_csv(tmp_path / "log.csv")
    pl.DataFrame({"user": list(range(120)), "tier": ["a", "b", "c"] * 40}).write_csv(
        tmp_path / "users.csv"
    )
    spec = SPEC.replace(
        "candidates = 20",
        'candidates = 20\nprotocol = "time"\nusers = "users.csv"\nuser_features = ["tier"]',
    )
    (tmp_path / "spec.toml").write_text(spec)
    ran = mlwright("run", "spec.toml", "--no-register", "--out", "model", "-q", cwd=tmp_path)
    assert ran.code == 0, ran
    assert "protocol 'time'" in ran.stdout
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["recommender"]["user_features"] == ["tier"]
    assert manifest["evaluation"]["protocol"] == "time"
