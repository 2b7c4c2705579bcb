"""The service as users run it: `mlwright serve` in its own process, real HTTP clients over
loopback. Concurrency without errors, graceful shutdown that keeps every acknowledged
answer, and a log still consistent after kill -9."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from clirun import assert_clean_failure, mlwright
from hostile import member_file, replace_file
from mlwright.artifact import Model
from mlwright.serve import ServeSettings, Service, read_log
from mlwright.serve._app import _flag_shutdown_on_signals
from registry_store import point_champion, register, wait_for
from served import Server, free_port, start_server
from synth import RECORD

BODY = orjson.dumps(RECORD)
SERVE = [sys.executable, "-m", "mlwright", "serve"]


def start(artifact: Path, tmp: Path, *args: str) -> Server:
    log = f"sqlite:///{tmp / 'predictions.db'}"
    return start_server([str(artifact), "--log", log, *args], cwd=tmp, log=log)


@pytest.fixture(scope="module")
def artifact(trained: dict[str, Model], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained["binary"].save(tmp_path_factory.mktemp("served") / "model")


@dataclass
class Clients:
    """Threads that post records over keep-alive connections until told to stop, keeping
    the id of every answer they were given and when."""

    port: int
    acknowledged: list[tuple[float, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # answers that were not 200
    refused: int = 0  # connections the server no longer took (after shutdown)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, n_clients: int, per_client: int | None = None) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.client, args=(per_client,)) for _ in range(n_clients)
        ]
        for t in threads:
            t.start()
        return threads

    def client(self, count: int | None) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = 0
        while not self.stop.is_set() and (count is None or sent < count):
            sent += 1
            try:
                connection.request("POST", "/predict", BODY, {"Content-Type": "application/json"})
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.refused += 1
                connection.close()
                if self.stop.wait(0.01):
                    return
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            with self.lock:
                if response.status == 200:
                    self.acknowledged.append(
                        (time.monotonic(), orjson.loads(data)["prediction_id"])
                    )
                else:
                    self.errors.append(f"{response.status} {data[:200]!r}")
        connection.close()


def test_concurrent_clients_get_answers_and_all_are_logged(artifact: Path, tmp_path: Path) -> None:
    server = start(artifact, tmp_path)
    try:
        clients = Clients(server.port)
        for t in clients.run(32, per_client=40):
            t.join()
        assert clients.errors == []
        assert clients.refused == 0
        assert len(clients.acknowledged) == 32 * 40
    finally:
        assert server.stopped_gracefully()
    logged = {r["prediction_id"] for r in read_log(server.log)}
    assert logged == {pid for _, pid in clients.acknowledged}


def test_sigterm_under_load_loses_nothing_acknowledged(artifact: Path, tmp_path: Path) -> None:
    server = start(artifact, tmp_path, "--workers", "2")
    clients = Clients(server.port)
    threads = clients.run(8)
    time.sleep(1.5)
    assert server.stopped_gracefully()
    clients.stop.set()
    for t in threads:
        t.join()
    assert clients.errors == []
    assert len(clients.acknowledged) > 50
    logged = {r["prediction_id"] for r in read_log(server.log)}
    assert {pid for _, pid in clients.acknowledged} <= logged


def test_after_kill_9_the_log_is_consistent_and_the_loss_is_bounded(
    artifact: Path, tmp_path: Path
) -> None:
    server = start(artifact, tmp_path)
    clients = Clients(server.port)
    threads = clients.run(8)
    time.sleep(2.0)
    killed_at = time.monotonic()
    server.stop(signal.SIGKILL)
    clients.stop.set()
    for t in threads:
        t.join()
    db = tmp_path / "predictions.db"
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    logged = {r["prediction_id"] for r in read_log(server.log)}
    acknowledged = dict((pid, at) for at, pid in clients.acknowledged)
    assert len(acknowledged) > 50
    # Nothing is logged that was not answered (or in flight), and everything acknowledged
    # more than a second before the kill is there: the loss window is the flush interval
    # (50 ms) plus one batch being written.
    missing_old = [
        pid for pid, at in acknowledged.items() if at < killed_at - 1.0 and pid not in logged
    ]
    assert missing_old == []
    assert len(logged - set(acknowledged)) <= 8  # at most one in flight per client


def test_readiness_drops_the_moment_sigterm_arrives(trained: dict[str, Model]) -> None:
    service = Service(ServeSettings(model="unused", log=None))
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: seen.append(sig))
    try:
        restore = _flag_shutdown_on_signals(service)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert service.shutting_down
        assert seen == [signal.SIGTERM]  # the server's own handler still runs
        assert service.readiness() == (False, "shutting down")
        restore()
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--unknown-fields", "maybe", "--unknown-fields must be one of"),
        ("--log", "nonsense", "--log"),
    ],
)
def test_bad_options_fail_before_the_model_loads(
    tmp_path: Path, option: str, value: str, words: str
) -> None:
    result = mlwright("serve", tmp_path / "nothing", option, value, cwd=tmp_path)
    assert_clean_failure(result, 2, words, fix=False)


def test_a_bad_model_reference_fails_before_serving(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SERVE, str(tmp_path / "nothing"), "--log", "none"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 5  # ArtifactError
    assert "error:" in result.stderr
    assert "Traceback" not in result.stderr


def test_twenty_swaps_under_load_fail_no_request(
    artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlwright.artifact import manifest_digest
    from mlwright.registry import log_and_register

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for _ in range(2):
        log_and_register(
            artifact_dir=artifact,
            manifest_sha256=manifest_digest(artifact),
            experiment="churn",
            model_name="churn",
            params={},
            metrics={},
            tags={},
            uri=store,
        )
    log = f"sqlite:///{tmp_path / 'predictions.db'}"
    monkeypatch.setenv("MLWRIGHT_ADMIN_KEY", "adm")
    server = start_server(
        ["models:/churn@champion", "--tracking-uri", store, "--poll", "0", "--log", log],
        cwd=tmp_path,
        log=log,
    )
    clients = Clients(server.port)
    threads = clients.run(8)
    try:
        for i in range(20):
            target = f"models:/churn/{2 - i % 2}"  # 2, 1, 2, 1, ...
            status, data = server.request(
                "POST",
                "/admin/reload",
                orjson.dumps({"model": target}),
                {"X-API-Key": "adm", "Content-Type": "application/json"},
            )
            assert status == 200, data
            assert orjson.loads(data)["swapped"] is True
            time.sleep(0.1)
    finally:
        clients.stop.set()
        for t in threads:
            t.join()
        assert server.stopped_gracefully()
    assert clients.errors == []
    assert clients.refused == 0
    assert len(clients.acknowledged) > 100
    versions = {r["model_version"] for r in read_log(log)}
    assert versions == {"1", "2"}
    output = server.output.read_text()
    assert "Traceback" not in output
    assert output.count("now serving churn version") == 21  # the first load and 20 swaps


def test_the_command_serves_a_shadow_challenger_and_refuses_a_mismatched_one(
    artifact: Path, trained: dict[str, Model], tmp_path: Path
) -> None:
    shadow = start(artifact, tmp_path, "--challenger", str(artifact))
    try:
        status, body = shadow.request(
            "POST", "/predict", BODY, {"Content-Type": "application/json"}
        )
        assert status == 200, body
        meta = orjson.loads(shadow.get("/metadata")[1])
        assert meta["challenger"]["mode"] == "shadow"
    finally:
        assert shadow.stopped_gracefully()
    assert shadow.log is not None
    endpoints = sorted(r["endpoint"] for r in read_log(shadow.log))
    assert endpoints == ["predict", "shadow"]
    other = trained["regression"].save(tmp_path / "regression")
    refused = mlwright("serve", artifact, "--challenger", other, "--log", "none", cwd=tmp_path)
    assert_clean_failure(refused, 3, "different schema", fix=True)


@pytest.fixture
def aborting(artifact: Path, tmp_path: Path) -> Path:
    """The artifact with its LightGBM model.txt cut short and its SHA-256 updated in the
    manifest: LightGBM's own parser aborted the interpreter on it (SIGABRT, exit 134)."""
    broken = Path(shutil.copytree(artifact, tmp_path / "broken"))
    relative = member_file(broken, "lightgbm")
    text = (broken / relative).read_text()
    replace_file(broken, relative, text[: len(text) // 2].encode())
    return broken


def test_serving_an_artifact_that_aborted_the_loader_exits_5_naming_the_file(
    aborting: Path, tmp_path: Path
) -> None:
    port = str(free_port())
    result = mlwright("serve", aborting, "--log", "none", "--port", port, cwd=tmp_path, timeout=60)
    assert_clean_failure(result, 5, "model.txt", "child process")


def test_a_server_whose_alias_moves_to_an_aborting_version_serves_on_and_says_why(
    artifact: Path, aborting: Path, tmp_path: Path
) -> None:
    """A real server process: an abort while loading the new version would end it."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    register(artifact, store, "churn")
    bad = register(aborting, store, "churn")
    server = start_server(
        ["models:/churn@champion", "--tracking-uri", store, "--poll", "0.2", "--log", "none"],
        cwd=tmp_path,
        log=None,
    )

    def metadata() -> dict[str, object]:
        return dict(orjson.loads(server.get("/metadata")[1]))

    try:
        point_champion(store, bad, "churn")
        wait_for(lambda: metadata()["last_reload_error"] is not None, seconds=60)
        time.sleep(1.0)  # a few more polls: the version that failed is not tried again
        error = str(metadata()["last_reload_error"])
        assert "model.txt" in error
        assert "child process" in error
        status, body = server.request(
            "POST", "/predict", BODY, {"Content-Type": "application/json"}
        )
        assert status == 200, body
        assert orjson.loads(body)["model_version"] == "1"
        assert server.get("/health/ready")[0] == 200
        metrics = server.get("/metrics")[1].decode()
        assert 'mlwright_model_reload_failures_total{reason="ArtifactError"} 1.0' in metrics
        assert 'mlwright_model_swaps_total{result="failed"} 1.0' in metrics
    finally:
        assert server.stopped_gracefully()
