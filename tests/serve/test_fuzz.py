"""Schemathesis against the service's own OpenAPI schema: whatever it generates from the
schema (valid records and invalid ones), the service never answers 5xx, and its answers
conform to the schema it publishes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from mlwright.artifact import Model
from mlwright.serve import ServeSettings, Service, create_app

PATHS = ("/predict", "/explain", "/metadata", "/health/live", "/health/ready")


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
            case.call_and_validate()

        check()
