"""Damaged and hostile artifacts. A bare directory has no guard but its manifest, so every
attack here changes a file *and* records its new SHA-256: only mlwright's own checks stand
between the file and the native library that reads it. Each must end as an ArtifactError
that names the file (exit code 5), never as a crash of the interpreter (SIGABRT, SIGSEGV,
SIGFPE), a hang, or a raw library exception (exit 70)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mlwright
from clirun import assert_clean_failure
from clirun import mlwright as run_cli
from hostile import (
    edit_manifest,
    edit_tree_line,
    lightgbm_blocks,
    member_file,
    replace_file,
    ubjson,
    with_tree_sizes,
)
from mlwright.artifact import MANIFEST, Model, load_in_child, load_model, smoke_test
from mlwright.artifact import _store as store
from mlwright.errors import ArtifactError
from mlwright.learners import _probe
from mlwright.learners._xgboost_model import decode_ubjson
from synth import make_frame, mixed_model

# Loads each artifact in turn in a fresh interpreter and says how each load ended; a crash
# of the interpreter ends the child (a negative return code: the signal) after "start".
LOAD_EACH = """
import json, sys, mlwright
from mlwright.errors import ArtifactError
for name, path in json.loads(sys.argv[1]).items():
    print("@@", json.dumps(["start", name]), flush=True)
    try:
        mlwright.load(path)
        print("@@", json.dumps(["loaded", name]), flush=True)
    except ArtifactError as exc:
        print("@@", json.dumps(["refused", name, exc.exit_code, exc.field]), flush=True)
    except Exception as exc:
        print("@@", json.dumps(["raw", name, type(exc).__name__]), flush=True)
"""


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifact with a LightGBM, an XGBoost and a CatBoost member."""
    model = mixed_model("binary", ["lightgbm", "xgboost", "catboost"])
    return model.save(tmp_path_factory.mktemp("native") / "model")


@pytest.fixture
def artifact(native: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(native, tmp_path / "model"))


def damaged_copies(
    native: Path, tmp_path: Path, family: str, damage: dict[str, Callable[[bytes], bytes]]
) -> tuple[dict[str, Path], str]:
    """One copy of ``native`` per damage, the ``family`` member's file damaged in each."""
    relative = member_file(native, family)
    data = (native / relative).read_bytes()
    copies = {}
    for name, change in damage.items():
        copy = Path(shutil.copytree(native, tmp_path / name))
        broken = change(data)
        assert broken != data, name
        replace_file(copy, relative, broken)
        copies[name] = copy
    return copies, relative


def assert_each_refused_cleanly(copies: dict[str, Path], relative: str) -> None:
    """Every copy refused by an ArtifactError (exit code 5) naming the damaged file, in a
    child that neither crashed nor raised anything else."""
    done = subprocess.run(
        [sys.executable, "-c", LOAD_EACH, json.dumps({k: str(v) for k, v in copies.items()})],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=600,
        check=False,
    )
    events = [json.loads(line[3:]) for line in done.stdout.splitlines() if line.startswith("@@ ")]
    started = [e[1] for e in events if e[0] == "start"]
    assert done.returncode == 0, (
        f"the interpreter died (return code {done.returncode}) loading {started[-1:]}:\n"
        f"{done.stderr[-2000:]}"
    )
    ends = {e[1]: e for e in events if e[0] != "start"}
    for name in copies:
        assert ends[name][:3] == ["refused", name, 5], ends[name]
        assert ends[name][3].endswith(relative), ends[name]


# -- native files ------------------------------------------------------------------------------


