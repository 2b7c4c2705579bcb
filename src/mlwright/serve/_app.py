"""The HTTP service: one model from an artifact or the registry, its request schema derived
from the artifact's input schema, every answer logged.

The single-record path goes from the request bytes (orjson) through the schema check to
``Model.predict_record`` and back to bytes, without a DataFrame. Errors are JSON with the
field they concern; a client's input never produces a 5xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import logging
import random
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Generic, Literal, Protocol, TypeVar

import orjson
import prometheus_client
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mlwright.artifact import (
    MANIFEST,
    Model,
    jsonable,
    load_in_child,
    manifest_digest,
    same_task,
    sha256_file,
    smoke_test,
)
from mlwright.errors import (
    InputError,
    MlwrightError,
    ModelNotFoundError,
    RegistryError,
    RequestError,
    ServiceUnavailableError,
    SpecError,
)
from mlwright.recommend import Recommender
from mlwright.registry import (
    ArtifactCache,
    is_registry_uri,
    load_located,
    locate,
    parse_model_uri,
    resolve_version,
)
from mlwright.serve._log import GRACE_SECONDS, STALL_SECONDS, LogEntry, PredictionLog
from mlwright.serve._openapi import JSON, openapi_schema
from mlwright.serve._records import Records, RecordSchema, UnknownFields, echo, too_deep

logger = logging.getLogger("mlwright.serve")


ChallengerMode = Literal["shadow", "split"]
CHALLENGER_MODES: tuple[ChallengerMode, ...] = ("shadow", "split")


@dataclass(frozen=True)
class ServeSettings:
    """How the service runs (``mlwright serve`` options; see docs/serving.md)."""

    model: str  # an artifact directory, or models:/NAME@ALIAS (followed) or models:/NAME/N
    tracking_uri: str | None = None
    log: str | None = "sqlite:///predictions.db"  # None: no prediction log
    unknown_fields: UnknownFields = "reject"
    max_body_bytes: int = 1 << 20
    max_records: int = 1000
    poll_seconds: float = 30.0  # how often a models:/NAME@ALIAS is checked for a new version
    api_key: str | None = None  # required on /predict and /explain when set
    admin_key: str | None = None  # /admin/* refuse every request unless set
    log_flush_seconds: float = 0.05
    # A log write waiting longer than this turns readiness to 503; at shutdown, what the log
    # has not written within log_grace_seconds goes to its spill file (docs/serving.md).
    log_stall_seconds: float = STALL_SECONDS
    log_grace_seconds: float = GRACE_SECONDS
    # A second model beside the served one: "shadow" scores every request after the answer
    # is sent (logged, never returned); "split" answers challenger_share of the requests.
    challenger: str | None = None
    challenger_mode: ChallengerMode = "shadow"
    challenger_share: float = 0.1


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


@dataclass
class _Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "mlwright_requests", "Requests answered.", ["endpoint", "status"], registry=r
        )
        self.seconds = Histogram(
            "mlwright_request_seconds",
            "Time to answer, from the request body read to the response built.",
            ["endpoint"],
            buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
            registry=r,
        )
        self.records = Counter("mlwright_records_scored", "Records scored.", registry=r)
        self.swaps = Counter(
            "mlwright_model_swaps", "Model reloads, by result.", ["result"], registry=r
        )
        self.reload_failures = Counter(
            "mlwright_model_reload_failures",
            "Reloads that failed (the old model served on), by the error's type.",
            ["reason"],
            registry=r,
        )
        self.model_info = Gauge(
            "mlwright_model_info", "The model served (value 1).", ["name", "version"], registry=r
        )
        self.log_pending = Gauge(
            "mlwright_log_pending",
            "Answers not yet written to the prediction log (queued or being written).",
            registry=r,
        )
        self.log_written = Gauge(
            "mlwright_log_written", "Answers written to the prediction log.", registry=r
        )
        self.log_oldest_seconds = Gauge(
            "mlwright_log_oldest_seconds",
            "Age of the oldest answer not yet written to the prediction log (0: none).",
            registry=r,
        )
        self.log_stalled = Gauge(
            "mlwright_log_stalled",
            "1 while the prediction log is failing or stalled (readiness answers 503).",
            registry=r,
        )
        self.log_write_errors = Gauge(
            "mlwright_log_write_errors", "Failed writes to the log (each retried).", registry=r
        )
        self.shadowed = Counter(
            "mlwright_shadow_records", "Records scored by the shadow model.", registry=r
        )
        self.shadow_failures = Counter(
            "mlwright_shadow_failures", "Requests the shadow model failed on.", registry=r
        )


def served_identity(model: Model, reference: str) -> tuple[str, str]:
    """The model name and version the service answers with (and logs) for ``model``,
    loaded from ``reference``: the registry's, or for a path the spec's name and the
    first 12 hex digits of the manifest's SHA-256."""
    if model.registry:
        return model.registry["model_name"], str(model.registry["version"])
    return model.spec.task_name, "sha256:" + manifest_digest(Path(reference).expanduser())[:12]


