"""The HTTP service of a tabular model: one model from an artifact or the registry, its
request type (pydantic, built from the artifact's input schema: the check, the OpenAPI
schema and the 422) and every answer logged; the rest is the serving core (``_core``).

The single-record path goes from the request bytes (orjson) through the record check to
``Model.predict_record`` and back to bytes, without a DataFrame. Errors are JSON with the
field they concern; a client's input never produces a 5xx.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mlwright.artifact import Model, jsonable, manifest_digest, same_task, smoke_test
from mlwright.errors import InputError, SpecError
from mlwright.registry import ArtifactCache
from mlwright.serve._core import (
    CHALLENGER_MODES,
    MAX_ERROR_BYTES,
    ChallengerMode,
    Described,
    DisconnectedError,
    Reloading,
    ServeSettings,
    check_key,
    error_body,
    flag_shutdown_on_signals,
    measured,
    read_body,
    send_json,
    service_app,
)
from mlwright.serve._log import LogEntry
from mlwright.serve._openapi import openapi_schema
from mlwright.serve._records import Records, RecordSchema

logger = logging.getLogger("mlwright.serve")

# Names callers and tests import from this module, from before the core was shared.
__all__ = [
    "CHALLENGER_MODES",
    "MAX_ERROR_BYTES",
    "ChallengerMode",
    "Loaded",
    "ServeSettings",
    "Service",
    "ServiceApp",
    "create_app",
    "served_identity",
]
_error_body = error_body
_flag_shutdown_on_signals = flag_shutdown_on_signals


@dataclass(frozen=True)
class Loaded:
    """A model being served, with what identifies it in every answer."""

    model: Model
    name: str
    version: str
    source: str
    schema: RecordSchema
    loaded_at: dt.datetime
    directory: Path | None = None  # where it was loaded from (a registry download is cached)


def served_identity(model: Model, reference: str) -> tuple[str, str]:
    """The model name and version the service answers with (and logs) for ``model``,
    loaded from ``reference``: the registry's, or for a path the spec's name and the
    first 12 hex digits of the manifest's SHA-256."""
    if model.registry:
        return model.registry["model_name"], str(model.registry["version"])
    return model.spec.task_name, "sha256:" + manifest_digest(Path(reference).expanduser())[:12]


