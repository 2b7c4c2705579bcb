"""The recommendation service: GET and POST /recommend, cold start and fold-in said in the
answer, bad input a 4xx naming the field, every answer logged; and `mlwright serve` on a
recommender artifact over loopback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from hostile import replace_file
from mlwright.errors import ArtifactError
from mlwright.recommend import Recommender, load_recommender, save_recommender
from mlwright.serve import RecommendService, ServeSettings, create_recommend_app, read_log
from recsynth import interaction_log, quick_recommender
from registry_store import damage, point_champion, register, wait_for
from served import start_server


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = quick_recommender(item_features=("genre",))
    return save_recommender(model, tmp_path_factory.mktemp("rec") / "model")


@pytest.fixture
def served(artifact: Path, tmp_path: Path) -> Iterator[tuple[TestClient, str, Recommender]]:
    log = f"sqlite:///{tmp_path / 'log.db'}"
    with TestClient(create_recommend_app(ServeSettings(model=str(artifact), log=log))) as c:
        yield c, log, load_recommender(artifact)


def test_get_for_a_known_user_matches_the_model(
    served: tuple[TestClient, str, Recommender],
) -> None:
    client, _, model = served
    response = client.get("/recommend", params={"user_id": "3", "k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["items"] == model.recommend(user=3, k=5)
    assert len(body["items"]) == 5
    assert body["known_user"] is True
    assert body["cold_start"] is False
    assert body["prediction_id"]
    assert body["model_version"].startswith("sha256:")
    seen = set(model.seen[model._lookup_user(3)].indices.tolist())  # type: ignore[index]
    assert not seen & {model._items[i] for i in body["items"]}


def test_unknown_user_gets_popularity_and_says_cold_start(
    served: tuple[TestClient, str, Recommender],
) -> None:
    client, _, model = served
    body = client.get("/recommend", params={"user_id": "nobody", "k": 4}).json()
    assert body["cold_start"] is True
    assert body["known_user"] is False
    assert body["source"] == "popularity"
    assert body["items"] == model.recommend(k=4)


def test_post_folds_in_a_new_history_and_reports_unknown_items(
    served: tuple[TestClient, str, Recommender],
) -> None:
    client, _, model = served
    request = {"history": ["i1", "i5", "never-seen"], "k": 6, "exclude": ["i9", "nope"]}
    body = client.post("/recommend", content=orjson.dumps(request)).json()
    assert body["cold_start"] is False
    assert body["history_used"] == 2
    assert body["unknown_history"] == ["never-seen"]
    assert body["unknown_filter"] == ["nope"]
    assert not {"i1", "i5", "i9"} & set(body["items"])
    assert body["items"] == model.recommend(history=["i1", "i5"], k=6, exclude=["i9"])


def test_an_allow_list_shorter_than_k_returns_what_it_allows(
    served: tuple[TestClient, str, Recommender],
) -> None:
    client, _, _ = served
    body = client.post(
        "/recommend", content=orjson.dumps({"history": ["i0"], "allow": ["i2", "i3"], "k": 5})
    ).json()
    assert sorted(body["items"]) == ["i2", "i3"]
    assert body["short_by"] == 3


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, "body"),
        (b"[1, 2]", 422, "body"),
        (b'{"k": 0}', 422, "k"),
        (b'{"k": 1001}', 422, "k"),
        (b'{"k": "many"}', 422, "k"),
        (b'{"history": "i1,i2"}', 422, "history"),
        (b'{"history": [1.5]}', 422, "history.0"),
        (b'{"user_id": {"a": 1}}', 422, "user_id"),
        (b'{"histroy": ["i1"]}', 422, "histroy"),
        (b'{"allow": "i1"}', 422, "allow"),
        # Strict types: JSON false is not user 0, "5" is not k=5, and an integer beyond 64
        # bits (which JSON allows) cannot be an id the artifact holds.
        (b'{"user_id": false}', 422, "user_id"),
        (b'{"k": true}', 422, "k"),
        (b'{"k": "5"}', 422, "k"),
        (b'{"history": [275483079570865094918144]}', 422, "history.0"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(
    served: tuple[TestClient, str, Recommender], body: bytes, status: int, field: str
) -> None:
    client, _, _ = served
    response = client.post("/recommend", content=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field


def test_get_with_a_bad_k_names_k(served: tuple[TestClient, str, Recommender]) -> None:
    client, _, _ = served
    for k in ("0", "5000", "ten"):
        response = client.get("/recommend", params={"user_id": "1", "k": k})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "k"


def test_every_answer_is_logged(served: tuple[TestClient, str, Recommender]) -> None:
    client, log, _ = served
    ids = [
        client.get("/recommend", params={"user_id": "2", "k": 3}).json()["prediction_id"],
        client.post("/recommend", content=b'{"history": ["i4"], "k": 2}').json()["prediction_id"],
    ]
    client.__exit__(None, None, None)  # shutdown flushes the log
    logged = {row["prediction_id"]: row for row in read_log(log, endpoint="recommend")}
    assert set(ids) <= set(logged)
    first, second = (logged[i] for i in ids)
    assert orjson.loads(first["inputs"]) == {"user_id": "2", "k": 3}
    assert len(orjson.loads(first["outputs"])["items"]) == 3
    assert orjson.loads(second["inputs"]) == {"history": ["i4"], "k": 2}
    assert len(orjson.loads(second["outputs"])["items"]) == 2


def test_metadata_health_metrics_and_openapi(
    served: tuple[TestClient, str, Recommender],
) -> None:
    client, _, _ = served
    assert client.get("/health/ready").json()["status"] == "ready"
    meta = client.get("/metadata").json()
    assert meta["problem_type"] == "recommendation"
    assert "ndcg@10" in meta["evaluation"]["scores"]["model"]
    client.get("/recommend", params={"user_id": "1"})
    assert (
        'mlwright_requests_total{endpoint="recommend",status="200"}' in client.get("/metrics").text
    )
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/recommend"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["properties"]) == {"user_id", "history", "k", "exclude", "allow"}


def test_api_key_guards_recommend(artifact: Path) -> None:
    settings = ServeSettings(model=str(artifact), log=None, api_key="s3cret")
    with TestClient(create_recommend_app(settings)) as client:
        assert client.get("/recommend", params={"user_id": "1"}).status_code == 401
        ok = client.get("/recommend", params={"user_id": "1"}, headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 200


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second recommender (another log, so other lists) to swap to."""
    model = quick_recommender(log=interaction_log(seed=1))
    return save_recommender(model, tmp_path_factory.mktemp("rec") / "other")