def readiness(shutting_down: bool, loaded: bool, log: PredictionLog | None) -> tuple[bool, str]:
    """Whether a service takes traffic, and why not: shutting down, no model yet, or a
    prediction log that cannot keep what it would acknowledge."""
    if shutting_down:
        return False, "shutting down"
    if not loaded:
        return False, "no model loaded yet"
    problem = None if log is None else log.problem
    if problem is not None:
        return False, problem
    return True, "ready"


def add_health_routes(
    app: FastAPI,
    metrics: _Metrics,
    ready_now: Callable[[], tuple[bool, str]],
    identity: Callable[[], dict[str, str] | None],
    what: str,
) -> None:
    """GET /health/live, /health/ready (200 once ``what`` is loaded and verified, 503
    before and from shutdown on, with the identity of what is served) and /metrics."""

    async def live() -> Response:
        """The process answers."""
        return _json({"status": "live"})

    async def ready() -> Response:
        ok, why = ready_now()
        body: dict[str, Any] = {"status": "ready" if ok else "not ready", "reason": why}
        body.update(identity() or {})
        return _json(body, 200 if ok else 503)

    ready.__doc__ = f"200 once {what} is loaded and verified; 503 before, and from shutdown on."

    async def prometheus() -> Response:
        """Prometheus metrics of this process."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.get("/health/live", tags=["health"])(live)
    app.get("/health/ready", tags=["health"])(ready)
    app.get("/metrics", tags=["health"])(prometheus)


class _Identified(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def directory(self) -> Path | None: ...


L = TypeVar("L", bound=_Identified)


# Manifests (SHA-256) whose artifact a child process loaded and smoke-tested in this process.
# A manifest lists every file's hash, and loading verifies them, so an artifact with one of
# these manifests is the content the child survived: switching back to a version, or
# reloading the one served, costs no second child.
_PASSED_CHILD: set[str] = set()


def _check_in_child(path: Path) -> None:
    """``load_in_child``, once per manifest in this process."""
    manifest = path / MANIFEST
    before = sha256_file(manifest) if manifest.is_file() else None
    if before is not None and before in _PASSED_CHILD:
        return
    load_in_child(path)
    if before is not None and manifest.is_file() and sha256_file(manifest) == before:
        _PASSED_CHILD.add(before)


class Reloading(Generic[L]):
    """What both services do with the model they serve: load a new one beside it and switch
    in one assignment when it loads and passes its smoke test (``reload``), and follow a
    registry alias by polling it (``poll``). Every new artifact is first loaded and
    smoke-tested in a child process, so that a file that crashes its library's parser kills
    the child, never the service. Registry downloads are kept in ``cache`` while served.
    Subclasses say how to ``load``."""

    current: L | None

    def __init__(self, settings: ServeSettings, cache: ArtifactCache | None = None):
        self.settings = settings
        self.current = None
        self.log: PredictionLog | None = None
        self.shutting_down = False
        self.metrics = _Metrics()
        self.last_reload_error: str | None = None
        self.cache = cache if cache is not None else ArtifactCache()
        self._reload_lock = asyncio.Lock()
        self._failed_version: str | None = None  # the alias's version that would not load

    def load(self, reference: str) -> L:
        """Load, verify and smoke-test ``reference``; nothing is swapped."""
        raise NotImplementedError

    def open_checked(self, reference: str) -> tuple[Model | Recommender, Path]:
        """``reference`` as a local directory (a registry download is cached), loaded and
        smoke-tested in a child process, and only then loaded here; with its directory."""
        path, resolved = locate(
            reference, tracking_uri=self.settings.tracking_uri, cache=self.cache
        )
        _check_in_child(path)
        return load_located(path, resolved, reference), path

    def in_use(self) -> list[Path | None]:
        """The directories of the models served: the cached downloads to keep."""
        current = self.current
        return [None if current is None else current.directory]

    async def reload(self, reference: str | None = None) -> dict[str, Any]:
        """Load ``reference`` (default: the one served) beside the current model and switch
        over when it loads and passes its smoke test; on failure the current model stays."""
        async with self._reload_lock:
            target = reference or self.settings.model
            before = self.current
            try:
                loaded = await asyncio.to_thread(self.load, target)
            except Exception as exc:
                self.cache.retain(self.in_use())
                reason = type(exc).__name__ if isinstance(exc, MlwrightError) else "InternalError"
                self.metrics.swaps.labels("failed").inc()
                self.metrics.reload_failures.labels(reason).inc()
                self.last_reload_error = f"{type(exc).__name__}: {exc}"
                logger.error("reload of %s failed; still serving the old model: %s", target, exc)
                raise
            self.last_reload_error = None
            changed = before is None or (before.name, before.version) != (
                loaded.name,
                loaded.version,
            )
            if changed:
                self.install(loaded)
                self.metrics.swaps.labels("swapped").inc()
            else:
                self.metrics.swaps.labels("unchanged").inc()
            self.cache.retain(self.in_use())
            return {
                "swapped": changed,
                "model_name": loaded.name,
                "model_version": loaded.version,
                "previous_version": None if before is None else before.version,
            }

    def install(self, loaded: L) -> None:
        before = self.current
        self.current = loaded  # one assignment: a request sees the old model or the new
        if before is not None:
            self.metrics.model_info.remove(before.name, before.version)
        self.metrics.model_info.labels(loaded.name, loaded.version).set(1)
        logger.info("now serving %s version %s", loaded.name, loaded.version)

    def follows_alias(self) -> bool:
        model = self.settings.model
        return self.settings.poll_seconds > 0 and is_registry_uri(model) and "@" in model

    async def poll(self) -> None:
        """Follow the registry alias: reload when it points at another version. Polling asks
        the registry for the version only (no download); a version that failed to load for
        what it is (not for a registry that was away) is not tried again until the alias
        moves or an admin reload asks for it."""
        while True:
            await asyncio.sleep(self.settings.poll_seconds)
            if self.shutting_down:
                return
            try:
                version = await asyncio.to_thread(
                    resolve_version, self.settings.model, uri=self.settings.tracking_uri
                )
                current = self.current
                if (current is not None and version == current.version) or (
                    version == self._failed_version
                ):
                    continue
                try:
                    await self.reload()
                except MlwrightError as exc:
                    if not isinstance(exc, RegistryError):
                        self._failed_version = version
                    raise
                self._failed_version = None
            except Exception as exc:  # the registry may be briefly away; keep serving
                logger.warning("polling %s failed: %s", self.settings.model, exc)

    async def shutdown(self) -> None:
        """Delete the cached downloads (the models stay in memory until the process ends)."""
        await asyncio.to_thread(self.cache.close)

    def identity(self) -> dict[str, str] | None:
        current = self.current
        if current is None:
            return None
        return {"model_name": current.name, "model_version": current.version}

    def readiness(self) -> tuple[bool, str]:
        return readiness(self.shutting_down, self.current is not None, self.log)

    def serving(self) -> L:
        """The model to answer with. Requests still arriving while shutdown drains the
        connections are answered (readiness already tells balancers to stop sending)."""
        current = self.current
        if current is None:
            raise ServiceUnavailableError(
                "no model is loaded yet", hint="wait until GET /health/ready answers 200"
            )
        return current


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


async def measured(
    metrics: _Metrics, endpoint: str, work: Callable[[], Awaitable[bytes]]
) -> tuple[int, bytes]:
    """The status and JSON body of ``work``, or of the error that stopped it (a client's
    error is its 4xx; anything else a logged 500), counted and timed in ``metrics``."""
    started = time.perf_counter()
    status = 200
    try:
        body = await work()
    except _DisconnectedError:
        raise
    except MlwrightError as exc:
        status = exc.http_status
        if status >= 500 and not isinstance(exc, ServiceUnavailableError):
            logger.exception("%s failed", endpoint)
        body = _error_body(exc)
    except Exception:
        logger.exception("%s failed", endpoint)
        status, body = 500, _INTERNAL_ERROR
    metrics.requests.labels(endpoint, str(status)).inc()
    metrics.seconds.labels(endpoint).observe(time.perf_counter() - started)
    return status, body


def open_log(settings: ServeSettings, metrics: _Metrics) -> PredictionLog | None:
    """The settings' prediction log, started (answers an earlier run spilled are written in
    first), and reported in ``metrics``; None without a log."""
    if settings.log is None:
        return None
    log = PredictionLog(
        settings.log,
        flush_seconds=settings.log_flush_seconds,
        stall_seconds=settings.log_stall_seconds,
        grace_seconds=settings.log_grace_seconds,
    ).start()
    metrics.log_pending.set_function(lambda: float(log.pending))
    metrics.log_written.set_function(lambda: float(log.written))
    metrics.log_oldest_seconds.set_function(lambda: log.oldest_seconds)
    metrics.log_stalled.set_function(lambda: float(not log.healthy))
    metrics.log_write_errors.set_function(lambda: float(log.write_errors))
    return log


async def close_log(log: PredictionLog | None) -> None:
    """Finish writing the prediction log at shutdown: everything acknowledged is written,
    or, past the log's grace period, appended to its spill file (the exact count said)."""
    if log is None:
        return
    if await asyncio.to_thread(log.close):
        return
    if log.spill_error is not None:
        logger.error(
            "the prediction log did not finish writing within %g s: %d answers unwritten "
            "and LOST: the spill file %s could not be written (%s)",
            log.grace_seconds,
            log.unwritten,
            log.spill_path,
            log.spill_error,
        )
        return
    logger.error(
        "the prediction log did not finish writing within %g s: %d answers unwritten, "
        "spilled to %s%s; the next start on this log writes them in, or run "
        "`mlwright log replay --log URL`",
        log.grace_seconds,
        log.unwritten,
        log.spill_path.resolve(),
        f" ({log.uncertain} of them were being committed and may be in the log too; the "
        "replay skips those)"
        if log.uncertain
        else "",
    )


