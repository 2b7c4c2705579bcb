"""A challenger beside the served model: in shadow mode it scores every request after the
answer and its answers are logged, never returned; in a split it answers its share of the
requests under its own version; one on another schema stops the service from starting."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

import mlwright
from mlwright.artifact import Model
from mlwright.errors import SchemaMismatchError, SpecError
from mlwright.serve import ServeSettings, Service, create_app, read_log
from synth import FAST, RECORD, make_frame


@pytest.fixture(scope="module")
def artifacts(
    trained: dict[str, Model], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("challenger")
    other = mlwright.fit(make_frame("binary", n=400, seed=2), target="y", **FAST)
    return {
        "champion": trained["binary"].save(root / "champion"),
        "challenger": other.save(root / "challenger"),
        "regression": trained["regression"].save(root / "regression"),
    }


def settings(artifacts: dict[str, Path], log: str, **kwargs: object) -> ServeSettings:
    return ServeSettings(
        model=str(artifacts["champion"]),
        challenger=str(artifacts["challenger"]),
        log=log,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_shadow_scores_every_request_and_is_logged_not_returned(
    artifacts: dict[str, Path], tmp_path: Path
) -> None:
    log = f"sqlite:///{tmp_path / 'log.db'}"
    with TestClient(create_app(settings(artifacts, log))) as c:
        answers = [c.post("/predict", json=RECORD).json() for _ in range(5)]
        listed = c.post("/predict", json=[RECORD, {**RECORD, "num": -1.0}]).json()
        meta = c.get("/metadata").json()
        metrics = c.get("/metrics").text
    champion = Service(ServeSettings(model=str(artifacts["champion"]))).load(
        str(artifacts["champion"])
    )
    assert {a["model_version"] for a in answers} == {champion.version}
    assert all("shadow_of" not in a for a in answers)
    rows = read_log(log)
    shadow = [r for r in rows if r["endpoint"] == "shadow"]
    primary = [r for r in rows if r["endpoint"] == "predict"]
    assert len(primary) == len(shadow) == 7
    assert {r["model_version"] for r in shadow} == {meta["challenger"]["model_version"]}
    assert meta["challenger"]["mode"] == "shadow"
    shadowed = {orjson.loads(r["outputs"])["shadow_of"] for r in shadow}
    assert shadowed == {r["prediction_id"] for r in primary}
    by_id = {r["prediction_id"]: r for r in primary}
    for row in shadow:
        out = orjson.loads(row["outputs"])
        assert row["inputs"] == by_id[out["shadow_of"]]["inputs"]
        challenger = mlwright.load(artifacts["challenger"])
        expected = challenger.predict_proba_one(orjson.loads(row["inputs"]))
        assert out["probabilities"] == pytest.approx(expected, abs=1e-12)
    assert listed["predictions"][1]["prediction_id"] in shadowed
    assert "mlwright_shadow_records_total 7.0" in metrics


def test_a_split_answers_its_share_under_its_own_version(
    artifacts: dict[str, Path], tmp_path: Path
) -> None:
    log = f"sqlite:///{tmp_path / 'log.db'}"
    chosen = settings(artifacts, log, challenger_mode="split", challenger_share=0.3)
    with TestClient(create_app(chosen)) as c:
        versions = [c.post("/predict", json=RECORD).json()["model_version"] for _ in range(400)]
        meta = c.get("/metadata").json()
    challenger = meta["challenger"]["model_version"]
    share = versions.count(challenger) / len(versions)
    assert 0.22 < share < 0.38  # 0.3 +- 3.5 standard errors
    assert len(set(versions)) == 2
    logged = [r["model_version"] for r in read_log(log)]
    assert sorted(logged) == sorted(versions)  # each answer logged under the model that gave it
    assert all(r["endpoint"] == "predict" for r in read_log(log))


def test_a_challenger_on_another_schema_or_bad_options_stop_the_start(
    artifacts: dict[str, Path],
) -> None:
    mismatched = ServeSettings(
        model=str(artifacts["champion"]), challenger=str(artifacts["regression"]), log=None
    )
    app = create_app(mismatched)
    with (
        pytest.raises(SchemaMismatchError, match="problem type binary vs regression"),
        TestClient(app),
    ):
        pass
    for bad in ({"challenger_mode": "canary"}, {"challenger_share": 1.5}):
        wrong = settings(artifacts, "sqlite://", **bad)
        service = Service(wrong)
        with pytest.raises(SpecError):
            service.load_challenger()
