"""A recommender as an artifact directory, in the same format family as tabular models:
``manifest.json`` with the SHA-256 of every other file, arrays as ``.npz`` read with
``allow_pickle=False``, the ranker as LightGBM's text model. Loading verifies every hash
and refuses unknown files; nothing is unpickled (ids are stored as integer or text arrays).
Every path the manifest names must stay inside the artifact and be a verified file, the
ranker's text is checked before LightGBM reads it, and any error reading a file is an
``ArtifactError`` naming it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlwright.artifact import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    is_recommender,
    library_versions,
    path_inside,
    read_manifest,
    verify_files,
    write_artifact,
)
from mlwright.errors import ArtifactError
from mlwright.learners._base import DAMAGED_HINT as DAMAGED
from mlwright.learners._lightgbm import read_model_text
from mlwright.recommend._candidates import (
    FeatureSources,
    ItemFeatures,
    ItemStats,
    UserFeatures,
)
from mlwright.recommend._evidence import (
    GeneratorEntry,
    RecommenderEvidence,
    RecommenderPart,
    RecommenderParts,
)
from mlwright.recommend._generators import GENERATORS, Generator
from mlwright.recommend._model import Recommender, Scorers

PROBLEM_TYPE = "recommendation"
# What a saved recommender needs besides mlwright's core libraries: sparse matrices, the
# generators' library and the ranker's.
LIBRARIES = ("scipy", "implicit", "lightgbm")


def _ids(values: np.ndarray) -> np.ndarray:
    """Ids as an array npz stores without pickle: int64, or fixed-width text."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    return np.asarray([str(v) for v in values], dtype=np.str_)


def _save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    plain: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
    with path.open("wb") as handle:
        np.savez(handle, **plain)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz; any error reading it (a damaged zip, a lying header) is an
    ArtifactError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:  # zipfile, zlib and NumPy each raise their own
        raise ArtifactError(
            f"{path} could not be read ({type(exc).__name__}: {str(exc)[:200]})",
            field=str(path),
            hint=DAMAGED,
        ) from exc


def _listed(directory: Path, files: Mapping[str, str], relative: Any, field: str) -> Path:
    """A file the manifest names: inside the artifact and one whose hash was verified."""
    path = path_inside(directory, relative, field)
    if relative not in files:
        raise ArtifactError(
            f"{field} names {relative!r}, which is not a verified file of {directory}",
            field=field,
            hint=DAMAGED,
        )
    return path


# Manifest keys that are not the recommender's metadata: the model is built from them.
_MODEL_KEYS = ("format", "format_version", "task", "recommender", "files")


def save_recommender(
    model: Recommender, directory: str | Path, documents: Mapping[str, str] | None = None
) -> Path:
    """Write ``model`` to ``directory`` atomically, with ``documents`` (the model card).
    Its metadata is written through the evidence's typed models, checked before any file."""
    metadata = _written_metadata(model.metadata)

    def fill(staging: Path) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": metadata["created_at"],
            "task": {"problem_type": PROBLEM_TYPE},
            "recommender": _write_parts(model, staging),
            **metadata,
        }

    reserved = ("generators", "ranker.txt", "users.npz", "items.npz")
    return write_artifact(Path(directory), fill, documents, reserved=reserved)


