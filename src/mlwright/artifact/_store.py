"""The artifact directory: ``manifest.json`` plus the learners' own files.

The manifest records the SHA-256 of every other file. Loading verifies every hash, refuses
any file the manifest does not list (and any link), and never unpickles anything: learners
are read from their libraries' own formats, everything else from JSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from importlib import metadata as importlib_metadata
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from mlwright.artifact._calibrator import Calibrator
from mlwright.artifact._evidence import Evidence
from mlwright.artifact._intervals import PredictionIntervals
from mlwright.artifact._layers import LayerError, check_layers
from mlwright.artifact._manifest import Manifest, MemberEntry
from mlwright.artifact._model import InputField, Member, Model, OutputLayers
from mlwright.artifact._stack import Stacker
from mlwright.errors import ArtifactError, MlwrightError
from mlwright.features import FeaturePlan
from mlwright.learners import learner_class
from mlwright.spec import spec_from_dict

FORMAT = "mlwright-artifact"
FORMAT_VERSION = 1
# A table model with second-layer members (Member.inputs): an older mlwright, which would
# read such a member without its inputs, refuses the version instead.
STACKED_FORMAT_VERSION = 2
READABLE_VERSIONS = (FORMAT_VERSION, STACKED_FORMAT_VERSION)
MANIFEST = "manifest.json"
DAMAGED = "the artifact is damaged; fetch it again or retrain"
TAMPERED = "the artifact was tampered with; do not load it"
_LIBRARIES = ("mlwright", "numpy", "polars", "scikit-learn", "lightgbm", "pydantic")
# A manifest is a few MB at most and a few levels deep; past these it is not one.
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
MAX_MANIFEST_DEPTH = 64


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions(*extra: str) -> dict[str, str]:
    """Installed versions of mlwright's core libraries and of ``extra`` ones (those the
    saved model uses, such as ``xgboost``); libraries not installed are left out."""
    versions = {}
    for name in dict.fromkeys((*_LIBRARIES, *extra)):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def jsonable(value: Any) -> Any:
    """Plain JSON values: NumPy scalars to Python, NaN and infinities to None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- saving -------------------------------------------------------------------------------------


