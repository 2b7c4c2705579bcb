"""An artifact registered (again) in a test's MLflow store, an alias moved, a registered
version's files damaged, and waiting for a service to notice: what the hot-swap tests of
both services stand on."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlwright.artifact import manifest_digest
from mlwright.registry import CHAMPION, log_and_register, resolve


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
