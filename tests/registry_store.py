"""An artifact registered (again) in a test's MLflow store, an alias moved, a registered
version's files damaged, and waiting for a service to notice: what the hot-swap tests of
both services stand on."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlwright.artifact import manifest_digest
from mlwright.registry import CHAMPION, MANIFEST_TAG, log_and_register, resolve


def register(artifact: Path, store: str, name: str) -> str:
    """Register ``artifact`` as a new version of ``name``; its version."""
    registration = log_and_register(
        artifact_dir=artifact,
        manifest_sha256=manifest_digest(artifact),
        experiment=name,
        model_name=name,
        params={},
        metrics={},
        tags={},
        uri=store,
    )
    return registration.version


def register_remote(artifact: Path, store: str, name: str) -> str:
    """Register ``artifact`` as a new version of ``name`` whose source is not a local
    directory (``runs:/RUN/model``, which MLflow downloads as from an object store)."""
    from mlflow import MlflowClient

    carrier = register(artifact, store, name)  # logs the run that carries the files
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    run_id = client.get_model_version(name, carrier).run_id
    version = client.create_model_version(
        name,
        source=f"runs:/{run_id}/model",
        run_id=run_id,
        tags={MANIFEST_TAG: manifest_digest(artifact)},
    )
    return str(version.version)


def point_champion(store: str, version: str, name: str) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=store).set_registered_model_alias(name, CHAMPION, version)


def damage(store: str, name: str, version: str) -> None:
    """Change one file of a registered version after registration (its hash no longer
    matches the manifest)."""
    path = resolve(f"models:/{name}/{version}", uri=store).path
    target = next(p for p in sorted(path.rglob("*")) if p.is_file() and p.name != "manifest.json")
    target.write_bytes(target.read_bytes() + b" ")


def wait_for(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail("condition not met in time")
