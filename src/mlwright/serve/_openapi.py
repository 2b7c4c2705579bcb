"""The service's OpenAPI schema: FastAPI's, with the request and response bodies of the
model being served (the JSON Schema of its pydantic ``Record`` type, its classes), so that
/docs and schemathesis see exactly what the service checks. /predict and /explain are
answered before FastAPI's routing (``ServiceApp``), so their entries are written here, from
the same type FastAPI would have used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from mlwright.artifact import Model
from mlwright.serve._records import RecordSchema

if TYPE_CHECKING:
    from mlwright.serve._app import Loaded

JSON = "application/json"
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
                "hint": {"type": ["string", "null"]},
            },
        }
    },
}


def error_responses(schema: dict[str, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """The error answers every body-taking endpoint can give, each with the one error body
    (``schema``, inline by default)."""
    return {
        str(code): {
            "description": what,
            "content": {JSON: {"schema": schema if schema is not None else _ERROR_SCHEMA}},
        }
        for code, what in [
            (400, "malformed request (not JSON)"),
            (401, "missing or wrong API key"),
            (413, "body or list too large"),
            (422, "a field is missing, unknown or of the wrong type"),
            (503, "no model loaded yet, shutting down, or the log is full"),
        ]
    }


def openapi_schema(app: FastAPI, current: Loaded | None) -> dict[str, Any]:
    """FastAPI's schema, with the request and response bodies of the model served."""
    schema = get_openapi(
        title=app.title, version="1", description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = _ERROR_SCHEMA
    record_schema: RecordSchema | None = None if current is None else current.schema
    if record_schema is not None:
        components["Record"] = record_schema.record_schema()
        components["Answer"] = _answer_schema(current.model)  # type: ignore[union-attr]
        components["Explanation"] = _explanation_schema(record_schema)
    errors = error_responses({"$ref": "#/components/schemas/Error"})
    for path, kind, summary in (
        ("/predict", "Answer", "Predict one record (a JSON object) or a list of records"),
        ("/explain", "Explanation", "Each input's additive contribution to each prediction"),
    ):
        operation: dict[str, Any] = {
            "tags": ["predictions"],
            "summary": summary,
            "operationId": path.strip("/"),
            "responses": errors,
        }
        schema.setdefault("paths", {})[path] = {"post": operation}
        if record_schema is None:
            continue
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": record_schema.body_schema()}},
        }
        item = {"$ref": f"#/components/schemas/{kind}"}
        identity = {"model_name": {"type": "string"}, "model_version": {"type": "string"}}
        operation["responses"] = {
            "200": {
                "description": "one answer per record",
                "content": {
                    JSON: {
                        "schema": {
                            "oneOf": [
                                item,
                                {
                                    "type": "object",
                                    "required": ["predictions", "model_name", "model_version"],
                                    "properties": {
                                        **identity,
                                        "predictions": {"type": "array", "items": item},
                                    },
                                },
                            ]
                        }
                    }
                },
            },
            **errors,
        }
    return schema


def _prediction_schema(model: Model) -> dict[str, Any]:
    if model.problem_type == "regression":
        return {"type": "number"}
    kinds = {type(c) for c in model.classes}
    json_type = "boolean" if kinds == {bool} else "integer" if kinds <= {int} else "string"
    return {"type": json_type, "enum": list(model.classes)}


def _answer_schema(model: Model) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "prediction_id": {"type": "string"},
        "prediction": _prediction_schema(model),
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
    }
    if model.problem_type != "regression":
        properties["probabilities"] = {
            "type": "object",
            "properties": {n: {"type": "number"} for n in model.class_names},
            "required": list(model.class_names),
        }
    elif model.intervals is not None:
        properties["interval"] = {
            "type": "object",
            "required": ["level", "lower", "upper"],
            "properties": {k: {"type": "number"} for k in ("level", "lower", "upper")},
        }
    return {"type": "object", "required": ["prediction_id", "prediction"], "properties": properties}


def _explanation_schema(schema: RecordSchema) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["prediction_id", "prediction", "base", "contributions"],
        "properties": {
            "prediction_id": {"type": "string"},
            "prediction": {"type": "number"},
            "base": {"type": "number"},
            "class": {"type": "string"},
            "contributions": {
                "type": "object",
                "properties": {n: {"type": "number"} for n in schema.names},
            },
        },
    }