class Service(Reloading[Loaded]):
    """The state behind the app: the model served now, the log, readiness, metrics."""

    def __init__(self, settings: ServeSettings, cache: ArtifactCache | None = None):
        super().__init__(settings, cache)
        self.challenger: Loaded | None = None
        self._draw = random.Random()

    # -- loading -------------------------------------------------------------------------------

    def load(self, reference: str) -> Loaded:
        """Load, verify (every file's hash) and smoke-test a model, in a child process first
        and then here; nothing is swapped."""
        model, directory = self.open_checked(reference)
        if not isinstance(model, Model):
            raise SpecError(
                f"{reference} is a recommender, not a model for tables",
                field="MODEL",
                hint="serve it on its own: `mlwright serve` chooses the endpoints by the artifact",
            )
        name, version = served_identity(model, reference)
        schema = RecordSchema(
            model.inputs,
            unknown=self.settings.unknown_fields,
            max_records=self.settings.max_records,
        )
        smoke_test(model)  # again, here: a record of missing values reaches every learner
        return Loaded(model, name, version, reference, schema, dt.datetime.now(dt.UTC), directory)

    def in_use(self) -> list[Path | None]:
        challenger = self.challenger
        return [*super().in_use(), None if challenger is None else challenger.directory]

    def load_challenger(self) -> Loaded | None:
        """The challenger of the settings, loaded, verified and checked against the served
        model's task (same inputs, classes and problem type); None when there is none."""
        settings = self.settings
        if settings.challenger is None:
            return None
        if settings.challenger_mode not in CHALLENGER_MODES:
            raise SpecError(
                f"challenger mode {settings.challenger_mode!r} is not one of "
                + ", ".join(CHALLENGER_MODES),
                field="--challenger-mode",
            )
        if not 0.0 < settings.challenger_share < 1.0:
            raise SpecError(
                f"challenger share {settings.challenger_share} is not between 0 and 1",
                field="--challenger-share",
            )
        loaded = self.load(settings.challenger)
        current = self.current
        if current is not None:
            same_task(current.model, loaded.model)
        return loaded

    def answering(self) -> Loaded:
        """The model that answers this request: the served one, or in a split the
        challenger for its share of the requests."""
        challenger = self.challenger
        if (
            challenger is not None
            and self.settings.challenger_mode == "split"
            and self._draw.random() < self.settings.challenger_share
        ):
            return challenger
        return self.serving()

    def shadow(self, records: Records, answers: list[dict[str, Any]]) -> None:
        """Score the records with the shadow challenger and log its answers (endpoint
        "shadow", each naming the answer it shadows); after the client has its answer, and
        never at its expense: a failure is logged, not raised."""
        challenger = self.challenger
        if challenger is None or self.settings.challenger_mode != "shadow":
            return
        started = time.perf_counter()
        try:
            shadowed = [
                {
                    "prediction_id": uuid.uuid4().hex,
                    **challenger.model.predict_record(record),
                    "shadow_of": answer["prediction_id"],
                }
                for record, answer in zip(records.records, answers, strict=True)
            ]
            self.record_log(challenger, "shadow", records, shadowed, started)
            self.metrics.shadowed.inc(len(shadowed))
        except Exception:
            logger.exception("the shadow model failed (the client's answer was not affected)")
            self.metrics.shadow_failures.inc()

    async def started(self) -> None:
        """Load the settings' challenger (unless one was given) beside the served model."""
        if self.settings.challenger is not None and self.challenger is None:
            self.challenger = await asyncio.to_thread(self.load_challenger)
            self.cache.retain(self.in_use())

    async def predict(self, loaded: Loaded, records: Records, started: float) -> bytes:
        """Predict one record (a JSON object) or a list of records."""
        model = loaded.model
        answers = []
        for i, record in enumerate(records.records):
            try:
                answer = model.predict_record(record)
            except InputError as exc:
                if not records.single:
                    exc.field = f"[{i}].{exc.field}" if exc.field else f"[{i}]"
                raise
            answers.append({"prediction_id": uuid.uuid4().hex, **answer})
        self.record_log(loaded, "predict", records, answers, started)
        self.metrics.records.inc(len(answers))
        if self.challenger is not None and self.settings.challenger_mode == "shadow":
            # Runs once this request's task yields, i.e. after its answer is written.
            asyncio.get_running_loop().call_soon(self.shadow, records, answers)
        return _shaped(loaded, records, answers)

    async def explain(self, loaded: Loaded, records: Records, started: float) -> bytes:
        """Each input's additive contribution to the prediction of each record."""
        frame = records.frame(loaded.schema.fields)
        table = await asyncio.to_thread(loaded.model.explain, frame)
        names = [f.name for f in loaded.schema.fields if f.name in table.columns]
        answers = []
        for row in table.to_dict("records"):
            item: dict[str, Any] = {
                "prediction_id": uuid.uuid4().hex,
                "prediction": row["prediction"],
                "base": row["base"],
                "contributions": {n: row[n] for n in names},
            }
            if "class" in row:
                item["class"] = row["class"]
            answers.append(item)
        self.record_log(loaded, "explain", records, answers, started)
        return _shaped(loaded, records, answers)

    def metadata(self) -> dict[str, Any]:
        loaded = self.serving()
        model = loaded.model
        return {
            **_identity(loaded),
            "source": loaded.source,
            "loaded_at": loaded.loaded_at.isoformat(),
            "problem_type": model.problem_type,
            "target": model.spec.task.target,
            "classes": model.classes,
            "threshold": model.threshold,
            "input_schema": model.input_schema,
            "request_schema": loaded.schema.record_schema(),
            "metrics": jsonable(model.metrics),
            "last_reload_error": self.last_reload_error,
            "challenger": _challenger_info(self),
        }

    # -- answering -----------------------------------------------------------------------------

    def record_log(
        self,
        loaded: Loaded,
        endpoint: str,
        records: Records,
        answers: list[dict[str, Any]],
        started: float,
    ) -> None:
        if self.log is None:
            return
        now = dt.datetime.now(dt.UTC)
        latency_ms = (time.perf_counter() - started) * 1000.0
        for record, answer in zip(records.records, answers, strict=True):
            self.log.append(
                LogEntry(
                    prediction_id=answer["prediction_id"],
                    created_at=now,
                    model_name=loaded.name,
                    model_version=loaded.version,
                    endpoint=endpoint,
                    latency_ms=latency_ms,
                    inputs=orjson.dumps(record).decode(),
                    outputs=orjson.dumps(answer).decode(),
                )
            )


