from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def churn_csv() -> Path:
    """The bundled example's data (modeldata/wa_churn)."""
    return ROOT / "examples" / "churn" / "churn.csv"


@pytest.fixture
def churn_spec() -> Path:
    return ROOT / "examples" / "churn" / "spec.toml"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory (MLflow's default store lands here), no tracking URI set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture
def pg_url() -> str:
    """The PostgreSQL server of MLWRIGHT_TEST_PG_URL; required when MLWRIGHT_REQUIRE_PG=1."""
    url = os.environ.get("MLWRIGHT_TEST_PG_URL")
    if not url:
        if os.environ.get("MLWRIGHT_REQUIRE_PG") == "1":
            pytest.fail("MLWRIGHT_REQUIRE_PG=1 but MLWRIGHT_TEST_PG_URL is not set")
        pytest.skip("set MLWRIGHT_TEST_PG_URL to a PostgreSQL SQLAlchemy URL to run this")
    return url


@pytest.fixture(scope="session")
def trained() -> dict[str, object]:
    """One small fitted model per problem type, shared by the tests that only read them."""
    import mlwright
    from synth import FAST, make_frame

    return {
        problem: mlwright.fit(make_frame(problem, n=400, seed=1), target="y", **FAST)
        for problem in ("binary", "multiclass", "regression")
    }
