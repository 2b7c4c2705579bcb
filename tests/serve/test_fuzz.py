"""Schemathesis against the service's own OpenAPI schema: whatever it generates from the
schema (valid records and invalid ones), the service never answers 5xx, and its answers
conform to the schema it publishes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings

from mlwright.artifact import Model
from mlwright.serve import ServeSettings, Service, create_app

PATHS = ("/predict", "/explain", "/metadata", "/health/live", "/health/ready")


def representable(body: Any) -> bool:
    """False when a string of the body is a date-time whose instant falls outside years
    1-9999 in UTC ('0001-01-01T00:02:01+05:03'): JSON Schema's date-time format cannot
    exclude it, the service rightly answers 422 naming the field (tests/serve/
    test_records.py), and schemathesis would count that as a valid request refused."""
    records = body if isinstance(body, list) else [body]
    for record in records:
        for value in record.values() if isinstance(record, dict) else []:
            if isinstance(value, str):
                try:
                    moment = dt.datetime.fromisoformat(value)
                except ValueError:
                    continue
                if moment.tzinfo is not None:
                    try:
                        moment.astimezone(dt.UTC)
                    except OverflowError:
                        return False
    return True


def served_schema(trained: dict[str, Model], tmp_path: Path, problem: str) -> Any:
    artifact = trained[problem].save(tmp_path / problem)
    served = ServeSettings(model=str(artifact), log=None, max_records=5)
    app = create_app(served, Service(served).load(str(artifact)))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_5xx_and_answers_conform(
    trained: dict[str, Model], tmp_path: Path, problem: str, mode: str
) -> None:
    schema = served_schema(trained, tmp_path, problem)
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path in PATHS
    ]
    assert {op.path for op in operations} == set(PATHS)
    for operation in operations:
        if mode == "negative" and operation.method.upper() != "POST":
            continue  # nothing to make invalid in a request without parameters or body
        strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

        @given(case=strategy)
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            if mode == "positive":
                assume(representable(case.body))
            case.call_and_validate()

        check()
