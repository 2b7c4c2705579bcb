"""The run's evidence is typed: the manifest reads into it, and a damaged field is named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import mlwright
from clirun import assert_clean_failure
from clirun import mlwright as mlwright_cli
from mlwright.artifact import Evidence, PredictedClass
from mlwright.errors import ArtifactError

LEGACY = Path(__file__).parents[1] / "fixtures" / "artifact-0.1.0"


def damaged(tmp_path: Path, edit: Any) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(LEGACY, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    edit(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def test_a_0_1_0_manifest_reads_into_the_typed_evidence() -> None:
    evidence = mlwright.load(LEGACY).evidence
    assert evidence.metrics is not None
    assert evidence.metrics.holdout.model.value == pytest.approx(0.8539590276163166)
    assert evidence.metrics.decision is not None
    assert evidence.metrics.decision.threshold == pytest.approx(0.22837113610811371)
    assert evidence.metrics.decision.chosen_value.value > 0
    assert evidence.leaderboard is not None
    assert evidence.leaderboard[0].cv_score("roc_auc") == pytest.approx(0.8470241720357153)
    assert evidence.data is not None
    assert evidence.data.schema_["n_rows"] == 7043


def test_the_card_reads_every_part_typed() -> None:
    evidence = mlwright.load(LEGACY).evidence
    assert evidence.metrics is not None
    assert evidence.metrics.decision is not None
    assert evidence.metrics.decision.values is not None
    assert evidence.metrics.decision.values.tp == pytest.approx(150.0)
    worst = evidence.metrics.errors.worst[0]
    assert isinstance(worst.prediction, PredictedClass)
    assert worst.prediction.label == "No"
    assert worst.truth == "Yes"
    assert evidence.libraries is not None
    assert evidence.libraries["mlwright"] == "0.1.0"
    stacked = Evidence.parse({"stacking": {"kept": False, "summary": "not tried: one model"}})
    assert stacked.stacking is not None
    assert stacked.stacking.kept is False


def test_typed_evidence_writes_back_what_it_read() -> None:
    manifest = json.loads((LEGACY / "manifest.json").read_text())
    written = Evidence.parse(manifest).model_dump(by_alias=True, exclude_unset=True)
    assert written == manifest


def test_a_missing_field_is_an_artifact_error_naming_it(tmp_path: Path) -> None:
    path = damaged(tmp_path, lambda m: m["metrics"]["holdout"]["model"].pop("value"))
    with pytest.raises(ArtifactError, match=r"metrics\.holdout\.model\.value") as info:
        mlwright.load(path)
    assert info.value.field == "metrics.holdout.model.value"


def test_a_mistyped_field_is_an_artifact_error_naming_it(tmp_path: Path) -> None:
    def mistype(manifest: dict[str, Any]) -> None:
        manifest["metrics"]["cv"]["score"] = "high"

    with pytest.raises(ArtifactError, match=r"metrics\.cv\.score") as info:
        mlwright.load(damaged(tmp_path, mistype))
    assert info.value.field == "metrics.cv.score"
    assert "valid number" in info.value.message


def test_the_command_line_refuses_it_with_the_artifact_exit_code(tmp_path: Path) -> None:
    path = damaged(tmp_path, lambda m: m["budget"].update(seconds="an hour"))
    result = mlwright_cli("report", path, "-o", tmp_path / "card.html", cwd=tmp_path)
    assert_clean_failure(result, 5, "budget.seconds")


def test_a_missing_part_of_the_model_is_named_too(tmp_path: Path) -> None:
    path = damaged(tmp_path, lambda m: m["input_schema"][3].pop("kind"))
    with pytest.raises(ArtifactError, match=r"input_schema\.3\.kind") as info:
        mlwright.load(path)
    assert info.value.field == "input_schema.3.kind"


@pytest.mark.parametrize(
    ("part", "entry", "field"),
    [
        ("stacker", {"link": "pickle", "coef": [[1.0]], "intercept": [0.0]}, "stacker.link"),
        ("stacker", {"link": "logit", "coef": [1.0], "intercept": [0.0]}, "stacker.coef.0"),
        ("calibrator", {"kind": "platt"}, "calibrator.params"),
        ("prediction_intervals", {"edges": "0,1", "halfwidths": {}}, "prediction_intervals.edges"),
    ],
)
def test_a_damaged_output_layer_is_named_by_its_field(
    tmp_path: Path, part: str, entry: dict[str, Any], field: str
) -> None:
    path = damaged(tmp_path, lambda m: m.__setitem__(part, entry))
    with pytest.raises(ArtifactError) as info:
        mlwright.load(path)
    assert info.value.field == field
    assert field in info.value.message
