"""A recommender as an artifact directory, in the same format family as tabular models:
``manifest.json`` with the SHA-256 of every other file, arrays as ``.npz`` read with
``allow_pickle=False``, the ranker as LightGBM's text model. Loading verifies every hash
and refuses unknown files; nothing is unpickled (ids are stored as integer or text arrays).
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
    is_recommender,
    library_versions,
    read_manifest,
    verify_files,
    write_artifact,
)
from mlwright.errors import ArtifactError
from mlwright.recommend._candidates import ItemFeatures, ItemStats, UserFeatures
from mlwright.recommend._generators import GENERATORS
from mlwright.recommend._model import Recommender

PROBLEM_TYPE = "recommendation"


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
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def save_recommender(
    model: Recommender, directory: str | Path, documents: Mapping[str, str] | None = None
) -> Path:
    """Write ``model`` to ``directory`` atomically, with ``documents`` (the model card)."""

    def fill(staging: Path) -> dict[str, Any]:
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
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "task": {"problem_type": PROBLEM_TYPE},
            "recommender": {
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
            },
            "libraries": library_versions(),
            **{k: v for k, v in model.metadata.items() if k not in ("path", "libraries")},
        }

    reserved = ("generators", "ranker.txt", "users.npz", "items.npz")
    return write_artifact(Path(directory), fill, documents, reserved=reserved)


def load_recommender(directory: str | Path) -> Recommender:
    """Read and verify a recommender artifact."""
    import lightgbm as lgb

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
        verify_files(path, manifest["files"])
        info = manifest["recommender"]
        generators = {}
        for entry in info["generators"]:
            cls = GENERATORS[entry["kind"]]
            arrays = _load_npz(path / "generators" / f"{entry['name']}.npz")
            generators[entry["name"]] = cls.from_arrays(entry["params"], arrays)
        ranker = (
            lgb.Booster(model_str=(path / info["ranker"]).read_text(encoding="utf-8"))
            if info["ranker"]
            else None
        )
        users = _load_npz(path / "users.npz")
        items = _load_npz(path / "items.npz")
        n_items = len(items["ids"])
        seen = sp.csr_matrix(
            (
                users["seen.order"],
                users["seen.indices"],
                users["seen.indptr"],
            ),
            shape=(len(users["ids"]), n_items),
        )
        stats = ItemStats.from_arrays(
            {k.removeprefix("stats."): v for k, v in items.items() if k.startswith("stats.")}
        )
        described = info["item_features"]
        features = (
            ItemFeatures.from_arrays(
                described["numeric"],
                described["tags"],
                {
                    k.removeprefix("features."): v
                    for k, v in items.items()
                    if k.startswith("features.")
                },
            )
            if described is not None
            else None
        )
        user_names = info.get("user_features")
        user_features = (
            UserFeatures.from_arrays(user_names, users) if user_names is not None else None
        )
        metadata = {
            k: v
            for k, v in manifest.items()
            if k not in ("format", "format_version", "task", "recommender", "files")
        }
        model = Recommender(
            user_ids=users["ids"],
            item_ids=items["ids"],
            generators=generators,
            ranker=ranker,
            chosen=info["chosen"],
            stats=stats,
            item_features=features,
            seen=seen,
            depth=int(info["depth"]),
            metadata=metadata,
            user_features=user_features,
        )
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError, OSError, lgb.basic.LightGBMError) as exc:
        raise ArtifactError(
            f"artifact {path} has a malformed recommender ({type(exc).__name__}: {exc})",
            field=str(path),
            hint="the artifact is damaged; fetch it again or retrain",
        ) from exc
    model.metadata["path"] = str(path)
    return model
