"""Whole journeys through the real ``mlwright`` command, on the bundled churn example.

init -> spec -> check -> run (twice: champion, then challenger) -> predict, each a real
subprocess in a temporary working directory with its own MLflow SQLite store. Training runs on
a 1,500-row sample of the example's data to keep the file well under two minutes.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import polars as pl
import pytest

from clirun import Result, mlwright
from mlwright.errors import ArtifactError

SAMPLE_ROWS = 1500
HOLDOUT_ROWS = 300  # validation.holdout = 0.2 in the example spec
SECTIONS = (
    "data",
    "task",
    "value",
    "constraints",
    "validation",
    "search",
    "checks",
    "registry",
    "output",
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, churn_example: Path) -> Path:
    """A working directory holding a copy of the example spec and a sample of its data."""
    root = tmp_path_factory.mktemp("churn")
    pl.read_csv(churn_example / "churn.csv", infer_schema_length=None).head(SAMPLE_ROWS).write_csv(
        root / "churn.csv"
    )
    shutil.copy(churn_example / "spec.toml", root / "spec.toml")
    return root


@pytest.fixture(scope="module")
def churn_example() -> Path:
    return Path(__file__).resolve().parents[2] / "examples" / "churn"


# -- frame and check ----------------------------------------------------------------------------


def test_init_writes_a_spec_that_validates_and_shows_resolved(
    tmp_path: Path, project: Path
) -> None:
    shutil.copy(project / "churn.csv", tmp_path / "churn.csv")
    written = mlwright("init", "churn.csv", "--target", "churn", "-o", "spec.toml", cwd=tmp_path)
    assert written.code == 0, str(written)
    assert "wrote spec.toml" in written.stdout
    text = (tmp_path / "spec.toml").read_text(encoding="utf-8")
    assert text.startswith("# mlwright task spec for churn.csv (1500 rows, 21 columns)")
    assert 'target = "churn"' in text
    assert re.search(r"# inferred: [^\n]*\nproblem_type = \"binary\"", text), text
    assert re.search(r"# default for binary\nmetric = \"roc_auc\"", text), text
    assert 'id = "customer_id"' in text  # an identifier-like column, never a feature
    assert 'path = "churn.csv"' in text  # relative to the spec's folder

    validated = mlwright("spec", "spec.toml", cwd=tmp_path)
    assert validated.code == 0, str(validated)
    assert "ok: spec.toml is a valid spec" in validated.stdout

    shown = mlwright("spec", "spec.toml", "--show", cwd=tmp_path)
    assert shown.code == 0, str(shown)
    for section in SECTIONS:
        assert f"\n[{section}]\n" in shown.stdout, f"[{section}] missing\n{shown}"
    assert 'problem_type = "binary"' in shown.stdout
    assert 'positive_class = "Yes"' in shown.stdout
    assert 'metric = "roc_auc"' in shown.stdout
    assert "Traceback" not in shown.output


def test_spec_show_resolves_an_auto_problem_type(tmp_path: Path, project: Path) -> None:
    shutil.copy(project / "churn.csv", tmp_path / "churn.csv")
    (tmp_path / "spec.toml").write_text(
        '[data]\npath = "churn.csv"\n\n[task]\ntarget = "churn"\n', encoding="utf-8"
    )
    shown = mlwright("spec", "spec.toml", "--show", cwd=tmp_path)
    assert shown.code == 0, str(shown)
    assert re.search(r"# inferred: [^\n]*\nproblem_type = \"binary\"", shown.stdout), str(shown)
    assert re.search(r"# default for binary\nmetric = \"roc_auc\"", shown.stdout), str(shown)
    for section in SECTIONS:
        assert f"\n[{section}]\n" in shown.stdout, f"[{section}] missing\n{shown}"


def test_check_on_the_bundled_example(tmp_path: Path, churn_example: Path) -> None:
    result = mlwright("check", churn_example / "spec.toml", cwd=tmp_path)
    assert result.code == 0, str(result)
    assert "columns (7043 rows)" in result.stdout
    assert "findings" in result.stdout
    assert "columns.missing" in result.stdout  # total_charges has a few missing values
    assert "blocking" not in result.stdout
    assert re.search(r"customer_id\s+│\s+identifier", result.stdout), str(result)
    assert re.search(r"churn\s+│\s+categorical\s+│\s+string\s+│\s+target", result.stdout)
    assert not list(tmp_path.iterdir()), "check must not write anything"


# -- run twice, then predict --------------------------------------------------------------------


@dataclass
class Runs:
    first: Result
    second: Result


@pytest.fixture(scope="module")
def runs(project: Path) -> Runs:
    first = mlwright("run", "spec.toml", "--time-budget", "15s", cwd=project)
    assert first.code == 0, str(first)
    second = mlwright("run", "spec.toml", "--max-trials", "2", "-q", cwd=project)
    assert second.code == 0, str(second)
    return Runs(first, second)


def test_run_prints_the_leaderboard_and_the_holdout_score_beside_the_baseline(
    runs: Runs,
) -> None:
    out = runs.first.stdout
    assert "leaderboard (cross-validation;" in out
    for family in ("baseline", "lightgbm"):  # the best trials, and the baseline, always shown
        assert family in out, f"{family} missing from the leaderboard\n{runs.first}"
    assert re.search(r"\*[ ◆] \w+", out), "the chosen model is not marked"
    score = re.search(
        rf"holdout roc_auc \({HOLDOUT_ROWS} rows\): (\d\.\d+) \[95% (\d\.\d+)-(\d\.\d+)\]\s+"
        r"baseline (\d\.\d+)",
        out,
    )
    assert score, str(runs.first)
    model, low, high, baseline = (float(g) for g in score.groups())
    assert low <= model <= high
    assert baseline == pytest.approx(0.5)  # the prior predicts one probability for everyone
    assert model > baseline + 0.2, "churn is learnable; the model must beat the baseline"
    assert "decision threshold" in out  # the example states business values
    # Progress bars go to stderr, never into the summary on stdout.
    assert "searching models" in runs.first.stderr
    assert "Traceback" not in runs.first.output


def test_run_writes_the_artifact_and_the_mlflow_store(project: Path, runs: Runs) -> None:
    artifact = project / "models" / "churn"
    assert f"artifact: {artifact}" in runs.first.stdout
    assert (artifact / "manifest.json").is_file()
    assert any((artifact / "learners").iterdir())
    assert (project / "mlflow.db").is_file()


def test_the_bundled_examples_card_shows_what_its_decisions_are_worth(
    project: Path, runs: Runs
) -> None:
    artifact = project / "models" / "churn"
    assert f"model card: {artifact / 'model_card.html'}" in runs.first.stdout
    text = (artifact / "model_card.md").read_text()
    assert "- **For**: Which customers should get a retention offer this month?" in text
    policies = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] in ("model at threshold", "model at 0.5", "act on everyone", "act on no one"):
            policies[cells[0]] = cells[1]
    assert set(policies) == {
        "model at threshold",
        "model at 0.5",
        "act on everyone",
        "act on no one",
    }
    for value in policies.values():
        # The spec states no currency: the card says "value units" once, after the interval.
        assert re.fullmatch(r"-?[\d,.]+ \[-?[\d,.]+, -?[\d,.]+\] value units", value), value
    page = (artifact / "model_card.html").read_text()
    assert page.count("<svg") >= 4


def test_first_run_is_champion_second_is_challenger(project: Path, runs: Runs) -> None:
    store = f"sqlite:///{project / 'mlflow.db'}"
    assert (
        f"registered: churn version 1 as 'champion' (models:/churn@champion) in {store}"
        in runs.first.stdout
    )
    assert (
        f"registered: churn version 2 as 'challenger' (models:/churn@challenger) in {store}"
        in runs.second.stdout
    )
    assert "score a file: mlwright predict models:/churn@challenger" in runs.second.stdout

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store, registry_uri=store)
    aliases = client.get_registered_model("churn").aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1", "challenger": "2"}
    run = client.get_run(client.get_model_version("churn", "1").run_id)
    assert run.data.tags["mlwright.problem_type"] == "binary"
    assert "holdout_roc_auc" in run.data.metrics
    assert run.data.params["task.target"] == "churn"


def _assert_predictions(scored: pl.DataFrame, inputs: pl.DataFrame) -> None:
    assert scored.columns == ["customer_id", "prediction", "proba_No", "proba_Yes"]
    assert scored.height == inputs.height
    assert scored["customer_id"].to_list() == inputs["customer_id"].to_list()
    assert set(scored["prediction"].unique().to_list()) == {"No", "Yes"}
    total = scored["proba_No"] + scored["proba_Yes"]
    assert ((total - 1.0).abs() < 1e-9).all()


def test_predict_with_the_champion_uri_writes_csv(project: Path, runs: Runs) -> None:
    result = mlwright(
        "predict", "models:/churn@champion", "churn.csv", "-o", "scored/out.csv", cwd=project
    )
    assert result.code == 0, str(result)
    assert f"scored {SAMPLE_ROWS} rows -> scored/out.csv" in result.stdout
    _assert_predictions(
        pl.read_csv(project / "scored" / "out.csv"), pl.read_csv(project / "churn.csv")
    )


def test_predict_with_the_artifact_dir_writes_parquet(
    tmp_path: Path, project: Path, runs: Runs
) -> None:
    inputs = pl.read_csv(project / "churn.csv").drop("churn").head(400)
    inputs.write_csv(tmp_path / "new_customers.csv")
    output = tmp_path / "out.parquet"
    result = mlwright(
        "predict", project / "models" / "churn", "new_customers.csv", "-o", output, cwd=tmp_path
    )
    assert result.code == 0, str(result)
    _assert_predictions(pl.read_parquet(output), inputs)
    assert not (tmp_path / "mlflow.db").exists(), "scoring an artifact path needs no registry"


def test_a_tampered_registered_artifact_is_refused(project: Path, runs: Runs) -> None:
    """The registry hands back an artifact only while its manifest is the registered one."""
    from mlflow import MlflowClient

    store = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    source = urlparse(client.get_model_version_by_alias("churn", "challenger").source)
    manifest = Path(unquote(source.path)) / "manifest.json"
    original = manifest.read_bytes()
    try:
        manifest.write_bytes(original + b"\n")  # same JSON, another SHA-256
        result = mlwright(
            "predict", "models:/churn@challenger", "churn.csv", "-o", "x.csv", cwd=project
        )
    finally:
        manifest.write_bytes(original)
    assert result.code == ArtifactError.exit_code, str(result)
    assert "churn version 2" in result.stderr
    assert "does not match the SHA-256 recorded at registration" in result.stderr
    assert "\n  fix: " in result.stderr
    assert "Traceback" not in result.output
    assert not (project / "x.csv").exists()