class ServiceApp(FastAPI):
    """FastAPI, with POST /predict and /explain answered before its middleware stack: on
    the single-record path that machinery (exception and error middlewares, request and
    response objects) cost as much as the model. Their OpenAPI entries are the record
    type's (``_openapi``), as FastAPI would write them for a body of that type."""

    scoring: dict[str, ASGIApp]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.scoring.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


TABULAR = Described(
    title="mlwright model service",
    description="Predictions from one mlwright model; every answer is logged.",
    what="a model",
    metadata_doc="The model served: name, version, task, input schema, holdout metrics.",
)


def create_app(
    settings: ServeSettings,
    loaded: Loaded | None = None,
    challenger: Loaded | None = None,
    *,
    cache: ArtifactCache | None = None,
) -> ServiceApp:
    """The ASGI app; the model loads at startup (``/health/ready`` says when), unless
    ``loaded`` (from ``Service.load``) is given; the same for the settings' challenger and
    ``challenger``. ``cache`` holds their registry downloads (the app deletes it at
    shutdown)."""
    service = Service(settings, cache)
    app = service_app(service, TABULAR, ServiceApp)
    if loaded is not None:
        service.install(loaded)
    service.challenger = challenger
    app.scoring = {
        "/predict": scoring_handler(service, "predict", service.predict),
        "/explain": scoring_handler(service, "explain", service.explain),
    }
    for path, handler in app.scoring.items():
        # Reached only by other methods (405) and by mounts; POST is dispatched above.
        app.router.routes.append(Route(path, handler, methods=["POST"], include_in_schema=False))
    app.openapi = lambda: openapi_schema(app, service.current)  # type: ignore[method-assign]
    return app


Work = Callable[[Loaded, Records, float], Awaitable[bytes]]


def scoring_handler(service: Service, endpoint: str, work: Work) -> ASGIApp:
    """A plain ASGI handler for POST /ENDPOINT: key, model, body and records checked (or
    refused), then ``work`` with the model to answer with, the records and when the work
    began; counted and timed as every endpoint is."""
    settings = service.settings
    what = "/" + endpoint

    async def accepted_work(scope: Scope, receive: Receive) -> bytes:
        if settings.api_key is not None:
            check_key(Headers(scope=scope), settings.api_key, what)
        loaded = service.answering() if endpoint == "predict" else service.serving()
        started = time.perf_counter()
        body = await read_body(scope, receive, settings.max_body_bytes)
        return await work(loaded, loaded.schema.parse(body), started)

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, body = await measured(
                service.metrics, endpoint, lambda: accepted_work(scope, receive)
            )
        except DisconnectedError:
            return
        await send_json(send, status, body)

    return handle


def _identity(loaded: Loaded) -> dict[str, str]:
    return {"model_name": loaded.name, "model_version": loaded.version}


def _shaped(loaded: Loaded, records: Records, answers: list[dict[str, Any]]) -> bytes:
    if records.single:
        data: Any = {**answers[0], **_identity(loaded)}
    else:
        data = {**_identity(loaded), "predictions": answers}
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)


def _challenger_info(service: Service) -> dict[str, Any] | None:
    challenger = service.challenger
    if challenger is None:
        return None
    settings = service.settings
    return {
        "model_name": challenger.name,
        "model_version": challenger.version,
        "source": challenger.source,
        "mode": settings.challenger_mode,
        "share": settings.challenger_share if settings.challenger_mode == "split" else None,
    }
