"""The HTTP app in process (FastAPI's test client): answers, errors that name the field,
keys, limits, metadata, metrics, OpenAPI, and model reloads that never serve a bad model."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from mlwright.artifact import Model, manifest_digest
from mlwright.errors import InputError
from mlwright.serve import ServeSettings, Service, create_app, read_log
from mlwright.serve._app import MAX_ERROR_BYTES, _error_body
from registry_store import damage, point_champion, register, register_remote, wait_for
from synth import RECORD


@pytest.fixture(scope="module")
def artifacts(
    trained: dict[str, Model], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("artifacts")
    return {problem: model.save(root / problem) for problem, model in trained.items()}


def client(settings: ServeSettings) -> TestClient:
    return TestClient(create_app(settings))


@pytest.fixture
def binary(artifacts: dict[str, Path], tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    log = f"sqlite:///{tmp_path / 'log.db'}"
    with client(ServeSettings(model=str(artifacts["binary"]), log=log)) as c:
        yield c, log


def test_one_record_gets_a_label_probabilities_an_id_and_the_version(
    binary: tuple[TestClient, str], trained: dict[str, Model], artifacts: dict[str, Path]
) -> None:
    c, _ = binary
    answer = c.post("/predict", json=RECORD).json()
    model = trained["binary"]
    assert answer["prediction"] == model.predict_one(RECORD)
    assert answer["probabilities"] == pytest.approx(model.predict_proba_one(RECORD), abs=1e-12)
    assert len(answer["prediction_id"]) == 32
    assert answer["model_version"] == "sha256:" + manifest_digest(artifacts["binary"])[:12]


def test_a_list_gets_one_answer_per_record_with_distinct_ids(
    binary: tuple[TestClient, str],
) -> None:
    c, _ = binary
    answer = c.post("/predict", json=[RECORD, {**RECORD, "num": None}, RECORD]).json()
    ids = [p["prediction_id"] for p in answer["predictions"]]
    assert len(set(ids)) == 3
    assert answer["predictions"][0]["probabilities"] == answer["predictions"][2]["probabilities"]


def test_every_answer_is_logged_with_its_inputs_and_outputs(
    artifacts: dict[str, Path], tmp_path: Path
) -> None:
    log = f"sqlite:///{tmp_path / 'log.db'}"
    with client(ServeSettings(model=str(artifacts["binary"]), log=log)) as c:
        one = c.post("/predict", json=RECORD).json()
        many = c.post("/predict", json=[RECORD, RECORD]).json()
        c.post("/predict", json={**RECORD, "num": "bad"})  # refused: not an answer, not logged
    # Leaving the client shut the app down, which writes everything queued.
    rows = {r["prediction_id"]: r for r in read_log(log)}
    assert set(rows) == {one["prediction_id"], *(p["prediction_id"] for p in many["predictions"])}
    row = rows[one["prediction_id"]]
    assert row["endpoint"] == "predict"
    assert row["model_version"] == one["model_version"]
    assert row["latency_ms"] > 0
    assert '"plan":"pro"' in row["inputs"]
    assert one["prediction_id"] in row["outputs"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({**RECORD, "num": "x"}, 422, "num"),
        ({k: v for k, v in RECORD.items() if k != "plan"}, 422, "plan"),
        ({**RECORD, "extra": 1}, 422, "extra"),
        ([RECORD, {**RECORD, "vip": 3}], 422, "[1].vip"),
        ([], 422, "body"),
        ("a string", 422, "body"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(
    binary: tuple[TestClient, str], body: object, status: int, field: str
) -> None:
    c, _ = binary
    response = c.post("/predict", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["field"] == field
    assert error["message"]
    assert error["hint"]


def test_malformed_json_and_oversized_bodies(artifacts: dict[str, Path]) -> None:
    settings = ServeSettings(model=str(artifacts["binary"]), log=None, max_body_bytes=300)
    with client(settings) as c:
        malformed = c.post("/predict", content=b'{"num": 1,')
        assert malformed.status_code == 400
        assert malformed.json()["error"]["field"] == "body"
        big = c.post("/predict", json=[RECORD] * 5)
        assert big.status_code == 413
        assert "300" in big.json()["error"]["message"]
        assert c.post("/predict", content=b"x", headers={"content-length": "abc"}).status_code in (
            400,
            422,
        )


def test_bodies_sent_in_chunks_are_read_whole_and_limited(artifacts: dict[str, Path]) -> None:
    settings = ServeSettings(model=str(artifacts["binary"]), log=None, max_body_bytes=300)
    body = orjson.dumps(RECORD)
    assert len(body) <= 300

    def chunks(data: bytes, size: int) -> Iterator[bytes]:
        yield from (data[i : i + size] for i in range(0, len(data), size))

    with client(settings) as c:
        # No Content-Length: the limit holds on what arrives.
        answered = c.post("/predict", content=chunks(body, 7))
        assert answered.status_code == 200, answered.text
        too_big = c.post("/predict", content=chunks(orjson.dumps([RECORD] * 5), 64))
        assert too_big.status_code == 413
        assert too_big.json()["error"]["field"] == "body"
        # Other methods on the scoring paths are refused by the router, not by the model.
        assert c.get("/predict").status_code == 405
        assert c.get("/explain").status_code == 405


def test_unknown_fields_ignored_when_configured(artifacts: dict[str, Path]) -> None:
    settings = ServeSettings(model=str(artifacts["binary"]), log=None, unknown_fields="ignore")
    with client(settings) as c:
        assert c.post("/predict", json={**RECORD, "extra": 1}).status_code == 200


def test_regression_answers_carry_an_interval(
    artifacts: dict[str, Path], trained: dict[str, Model]
) -> None:
    with client(ServeSettings(model=str(artifacts["regression"]), log=None)) as c:
        answer = c.post("/predict", json=RECORD).json()
    assert answer["prediction"] == pytest.approx(trained["regression"].predict_one(RECORD))
    assert trained["regression"].intervals is not None
    interval = answer["interval"]
    assert interval["lower"] <= answer["prediction"] <= interval["upper"]
    assert interval["level"] == 0.9


def test_explain_adds_up_to_the_prediction(binary: tuple[TestClient, str]) -> None:
    c, _ = binary
    answer = c.post("/explain", json=RECORD).json()
    total = answer["base"] + sum(answer["contributions"].values())
    assert total == pytest.approx(answer["prediction"], abs=1e-9)
    assert set(answer["contributions"]) == set(RECORD)
    predicted = c.post("/predict", json=RECORD).json()
    assert answer["prediction"] == pytest.approx(predicted["probabilities"]["yes"], abs=1e-9)


def test_multiclass_explain_names_the_class(artifacts: dict[str, Path]) -> None:
    with client(ServeSettings(model=str(artifacts["multiclass"]), log=None)) as c:
        answer = c.post("/explain", json=[RECORD, RECORD]).json()
        predicted = c.post("/predict", json=RECORD).json()
    assert answer["predictions"][0]["class"] == predicted["prediction"]


def test_health_metadata_and_metrics(binary: tuple[TestClient, str]) -> None:
    c, _ = binary
    assert c.get("/health/live").json() == {"status": "live"}
    ready = c.get("/health/ready")
    assert ready.status_code == 200
    meta = c.get("/metadata").json()
    assert meta["problem_type"] == "binary"
    assert [f["name"] for f in meta["input_schema"]] == list(RECORD)
    assert meta["request_schema"]["required"] == list(RECORD)
    assert "holdout" in meta["metrics"]
    c.post("/predict", json=RECORD)
    c.post("/predict", json={})
    text = c.get("/metrics").text
    assert 'mlwright_requests_total{endpoint="predict",status="200"}' in text
    assert 'mlwright_requests_total{endpoint="predict",status="422"}' in text
    assert "mlwright_request_seconds_bucket" in text
    assert 'mlwright_model_info{name="y"' in text


def test_not_ready_before_a_model_and_after_shutdown_begins(artifacts: dict[str, Path]) -> None:
    service = Service(ServeSettings(model=str(artifacts["binary"]), log=None))
    assert service.readiness() == (False, "no model loaded yet")
    service.install(service.load(str(artifacts["binary"])))
    assert service.readiness() == (True, "ready")
    service.shutting_down = True
    assert service.readiness() == (False, "shutting down")


def test_the_openapi_schema_carries_the_models_record(binary: tuple[TestClient, str]) -> None:
    c, _ = binary
    spec = c.get("/openapi.json").json()
    record = spec["components"]["schemas"]["Record"]
    assert record["required"] == list(RECORD)
    assert record["properties"]["vip"] == {"type": ["boolean", "null"]}
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][0] == {"$ref": "#/components/schemas/Record"}
    answer = spec["components"]["schemas"]["Answer"]
    assert answer["properties"]["prediction"]["enum"] == ["no", "yes"]
    assert c.get("/docs").status_code == 200


def test_api_key_guards_predict(artifacts: dict[str, Path]) -> None:
    settings = ServeSettings(model=str(artifacts["binary"]), log=None, api_key="s3cret")
    with client(settings) as c:
        missing = c.post("/predict", json=RECORD)
        assert missing.status_code == 401
        assert missing.json()["error"]["field"] == "X-API-Key"
        assert c.post("/predict", json=RECORD, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.post("/predict", json=RECORD, headers={"X-API-Key": "s3cret"}).status_code == 200
        bearer = {"Authorization": "Bearer s3cret"}
        assert c.post("/explain", json=RECORD, headers=bearer).status_code == 200
        assert c.get("/health/ready").status_code == 200  # probes need no key


def test_admin_endpoints_need_their_own_key(artifacts: dict[str, Path]) -> None:
    with client(ServeSettings(model=str(artifacts["binary"]), log=None)) as c:
        assert c.post("/admin/reload").status_code == 403
    settings = ServeSettings(model=str(artifacts["binary"]), log=None, admin_key="adm")
    with client(settings) as c:
        assert c.post("/admin/reload", headers={"X-API-Key": "nope"}).status_code == 401
        ok = c.post("/admin/reload", headers={"X-API-Key": "adm"})
        assert ok.status_code == 200
        assert ok.json()["swapped"] is False  # the same artifact


@pytest.mark.parametrize(
    "target",
    ["/etc/passwd", "../models/x", "models:/../../etc@champion", "models:/a b@champion", 5],
)
def test_reload_refuses_paths_and_bad_names(artifacts: dict[str, Path], target: object) -> None:
    settings = ServeSettings(model=str(artifacts["binary"]), log=None, admin_key="adm")
    with client(settings) as c:
        response = c.post("/admin/reload", json={"model": target}, headers={"X-API-Key": "adm"})
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "model"


def test_the_service_follows_the_alias_and_keeps_a_good_model_when_a_load_fails(
    artifacts: dict[str, Path], tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    register(artifacts["binary"], store, "churn")
    settings = ServeSettings(
        model="models:/churn@champion", tracking_uri=store, log=None, poll_seconds=0.1
    )
    with client(settings) as c:
        assert c.get("/metadata").json()["model_version"] == "1"
        second = register(artifacts["binary"], store, "churn")
        point_champion(store, second, "churn")
        wait_for(lambda: c.get("/metadata").json()["model_version"] == "2")
        assert c.post("/predict", json=RECORD).json()["model_version"] == "2"
        # A third version whose files were changed after registration: refused, 2 serves on.
        third = register(artifacts["binary"], store, "churn")
        damage(store, "churn", third)
        point_champion(store, third, "churn")
        wait_for(lambda: c.get("/metadata").json()["last_reload_error"] is not None)
        assert c.post("/predict", json=RECORD).json()["model_version"] == "2"
        assert c.get("/health/ready").status_code == 200
        assert 'mlwright_model_swaps_total{result="failed"}' in c.get("/metrics").text
        assert 'mlwright_model_reload_failures_total{reason="ArtifactError"} 1.0' in (
            c.get("/metrics").text
        )


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def with_num(text: str) -> bytes:
    """RECORD, its field "num" given as the JSON ``text``."""
    rest = orjson.dumps({k: v for k, v in RECORD.items() if k != "num"}).decode()
    return f'{rest[:-1]},"num":{text}}}'.encode()


@pytest.mark.parametrize("endpoint", ["/predict", "/explain"])
def test_nested_and_huge_values_get_a_small_422_naming_the_field(
    artifacts: dict[str, Path], endpoint: str
) -> None:
    settings = ServeSettings(model=str(artifacts["binary"]), log=None, max_body_bytes=10 << 20)
    control = "\x01" * 600_000  # 6 bytes each once escaped in JSON
    cases = [
        (with_num(nested(1_000)), "num"),  # parsed; its repr recursed: a 500
        (with_num(nested(100_000)), "num"),  # beyond the parser's depth
        (orjson.dumps({**RECORD, "num": control}), "num"),
        (orjson.dumps({**RECORD, control: 1}), "\x01" * 80 + "... (600,000 characters)"),
        (orjson.dumps([{**RECORD, "plan": 1, "num": "x" * 600}] * 1_000), "[0].num"),
    ]
    with client(settings) as c:
        for body, field in cases:
            assert len(body) > 500_000 or body.count(b"[") >= 1_000
            response = c.post(endpoint, content=body)
            assert response.status_code == 422, response.text[:500]
            assert len(response.content) <= MAX_ERROR_BYTES
            assert response.json()["error"]["field"] == field


def test_an_error_body_is_never_larger_than_the_bound() -> None:
    huge = InputError("\x01" * 1_000_000, field="f" * 1_000_000, hint="\x02" * 1_000_000)
    body = _error_body(huge)
    assert len(body) <= MAX_ERROR_BYTES
    assert orjson.loads(body)["error"]["type"] == "InputError"
    small = InputError("bad", field="num", hint="fix it")
    assert orjson.loads(_error_body(small))["error"]["message"] == "bad"


def test_an_admin_reload_of_an_unknown_or_malformed_model_is_a_4xx(
    artifacts: dict[str, Path], tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    register(artifacts["binary"], store, "churn")
    settings = ServeSettings(
        model="models:/churn@champion",
        tracking_uri=store,
        log=None,
        poll_seconds=0,
        admin_key="adm",
    )
    cases = {
        "models:/nobody@champion": 404,
        "models:/churn/7": 404,
        "models:/churn@nobody": 404,
        "models:/churn@champion\n": 422,  # "$" matched before a trailing newline
        "models:/churn\n@champion": 422,
        "models:/churn/1\n": 422,
        "models:/churn@bad alias": 422,
        "models:/churn@../x": 422,
        "models:/churn/1/2": 422,
    }
    with client(settings) as c:
        for target, status in cases.items():
            response = c.post("/admin/reload", json={"model": target}, headers={"X-API-Key": "adm"})
            assert response.status_code == status, (target, response.text)
            assert response.json()["error"]["field"] == "model"
        assert c.get("/metadata").json()["model_version"] == "1"
        ok = c.post(
            "/admin/reload", json={"model": "models:/churn/1"}, headers={"X-API-Key": "adm"}
        )
        assert ok.status_code == 200


def test_a_remote_version_is_downloaded_once_and_deleted_when_no_longer_served(
    artifacts: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.artifacts

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    downloads: list[str] = []
    download = mlflow.artifacts.download_artifacts

    def counted(**kwargs: object) -> str:
        downloads.append(str(kwargs["artifact_uri"]))
        return download(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", counted)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # where MLflow itself finds the runs
    first = register_remote(artifacts["binary"], store, "churn")
    point_champion(store, first, "churn")
    settings = ServeSettings(
        model="models:/churn@champion", tracking_uri=store, log=None, poll_seconds=0.05
    )
    with client(settings) as c:
        assert c.get("/metadata").json()["model_version"] == first
        time.sleep(1.0)  # some twenty polls that find the same version
        assert len(downloads) == 1
        [cache] = temp.iterdir()
        assert [p.name.split("-")[:2] for p in cache.iterdir()] == [["churn", first]]
        second = register_remote(artifacts["binary"], store, "churn")
        point_champion(store, second, "churn")
        wait_for(lambda: c.get("/metadata").json()["model_version"] == second)
        assert len(downloads) == 2
        # The version no longer served is gone; the one served stays for reloads.
        assert [p.name.split("-")[:2] for p in cache.iterdir()] == [["churn", second]]
        c.post("/predict", json=RECORD).raise_for_status()
    assert list(temp.iterdir()) == []  # the cache goes at shutdown


JSON_TYPES = {
    "numeric": {"type": ["number", "null"]},
    "categorical": {"type": ["string", "null"]},
    "text": {"type": ["string", "null"]},
    "boolean": {"type": ["boolean", "null"]},
}


def test_the_openapi_bodies_are_the_pydantic_record_type_of_the_artifacts_inputs(
    binary: tuple[TestClient, str], trained: dict[str, Model]
) -> None:
    """/predict and /explain document one body, pydantic's JSON Schema of the record type
    the service checks requests with: every input field, typed by its kind."""
    c, _ = binary
    spec = c.get("/openapi.json").json()
    record = spec["components"]["schemas"]["Record"]
    inputs = trained["binary"].inputs
    assert record["required"] == [f.name for f in inputs]
    assert record["additionalProperties"] is False
    for f in inputs:
        if f.kind == "datetime":
            assert {"type": "string", "format": "date-time"} in record["properties"][f.name][
                "anyOf"
            ]
        else:
            assert record["properties"][f.name] == JSON_TYPES[f.kind]
    schema = c.app.state.service.current.schema  # type: ignore[attr-defined]
    assert record == schema.record_schema()
    for path in ("/predict", "/explain"):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"] == schema.body_schema()
        assert body["schema"]["oneOf"][1]["maxItems"] == 1000
        # The example the schema shows is a body the same type accepts.
        assert c.post(path, json=record["example"]).status_code == 200
