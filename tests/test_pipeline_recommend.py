"""The main job on a recommendation spec: the log checked (blocking findings stop it),
evaluated by the protocol, fitted on every interaction, saved with its card, registered,
and loaded back from the registry; `mlwright check` and `mlwright run` on such a spec."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from rich.console import Console

from clirun import Result, assert_clean_failure, mlwright
from mlwright.artifact import load_model
from mlwright.cli._print import print_recommendation_summary
from mlwright.errors import (
    ArtifactError,
    DataCheckError,
    DataError,
    MlwrightError,
    SpecError,
    TrainingError,
)
from mlwright.pipeline import (
    OVERRUN_ALLOWED,
    recommend_table,
    recommender_model_card,
    train,
    train_recommendation,
)
from mlwright.recommend import ItemKNN, Recommender
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
    # What was saved reads back into the same typed evidence.
    assert loaded.evidence.evaluation == model.evidence.evaluation
    assert loaded.evidence.choice == model.evidence.choice


def printed_summary(monkeypatch: pytest.MonkeyPatch, result: Any) -> str:
    """What `mlwright run` prints after a recommendation run, on a wide console."""
    console = Console(file=io.StringIO(), width=400, no_color=True)
    print_recommendation_summary(console, result)
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def test_a_ranker_the_deadline_skipped_is_said_to_be_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generator slow enough to spend the budget leaves no time for the ranker: the card
    and the summary say it was not trained and why, never that it lost a comparison that
    was not made."""
    fit = ItemKNN.fit

    def slow_fit(self: ItemKNN, *args: Any, **kwargs: Any) -> ItemKNN:
        time.sleep(1.5)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(ItemKNN, "fit", slow_fit)
    spec = recommendation_spec(tmp_path).model_copy(deep=True)
    spec.constraints.time_budget = 2.0
    result = train_recommendation(spec, interaction_log(), save=False)
    model = result.model
    ranker = model.metadata["choice"]["ranker"]
    assert model.chosen != "ranker"
    assert "time budget" in ranker["skipped"]
    assert "cv_ndcg" not in ranker
    card = recommender_model_card(model).to_markdown()
    printed = printed_summary(monkeypatch, result)
    for text in (card, printed):
        assert f"the {model.chosen} generator alone (the ranker was not trained:" in text
        assert "did not beat" not in text
    assert "not done: ranker: building its candidates" in printed
    assert "a budget of about" in printed


def test_a_recommender_run_plans_within_its_budget(tmp_path: Path) -> None:
    """EASE on thousands of items costs the cube of them: on a short budget the fit shrinks
    it or leaves it out, says so, and the run ends within its budget."""
    log = interaction_log(users=600, items=4000, per_user=40, seed=3)
    spec = recommendation_spec(tmp_path).model_copy(deep=True)
    spec.constraints.time_budget = 8.0
    started = time.monotonic()
    result = train_recommendation(spec, log, save=False)
    wall = time.monotonic() - started
    assert wall <= 8.0 * (1 + OVERRUN_ALLOWED), str(result.timings)
    assert result.timings["wall"] == pytest.approx(wall, abs=0.5)
    skipped = result.model.metadata["budget"]["skipped"]
    assert any(step.startswith(("ease", "ranker")) for step in skipped), skipped
    assert all("time budget" in why for why in skipped.values())


def test_a_budget_that_cannot_hold_a_recommender_is_refused_before_any_fit(
    tmp_path: Path,
) -> None:
    spec = recommendation_spec(tmp_path).model_copy(deep=True)
    spec.constraints.time_budget = 2.0
    with pytest.raises(TrainingError, match="too small to fit a recommender") as info:
        train_recommendation(spec, interaction_log(), out_dir=tmp_path / "model")
    assert "writing the card, saving and registering need about" in info.value.message
    assert info.value.field == "constraints.time_budget"
    assert "at least" in (info.value.hint or "")
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "model").exists()


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


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """A folder with the log and SPEC, and the result of `mlwright run` on it (once)."""
    root = tmp_path_factory.mktemp("shop")
    interaction_log().write_csv(root / "log.csv")
    (root / "spec.toml").write_text(SPEC)
    ran = mlwright("run", "spec.toml", "--no-register", "--out", "model", "-q", cwd=root)
    return root, ran