MAX_ERROR_BYTES = 16_384  # the largest error body, whatever the request


def _error_body(exc: MlwrightError) -> bytes:
    """The JSON of an error, at most MAX_ERROR_BYTES: messages quote at most a bounded prefix
    of a client's value (``echo``), and what else could grow is cut here."""
    error = {
        "type": type(exc).__name__,
        "message": exc.message,
        "field": exc.field,
        "hint": exc.hint,
    }
    body = orjson.dumps({"error": error})
    if len(body) <= MAX_ERROR_BYTES:
        return body
    # At most 6 bytes a character (\u escapes): 2,400 characters fit with room to spare.
    for key, limit in (("message", 1500), ("field", 200), ("hint", 700)):
        text = error[key]
        if text is not None and len(text) > limit:
            error[key] = text[:limit] + "..."
    return orjson.dumps({"error": error})


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status, media_type=JSON)


_INTERNAL_ERROR = orjson.dumps(
    {
        "error": {
            "type": "InternalError",
            "message": "the service failed to answer; this is a bug",
            "field": None,
            "hint": "the server log has the traceback",
        }
    }
)


def _check_key(headers: Mapping[str, str], expected: str, what: str) -> None:
    given = headers.get("x-api-key")
    if given is None:
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:]
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise RequestError(
            f"{what} needs a valid API key",
            status=401,
            field="X-API-Key" if given is None else "X-API-Key (value)",
            hint="send the key in an X-API-Key header or as Authorization: Bearer KEY",
        )


