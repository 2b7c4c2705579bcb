"""Schemathesis against the recommendation service's own OpenAPI schema: whatever it
generates (valid requests and invalid ones: wrong types, k out of range, unknown fields),
the service never answers 5xx, and its answers conform to the schema it publishes."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from mlwright.recommend import save_recommender
from mlwright.serve import ServeSettings, create_recommend_app
from recsynth import quick_recommender

PATHS = ("/recommend", "/metadata", "/health/live", "/health/ready")


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    model = quick_recommender()
    artifact = save_recommender(model, tmp_path_factory.mktemp("rec") / "model")
    app = create_recommend_app(ServeSettings(model=str(artifact), log=None))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_5xx_and_answers_conform(schema: Any, mode: str) -> None:
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path in PATHS
    ]
    assert {(op.method.upper(), op.path) for op in operations} >= {
        ("GET", "/recommend"),
        ("POST", "/recommend"),
    }
    for operation in operations:
        if mode == "negative" and operation.path != "/recommend":
            continue  # nothing to make invalid in a request without parameters or body
        strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

        @given(case=strategy)
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate()

        check()
