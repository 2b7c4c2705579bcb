"""The HTTP service for a recommender artifact: ``GET /recommend?user_id=...&k=10`` and
``POST /recommend`` with a user's recent items and allow / block lists, beside the same
health, metadata and metrics endpoints and the same prediction log as a tabular model.

A user the model has not seen, with no known items in the history sent, gets recent
popularity and ``"cold_start": true``; history items the model never saw are ignored and
listed in ``unknown_history``. Bad input is a 4xx naming the field, never a 5xx.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import orjson
from annotated_types import Interval
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from mlwright.artifact import (
    MANIFEST,
    is_recommender,
    jsonable,
    manifest_digest,
    read_manifest,
    smoke_test,
)
from mlwright.errors import (
    InputError,
    MlwrightError,
    RequestError,
    SpecError,
)
from mlwright.recommend import MAX_K, Recommender
from mlwright.registry import ArtifactCache, locate
from mlwright.serve._core import (
    Described,
    Reloading,
    ServeSettings,
    check_key,
    error_body,
    read_body,
    respond,
    service_app,
)
from mlwright.serve._log import LogEntry
from mlwright.serve._openapi import error_responses
from mlwright.serve._records import echo_name, too_deep

logger = logging.getLogger("mlwright.serve")
JSON = "application/json"


def _json_integer(value: Any) -> Any:
    """A JSON integer as JSON Schema means it: 7 and 7.0, but not true or "7" (pydantic's
    lax mode would take false for user 0 and "5" for k=5)."""
    if isinstance(value, bool | str | bytes):
        raise ValueError(f"expected an integer, got {type(value).__name__}")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
# An id the artifact can hold: a 64-bit integer or text (the schema says so, so that a
# client is not surprised by a 422 for an integer JSON allows).
ItemId = Annotated[int, Interval(ge=-(2**63), le=2**63 - 1), BeforeValidator(_json_integer)] | str


class RecommendRequest(BaseModel):
    """What to recommend for whom. Send ``user_id``, ``history``, both or neither."""

    model_config = ConfigDict(extra="forbid")

    user_id: ItemId | None = Field(None, description="A user id from the training data.")
    history: list[ItemId] = Field(
        default_factory=list,
        max_length=10_000,
        description="Items the user met (recent ones for a known user; all for a new one).",
    )
    k: JsonInt = Field(10, ge=1, le=MAX_K, description="How many items to return.")
    exclude: list[ItemId] = Field(
        default_factory=list, max_length=100_000, description="Items never to return."
    )
    allow: list[ItemId] | None = Field(
        None, max_length=100_000, description="When given, the only items that may be returned."
    )


class RecommendAnswer(BaseModel):
    """The items, best first, and how the answer was made."""

    prediction_id: str
    model_name: str
    model_version: str
    items: list[ItemId]
    scores: list[float]
    source: str = Field(description="'ranker', a generator, or 'popularity' (cold start).")
    cold_start: bool
    known_user: bool
    history_used: int
    unknown_history: list[ItemId]
    unknown_filter: list[ItemId]
    short_by: int = Field(description="How many fewer than k the filters left.")


@dataclass(frozen=True)
class ServedRecommender:
    """A recommender being served, with what identifies it in every answer."""

    model: Recommender
    name: str
    version: str
    source: str
    loaded_at: dt.datetime
    directory: Path | None = None  # where it was loaded from (a registry download is cached)


class RecommendService(Reloading[ServedRecommender]):
    """The recommender served, its identity, the prediction log and readiness; a new one is
    loaded beside it and swapped in (``reload``, or by following a registry alias)."""

    def load(self, reference: str) -> ServedRecommender:
        """Load and verify the artifact, in a child process first and then here, and
        smoke-test a cold-start answer."""
        from threadpoolctl import threadpool_limits

        # One request solves a small system and multiplies one vector: BLAS threads only
        # add hand-offs (4x slower p50 on 2 busy cores). For the whole serving process.
        threadpool_limits(1, "blas")
        model, directory = self.open_checked(reference)
        if not isinstance(model, Recommender):
            raise SpecError(
                f"{reference} is a {model.problem_type} model, not a recommender",
                field="MODEL",
                hint="serve it as it is: `mlwright serve` chooses the endpoints by the artifact",
            )
        smoke_test(model)  # again, here: a cold-start list and a known user's
        return self.served(model, reference, directory)

    def served(
        self, model: Recommender, reference: str, directory: Path | None = None
    ) -> ServedRecommender:
        registered = model.metadata.get("registry")
        if registered:
            name, version = registered["model_name"], str(registered["version"])
        else:
            name = str(model.metadata.get("name") or Path(reference).name)
            version = "sha256:" + manifest_digest(Path(reference).expanduser())[:12]
        return ServedRecommender(
            model, name, version, reference, dt.datetime.now(dt.UTC), directory
        )

    def answer(self, request: RecommendRequest, started: float) -> bytes:
        served = self.serving()  # one read: the model and its identity stay together
        result = served.model.recommend_detail(
            user=request.user_id,
            history=request.history,
            k=request.k,
            exclude=request.exclude,
            allow=request.allow,
        )
        answer = {
            "prediction_id": uuid.uuid4().hex,
            "model_name": served.name,
            "model_version": served.version,
            **result.to_dict(),
        }
        if self.log is not None:
            self.log.append(
                LogEntry(
                    prediction_id=answer["prediction_id"],
                    created_at=dt.datetime.now(dt.UTC),
                    model_name=served.name,
                    model_version=served.version,
                    endpoint="recommend",
                    latency_ms=(time.perf_counter() - started) * 1000.0,
                    inputs=request.model_dump_json(exclude_defaults=True),
                    outputs=orjson.dumps(result.to_dict()).decode(),
                )
            )
        self.metrics.records.inc()
        return orjson.dumps(answer)

    def metadata(self) -> dict[str, Any]:
        served = self.serving()
        model = served.model
        meta = model.metadata
        return jsonable(  # type: ignore[no-any-return]
            {
                "model_name": served.name,
                "model_version": served.version,
                "source": served.source,
                "loaded_at": served.loaded_at.isoformat(),
                "last_reload_error": self.last_reload_error,
                "problem_type": "recommendation",
                "chosen": model.chosen,
                "generators": {k: g.params for k, g in model.generators.items()},
                "users": len(model.user_ids),
                "items": int(model.catalogue.sum()),
                "columns": meta.get("columns"),
                "evaluation": meta.get("evaluation"),
            }
        )


def _refusal(errors: Sequence[Mapping[str, Any]]) -> InputError:
    """The first problem pydantic or FastAPI found in a request, naming its field."""
    first = errors[0] if errors else {}
    # Keep field names and list positions; drop "body"/"query" and union members ("int").
    location = [
        str(p)
        for p in first.get("loc", ())
        if isinstance(p, int) or p in RecommendRequest.model_fields
    ]
    where = ".".join(location) or "body"
    if first.get("type") == "extra_forbidden":
        where = echo_name(str(first.get("loc", ("body",))[-1]))
        return InputError(
            f"unknown field '{where}'",
            field=where,
            hint="the fields are: user_id, history, k, exclude, allow",
        )
    return InputError(
        f"{where}: {first.get('msg', 'invalid request')}",
        field=where,
        hint="see /docs for the request schema",
    )


def parse_request(body: bytes) -> RecommendRequest:
    """A POST body as a request, or a 4xx naming what is wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if exc.msg.startswith("depth limit"):
            raise too_deep(body, exc.pos, "see /docs for the request schema") from None
        raise RequestError(
            f"the body is not valid JSON: {exc}", field="body", hint="send a JSON object"
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            f"the body must be a JSON object, got {type(data).__name__}",
            field="body",
            hint='send {"user_id": ..., "history": [...], "k": 10}',
        )
    try:
        return RecommendRequest.model_validate(data)
    except ValidationError as exc:
        raise _refusal(exc.errors()) from None