class _DisconnectedError(Exception):
    """The client went away before its body arrived: nothing to answer."""


def _too_large(what: str, limit: int) -> RequestError:
    return RequestError(
        f"the body is {what}; at most {limit:,} bytes are taken",
        status=413,
        field="body",
        hint="send fewer records per request (or start with a larger --max-body-bytes)",
    )


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refused (413) once it is over ``limit`` bytes, declared or sent."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                raise RequestError(
                    f"Content-Length {echo(value.decode('latin-1'))} is not a number",
                    field="Content-Length",
                )
            if int(value) > limit:
                raise _too_large(f"{int(value):,} bytes", limit)
            break
    message = await receive()
    if message["type"] == "http.disconnect":
        raise _DisconnectedError
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False) and len(body) <= limit:
        return body  # the usual case: the whole body in one message
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _DisconnectedError
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            break
    if size > limit:
        raise _too_large(f"over {limit:,} bytes", limit)
    return b"".join(chunks)


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ServiceApp(FastAPI):
    """FastAPI, with POST /predict and /explain answered before its middleware stack: on
    the single-record path that machinery (exception and error middlewares, request and
    response objects) cost as much as the model."""

    scoring: dict[str, ASGIApp]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.scoring.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


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
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    service = Service(settings, cache)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.log = open_log(settings, service.metrics)
        if service.current is None:
            await service.reload()
        if settings.challenger is not None and service.challenger is None:
            service.challenger = await asyncio.to_thread(service.load_challenger)
            service.cache.retain(service.in_use())
        restore = _flag_shutdown_on_signals(service)
        poller = asyncio.create_task(service.poll()) if service.follows_alias() else None
        try:
            yield
        finally:
            service.shutting_down = True
            restore()
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            await close_log(service.log)
            await service.shutdown()

    app = ServiceApp(
        title="mlwright model service",
        description="Predictions from one mlwright model; every answer is logged.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    if loaded is not None:
        service.install(loaded)
    service.challenger = challenger

    async def answered(endpoint: str, work: Callable[[], Awaitable[bytes]]) -> tuple[int, bytes]:
        return await measured(service.metrics, endpoint, work)

    async def answer(endpoint: str, work: Callable[[], Awaitable[bytes]]) -> Response:
        status, body = await answered(endpoint, work)
        return Response(body, status, media_type=JSON)

    Work = Callable[[Loaded, Records, float], Awaitable[bytes]]

    def scoring(endpoint: str, work: Work) -> ASGIApp:
        """A plain ASGI handler for POST /ENDPOINT: key, model, body and records checked
        (or refused), then ``work`` with the model to answer with, the records and when the
        work began. The OpenAPI entries are written from the model's schema in _openapi."""
        what = "/" + endpoint

        async def accepted_work(scope: Scope, receive: Receive) -> bytes:
            if settings.api_key is not None:
                _check_key(Headers(scope=scope), settings.api_key, what)
            loaded = service.answering() if endpoint == "predict" else service.serving()
            started = time.perf_counter()
            body = await _read_body(scope, receive, settings.max_body_bytes)
            return await work(loaded, loaded.schema.parse(body), started)

        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                status, body = await answered(endpoint, lambda: accepted_work(scope, receive))
            except _DisconnectedError:
                return
            await _send_json(send, status, body)

        return handle

    def identity(loaded: Loaded) -> dict[str, str]:
        return {"model_name": loaded.name, "model_version": loaded.version}

    def shaped(loaded: Loaded, records: Records, answers: list[dict[str, Any]]) -> bytes:
        if records.single:
            data: Any = {**answers[0], **identity(loaded)}
        else:
            data = {**identity(loaded), "predictions": answers}
        return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)

    async def predict(loaded: Loaded, records: Records, started: float) -> bytes:
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
        service.record_log(loaded, "predict", records, answers, started)
        service.metrics.records.inc(len(answers))
        if service.challenger is not None and settings.challenger_mode == "shadow":
            # Runs once this request's task yields, i.e. after its answer is written.
            asyncio.get_running_loop().call_soon(service.shadow, records, answers)
        return shaped(loaded, records, answers)

    async def explain(loaded: Loaded, records: Records, started: float) -> bytes:
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
        service.record_log(loaded, "explain", records, answers, started)
        return shaped(loaded, records, answers)

    app.scoring = {"/predict": scoring("predict", predict), "/explain": scoring("explain", explain)}
    for path, handler in app.scoring.items():
        # Reached only by other methods (405) and by mounts; POST is dispatched above.
        app.router.routes.append(Route(path, handler, methods=["POST"], include_in_schema=False))

    add_health_routes(
        app,
        service.metrics,
        service.readiness,
        service.identity,
        "a model",
    )

    @app.get("/metadata", tags=["model"])
    async def metadata() -> Response:
        """The model served: name, version, task, input schema, holdout metrics."""

        async def work() -> bytes:
            loaded = service.serving()
            model = loaded.model
            return orjson.dumps(
                {
                    **identity(loaded),
                    "source": loaded.source,
                    "loaded_at": loaded.loaded_at.isoformat(),
                    "problem_type": model.problem_type,
                    "target": model.spec.task.target,
                    "classes": model.classes,
                    "threshold": model.threshold,
                    "input_schema": model.input_schema,
                    "request_schema": loaded.schema.record_schema(),
                    "metrics": jsonable(model.metrics),
                    "last_reload_error": service.last_reload_error,
                    "challenger": _challenger_info(service),
                }
            )

        return await answer("metadata", work)

    add_admin_reload_route(app, settings, service, answer)

    app.openapi = lambda: openapi_schema(app, service.current)  # type: ignore[method-assign]
    return app