def test_check_and_run_commands_on_a_recommendation_spec(project: tuple[Path, Result]) -> None:
    root, ran = project
    checked = mlwright("check", "spec.toml", cwd=root)
    assert checked.code == 0, checked
    assert "interaction log" in checked.stdout
    assert "interactions.concentration" in checked.stdout
    assert ran.code == 0, ran
    assert "NDCG@10" in ran.stdout
    assert "popularity" in ran.stdout
    assert (root / "model" / "manifest.json").is_file()


def test_predict_writes_each_users_top_k_in_batch(
    project: tuple[Path, Result], tmp_path: Path
) -> None:
    root, _ = project
    pl.DataFrame({"user": [3, 999_999, 3, 5]}).write_csv(tmp_path / "users.csv")
    result = mlwright(
        "predict", root / "model", "users.csv", "-o", "recs.parquet", "--k", "4", cwd=tmp_path
    )
    assert result.code == 0, result
    assert "wrote 12 recommendations" in result.stdout
    recs = pl.read_parquet(tmp_path / "recs.parquet")
    assert recs.columns == ["user", "rank", "item", "score", "source", "cold_start"]
    assert recs["user"].to_list() == [3] * 4 + [999_999] * 4 + [5] * 4, "file order, once each"
    model = load_any(root / "model")
    assert isinstance(model, Recommender)
    for user in (3, 5):
        mine = recs.filter(pl.col("user") == user)
        assert mine["item"].to_list() == model.recommend(user=user, k=4)
        assert mine["rank"].to_list() == [1, 2, 3, 4]
        assert mine["score"].is_sorted(descending=True)
        assert not mine["cold_start"].any()
    unknown = recs.filter(pl.col("user") == 999_999)
    assert unknown["cold_start"].all()
    assert unknown["source"].unique().to_list() == ["popularity"]


def test_recent_items_in_the_batch_are_folded_into_histories(
    project: tuple[Path, Result],
) -> None:
    root, _ = project
    model = load_any(root / "model")
    assert isinstance(model, Recommender)
    log = interaction_log()
    recent = log.filter(pl.col("user") == 8).sort("time")
    # A user the model never saw, given user 8's items out of time order in the file.
    batch = recent.reverse().with_columns(pl.lit(10_000).alias("user"))
    table = recommend_table(model, batch, k=6)
    assert table["item"].to_list() == model.recommend(history=recent["item"].to_list(), k=6)
    assert not table["cold_start"].any()
    # A known user's recent rows are added to what the model knows of them.
    extra = log.filter(pl.col("user") == 9).head(3).with_columns(pl.lit(3).alias("user"))
    table = recommend_table(model, extra, k=6)
    assert table["item"].to_list() == model.recommend(
        user=3, history=extra.sort("time")["item"].to_list(), k=6
    )


@pytest.mark.parametrize(
    ("args", "error", "needles"),
    [
        (["--k", "0"], SpecError, ["--k must be from 1 to 1000"]),
        (["--keep-columns"], SpecError, ["--keep-columns applies to table models"]),
        (["-o", "recs.json"], DataError, ["cannot write recommendations as '.json'"]),
    ],
)
def test_predict_refuses_options_a_recommender_cannot_honour(
    project: tuple[Path, Result],
    tmp_path: Path,
    args: list[str],
    error: type[MlwrightError],
    needles: list[str],
) -> None:
    root, _ = project
    pl.DataFrame({"user": [3]}).write_csv(tmp_path / "users.csv")
    output = [] if "-o" in args else ["-o", "recs.csv"]
    result = mlwright("predict", root / "model", "users.csv", *output, *args, cwd=tmp_path)
    assert_clean_failure(result, error.exit_code, *needles)
    assert not list(tmp_path.glob("recs.*"))


