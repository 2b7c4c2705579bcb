"""docs/monitoring.md runs: train and register, serve with a log, label some answers,
feed the labels back and monitor, with the commands as the page writes them; and the
monitor and feedback commands fail as the page says they do."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import orjson
import polars as pl

from clirun import assert_clean_failure, mlwright
from served import start_server

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "monitoring.md"
SERVED = 300  # answers logged
LABELLED = 250  # of them, labelled


def documented_commands() -> list[list[str]]:
    text = PAGE.read_text()
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL)
    lines = [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]
    return [shlex.split(line) for line in lines if "||" not in line]


def test_the_monitoring_guide_runs(repo_copy: Path) -> None:
    run, serve, feedback, monitor, retrain, compare, promote = documented_commands()
    assert [c[1] for c in (run, serve, feedback, monitor, retrain, compare, promote)] == [
        "run",
        "serve",
        "feedback",
        "monitor",
        "retrain",
        "compare",
        "promote",
    ]
    assert mlwright(*run[1:], cwd=repo_copy, timeout=300).code == 0
    log = serve[serve.index("--log") + 1]
    server = start_server(serve[2:], cwd=repo_copy, log=log)
    # New customers: rows of the full example the trimmed copy did not train on (a refit
    # model's answers on its own training rows are more confident than on new ones, and
    # the monitor rightly calls that prediction drift).
    trained_on = pl.read_csv(repo_copy / "examples" / "churn" / "churn.csv")["customer_id"]
    data = (
        pl.read_csv(ROOT / "examples" / "churn" / "churn.csv")
        .filter(~pl.col("customer_id").is_in(trained_on.implode()))
        .head(SERVED)
    )
    try:
        records = data.drop("churn", "customer_id").to_dicts()
        status, body = server.request(
            "POST", "/predict", orjson.dumps(records), {"Content-Type": "application/json"}
        )
        assert status == 200, body
    finally:
        assert server.stopped_gracefully()  # everything acknowledged is in the log
    ids = [a["prediction_id"] for a in orjson.loads(body)["predictions"]]
    labels = pl.DataFrame({"prediction_id": ids, "churn": data["churn"]}).head(LABELLED)
    labels.write_csv(repo_copy / "labels.csv")

    stored = mlwright(*feedback[1:], cwd=repo_copy)
    assert stored.code == 0, str(stored)
    assert f"stored {LABELLED} labels" in stored.stdout

    watched = mlwright(*monitor[1:], cwd=repo_copy)
    assert watched.code == 0, str(watched)  # the training distribution itself: no alert
    assert "status: all well" in watched.stdout
    out = repo_copy / "monitoring"
    report = orjson.loads((out / "monitor.json").read_bytes())
    assert (report["rows"], report["labelled"], report["status"]) == (SERVED, LABELLED, "ok")
    assert report["model_name"] == "churn"
    judged = [w for w in report["windows"] if w["status"] != "too few rows"]
    assert judged, "the served answers fill at least one window"
    assert {"tenure", "contract", "monthly_charges"} <= set(judged[0]["drift"])
    assert "<svg" in (out / "monitor.html").read_text()
    assert (out / "monitor.md").read_text().startswith("# Monitoring: churn")

    retrained = mlwright(*retrain[1:], cwd=repo_copy, timeout=300)
    assert retrained.code == 0, str(retrained)
    kept = LABELLED // 5  # validation.holdout = 0.2 of the labelled answers
    assert f"and {LABELLED - kept} labelled answers; {kept} recent answers kept out" in (
        retrained.stdout
    )
    assert "registered churn version 2 as challenger" in retrained.stdout
    compared = mlwright(*compare[1:], cwd=repo_copy)
    assert compared.code == 0, str(compared)
    assert f"champion against challenger on {kept} rows" in compared.stdout
    wins = "the challenger (version 2) wins" in compared.stdout
    assert wins or "does not clearly win" in compared.stdout
    promoted = mlwright(*promote[1:], cwd=repo_copy)
    assert promoted.code == (0 if wins else 1), str(promoted)
    expected = "promoted: churn version 2 is the champion" if wins else "nothing changed"
    assert expected in promoted.stdout


def test_monitor_and_feedback_fail_with_the_documented_codes(repo_copy: Path) -> None:
    model = repo_copy / "model"
    trained = mlwright(
        "run", "examples/churn/spec.toml", "--max-trials", "1", "--no-register", "--out", model,
        cwd=repo_copy, timeout=300,
    )  # fmt: skip
    assert trained.code == 0, str(trained)
    empty = "sqlite:///empty.db"
    assert_clean_failure(mlwright("monitor", model, "--log", empty, cwd=repo_copy), 3, "no answers")
    assert_clean_failure(
        mlwright("monitor", model, "--since", "last tuesday", cwd=repo_copy), 2, "--since"
    )
    assert_clean_failure(
        mlwright("monitor", model, "--window", "fortnight", cwd=repo_copy), 2, "duration", fix=True
    )
    (repo_copy / "labels.csv").write_text("prediction_id,churn\nabc,Maybe\n")
    assert_clean_failure(
        mlwright("feedback", model, repo_copy / "labels.csv", "--log", empty, cwd=repo_copy),
        3,
        "'Maybe'",
    )
