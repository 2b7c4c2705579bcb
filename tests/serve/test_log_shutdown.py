"""`mlwright serve` with a prediction log that stalls (its SQLite file locked by another
process): readiness turns 503 within seconds and back, /metrics shows the backlog, and at
SIGTERM every acknowledged answer is in the log or in the spill file, counted exactly, and
written in once by the next start."""

from __future__ import annotations

import re
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from mlwright.artifact import Model
from mlwright.serve import read_log
from served import Server, start_server
from synth import RECORD

BODY = orjson.dumps(RECORD)


@pytest.fixture(scope="module")
def artifact(trained: dict[str, Model], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained["binary"].save(tmp_path_factory.mktemp("served") / "model")


def predict(server: Server) -> str:
    status, data = server.request("POST", "/predict", BODY, {"Content-Type": "application/json"})
    assert status == 200, data
    return str(orjson.loads(data)["prediction_id"])


def metric(server: Server, name: str) -> float:
    text = server.get("/metrics")[1].decode()
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, text
    return float(found.group(1))


def wait_until(condition: Callable[[], bool], seconds: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not so within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - started


def lock(database: Path) -> sqlite3.Connection:
    """Another process's write transaction on the log file: every write waits for it."""
    locker = sqlite3.connect(database, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    return locker


def test_a_stalled_log_turns_readiness_503_within_seconds_and_back(
    artifact: Path, tmp_path: Path
) -> None:
    log = f"sqlite:///{tmp_path / 'predictions.db'}"
    server = start_server([str(artifact), "--log", log, "--log-stall", "1"], cwd=tmp_path, log=log)
    try:
        predict(server)
        wait_until(lambda: metric(server, "mlwright_log_written") == 1, 5)
        locker = lock(tmp_path / "predictions.db")
        ids = [predict(server) for _ in range(20)]
        waited = wait_until(lambda: server.get("/health/ready")[0] == 503, 5)
        assert waited < 3
        reason = orjson.loads(server.get("/health/ready")[1])["reason"]
        assert "prediction log is stalled" in reason
        assert metric(server, "mlwright_log_pending") == 20
        assert metric(server, "mlwright_log_stalled") == 1
        assert metric(server, "mlwright_log_oldest_seconds") >= 1
        locker.rollback()
        locker.close()
        assert wait_until(lambda: server.get("/health/ready")[0] == 200, 5) < 3
        assert metric(server, "mlwright_log_pending") == 0
        assert metric(server, "mlwright_log_stalled") == 0
    finally:
        assert server.stopped_gracefully()
    assert set(ids) <= {r["prediction_id"] for r in read_log(log)}


def test_sigterm_with_a_locked_log_spills_every_answer_and_the_next_start_writes_them(
    artifact: Path, tmp_path: Path
) -> None:
    database = tmp_path / "predictions.db"
    log = f"sqlite:///{database}"
    args = [str(artifact), "--log", log, "--log-grace", "1"]
    server = start_server([*args, "--workers", "2"], cwd=tmp_path, log=log)
    written = [predict(server) for _ in range(10)]
    wait_until(lambda: len(read_log(log)) == 10, 5)
    locker = lock(database)
    spilled = [predict(server) for _ in range(200)]
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 15  # the grace period, not the 30 s busy timeout
    output = server.output.read_text()
    assert "Traceback" not in output
    # Each worker says how many of its answers it spilled: together, exactly the 200.
    counts = re.findall(r"(\d+) answers unwritten, spilled to (\S+?);", output)
    assert sum(int(n) for n, _ in counts) == 200, output
    spill = tmp_path / "predictions.db.spill.jsonl"
    assert {Path(where) for _, where in counts} == {spill}
    lines = [orjson.loads(line) for line in spill.read_bytes().splitlines()]
    assert sorted(line["prediction_id"] for line in lines) == sorted(spilled)
    locker.rollback()
    locker.close()
    assert {r["prediction_id"] for r in read_log(log)} == set(written)
    again = start_server(args, cwd=tmp_path, log=log)  # the next start writes them in
    assert again.stopped_gracefully()
    assert "wrote 200 answers from the spill file" in again.output.read_text()
    assert not spill.exists()
    ids = [r["prediction_id"] for r in read_log(log)]
    assert sorted(ids) == sorted(written + spilled)  # every answer, each once
