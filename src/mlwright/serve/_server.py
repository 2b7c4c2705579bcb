"""Running the service: uvicorn, one or several worker processes on one socket.

SIGTERM (or Ctrl-C) starts a graceful shutdown: ``/health/ready`` answers 503 from that
moment (the app chains its flag before uvicorn's own signal handler), the server stops
accepting connections, requests in flight finish, and the prediction log writes everything
it acknowledged before the process exits.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

import orjson
import uvicorn

from mlwright.errors import SpecError
from mlwright.registry import ArtifactCache
from mlwright.serve._app import ServeSettings, Service, create_app
from mlwright.serve._recommend import (
    RecommendService,
    create_recommend_app,
    is_recommender_artifact,
)

# Worker processes rebuild the app from the settings in this variable.
SETTINGS_ENV = "MLWRIGHT_SERVE_SETTINGS"
GRACEFUL_SECONDS = 30
logger = logging.getLogger("mlwright.serve")


def _show_service_log() -> None:
    """The service's own messages (swaps, failed reloads) beside uvicorn's, in its format."""
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def app_from_env() -> Any:
    """The app factory a worker process calls (settings come through the environment)."""
    _show_service_log()
    settings = ServeSettings(**orjson.loads(os.environ[SETTINGS_ENV]))
    cache = ArtifactCache()  # each worker's own, deleted at its shutdown
    if is_recommender_artifact(settings.model, settings.tracking_uri, cache):
        return create_recommend_app(settings, cache=cache)
    return create_app(settings, cache=cache)


def serve(
    settings: ServeSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    access_log: bool = False,
) -> None:
    """Serve until SIGTERM or Ctrl-C. The model is loaded and smoke-tested here first (in a
    child process, then here), so that a bad reference fails with its own message before any
    worker starts. Registry downloads are cached while served and deleted at shutdown."""
    _show_service_log()
    cache = ArtifactCache()
    try:
        app = _checked_app(settings, cache)
        if host not in ("127.0.0.1", "localhost", "::1") and settings.api_key is None:
            logger.warning(
                "serving on %s without an API key: anyone who reaches this address can "
                "score; set MLWRIGHT_API_KEY to require one",
                host,
            )
        if workers > 1:
            cache.close()  # each worker loads the model again, into its own cache
        _run(app, settings, host=host, port=port, workers=workers, access_log=access_log)
    finally:
        cache.close()


def _checked_app(settings: ServeSettings, cache: ArtifactCache) -> Any:
    """The app, with its model (and challenger) loaded and checked: a bad one fails here."""
    if is_recommender_artifact(settings.model, settings.tracking_uri, cache):
        if settings.challenger is not None:
            raise SpecError(
                "a challenger is not served beside a recommender yet",
                field="--challenger",
                hint="serve the recommender alone",
            )
        recommending = RecommendService(settings, cache)
        return create_recommend_app(settings, recommending.load(settings.model), cache=cache)
    service = Service(settings, cache)
    loaded = service.load(settings.model)
    service.current = loaded
    challenger = service.load_challenger()  # a bad or mismatched one fails here, first
    service.challenger = challenger
    cache.retain(service.in_use())
    return create_app(settings, loaded, challenger, cache=cache)


def _run(
    app: Any, settings: ServeSettings, *, host: str, port: int, workers: int, access_log: bool
) -> None:
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": access_log,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
        "log_level": "info",
        "http": "httptools" if _has("httptools") else "h11",
        "loop": "uvloop" if _has("uvloop") else "asyncio",
        "lifespan": "on",
    }
    if workers == 1:
        uvicorn.run(app, **options)
        return
    os.environ[SETTINGS_ENV] = orjson.dumps(settings.__dict__).decode()
    uvicorn.run("mlwright.serve._server:app_from_env", factory=True, workers=workers, **options)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