def test_admin_reload_needs_its_key_and_swaps_the_recommender(
    artifact: Path, other: Path, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    register(artifact, store, "shop")
    register(other, store, "shop")
    settings = ServeSettings(
        model="models:/shop/1", tracking_uri=store, log=None, admin_key="adm", poll_seconds=0
    )
    with TestClient(create_recommend_app(settings)) as client:
        assert client.post("/admin/reload").status_code == 401
        assert client.get("/metadata").json()["model_version"] == "1"
        same = client.post("/admin/reload", headers={"X-API-Key": "adm"})
        assert same.status_code == 200, same.text
        assert same.json()["swapped"] is False
        swapped = client.post(
            "/admin/reload", json={"model": "models:/shop/2"}, headers={"X-API-Key": "adm"}
        )
        assert swapped.json() == {
            "swapped": True,
            "model_name": "shop",
            "model_version": "2",
            "previous_version": "1",
        }
        answer = client.get("/recommend", params={"user_id": "3", "k": "5"}).json()
        assert answer["model_version"] == "2"
        assert answer["items"] == load_recommender(other).recommend(user=3, k=5)
        refused = client.post(
            "/admin/reload", json={"model": "/etc/passwd"}, headers={"X-API-Key": "adm"}
        )
        assert refused.status_code == 422
        assert refused.json()["error"]["field"] == "model"


def test_the_recommender_follows_its_alias_and_keeps_serving_when_a_load_fails(
    artifact: Path, other: Path, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    register(artifact, store, "shop")
    point_champion(store, "1", "shop")
    settings = ServeSettings(
        model="models:/shop@champion", tracking_uri=store, log=None, poll_seconds=0.1
    )
    with TestClient(create_recommend_app(settings)) as client:
        assert client.get("/metadata").json()["model_version"] == "1"
        point_champion(store, register(other, store, "shop"), "shop")
        wait_for(lambda: client.get("/metadata").json()["model_version"] == "2")
        answer = client.get("/recommend", params={"user_id": "3", "k": "5"}).json()
        assert answer["model_version"] == "2"
        # A version whose files changed after registration is refused; version 2 serves on.
        third = register(artifact, store, "shop")
        damage(store, "shop", third)
        point_champion(store, third, "shop")
        wait_for(lambda: client.get("/metadata").json()["last_reload_error"] is not None)
        assert client.get("/recommend", params={"user_id": "3"}).json()["model_version"] == "2"
        assert client.get("/health/ready").status_code == 200
        assert 'mlwright_model_swaps_total{result="failed"}' in client.get("/metrics").text


def test_mlwright_serve_answers_recommendations_over_loopback(
    artifact: Path, tmp_path: Path
) -> None:
    log = f"sqlite:///{tmp_path / 'log.db'}"
    server = start_server([str(artifact), "--log", log], cwd=tmp_path, log=log)
    try:
        status, body = server.get("/recommend?user_id=5&k=3")
        assert status == 200, body
        assert len(orjson.loads(body)["items"]) == 3
        status, body = server.request("POST", "/recommend", b'{"history": ["i2"], "k": 2}')
        assert status == 200, body
        status, body = server.request("POST", "/recommend", b'{"k": -1}')
        assert status == 422
        assert orjson.loads(body)["error"]["field"] == "k"
    finally:
        assert server.stopped_gracefully()


def test_a_recommender_is_loaded_in_a_child_process_before_the_service_loads_it(
    artifact: Path, tmp_path: Path
) -> None:
    """A file whose hash matches (the manifest was edited too) but whose content cannot be
    read: refused by the child, named, and never loaded into the serving process."""
    broken = Path(shutil.copytree(artifact, tmp_path / "broken"))
    replace_file(broken, "users.npz", b"PK\x03\x04 not a zip archive")
    service = RecommendService(ServeSettings(model=str(broken), log=None))
    with pytest.raises(ArtifactError, match="child process") as caught:
        service.load(str(broken))
    assert "users.npz" in caught.value.message