def write_artifact(
    directory: Path,
    fill: Callable[[Path], dict[str, Any]],
    documents: Mapping[str, str] | None = None,
    reserved: tuple[str, ...] = (),
) -> Path:
    """Write an artifact directory atomically (a sibling temp dir renamed into place):
    ``fill(staging)`` writes the model's files and returns the manifest's content; the
    ``documents`` (file name -> text, such as the model card) are written beside it, and
    every file's SHA-256 goes into the manifest. ``reserved``: names documents may not take."""
    directory = directory.expanduser()
    check_document_names(documents or {}, reserved=reserved)
    check_replaceable(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        manifest = fill(staging)
        for name, text in (documents or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        manifest["files"] = {
            path.relative_to(staging).as_posix(): sha256_file(path)
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        }
        text = json.dumps(jsonable(manifest), indent=1, allow_nan=False)
        (staging / MANIFEST).write_text(text, encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def save_model(model: Model, directory: Path, documents: Mapping[str, str] | None = None) -> Path:
    """Write ``model`` to ``directory`` atomically, with ``documents`` (such as the model
    card) beside the manifest and hashed with the rest."""

    def fill(staging: Path) -> dict[str, Any]:
        members = []
        for member in model.members:
            relative = f"learners/{member.name.replace('/', '_')}"
            info = member.learner.to_files(staging / relative)
            members.append(
                {
                    "name": member.name,
                    "family": member.learner.family,
                    "style": member.style,
                    "plan": member.plan,
                    "weight": member.weight,
                    "dir": relative,
                    "learner": info,
                    # Only a stacked member says what it reads: other manifests stay as they were.
                    **({"inputs": list(member.inputs)} if member.inputs else {}),
                }
            )
        return {
            "format": FORMAT,
            "format_version": STACKED_FORMAT_VERSION
            if any(m.inputs for m in model.members)
            else FORMAT_VERSION,
            "created_at": model.metadata.get("created_at")
            or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "spec": model.spec.to_dict(),
            "task": {
                "problem_type": model.problem_type,
                "classes": model.classes,
                "threshold": model.threshold,
            },
            "input_schema": [f.to_dict() for f in model.inputs],
            "feature_plans": {style: plan.to_dict() for style, plan in model.plans.items()},
            "members": members,
            **({"stacker": model.stacker.to_dict()} if model.stacker is not None else {}),
            **({"calibrator": model.calibrator.to_dict()} if model.calibrator is not None else {}),
            **(
                {"prediction_intervals": model.intervals.to_dict()}
                if model.intervals is not None
                else {}
            ),
            "libraries": library_versions(
                *(name for m in model.members for name in m.learner.libraries)
            ),
            # The metadata as its typed models write it: a producer's slip fails here, by name.
            **{k: v for k, v in _evidence(model).items() if k not in ("created_at", "libraries")},
        }

    return write_artifact(directory, fill, documents, reserved=("learners",))


def check_document_names(documents: Mapping[str, str], reserved: tuple[str, ...] = ()) -> None:
    """Documents (the model card) sit beside the manifest: plain file names only, none of
    the artifact's own names."""
    for name in documents:
        if "/" in name or "\\" in name or name in (MANIFEST, *reserved) or name.startswith("."):
            raise ValueError(f"a document name must be a plain file name, got {name!r}")


def check_replaceable(directory: Path) -> None:
    if not directory.exists():
        return
    if not directory.is_dir():
        raise ArtifactError(
            f"cannot write the artifact to {directory}: a file of that name exists",
            field=str(directory),
            hint="choose another output directory (--out)",
        )
    if any(directory.iterdir()) and not (directory / MANIFEST).is_file():
        raise ArtifactError(
            f"refusing to overwrite {directory}: it is not empty and not an mlwright artifact",
            field=str(directory),
            hint="choose an empty or new output directory (--out)",
        )


# -- loading ------------------------------------------------------------------------------------


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not directory.exists():
        raise ArtifactError(
            f"no model at {directory}",
            field=str(directory),
            hint="give the directory written by `mlwright run` (or a models:/NAME@ALIAS URI)",
        )
    if not path.is_file():
        raise ArtifactError(
            f"{directory} is not an mlwright artifact (no {MANIFEST})",
            field=str(directory),
            hint="give the directory written by `mlwright run`",
        )
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ArtifactError(
            f"{path} is larger than {MAX_MANIFEST_BYTES // 2**20} MB: not an mlwright manifest",
            field=str(path),
            hint="the artifact is damaged",
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(
            f"{path} is not valid JSON: {exc}", field=str(path), hint="the artifact is damaged"
        ) from exc
    except RecursionError as exc:
        raise ArtifactError(
            f"{path} nests too deeply to be an mlwright manifest",
            field=str(path),
            hint="the artifact is damaged",
        ) from exc
    if _depth(manifest) > MAX_MANIFEST_DEPTH:
        raise ArtifactError(
            f"{path} nests deeper than {MAX_MANIFEST_DEPTH} levels: not an mlwright manifest",
            field=str(path),
            hint="the artifact is damaged",
        )
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(
            f"{path} is not an mlwright manifest", field=str(path), hint="the artifact is damaged"
        )
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise ArtifactError(
            f"artifact format version {version!r} is not supported (this mlwright reads "
            f"versions {' and '.join(map(str, READABLE_VERSIONS))})",
            field=str(path),
            hint="load it with the mlwright version that wrote it, or retrain",
        )
    return manifest


def _depth(value: Any) -> int:
    """How deeply JSON ``value`` nests, without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_MANIFEST_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def path_inside(directory: Path, relative: Any, field: str) -> Path:
    """``directory / relative`` for a path the manifest names (``field`` says where), once
    it is sure to stay inside the artifact after symbolic links are resolved; an
    ``ArtifactError`` naming the path otherwise (an absolute path, ``..``, a link out)."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise ArtifactError(
            f"{field} in the manifest of {directory} is not a path: {relative!r}",
            field=field,
            hint=TAMPERED,
        )
    root = directory.resolve()
    target = (directory / relative).resolve()
    pure = PurePosixPath(relative)
    if (
        pure.is_absolute()
        or ".." in pure.parts
        or "\\" in relative
        or not target.is_relative_to(root)
    ):
        raise ArtifactError(
            f"{field} in the manifest of {directory} points outside the artifact: {relative!r}",
            field=field,
            hint=TAMPERED,
        )
    return target


def verify_files(directory: Path, files: dict[str, str]) -> None:
    """Every listed file exists with its hash; nothing unlisted, and no links, are present."""
    root = directory.resolve()
    for relative, expected in files.items():
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts or relative == MANIFEST:
            raise ArtifactError(
                f"the manifest lists an unsafe path {relative!r}",
                field=relative,
                hint="the artifact was tampered with; do not load it",
            )
        path = directory / relative
        if path.is_symlink() or not path.is_file() or not path.resolve().is_relative_to(root):
            raise ArtifactError(
                f"file {relative} listed in the manifest is missing from {directory}",
                field=relative,
                hint="the artifact is incomplete; copy the whole directory again",
            )
        actual = sha256_file(path)
        if actual != expected:
            raise ArtifactError(
                f"file {relative} does not match its SHA-256 in the manifest (tampered or damaged)",
                field=relative,
                hint="do not load this artifact; fetch it again from the registry or retrain",
            )
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_symlink():
            raise ArtifactError(
                f"the artifact contains a link ({relative}); links are refused",
                field=relative,
                hint="copy the artifact without links",
            )
        if path.is_file() and relative != MANIFEST and relative not in files:
            raise ArtifactError(
                f"the artifact contains a file the manifest does not list: {relative}",
                field=relative,
                hint="remove the file, or fetch the artifact again; unknown files are never loaded",
            )


def is_recommender(manifest: Mapping[str, Any]) -> bool:
    """Whether an artifact's manifest is a recommender's (else a table model's)."""
    task = manifest.get("task")
    return isinstance(task, dict) and task.get("problem_type") == "recommendation"


# Manifest keys that are not the model's metadata: the model is built from them.
_MODEL_KEYS = (
    "format",
    "format_version",
    "spec",
    "task",
    "input_schema",
    "feature_plans",
    "members",
    "stacker",
    "calibrator",
    "prediction_intervals",
    "files",
)


def load_model(directory: str | Path) -> Model:
    """Read and verify an artifact directory."""
    path = Path(directory).expanduser()
    manifest = read_manifest(path)
    if is_recommender(manifest):
        raise ArtifactError(
            f"{path} holds a recommender, not a model for tables",
            field=str(path),
            hint="mlwright.load reads either kind; `mlwright predict`, `report` and `serve` "
            "take recommenders, while `monitor`, `retrain` and `compare` judge table models only",
        )
    try:
        verify_files(path, manifest["files"])
        check_weights(manifest.get("members"), path)
        typed = Manifest.read(manifest, where=str(path / MANIFEST))
        _check_layers(typed, path)
        spec = spec_from_dict(typed.spec, base_dir=path, origin=f"{path}/{MANIFEST}")
        plans = {style: FeaturePlan.from_dict(plan) for style, plan in typed.feature_plans.items()}
        members = _members(path, typed.members)
        inputs = [InputField(**entry.model_dump()) for entry in typed.input_schema]
        task = typed.task
        metadata = {k: v for k, v in manifest.items() if k not in _MODEL_KEYS}
        layers = _output_layers(typed)
    except MlwrightError as exc:
        if isinstance(exc, ArtifactError):
            raise
        raise ArtifactError(
            f"artifact {path} could not be read: {exc.message}", field=str(path), hint=exc.hint
        ) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"artifact {path} has a malformed manifest ({type(exc).__name__}: {exc})",
            field=str(path),
            hint=DAMAGED,
        ) from exc
    try:
        model = Model(
            spec=spec,
            classes=task.classes,
            threshold=task.threshold,
            inputs=inputs,
            plans=plans,
            members=members,
            metadata=metadata,
            layers=layers,
        )
    except ValueError as exc:
        raise ArtifactError(
            f"artifact {path} does not hold together: {exc}",
            field=str(path),
            hint=DAMAGED,
        ) from exc
    model.metadata["path"] = str(path)
    return model


def _evidence(model: Model) -> dict[str, Any]:
    """The model's metadata, checked against the evidence's typed models and written by them."""
    checked = Evidence.parse(model.metadata, where="the model's metadata")
    return checked.model_dump(by_alias=True, exclude_unset=True)


def _members(path: Path, entries: list[MemberEntry]) -> list[Member]:
    """The manifest's members, each learner read from its folder (which must be inside the
    artifact)."""
    members = []
    for number, entry in enumerate(entries):
        cls = learner_class(entry.family)
        where = path_inside(path, entry.dir, f"members[{number}].dir")
        learner = cls.from_files(where, entry.learner)
        members.append(
            Member(
                name=entry.name,
                learner=learner,
                weight=entry.weight,
                plan=entry.plan,
                inputs=tuple(entry.inputs),
            )
        )
    return members


def _check_layers(manifest: Manifest, path: Path) -> None:
    """The members' weights and inputs hold together (see ``_layers.check_layers``), before
    any learner is read; an ArtifactError naming the member's field otherwise."""
    members = manifest.members
    if manifest.format_version < STACKED_FORMAT_VERSION:
        for number, member in enumerate(members):
            if member.inputs:
                raise ArtifactError(
                    f"artifact {path}: a member reads other members' outputs, which format "
                    f"version {manifest.format_version} does not have",
                    field=f"members[{number}].inputs",
                    hint=DAMAGED,
                )
    try:
        check_layers(
            [m.name for m in members],
            [m.weight for m in members],
            [m.inputs for m in members],
            stacker=manifest.stacker is not None,
        )
    except LayerError as exc:
        raise ArtifactError(f"artifact {path}: {exc}", field=exc.field, hint=DAMAGED) from exc


def _output_layers(manifest: Manifest) -> OutputLayers:
    """The stacker, calibrator and prediction intervals the manifest holds, if any."""
    # The entries' shapes are checked; the parts check their own rules (increasing knots,
    # a positive temperature, coefficients that match the intercepts).
    stacker = (
        Stacker.from_dict(manifest.stacker.model_dump()) if manifest.stacker is not None else None
    )
    calibrator = (
        Calibrator.from_dict(manifest.calibrator.model_dump())
        if manifest.calibrator is not None
        else None
    )
    intervals = (
        PredictionIntervals.from_dict(manifest.prediction_intervals.model_dump())
        if manifest.prediction_intervals is not None
        else None
    )
    return OutputLayers(stacker, calibrator, intervals)


def check_weights(members: Any, path: Path) -> None:
    """Ensemble weights must be finite numbers >= 0 with a finite sum (weights of 1e308
    would sum to infinity and turn every probability into 0/0). Which members may weigh 0
    is checked with their inputs (``_check_layers``)."""
    if not isinstance(members, list) or not members:
        raise ArtifactError(f"artifact {path} lists no members", field="members", hint=DAMAGED)
    weights = []
    for number, entry in enumerate(members):
        weight = entry.get("weight") if isinstance(entry, dict) else None
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise ArtifactError(
                f"member {number} of artifact {path} has the weight {weight!r}; weights are "
                "finite numbers >= 0",
                field=f"members[{number}].weight",
                hint=DAMAGED,
            )
        weights.append(float(weight))
    if not math.isfinite(sum(weights)):
        raise ArtifactError(
            f"the member weights of artifact {path} do not have a finite sum",
            field="members",
            hint=DAMAGED,
        )


def manifest_digest(directory: Path) -> str:
    """SHA-256 of the manifest, which covers every other file through their hashes."""
    return sha256_file(directory / MANIFEST)
