"""A recommender's evidence is typed: its manifest reads into the models and writes back
unchanged, saving writes through them, and a damaged field is an ArtifactError naming it."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mlwright
from clirun import assert_clean_failure
from clirun import mlwright as mlwright_cli
from hostile import edit_manifest
from mlwright.errors import ArtifactError
from mlwright.pipeline import train_recommendation
from mlwright.recommend import (
    Recommender,
    RecommenderEvidence,
    chosen_text,
    load_recommender,
    recommender_card,
    save_recommender,
)
from mlwright.spec import spec_from_dict
from recsynth import interaction_log

MODEL_KEYS = ("format", "format_version", "task", "recommender", "files")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recommender the main job trained and saved: every key of its evidence is there."""
    where = tmp_path_factory.mktemp("evidence")
    spec = spec_from_dict(
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
            "registry": {"enabled": False},
        },
        base_dir=where,
    )
    result = train_recommendation(spec, interaction_log(), out_dir=where / "model")
    assert result.artifact_dir is not None
    return result.artifact_dir


def copy_of(saved: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(saved, copy)
    edit_manifest(copy, edit)
    return copy


def stored_metadata(path: Path) -> dict[str, Any]:
    manifest = json.loads((path / "manifest.json").read_text())
    return {k: v for k, v in manifest.items() if k not in MODEL_KEYS}


def test_a_saved_recommender_reads_into_its_typed_evidence(saved: Path) -> None:
    model = load_recommender(saved)
    metadata, evidence = model.metadata, model.evidence
    assert evidence.evaluation is not None
    ndcg = evidence.evaluation.score("model", "ndcg")
    assert ndcg is not None
    assert ndcg.value == metadata["evaluation"]["scores"]["model"]["ndcg@10"]["value"]
    assert ndcg.low is not None
    assert ndcg.high is not None
    coverage = evidence.evaluation.score("model", "coverage")
    assert coverage is not None
    assert coverage.low is None
    assert "model - popularity" in evidence.evaluation.differences
    assert evidence.choice is not None
    assert evidence.choice.because
    assert evidence.plan.chosen == model.chosen
    assert evidence.data is not None
    assert evidence.data.fingerprint
    assert evidence.checks is not None
    assert evidence.budget is not None
    assert evidence.budget.seconds == 60
    assert evidence.columns is not None
    assert evidence.columns.user == "user"
    assert evidence.model_extra == {"path": str(saved)}  # kept, though not modelled


def test_typed_evidence_writes_back_what_it_read(saved: Path) -> None:
    metadata = stored_metadata(saved)
    assert RecommenderEvidence.parse(metadata).written() == metadata
    # An unknown key is kept as it is, so an older reader drops nothing a newer one wrote.
    newer = {**metadata, "drift": {"window": 7}}
    assert RecommenderEvidence.parse(newer).written() == newer


def test_the_evidence_is_read_again_on_each_access(saved: Path) -> None:
    model = load_recommender(saved)
    model.metadata["budget"]["seconds"] = 90.0
    assert model.evidence.budget is not None
    assert model.evidence.budget.seconds == 90.0
    model.metadata["budget"]["seconds"] = "an hour"
    with pytest.raises(ArtifactError) as caught:
        _ = model.evidence
    assert caught.value.field == "budget.seconds"


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda m: m["evaluation"]["scores"]["model"]["ndcg@10"].pop("value"),
         "evaluation.scores.model.ndcg@10.value"),
        (lambda m: m["choice"]["generator_ndcg"].update(ease="high"),
         "choice.generator_ndcg.ease"),
        (lambda m: m["data"].update(interactions="many"), "data.interactions"),
        (lambda m: m["evaluation"]["differences"]["model - popularity"].pop("a_better_share"),
         "evaluation.differences.model - popularity.a_better_share"),
        (lambda m: m.pop("plan"), "plan"),
        (lambda m: m["checks"]["findings"][0].pop("code"), "checks.findings.0.code"),
    ],
)  # fmt: skip
def test_a_missing_or_mistyped_field_is_an_artifact_error_naming_it(
    saved: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], Any], field: str
) -> None:
    path = copy_of(saved, tmp_path, edit)
    with pytest.raises(ArtifactError) as caught:
        mlwright.load(path)
    assert caught.value.field == field
    assert field in caught.value.message


def test_the_command_line_refuses_it_with_the_artifact_exit_code(
    saved: Path, tmp_path: Path
) -> None:
    path = copy_of(saved, tmp_path, lambda m: m["budget"].update(seconds="an hour"))
    result = mlwright_cli("report", path, "-o", tmp_path / "card.html", cwd=tmp_path)
    assert_clean_failure(result, 5, "budget.seconds")


def test_saving_writes_through_the_models_and_refuses_a_damaged_field(
    saved: Path, tmp_path: Path
) -> None:
    model = load_recommender(saved)
    resaved = save_recommender(model, tmp_path / "again")
    assert stored_metadata(resaved) == stored_metadata(saved)
    model.metadata["evaluation"]["k"] = "ten"
    with pytest.raises(ArtifactError) as caught:
        save_recommender(model, tmp_path / "damaged")
    assert caught.value.field == "evaluation.k"
    assert not (tmp_path / "damaged").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]  # no staging left behind


def test_an_artifact_written_before_fits_said_why_still_reads(saved: Path, tmp_path: Path) -> None:
    """Recommenders saved before the fit planned within its budget record no ``because``
    nor ``skipped``, and ``{}`` for a ranker they never trained."""

    def older(manifest: dict[str, Any]) -> None:
        for record in (manifest["choice"], manifest["fit"]):
            record.pop("because")
            record.pop("skipped")
        manifest["choice"]["ranker"] = {}
        generator = manifest["recommender"]["generators"][0]["name"]
        manifest["recommender"]["chosen"] = manifest["plan"]["chosen"] = generator
        manifest["recommender"]["ranker"] = None

    model = load_recommender(copy_of(saved, tmp_path, older))
    assert model.evidence.choice is not None
    assert model.evidence.choice.because is None
    assert chosen_text(model) == f"the {model.chosen} generator alone (the ranker was not trained)"
    assert (
        "Not done, to keep the time budget"
        not in recommender_card(model, title="shop").to_markdown()
    )


def test_a_score_nothing_measured_is_saved_as_null_and_read_back(
    saved: Path, tmp_path: Path
) -> None:
    model = load_recommender(saved)
    model.metadata["evaluation"]["scores"]["popularity"]["novelty@10"]["value"] = math.nan
    loaded = load_recommender(save_recommender(model, tmp_path / "model"))
    assert loaded.evidence.evaluation is not None
    novelty = loaded.evidence.evaluation.score("popularity", "novelty")
    assert novelty is not None
    assert novelty.value is None
    assert isinstance(loaded, Recommender)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda m: m["recommender"].__setitem__("depth", "50"), "recommender.depth"),
        (lambda m: m["recommender"]["generators"][0].pop("kind"), "recommender.generators.0.kind"),
        (lambda m: m.pop("recommender"), "recommender"),
    ],
)
def test_a_damaged_recommender_entry_is_named_by_its_field(
    saved: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], Any], field: str
) -> None:
    with pytest.raises(ArtifactError) as info:
        mlwright.load(copy_of(saved, tmp_path, edit))
    assert info.value.field == field
    assert field in info.value.message
