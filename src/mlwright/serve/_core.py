"""The serving core both services share: settings, the model served and its hot swap
(load beside, smoke-test in a child process, switch in one assignment; follow a registry
alias), the lifespan (prediction log, signals, alias polling, cleanup), request bodies
within their limits, API keys, error bodies, health routes, /metadata, /admin/reload and
the metrics. A service (tabular ``_app``, recommendation ``_recommend``) says only how to
load and smoke-test its artifact and what its own endpoints answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import signal
import threading
import time
from abc import ABC, abstractmethod
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
from starlette.types import Receive, Scope, Send

from mlwright.artifact import MANIFEST, Model, load_in_child, sha256_file
from mlwright.errors import (
    InputError,
    MlwrightError,
    ModelNotFoundError,
    RegistryError,
    RequestError,
    ServiceUnavailableError,
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
from mlwright.serve._log import GRACE_SECONDS, STALL_SECONDS, PredictionLog
from mlwright.serve._records import UnknownFields, echo, too_deep

logger = logging.getLogger("mlwright.serve")
JSON = "application/json"


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


@dataclass
class Metrics:
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
    metrics: Metrics,
    ready_now: Callable[[], tuple[bool, str]],
    identity: Callable[[], dict[str, str] | None],
    what: str,
) -> None:
    """GET /health/live, /health/ready (200 once ``what`` is loaded and verified, 503
    before and from shutdown on, with the identity of what is served) and /metrics."""

    async def live() -> Response:
        """The process answers."""
        return json_response({"status": "live"})

    async def ready() -> Response:
        ok, why = ready_now()
        body: dict[str, Any] = {"status": "ready" if ok else "not ready", "reason": why}
        body.update(identity() or {})
        return json_response(body, 200 if ok else 503)

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


class Reloading(ABC, Generic[L]):
    """What both services do with the model they serve: load a new one beside it and switch
    in one assignment when it loads and passes its smoke test (``reload``), and follow a
    registry alias by polling it (``poll``). Every new artifact is first loaded and
    smoke-tested in a child process, so that a file that crashes its library's parser kills
    the child, never the service. Registry downloads are kept in ``cache`` while served.
    Subclasses say how to ``load`` (and smoke-test) their artifact and what ``metadata``
    answers; ``started`` is theirs to load more at startup (e.g. a challenger)."""

    current: L | None

    def __init__(self, settings: ServeSettings, cache: ArtifactCache | None = None):
        self.settings = settings
        self.current = None
        self.log: PredictionLog | None = None
        self.shutting_down = False
        self.metrics = Metrics()
        self.last_reload_error: str | None = None
        self.cache = cache if cache is not None else ArtifactCache()
        self._reload_lock = asyncio.Lock()
        self._failed_version: str | None = None  # the alias's version that would not load

    @abstractmethod
    def load(self, reference: str) -> L:
        """Load, verify and smoke-test ``reference``; nothing is swapped."""

    @abstractmethod
    def metadata(self) -> dict[str, Any]:
        """What GET /metadata answers about the model served."""

    async def started(self) -> None:
        """Called at startup once the served model is loaded, before traffic."""

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


async def measured(
    metrics: Metrics, endpoint: str, work: Callable[[], Awaitable[bytes]]
) -> tuple[int, bytes]:
    """The status and JSON body of ``work``, or of the error that stopped it (a client's
    error is its 4xx; anything else a logged 500), counted and timed in ``metrics``."""
    started = time.perf_counter()
    status = 200
    try:
        body = await work()
    except DisconnectedError:
        raise
    except MlwrightError as exc:
        status = exc.http_status
        if status >= 500 and not isinstance(exc, ServiceUnavailableError):
            logger.exception("%s failed", endpoint)
        body = error_body(exc)
    except Exception:
        logger.exception("%s failed", endpoint)
        status, body = 500, _INTERNAL_ERROR
    metrics.requests.labels(endpoint, str(status)).inc()
    metrics.seconds.labels(endpoint).observe(time.perf_counter() - started)
    return status, body


def open_log(settings: ServeSettings, metrics: Metrics) -> PredictionLog | None:
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


def error_body(exc: MlwrightError) -> bytes:
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


def json_response(data: Any, status: int = 200) -> Response:
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


def check_key(headers: Mapping[str, str], expected: str, what: str) -> None:
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


class DisconnectedError(Exception):
    """The client went away before its body arrived: nothing to answer."""


def _too_large(what: str, limit: int) -> RequestError:
    return RequestError(
        f"the body is {what}; at most {limit:,} bytes are taken",
        status=413,
        field="body",
        hint="send fewer records per request (or start with a larger --max-body-bytes)",
    )


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
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
        raise DisconnectedError
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False) and len(body) <= limit:
        return body  # the usual case: the whole body in one message
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise DisconnectedError
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            break
    if size > limit:
        raise _too_large(f"over {limit:,} bytes", limit)
    return b"".join(chunks)


async def send_json(send: Send, status: int, body: bytes) -> None:
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
            check_key(request.headers, settings.admin_key, "/admin/reload")
            body = await read_body(request.scope, request.receive, 10_000)
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


def flag_shutdown_on_signals(service: _Stoppable) -> Callable[[], None]:
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


@contextlib.asynccontextmanager
async def serving_lifespan(service: Reloading[Any]) -> AsyncIterator[None]:
    """Both services' startup and shutdown: open the prediction log, load the model unless
    one was given, flag shutdown on SIGTERM/SIGINT, follow a registry alias; at shutdown
    stop polling, finish (or spill) the log and delete the cached downloads."""
    service.log = open_log(service.settings, service.metrics)
    if service.current is None:
        await service.reload()
    await service.started()
    restore = flag_shutdown_on_signals(service)
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


@dataclass(frozen=True)
class Described:
    """How a service presents itself: its OpenAPI title and description, what it serves
    (readiness's wording) and what GET /metadata says."""

    title: str
    description: str
    what: str  # "a model", "the recommender"
    metadata_doc: str


A = TypeVar("A", bound=FastAPI)


def service_app(service: Reloading[Any], described: Described, app_class: type[A]) -> A:
    """The app of ``service`` with everything both services share: the lifespan, the health
    routes and /metrics, GET /metadata and POST /admin/reload. The caller adds its own
    endpoints."""
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with serving_lifespan(service):
            yield

    app = app_class(
        title=described.title,
        description=described.description,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    add_health_routes(app, service.metrics, service.readiness, service.identity, described.what)

    async def metadata() -> Response:
        return await respond(service.metrics, "metadata", lambda: _metadata_body(service))

    metadata.__doc__ = described.metadata_doc
    app.get("/metadata", tags=["model"])(metadata)
    add_admin_reload_route(
        app, service.settings, service, lambda e, w: respond(service.metrics, e, w)
    )
    return app


async def _metadata_body(service: Reloading[Any]) -> bytes:
    return orjson.dumps(service.metadata(), option=orjson.OPT_SERIALIZE_NUMPY)


async def respond(
    metrics: Metrics, endpoint: str, work: Callable[[], Awaitable[bytes]]
) -> Response:
    """``measured``, as a JSON response."""
    status, body = await measured(metrics, endpoint, work)
    return Response(body, status, media_type=JSON)