RECOMMENDING = Described(
    title="mlwright recommendation service",
    description="Recommendations from one mlwright recommender; every answer is logged.",
    what="the recommender",
    metadata_doc="The recommender served: identity, what it chose, and its offline evaluation.",
)


def create_recommend_app(
    settings: ServeSettings,
    loaded: ServedRecommender | None = None,
    *,
    cache: ArtifactCache | None = None,
) -> FastAPI:
    """The ASGI app for a recommender; it loads at startup unless ``loaded`` (from
    ``RecommendService.load``) is given. With a registry alias it follows the alias, and
    POST /admin/reload swaps the recommender without a restart. ``cache`` holds its registry
    downloads (the app deletes it at shutdown)."""
    service = RecommendService(settings, cache)
    app = service_app(service, RECOMMENDING, FastAPI)
    if loaded is not None:
        service.install(loaded)

    @app.exception_handler(RequestValidationError)
    async def refused(request: Request, exc: RequestValidationError) -> Response:
        error = _refusal(exc.errors())
        service.metrics.requests.labels("recommend", str(error.http_status)).inc()
        return Response(error_body(error), error.http_status, media_type=JSON)

    def keyed(request: Request) -> None:
        if settings.api_key is not None:
            check_key(request.headers, settings.api_key, "/recommend")

    @app.post("/recommend", tags=["recommend"], **_post_openapi())
    async def recommend_post(request: Request) -> Response:
        """Recommend for a known user, a new user's items (fold-in), or nobody (cold
        start), with optional allow and block lists."""
        started = time.perf_counter()

        async def work() -> bytes:
            keyed(request)
            body = await read_body(request.scope, request.receive, settings.max_body_bytes)
            return service.answer(parse_request(body), started)

        return await respond(service.metrics, "recommend", work)

    @app.get("/recommend", tags=["recommend"], **_get_openapi())
    async def recommend_get(
        request: Request,
        user_id: str | None = Query(None, description="A user id from the training data."),
        k: int = Query(10, ge=1, le=MAX_K, description="How many items to return."),
    ) -> Response:
        """Recommend for a user by id; an unknown or absent user gets the cold-start list."""
        started = time.perf_counter()

        async def work() -> bytes:
            keyed(request)
            return service.answer(RecommendRequest(user_id=user_id, k=k), started)

        return await respond(service.metrics, "recommend", work)

    return app


def _post_openapi() -> dict[str, Any]:
    """POST /recommend's OpenAPI entry: the pydantic request and answer models."""
    return {
        "response_model": RecommendAnswer,
        "responses": error_responses(),
        "openapi_extra": {
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": RecommendRequest.model_json_schema()}},
            }
        },
    }


def _get_openapi() -> dict[str, Any]:
    """GET /recommend's: no body to be malformed or too large (no 400 or 413)."""
    errors = error_responses()
    return {
        "response_model": RecommendAnswer,
        "responses": {code: e for code, e in errors.items() if code not in ("400", "413")},
    }


def is_recommender_artifact(reference: str, tracking_uri: str | None, cache: ArtifactCache) -> bool:
    """Whether ``reference`` (a directory or a registry URI) holds a recommender; a registry
    download goes to ``cache`` (the service's, so that its load downloads nothing again)."""
    with contextlib.suppress(MlwrightError):
        path, _ = locate(reference, tracking_uri=tracking_uri, cache=cache)
        return (path / MANIFEST).is_file() and is_recommender(read_manifest(path))
    return False