def _lightgbm_damage() -> dict[str, Callable[[str], str]]:
    def in_tree0(key: str, change: Callable[[list[str]], list[str]]) -> Callable[[str], str]:
        def damage(text: str) -> str:
            header, blocks, rest = lightgbm_blocks(text)
            blocks[0] = edit_tree_line(blocks[0], key, change)
            return with_tree_sizes(header, blocks, rest)

        return damage

    return {
        # Each of these crashed or hung LightGBM 4.7 (or loaded silently) before the check.
        "cut_short": lambda t: t[: len(t) // 2],  # SIGABRT in the OpenMP tree parser
        "tree_sizes_lie": lambda t: t.replace("tree_sizes=", "tree_sizes=99999999", 1),
        "parameter_line": lambda t: t.replace("[verbosity: -1]", "[verbosity -1]"),  # SIGSEGV
        "no_trees_per_iteration": lambda t: t.replace(
            "num_tree_per_iteration=1\n", "num_tree_per_iteration=0\n"
        ),  # SIGFPE
        "more_classes": lambda t: t.replace("num_class=1\n", "num_class=3\n").replace(
            "num_tree_per_iteration=1\n", "num_tree_per_iteration=3\n"
        ),
        "child_cycle": in_tree0("left_child", lambda v: ["0", *v[1:]]),  # loops for ever
        "child_out_of_range": in_tree0("left_child", lambda v: ["100000", *v[1:]]),
        "feature_out_of_range": in_tree0("split_feature", lambda v: ["99999", *v[1:]]),
        "short_array": in_tree0("right_child", lambda v: v[:1]),
        "not_a_number": in_tree0("leaf_value", lambda v: ["x", *v[1:]]),
    }


LIGHTGBM_DAMAGE = _lightgbm_damage()


def test_a_damaged_lightgbm_file_is_refused_not_a_crash(native: Path, tmp_path: Path) -> None:
    damage = {
        name: lambda data, change=change: change(data.decode()).encode()
        for name, change in LIGHTGBM_DAMAGE.items()
    }
    assert_each_refused_cleanly(*damaged_copies(native, tmp_path, "lightgbm", damage))


def test_mlwright_predict_exits_5_on_a_lightgbm_file_that_aborted_it(
    artifact: Path, tmp_path: Path
) -> None:
    relative = member_file(artifact, "lightgbm")
    text = (artifact / relative).read_text()
    replace_file(artifact, relative, text[: len(text) // 2].encode())
    data = tmp_path / "rows.csv"
    make_frame("binary", n=5).drop("y").write_csv(data)
    result = run_cli("predict", artifact, data, "-o", tmp_path / "out.csv", cwd=tmp_path)
    assert_clean_failure(result, 5, "model.txt")


def _xgboost_damage() -> dict[str, Callable[[bytes], bytes]]:
    def in_tree0(key: str, index: int, value: int) -> Callable[[bytes], bytes]:
        def damage(data: bytes) -> bytes:
            model = decode_ubjson(data)
            model["learner"]["gradient_booster"]["model"]["trees"][0][key][index] = value
            return ubjson(model)

        return damage

    def output(data: bytes) -> bytes:
        model = decode_ubjson(data)
        model["learner"]["gradient_booster"]["model"]["tree_info"][0] = 7
        return ubjson(model)

    return {
        "not_a_model": lambda d: b"this is not a model",
        "cut_short": lambda d: d[: len(d) // 2],
        "length_lies": lambda d: d.replace(b"left_children[$l#L", b"left_children[$l#L\x7f", 1),
        "child_out_of_range": in_tree0("left_children", 0, 100000),  # SIGSEGV when scoring
        "child_cycle": in_tree0("left_children", 1, 0),
        "wrong_parent": in_tree0("parents", 1, 5),
        "output_out_of_range": output,  # SIGABRT (double free) when scoring
    }


XGBOOST_DAMAGE = _xgboost_damage()


def test_a_damaged_xgboost_file_is_refused_not_a_crash(native: Path, tmp_path: Path) -> None:
    assert_each_refused_cleanly(*damaged_copies(native, tmp_path, "xgboost", XGBOOST_DAMAGE))


CATBOOST_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "not_a_model": lambda d: b"this is not a model",  # a raw CatBoostError before (exit 70)
    "cut_short": lambda d: d[: len(d) // 2],
    "hole": lambda d: d[:8] + d[64:],
}


def test_a_damaged_catboost_file_is_refused(native: Path, tmp_path: Path) -> None:
    assert_each_refused_cleanly(*damaged_copies(native, tmp_path, "catboost", CATBOOST_DAMAGE))


def test_a_catboost_file_that_crashes_its_probe_is_refused(
    artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CatBoost's format is checked by loading it in a child first; a child that dies by a
    # signal (as a damaged .cbm makes CatBoost do) refuses the file.
    monkeypatch.setattr(_probe, "_ENTRY", "import os; os.abort()")
    monkeypatch.setattr(_probe, "_PASSED", set())
    with pytest.raises(ArtifactError, match="SIGABRT") as caught:
        load_model(artifact)
    assert caught.value.field is not None
    assert caught.value.field.endswith(member_file(artifact, "catboost"))


# -- the manifest ------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [100_000, 100])
def test_a_deeply_nested_manifest_is_refused(artifact: Path, depth: int) -> None:
    text = (artifact / MANIFEST).read_text().rstrip()
    assert text.endswith("}")
    nested = "[" * depth + "]" * depth
    (artifact / MANIFEST).write_text(text[:-1] + f', "deep": {nested}}}')
    with pytest.raises(ArtifactError, match="nests") as caught:
        load_model(artifact)
    assert caught.value.field == str(artifact / MANIFEST)


def test_a_huge_manifest_is_refused(artifact: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "MAX_MANIFEST_BYTES", 1000)
    with pytest.raises(ArtifactError, match="larger than"):
        load_model(artifact)


@pytest.mark.parametrize(
    "weights",
    [[1e308, 1e308, 1e308], [0.0, 1.0, 1.0], [-1.0, 1.0, 1.0], [math.nan, 1, 1], ["1", 1, 1]],
    ids=["overflowing_sum", "zero", "negative", "nan", "text"],
)
def test_weights_must_be_positive_finite_with_a_finite_sum(
    artifact: Path, weights: list[Any]
) -> None:
    def set_weights(manifest: dict[str, Any]) -> None:
        for member, weight in zip(manifest["members"], weights, strict=True):
            member["weight"] = weight

    edit_manifest(artifact, set_weights)
    with pytest.raises(ArtifactError, match="weight") as caught:
        load_model(artifact)
    assert caught.value.field is not None
    assert caught.value.field.startswith("members")


def test_a_model_refuses_weights_that_overflow(trained: dict[str, Model]) -> None:
    model = trained["binary"]
    members = [type(m)(m.name, m.learner, 1e308, m.plan) for m in model.members] * 2
    with pytest.raises(ValueError, match="finite"):
        Model(
            spec=model.spec,
            classes=model.classes,
            threshold=model.threshold,
            inputs=model.inputs,
            plans=model.plans,
            members=members,
            metadata={},
        )


# -- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["parent", "absolute"])
def test_a_member_dir_outside_the_artifact_is_refused(
    artifact: Path, tmp_path: Path, where: str
) -> None:
    # A valid learner outside the artifact: before the check it was loaded unhashed.
    outside = tmp_path / "outside"
    shutil.copytree(artifact / "learners" / "lightgbm", outside)
    target = "../outside" if where == "parent" else str(outside)
    edit_manifest(artifact, lambda m: m["members"][0].__setitem__("dir", target))
    with pytest.raises(ArtifactError, match="outside the artifact") as caught:
        load_model(artifact)
    assert caught.value.field == "members[0].dir"
    assert target in caught.value.message


def test_a_member_dir_through_a_link_is_refused(artifact: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(artifact / "learners" / "lightgbm", outside)
    os.symlink(outside, artifact / "learners" / "elsewhere")
    edit_manifest(artifact, lambda m: m["members"][0].__setitem__("dir", "learners/elsewhere"))
    with pytest.raises(ArtifactError, match=r"link|outside"):
        load_model(artifact)


def test_a_member_dir_that_is_not_a_path_is_refused(artifact: Path) -> None:
    edit_manifest(artifact, lambda m: m["members"][0].__setitem__("dir", ["x"]))
    with pytest.raises(ArtifactError, match=r"members\.0\.dir.*valid string") as info:
        load_model(artifact)
    assert info.value.field == "members.0.dir"


# -- libraries ---------------------------------------------------------------------------------


def test_the_manifest_lists_the_libraries_the_members_use(
    native: Path, trained: dict[str, Model]
) -> None:
    libraries = json.loads((native / MANIFEST).read_text())["libraries"]
    assert {"lightgbm", "xgboost", "catboost"} <= set(libraries)
    families = {m.learner.family for m in trained["binary"].members}
    if not families & {"xgboost", "catboost"}:
        plain = trained["binary"].save(native.parent / "plain")
        assert not {"xgboost", "catboost"} & set(
            json.loads((plain / MANIFEST).read_text())["libraries"]
        )


# -- the smoke test ----------------------------------------------------------------------------


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_a_sound_model_passes_the_smoke_test(trained: dict[str, Model], problem: str) -> None:
    smoke_test(trained[problem])


@pytest.mark.parametrize(
    ("problem", "answer", "needle"),
    [
        ("binary", {"prediction": "yes", "probabilities": {"no": 0.5, "yes": 0.6}}, "sum to"),
        ("binary", {"prediction": "yes", "probabilities": {"no": 0.0, "yes": 0.0}}, "sum to"),
        ("binary", {"prediction": "no", "probabilities": {"no": math.nan, "yes": 1}}, "probab"),
        ("regression", {"prediction": math.nan}, "prediction is nan"),
        ("regression", {"prediction": math.inf}, "prediction is inf"),
        (
            "regression",
            {"prediction": 1.0, "interval": {"level": 0.9, "lower": -math.inf, "upper": 2.0}},
            "interval",
        ),
    ],
)
def test_the_smoke_test_refuses_what_cannot_be_served(
    trained: dict[str, Model],
    monkeypatch: pytest.MonkeyPatch,
    problem: str,
    answer: dict[str, Any],
    needle: str,
) -> None:
    model = trained[problem]
    monkeypatch.setattr(model, "predict_record", lambda record: answer)
    with pytest.raises(ArtifactError, match=needle):
        smoke_test(model)


def test_the_smoke_test_turns_a_scoring_error_into_an_artifact_error(
    trained: dict[str, Model], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = trained["binary"]

    def broken(record: Any) -> Any:
        raise RuntimeError("library failure")

    monkeypatch.setattr(model, "predict_record", broken)
    with pytest.raises(ArtifactError, match="library failure"):
        smoke_test(model)


# -- loading in a child ------------------------------------------------------------------------


def test_load_in_child_returns_for_a_sound_artifact(native: Path) -> None:
    load_in_child(native)


def test_load_in_child_reports_the_childs_error(artifact: Path) -> None:
    relative = member_file(artifact, "lightgbm")
    text = (artifact / relative).read_text()
    replace_file(artifact, relative, text[: len(text) // 2].encode())
    with pytest.raises(ArtifactError, match=r"model\.txt") as caught:
        load_in_child(artifact)
    assert caught.value.field == str(artifact)


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ("import os; os.abort()", "killed by SIGABRT"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "killed by SIGSEGV"),
        ("import sys; sys.exit(70)", "exited with code 70"),
    ],
)
def test_load_in_child_says_how_the_child_died(
    native: Path, monkeypatch: pytest.MonkeyPatch, entry: str, needle: str
) -> None:
    monkeypatch.setattr(_probe, "_ENTRY", entry)
    with pytest.raises(ArtifactError, match=needle) as caught:
        load_in_child(native)
    assert caught.value.field == str(native)
    assert str(native) in caught.value.message
    assert caught.value.hint


def test_load_in_child_kills_a_child_that_hangs(
    native: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_probe, "_ENTRY", "import time; time.sleep(60)")
    with pytest.raises(ArtifactError, match="did not finish within 1 s"):
        load_in_child(native, timeout=1)


def test_isolate_loads_in_a_child_first(native: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(mlwright.load(native, isolate=True), Model)
    monkeypatch.setattr(_probe, "_ENTRY", "import os; os.abort()")
    monkeypatch.setattr(_probe, "_PASSED", set())
    with pytest.raises(ArtifactError, match="SIGABRT"):
        mlwright.load(native, isolate=True)