def add_admin_reload_route(
    app: FastAPI,
    settings: ServeSettings,
    service: Reloading[Any],
    respond: Callable[[str, Callable[[], Awaitable[bytes]]], Awaitable[Response]],
) -> None:
    """POST /admin/reload: load the served reference again (e.g. to follow an alias now) or
    ``{"model": "models:/NAME@ALIAS"}``; the old model serves until the new one passes."""

    async def admin_reload(request: Request) -> Response:
        """Reload the model (by default the reference served, e.g. to follow an alias now;
        or {"model": "models:/NAME@ALIAS"}); the old model serves until the new one passes."""

        async def work() -> bytes:
            if settings.admin_key is None:
                raise RequestError(
                    "admin endpoints are disabled",
                    status=403,
                    field="MLWRIGHT_ADMIN_KEY",
                    hint="start the service with MLWRIGHT_ADMIN_KEY set to enable them",
                )
            _check_key(request.headers, settings.admin_key, "/admin/reload")
            body = await _read_body(request.scope, request.receive, 10_000)
            reference = _reload_target(body)
            try:
                result = await service.reload(reference)
            except ModelNotFoundError as exc:
                raise RequestError(exc.message, status=404, field="model", hint=exc.hint) from exc
            except MlwrightError as exc:
                raise ServiceUnavailableError(
                    f"the new model did not load; still serving the old one: {exc.message}",
                    field=exc.field,
                    hint=exc.hint,
                ) from exc
            return orjson.dumps(result)

        return await respond("admin_reload", work)

    app.post("/admin/reload", tags=["admin"])(admin_reload)


