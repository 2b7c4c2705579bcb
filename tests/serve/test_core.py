"""The serving core both services share (serve/_core.py): one lifespan, one hot swap, one
set of health, metadata, metrics and admin routes, whichever artifact is served."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlwright.errors import ArtifactError
from mlwright.serve import ServeSettings, create_app, create_recommend_app
from mlwright.serve._core import Described, Reloading, service_app, serving_lifespan

SHARED = {"/health/live", "/health/ready", "/metrics", "/metadata", "/admin/reload"}


@dataclass(frozen=True)
class Served:
    name: str
    version: str
    loaded_at: dt.datetime
    directory: Path | None = None


class Toy(Reloading[Served]):
    """A service whose artifact is its reference's text: "bad..." fails its smoke test."""

    def load(self, reference: str) -> Served:
        if reference.startswith("bad"):
            raise ArtifactError(f"{reference} failed its smoke test", field="MODEL")
        return Served("toy", reference, dt.datetime.now(dt.UTC))

    def metadata(self) -> dict[str, Any]:
        served = self.serving()
        return {"model_version": served.version, "last_reload_error": self.last_reload_error}


def paths(app: FastAPI) -> set[str]:
    return {getattr(route, "path", "") for route in app.routes}


def test_both_services_are_built_on_the_one_core() -> None:
    """Neither app loads anything before its lifespan starts: their shape is the core's."""
    settings = ServeSettings(model="unused", log=None)
    for app in (create_app(settings), create_recommend_app(settings)):
        assert paths(app) >= SHARED
        assert isinstance(app.state.service, Reloading)
    assert "/predict" in paths(create_app(settings))
    assert "/recommend" in paths(create_recommend_app(settings))


def test_a_failed_reload_keeps_the_served_model_and_says_why() -> None:
    settings = ServeSettings(model="v1", log=None, admin_key="adm")
    service = Toy(settings)
    app = service_app(service, Described("toy", "a toy", "the toy", "The toy served."), FastAPI)
    admin = {"X-API-Key": "adm"}
    with TestClient(app) as c:
        assert c.get("/health/ready").json()["model_version"] == "v1"
        # Reload reads only registry URIs from a client; the reload itself is the core's.
        refused = c.post("/admin/reload", json={"model": "bad"}, headers=admin)
        assert refused.status_code == 422
    service = Toy(ServeSettings(model="v1", log=None))
    app = service_app(service, Described("toy", "a toy", "the toy", "The toy served."), FastAPI)
    with TestClient(app) as c:
        with pytest.raises(ArtifactError):
            c.portal.call(service.reload, "bad-v2")  # type: ignore[union-attr]
        assert c.get("/metadata").json() == {
            "model_version": "v1",
            "last_reload_error": "ArtifactError: bad-v2 failed its smoke test",
        }
        assert c.get("/health/ready").status_code == 200
        metrics = c.get("/metrics").text
        assert 'mlwright_model_reload_failures_total{reason="ArtifactError"} 1.0' in metrics
        assert 'mlwright_model_info{name="toy",version="v1"} 1.0' in metrics
        assert c.portal.call(service.reload, "v2")["swapped"]  # type: ignore[union-attr]
        assert c.get("/metadata").json()["model_version"] == "v2"
    assert service.shutting_down  # the lifespan's shutdown ran


def test_the_lifespan_refuses_to_start_on_a_model_that_fails() -> None:
    service = Toy(ServeSettings(model="bad-v1", log=None))

    async def start() -> None:
        async with serving_lifespan(service):
            pass

    with pytest.raises(ArtifactError):
        asyncio.run(start())
    assert service.current is None


def test_the_reloading_base_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Reloading(ServeSettings(model="x"))  # type: ignore[abstract]