def _written_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` as the manifest stores it (the libraries of this save, a creation time
    when the fit recorded none, no ``path``), checked and written by the typed models."""
    stored = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "libraries": library_versions(*LIBRARIES),
        **{k: v for k, v in metadata.items() if k not in ("path", "libraries")},
    }
    return RecommenderEvidence.parse(stored, where="the recommender's metadata").written()


def _write_parts(model: Recommender, staging: Path) -> dict[str, Any]:
    """Write the generators, the ranker and the users' and items' arrays into
    ``staging``; the manifest's description of them."""
    (staging / "generators").mkdir()
    generators = []
    for name, generator in model.generators.items():
        _save_npz(staging / "generators" / f"{name}.npz", generator.arrays())
        generators.append({"name": name, "kind": generator.kind, "params": generator.params})
    if model.ranker is not None:
        (staging / "ranker.txt").write_text(model.ranker.model_to_string(), encoding="utf-8")
    seen = model.seen
    _save_npz(
        staging / "users.npz",
        {
            "ids": _ids(model.user_ids),
            "seen.indices": seen.indices.astype(np.int32),
            "seen.indptr": seen.indptr.astype(np.int64),
            "seen.order": seen.data.astype(np.float32),
            **(model.user_features.arrays() if model.user_features is not None else {}),
        },
    )
    item_arrays = {
        "ids": _ids(model.item_ids),
        **{f"stats.{k}": v for k, v in model.stats.arrays().items()},
    }
    features = model.item_features
    if features is not None:
        item_arrays.update({f"features.{k}": v for k, v in features.arrays().items()})
    _save_npz(staging / "items.npz", item_arrays)
    return {
        "chosen": model.chosen,
        "depth": model.depth,
        "generators": generators,
        "ranker": "ranker.txt" if model.ranker is not None else None,
        "user_features": list(model.user_features.columns)
        if model.user_features is not None
        else None,
        "item_features": {"numeric": list(features.numeric), "tags": list(features.tags)}
        if features is not None
        else None,
    }


def load_recommender(directory: str | Path) -> Recommender:
    """Read and verify a recommender artifact; its metadata is checked by the evidence's
    typed models (a missing or mistyped field is an ArtifactError naming its path)."""
    path = Path(directory).expanduser()
    manifest = read_manifest(path)
    if not is_recommender(manifest):
        raise ArtifactError(
            f"{path} holds a {manifest.get('task', {}).get('problem_type')!r} model, not a "
            "recommender",
            field=str(path),
            hint="load it with mlwright.load, which reads either kind",
        )
    try:
        files = manifest["files"]
        verify_files(path, files)
        metadata = {k: v for k, v in manifest.items() if k not in _MODEL_KEYS}
        RecommenderEvidence.parse(metadata, where=str(path / MANIFEST))
        part = RecommenderParts.read(manifest, where=str(path / MANIFEST))
        model = _recommender(path, files, part, metadata)
    except ArtifactError:
        raise
    except Exception as exc:  # a malformed manifest or arrays that do not fit together
        raise ArtifactError(
            f"artifact {path} has a malformed recommender ({type(exc).__name__}: {str(exc)[:300]})",
            field=str(path),
            hint=DAMAGED,
        ) from exc
    model.metadata["path"] = str(path)
    return model


def _recommender(
    path: Path, files: Mapping[str, str], info: RecommenderPart, metadata: dict[str, Any]
) -> Recommender:
    """The recommender the manifest's ``recommender`` entry describes, from its files."""
    generators = _generators(path, files, info.generators)
    ranker = _ranker(path, files, info.ranker) if info.ranker else None
    users = _load_npz(_listed(path, files, "users.npz", "users.npz"))
    items = _load_npz(_listed(path, files, "items.npz", "items.npz"))
    seen = _seen(users, n_items=len(items["ids"]))
    return Recommender(
        user_ids=users["ids"],
        item_ids=items["ids"],
        scorers=Scorers(generators, ranker, info.chosen),
        sources=_feature_sources(info, users, items),
        seen=seen,
        depth=info.depth,
        metadata=metadata,
    )


def _generators(
    path: Path, files: Mapping[str, str], entries: list[GeneratorEntry]
) -> dict[str, Generator]:
    """Each generator the manifest lists, read from its verified .npz."""
    generators = {}
    for number, entry in enumerate(entries):
        cls = GENERATORS[entry.kind]
        name = entry.name
        where = f"recommender.generators[{number}].name"
        file = _listed(path, files, f"generators/{name}.npz", where)
        try:
            generators[name] = cls.from_arrays(entry.params, _load_npz(file))
        except ArtifactError:
            raise
        except Exception as exc:
            raise ArtifactError(
                f"generator {name} in {file} does not hold together "
                f"({type(exc).__name__}: {str(exc)[:200]})",
                field=str(file),
                hint=DAMAGED,
            ) from exc
    return generators


def _seen(users: Mapping[str, np.ndarray], *, n_items: int) -> sp.csr_matrix:
    """The training users' items (users x items, the order met as data), checked."""
    seen = sp.csr_matrix(
        (
            users["seen.order"],
            users["seen.indices"],
            users["seen.indptr"],
        ),
        shape=(len(users["ids"]), n_items),
    )
    seen.check_format(full_check=True)  # indices in range: SciPy's kernels trust them
    return seen


def _feature_sources(
    info: RecommenderPart, users: Mapping[str, np.ndarray], items: Mapping[str, np.ndarray]
) -> FeatureSources:
    """The item facts, and the item and user features the manifest describes."""
    stats = ItemStats.from_arrays(
        {k.removeprefix("stats."): v for k, v in items.items() if k.startswith("stats.")}
    )
    described = info.item_features
    features = (
        ItemFeatures.from_arrays(
            described.numeric,
            described.tags,
            {k.removeprefix("features."): v for k, v in items.items() if k.startswith("features.")},
        )
        if described is not None
        else None
    )
    user_names = info.user_features
    user_features = UserFeatures.from_arrays(user_names, users) if user_names is not None else None
    return FeatureSources(stats, features, user_features)


def _ranker(path: Path, files: Mapping[str, str], relative: Any) -> Any:
    """The LightGBM ranker, its text checked before LightGBM reads it."""
    import lightgbm as lgb

    file = _listed(path, files, relative, "recommender.ranker")
    try:
        return lgb.Booster(model_str=read_model_text(file, n_features=None, n_outputs=1))
    except Exception as exc:  # NativeFileError, LightGBMError, ...
        raise ArtifactError(
            f"the ranker {file} is refused: {str(exc)[:300]}",
            field=str(file),
            hint=DAMAGED,
        ) from exc