class _Stoppable(Protocol):
    shutting_down: bool


def _flag_shutdown_on_signals(service: _Stoppable) -> Callable[[], None]:
    """Chain a handler before the server's own for SIGTERM and SIGINT that marks the
    service as shutting down (readiness answers 503 from then on); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals reach the main thread only (e.g. under a test client)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(sig: int, frame: FrameType | None) -> None:
        service.shutting_down = True
        before = previous[signal.Signals(sig)]
        if callable(before):
            before(sig, frame)
        elif sig == signal.SIGINT:
            raise KeyboardInterrupt

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, before in previous.items():
            signal.signal(sig, before)

    return restore


def _reload_target(body: bytes) -> str | None:
    if not body.strip():
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if exc.msg.startswith("depth limit"):
            raise too_deep(body, exc.pos, 'send {"model": "models:/NAME@ALIAS"}') from None
        raise RequestError(f"the body is not valid JSON: {exc}", field="body") from None
    if not isinstance(data, dict) or set(data) - {"model"}:
        raise InputError('the body must be {"model": "models:/NAME@ALIAS"} or empty', field="body")
    reference = data.get("model")
    if reference is None:
        return None
    # Only registry URIs: a client must not make the server open paths of its choosing.
    if not isinstance(reference, str) or not is_registry_uri(reference):
        raise InputError(
            f"model {echo(reference)} is not a registry URI",
            field="model",
            hint="use models:/NAME@ALIAS or models:/NAME/VERSION",
        )
    try:
        parse_model_uri(reference)  # a malformed name or alias is the client's: 422
    except MlwrightError as exc:
        raise InputError(exc.message, field="model", hint=exc.hint) from None
    return reference


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