def test_predict_without_the_user_column_names_it(
    project: tuple[Path, Result], tmp_path: Path
) -> None:
    root, _ = project
    pl.DataFrame({"customer": [3]}).write_csv(tmp_path / "users.csv")
    result = mlwright("predict", root / "model", "users.csv", "-o", "r.csv", cwd=tmp_path)
    stderr = assert_clean_failure(result, DataError.exit_code, "no 'user' column")
    assert "'user' column" in stderr


def test_report_writes_a_recommenders_card_again(
    project: tuple[Path, Result], tmp_path: Path
) -> None:
    root, _ = project
    result = mlwright("report", root / "model", cwd=tmp_path)
    assert result.code == 0, result
    page = (tmp_path / "shop_card.html").read_text()
    assert page == (root / "model" / "model_card.html").read_text()
    assert (tmp_path / "shop_card.md").read_text() == (root / "model" / "model_card.md").read_text()


def test_commands_for_table_models_say_what_a_recommender_is(
    project: tuple[Path, Result], tmp_path: Path
) -> None:
    root, _ = project
    log = f"sqlite:///{tmp_path / 'log.db'}"
    monitored = mlwright("monitor", root / "model", "--log", log, cwd=tmp_path)
    # A usage error that says what to do, not a damaged artifact (exit 5).
    assert_clean_failure(
        monitored, SpecError.exit_code, "is a recommender", "mlwright monitor", "mlwright report"
    )
    retrained = mlwright("retrain", root / "spec.toml", "--log", log, cwd=tmp_path)
    assert_clean_failure(retrained, SpecError.exit_code, "is a recommendation spec", "mlwright run")
    with pytest.raises(ArtifactError, match="holds a recommender"):
        load_model(root / "model")


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


def test_a_second_run_is_a_challenger_promoted_only_by_force(tmp_path: Path) -> None:
    """compare and promote judge table models on labelled rows; for a recommender they say
    so, and a forced promotion (with its reason) moves the champion alias."""
    from mlflow import MlflowClient

    spec = recommendation_spec(tmp_path)
    store = spec.registry.tracking_uri
    first = train_recommendation(spec, interaction_log(), out_dir=tmp_path / "v1")
    second = train_recommendation(spec, interaction_log(seed=1), out_dir=tmp_path / "v2")
    assert first.registration is not None
    assert second.registration is not None
    assert (first.registration.alias, second.registration.alias) == ("champion", "challenger")
    compared = mlwright("compare", "shop", "--tracking-uri", store, cwd=tmp_path)
    assert_clean_failure(compared, SpecError.exit_code, "shop is a recommender", "--force")
    refused = mlwright("promote", "shop", "--tracking-uri", store, cwd=tmp_path)
    assert_clean_failure(refused, SpecError.exit_code, "shop is a recommender")
    forced = mlwright(
        "promote", "shop", "--force", "--reason", "NDCG up in its card",
        "--tracking-uri", store, cwd=tmp_path,
    )  # fmt: skip
    assert forced.code == 0, forced
    assert "promoted (forced)" in forced.stdout
    client = MlflowClient(tracking_uri=store)
    aliases = client.get_registered_model("shop").aliases
    assert {a: str(v) for a, v in aliases.items()} == {"champion": second.registration.version}
    tags = client.get_model_version("shop", second.registration.version).tags
    record = json.loads(tags["mlwright.promotion"])
    assert (record["forced"], record["reason"], record["evidence"]) == (
        True,
        "NDCG up in its card",
        "none",
    )
    served = load_any("models:/shop@champion", tracking_uri=store)
    assert isinstance(served, Recommender)
    assert served.metadata["registry"]["version"] == second.registration.version
