"""Schemathesis against the service's own OpenAPI schema: whatever it generates from the
schema (valid records and invalid ones), the service never answers 5xx, and its answers
conform to the schema it publishes. And any JSON body at all (nested thousands deep,
large) gets a 2xx or a 4xx no larger than the error bound."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlwright.artifact import Model
from mlwright.serve import ServeSettings, Service, create_app
from mlwright.serve._app import MAX_ERROR_BYTES
from synth import RECORD

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


LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


def deep(depth: int, opener: str) -> str:
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "null" + "}" * depth


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Any JSON body: a value, a record with one field any value (nested up to 3,000 deep,
    or large), or a list of such records."""
    kind = draw(st.sampled_from(["value", "record", "records"]))
    if kind == "value":
        return orjson.dumps(draw(JSON_VALUES))
    name = draw(st.sampled_from([*sorted(RECORD), "unknown"]))
    value = draw(
        JSON_VALUES.map(lambda v: orjson.dumps(v).decode())
        | st.builds(deep, st.integers(1, 3_000), st.sampled_from(["[", "{"]))
        | st.builds(lambda n: orjson.dumps("x" * n).decode(), st.integers(0, 50_000))
    )
    others = orjson.dumps({k: v for k, v in RECORD.items() if k != name}).decode()
    record = f'{others[:-1]},"{name}":{value}}}'
    return f"[{record},{record}]".encode() if kind == "records" else record.encode()


@pytest.fixture(scope="module")
def app_client(
    trained: dict[str, Model], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    artifact = trained["binary"].save(tmp_path_factory.mktemp("fuzz") / "binary")
    with TestClient(create_app(ServeSettings(model=str(artifact), log=None))) as client:
        yield client


@pytest.mark.parametrize("endpoint", ["/predict", "/explain"])
def test_any_json_body_gets_a_2xx_or_a_bounded_4xx(app_client: TestClient, endpoint: str) -> None:
    @given(body=bodies())
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    def check(body: bytes) -> None:
        response = app_client.post(endpoint, content=body)
        assert response.status_code < 500, response.text[:300]
        if response.status_code >= 400:
            assert len(response.content) <= MAX_ERROR_BYTES
            assert response.json()["error"]["field"] is not None

    check()
