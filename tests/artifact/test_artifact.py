from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import mlwright
from mlwright.artifact import FORMAT, FORMAT_VERSION, MANIFEST, Model, load_model, sha256_file
from mlwright.errors import ArtifactError
from synth import make_frame

PICKLE_MARKERS = (b"cloudpickle", b"joblib", b"__reduce__", b"\x80\x04\x95", b"\x80\x05\x95")


@pytest.fixture
def saved(trained: dict[str, Model], tmp_path: Path) -> Path:
    return trained["binary"].save(tmp_path / "model")


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_round_trip_gives_identical_predictions(
    trained: dict[str, Model], tmp_path: Path, problem: str
) -> None:
    model = trained[problem]
    loaded = mlwright.load(model.save(tmp_path / problem))
    data = make_frame(problem, n=60, seed=9).drop("y")
    assert np.array_equal(model._raw(data), loaded._raw(data))
    for record in data.head(10).iter_rows(named=True):
        assert loaded.predict_one(record) == model.predict_one(record)
    assert loaded.classes == model.classes
    assert loaded.threshold == model.threshold
    assert loaded.input_schema == model.input_schema
    assert loaded.metrics == json.loads(json.dumps(model.metrics))


def test_manifest_records_what_the_contract_says(saved: Path) -> None:
    manifest = json.loads((saved / MANIFEST).read_text())
    assert manifest["format"] == FORMAT
    assert manifest["format_version"] == FORMAT_VERSION
    for key in (
        "spec",
        "task",
        "input_schema",
        "feature_plans",
        "members",
        "metrics",
        "leaderboard",
        "reference",
        "libraries",
        "data",
        "checks",
        "files",
    ):
        assert key in manifest, key
    assert len(manifest["data"]["fingerprint"]) == 64
    assert {"mlwright", "numpy", "polars", "lightgbm"} <= set(manifest["libraries"])
    assert set(manifest["reference"]["features"]) == {f["name"] for f in manifest["input_schema"]}
    files = [p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file()]
    assert set(files) - {MANIFEST} == set(manifest["files"])
    for relative, digest in manifest["files"].items():
        assert sha256_file(saved / relative) == digest


def test_no_pickle_anywhere_in_an_artifact(saved: Path) -> None:
    for path in saved.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(marker in data for marker in PICKLE_MARKERS), path
            assert not data.startswith(b"\x80"), f"{path} starts like a pickle"
            if path.suffix == ".json":
                json.loads(data)
            elif path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as arrays:
                    for name in arrays.files:
                        assert arrays[name].dtype != object, (path, name)
            elif path.suffix == ".txt":
                data.decode("utf-8")


def learner_file(artifact: Path) -> Path:
    return next(p for p in (artifact / "learners").rglob("*") if p.is_file())


def test_a_tampered_file_is_refused(saved: Path) -> None:
    target = learner_file(saved)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="does not match its SHA-256") as info:
        load_model(saved)
    assert info.value.field == target.relative_to(saved).as_posix()


def test_an_unknown_file_is_refused(saved: Path) -> None:
    (saved / "learners" / "extra.pkl").write_bytes(b"\x80\x04\x95")
    with pytest.raises(ArtifactError, match=r"does not list: learners/extra\.pkl"):
        load_model(saved)


def test_a_missing_file_is_refused(saved: Path) -> None:
    learner_file(saved).unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load_model(saved)


def test_links_are_refused(saved: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    os.symlink(outside, saved / "link.txt")
    with pytest.raises(ArtifactError, match="link"):
        load_model(saved)


def test_unsafe_manifest_paths_are_refused(saved: Path) -> None:
    manifest = json.loads((saved / MANIFEST).read_text())
    manifest["files"]["../../etc/passwd"] = "0" * 64
    (saved / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="unsafe path"):
        load_model(saved)


def test_other_format_versions_are_refused(saved: Path) -> None:
    manifest = json.loads((saved / MANIFEST).read_text())
    manifest["format_version"] = 99
    (saved / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="version 99 is not supported"):
        load_model(saved)


def test_damaged_manifest_is_refused(saved: Path) -> None:
    (saved / MANIFEST).write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_model(saved)


def test_not_an_artifact(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no model at"):
        load_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="not an mlwright artifact"):
        load_model(tmp_path / "empty")


def test_save_replaces_an_artifact_but_not_other_folders(
    trained: dict[str, Model], tmp_path: Path
) -> None:
    model = trained["binary"]
    target = model.save(tmp_path / "m")
    model.save(target)  # an artifact may be replaced
    load_model(target)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="refusing to overwrite"):
        model.save(other)
    assert (other / "todo.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging dir left behind"
