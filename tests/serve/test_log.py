"""The prediction log: batched writes off the request path, nothing acknowledged lost on
close, a bounded queue, retries while the database is away; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlwright.errors import ServiceUnavailableError, SpecError
from mlwright.serve import PREDICTIONS, LogEntry, PredictionLog, log_engine, read_log


def entry(i: int = 0, version: str = "1") -> LogEntry:
    return LogEntry(
        prediction_id=uuid.uuid4().hex,
        created_at=dt.datetime.now(dt.UTC),
        model_name="churn",
        model_version=version,
        endpoint="predict",
        latency_ms=0.25,
        inputs=f'{{"i": {i}}}',
        outputs='{"prediction": "yes"}',
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'predictions.db'}"


@pytest.fixture
def pg_log(pg_url: str) -> Iterator[str]:
    """The PostgreSQL server's database with the log table emptied before and after."""
    engine = sa.create_engine(pg_url)
    PREDICTIONS.drop(engine, checkfirst=True)
    yield pg_url
    PREDICTIONS.drop(engine, checkfirst=True)
    engine.dispose()


def test_every_entry_is_written_by_close(sqlite_url: str) -> None:
    log = PredictionLog(sqlite_url, flush_seconds=10.0).start()  # only close flushes
    entries = [entry(i) for i in range(2500)]
    for e in entries:
        log.append(e)
    assert log.close()
    rows = read_log(sqlite_url)
    assert {r["prediction_id"] for r in rows} == {e.prediction_id for e in entries}
    first = next(r for r in rows if r["prediction_id"] == entries[0].prediction_id)
    assert first["inputs"] == '{"i": 0}'
    assert first["model_version"] == "1"
    assert log.written == 2500


def test_entries_are_written_without_close_within_the_flush_interval(sqlite_url: str) -> None:
    log = PredictionLog(sqlite_url, flush_seconds=0.01).start()
    log.append(entry())
    for _ in range(200):
        if log.written:
            break
        threading.Event().wait(0.01)
    assert len(read_log(sqlite_url)) == 1
    log.close()


def test_the_sqlite_file_is_in_wal_mode(sqlite_url: str, tmp_path: Path) -> None:
    log = PredictionLog(sqlite_url).start()
    log.append(entry())
    log.close()
    with sqlite3.connect(tmp_path / "predictions.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_many_threads_append_at_once(sqlite_url: str) -> None:
    log = PredictionLog(sqlite_url, flush_seconds=0.005).start()
    ids: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(300):
            e = entry()
            log.append(e)
            with lock:
                ids.append(e.prediction_id)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.close()
    assert sorted(r["prediction_id"] for r in read_log(sqlite_url)) == sorted(ids)


def test_a_full_queue_refuses_rather_than_drops(tmp_path: Path) -> None:
    # A directory where the database file should be: every write fails until it is removed.
    blocker = tmp_path / "log.db"
    blocker.mkdir()
    log = PredictionLog(f"sqlite:///{tmp_path / 'ok.db'}", max_queue=3)
    log.engine = log_engine(f"sqlite:///{blocker}")
    log._thread = threading.Thread(target=log._run, daemon=True)
    log._thread.start()
    # The writer holds one batch while it retries; the queue behind it fills and then refuses.
    log.append(entry())
    for _ in range(200):
        if log.write_errors:
            break
        threading.Event().wait(0.005)
    for _ in range(3):
        log.append(entry())
    with pytest.raises(ServiceUnavailableError, match="cannot keep up"):
        log.append(entry())
    assert not log.healthy
    assert log.last_error is not None


def test_writes_resume_when_the_database_comes_back(tmp_path: Path) -> None:
    target = tmp_path / "late.db"
    target.mkdir()  # a directory where the file should be: writes fail until it goes
    log = PredictionLog(f"sqlite:///{target}", flush_seconds=0.005)
    log._thread = threading.Thread(target=log._run, daemon=True)
    log._thread.start()
    entries = [entry(i) for i in range(5)]
    for e in entries:
        log.append(e)
    for _ in range(200):
        if log.write_errors:
            break
        threading.Event().wait(0.01)
    assert not log.healthy
    target.rmdir()
    PREDICTIONS.create(log_engine(f"sqlite:///{target}"))
    assert log.close(timeout=30)
    assert log.healthy
    assert len(read_log(f"sqlite:///{target}")) == 5


def test_an_entry_already_written_is_not_written_twice(sqlite_url: str) -> None:
    log = PredictionLog(sqlite_url).start()
    e = entry()
    log._write([e])
    log._write([e, entry()])  # a retry whose first commit did land
    log.close()
    assert len(read_log(sqlite_url)) == 2


def test_appending_after_close_is_refused(sqlite_url: str) -> None:
    log = PredictionLog(sqlite_url).start()
    log.close()
    with pytest.raises(ServiceUnavailableError, match="shutting down"):
        log.append(entry())


def test_a_bad_url_names_the_option() -> None:
    with pytest.raises(SpecError, match="not a database URL") as caught:
        log_engine("not a url")
    assert caught.value.field == "--log"


def test_postgres_log(pg_log: str) -> None:
    log = PredictionLog(pg_log, flush_seconds=0.01).start()
    entries = [entry(i, version="7") for i in range(1200)]
    for e in entries:
        log.append(e)
    assert log.close()
    rows = read_log(pg_log)
    assert {r["prediction_id"] for r in rows} == {e.prediction_id for e in entries}
    assert {r["model_version"] for r in rows} == {"7"}
    assert rows[0]["created_at"].tzinfo is not None
