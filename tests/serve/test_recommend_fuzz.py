"""Schemathesis against the recommendation service's own OpenAPI schema: whatever it
generates (valid requests and invalid ones: wrong types, k out of range, unknown fields),
the service never answers 5xx, and its answers conform to the schema it publishes. And any
JSON body at all (nested thousands deep, large) gets a 2xx or a 4xx no larger than the
error bound."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwright.recommend import save_recommender
from mlwright.serve import ServeSettings, create_recommend_app
from mlwright.serve._app import MAX_ERROR_BYTES
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


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Any JSON body, or a request whose one field is any value (nested up to 3,000 deep,
    or large)."""
    if draw(st.booleans()):
        return orjson.dumps(draw(JSON_VALUES))
    name = draw(st.sampled_from(["user_id", "history", "k", "exclude", "allow", "other"]))
    value = draw(
        JSON_VALUES.map(lambda v: orjson.dumps(v).decode())
        | st.builds(deep, st.integers(1, 3_000))
        | st.builds(lambda n: orjson.dumps("x" * n).decode(), st.integers(0, 50_000))
    )
    return f'{{"{name}":{value}}}'.encode()


def test_any_json_body_gets_a_2xx_or_a_bounded_4xx(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    artifact = save_recommender(quick_recommender(), tmp_path_factory.mktemp("rec") / "model")
    served = ServeSettings(model=str(artifact), log=None, max_body_bytes=10 << 20)
    with TestClient(create_recommend_app(served)) as client:

        @given(body=bodies())
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        def check(body: bytes) -> None:
            response = client.post("/recommend", content=body)
            assert response.status_code < 500, response.text[:300]
            if response.status_code >= 400:
                assert len(response.content) <= MAX_ERROR_BYTES
                assert response.json()["error"]["field"] is not None

        check()
        for depth in (1_000, 100_000):
            refused = client.post("/recommend", content=f'{{"history":{deep(depth)}}}'.encode())
            assert refused.status_code == 422
            assert refused.json()["error"]["field"].startswith("history")
        huge_key = client.post("/recommend", content=orjson.dumps({"\x01" * 600_000: 1}))
        assert huge_key.status_code == 422
        assert len(huge_key.content) <= MAX_ERROR_BYTES
