"""The prediction log: batched writes off the request path, nothing acknowledged lost on
close, a bounded queue, retries while the database is away; SQLite and PostgreSQL. A stalled
log is unhealthy within seconds; what it cannot write by close is spilled to a file, counted
exactly, and replayed into the log once, even if a replay is interrupted."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from clirun import assert_clean_failure, mlwright
from mlwright.errors import DataError, ServiceUnavailableError, SpecError
from mlwright.serve import (
    PREDICTIONS,
    LogEntry,
    PredictionLog,
    log_engine,
    read_log,
    replay_spill,
    spill_path_for,
)
from mlwright.serve._spill import append_rows


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


# -- a stalled log, the spill file and its replay ------------------------------------------------


@pytest.fixture
def locked_sqlite(tmp_path: Path) -> Iterator[tuple[str, sqlite3.Connection]]:
    """A log file whose write lock another connection holds (BEGIN IMMEDIATE), as a second
    process would; the test releases it with ``rollback``."""
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    PREDICTIONS.create(log_engine(url))
    locker = sqlite3.connect(tmp_path / "predictions.db", isolation_level=None)
    locker.execute("PRAGMA journal_mode=WAL")
    locker.execute("BEGIN IMMEDIATE")
    yield url, locker
    if locker.in_transaction:
        locker.rollback()
    locker.close()


def wait_until(condition: Callable[[], bool], seconds: float) -> float:
    """Seconds until ``condition`` held; fails the test after ``seconds``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not so within {seconds} s")
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_blocked_write_stalls_the_log_within_seconds_and_it_recovers(
    locked_sqlite: tuple[str, sqlite3.Connection],
) -> None:
    url, locker = locked_sqlite
    log = PredictionLog(url, flush_seconds=0.01, stall_seconds=0.5).start()
    log.append(entry())
    log.append(entry())
    # The SQLite busy timeout (30 s) blocks the write without an error: it is the wait that
    # makes the log unhealthy.
    assert wait_until(lambda: not log.healthy, 3) >= 0.4
    assert log.last_error is None
    assert log.problem is not None
    assert "stalled" in log.problem
    assert log.pending == 2
    assert log.oldest_seconds >= 0.5
    locker.rollback()
    wait_until(lambda: log.healthy and log.pending == 0, 5)
    assert log.oldest_seconds == 0.0
    assert log.close()
    assert len(read_log(url)) == 2


def test_close_spills_exactly_what_a_locked_log_did_not_take(
    locked_sqlite: tuple[str, sqlite3.Connection], tmp_path: Path
) -> None:
    url, locker = locked_sqlite
    log = PredictionLog(url, flush_seconds=0.01, batch_rows=100).start()
    entries = [entry(i) for i in range(500)]
    for e in entries:
        log.append(e)
    wait_until(lambda: log.waiting_seconds > 0.1, 3)  # a batch of 100 is in flight
    assert log.pending == 500
    assert not log.close(timeout=0.3)
    assert log.unwritten == 500  # the batch in flight counted too
    assert log.uncertain == 0
    assert log.spill_path == tmp_path / "predictions.db.spill.jsonl"
    lines = log.spill_path.read_bytes().splitlines()
    assert len(lines) == 500
    locker.rollback()
    time.sleep(0.3)  # the blocked insert goes through now, and must roll back
    assert read_log(url) == []
    again = PredictionLog(url).start()  # the next start writes the spill file in
    assert again.replayed is not None
    assert (again.replayed.written, again.replayed.present) == (500, 0)
    assert not log.spill_path.exists()
    assert again.close()
    rows = read_log(url)
    assert sorted(r["prediction_id"] for r in rows) == sorted(e.prediction_id for e in entries)
    first = next(r for r in rows if r["prediction_id"] == entries[0].prediction_id)
    assert first["inputs"] == '{"i": 0}'
    assert first["latency_ms"] == 0.25


def test_a_spill_that_cannot_be_written_is_reported_with_the_count(
    locked_sqlite: tuple[str, sqlite3.Connection], tmp_path: Path
) -> None:
    url, _ = locked_sqlite
    (tmp_path / "full").write_text("")  # a file where the spill's directory should be
    log = PredictionLog(url, flush_seconds=0.01, spill_path=tmp_path / "full" / "x.jsonl")
    log.start()
    for i in range(3):
        log.append(entry(i))
    assert not log.close(timeout=0.2)
    assert log.unwritten == 3
    assert log.spill_error is not None


def test_a_spilled_answer_already_in_the_log_is_replayed_once(sqlite_url: str) -> None:
    logged, other = entry(1), entry(2)
    log = PredictionLog(sqlite_url).start()
    log.append(logged)
    assert log.close()
    append_rows(spill_path_for(sqlite_url), [logged.row(), other.row(), other.row()])
    result = replay_spill(sqlite_url)
    assert (result.found, result.written, result.present) == (True, 1, 2)
    assert sorted(r["prediction_id"] for r in read_log(sqlite_url)) == sorted(
        [logged.prediction_id, other.prediction_id]
    )
    assert not replay_spill(sqlite_url).found


def test_a_replay_interrupted_midway_loses_and_duplicates_nothing(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = [entry(i) for i in range(1200)]  # three transactions of at most 500
    spill = spill_path_for(sqlite_url)
    append_rows(spill, [e.row() for e in entries])
    engine = log_engine(sqlite_url)
    begin = engine.begin

    def crashing_begin() -> Any:
        if read_log(sqlite_url):
            raise KeyboardInterrupt  # the replay stops after its first commit
        return begin()

    monkeypatch.setattr(engine, "begin", crashing_begin)
    with pytest.raises(KeyboardInterrupt):
        replay_spill(sqlite_url, engine=engine)
    assert len(read_log(sqlite_url)) == 500
    assert spill.exists()
    result = replay_spill(sqlite_url)
    assert (result.written, result.present) == (700, 500)
    rows = read_log(sqlite_url)
    assert sorted(r["prediction_id"] for r in rows) == sorted(e.prediction_id for e in entries)


def test_a_spill_line_cut_short_by_a_crash_is_reported_and_later_rows_kept(
    sqlite_url: str,
) -> None:
    spill = spill_path_for(sqlite_url)
    kept, later = entry(1), entry(2)
    append_rows(spill, [kept.row()])
    with spill.open("ab") as f:
        f.write(b'{"prediction_id": "cut sh')  # a kill -9 in the middle of a spill
    append_rows(spill, [later.row()])  # the next spill starts on a line of its own
    result = replay_spill(sqlite_url)
    assert (result.written, result.damaged) == (2, [2])
    assert "1 damaged lines skipped" in result.summary()
    assert {r["prediction_id"] for r in read_log(sqlite_url)} == {
        kept.prediction_id,
        later.prediction_id,
    }


def test_a_spill_line_that_is_not_an_answer_stops_the_replay(sqlite_url: str) -> None:
    spill = spill_path_for(sqlite_url)
    append_rows(spill, [entry().row(), {"prediction_id": "x"}])
    with pytest.raises(DataError, match="line 2 of the spill file") as caught:
        replay_spill(sqlite_url)
    assert caught.value.hint is not None
    assert read_log(sqlite_url) == []
    assert spill.exists()
    # The service still starts (and serves); the file waits for `mlwright log replay`.
    log = PredictionLog(sqlite_url).start()
    assert log.replayed is None
    assert log.close()
    assert spill.exists()


def test_a_spill_file_of_a_server_database_is_named_after_it() -> None:
    path = spill_path_for("postgresql+psycopg://user:secret@db.example:5433/predictions")
    assert path == Path("mlwright-log-postgresql-db.example-5433-predictions.spill.jsonl")
    assert spill_path_for("sqlite:///logs/p.db") == Path("logs/p.db.spill.jsonl")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite+pysqlite:///:memory:",
        "sqlite:///file::memory:?uri=true",
        "sqlite:///file:log?mode=memory&uri=true",
    ],
)
def test_an_in_memory_sqlite_log_is_refused(url: str) -> None:
    with pytest.raises(SpecError, match="in-memory SQLite") as caught:
        log_engine(url)
    assert caught.value.field == "--log"
    assert caught.value.hint is not None
    assert "sqlite:///predictions.db" in caught.value.hint


def test_a_missing_driver_names_what_to_install() -> None:
    with pytest.raises(SpecError, match="driver psycopg2") as caught:
        log_engine("postgresql+psycopg2://user:secret@localhost/db")
    assert "secret" not in caught.value.message
    assert caught.value.hint is not None
    assert "mlwright[postgres]" in caught.value.hint


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql+pymysql://user@localhost/db", "SQLite or PostgreSQL, not mysql"),
        ("foo://x/y", "SQLite or PostgreSQL, not foo"),
        ("postgresql+nosuchdriver://localhost/db", "no driver"),
    ],
)
def test_an_unsupported_database_names_the_supported_ones(url: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        log_engine(url)
    assert caught.value.hint is not None
    assert "postgresql+psycopg://" in caught.value.hint


@pytest.mark.parametrize(
    ("command", "url"),
    [
        (("serve", "models/none"), "sqlite://"),
        (("serve", "models/none"), "postgresql+psycopg2://h/db"),
        (("log", "replay"), "sqlite:///:memory:"),
    ],
)
def test_the_commands_refuse_a_log_that_cannot_keep_answers(
    command: tuple[str, ...], url: str, tmp_path: Path
) -> None:
    assert_clean_failure(mlwright(*command, "--log", url, cwd=tmp_path), 2, "--log")


def test_the_replay_command_writes_a_spill_into_postgres(pg_log: str, tmp_path: Path) -> None:
    entries = [entry(i) for i in range(700)]
    spill = tmp_path / "served.spill.jsonl"
    append_rows(spill, [e.row() for e in entries])
    log = PredictionLog(pg_log).start()
    log.append(entries[0])  # one of them made it into the log before the spill
    assert log.close()
    result = mlwright("log", "replay", "--log", pg_log, "--spill", spill, cwd=tmp_path)
    assert result.code == 0, str(result)
    assert "wrote 699 answers" in result.stdout
    assert "1 were already there" in result.stdout
    assert "mlwright:mlwright@" not in result.output  # the password is never printed
    assert not spill.exists()
    rows = read_log(pg_log)
    assert sorted(r["prediction_id"] for r in rows) == sorted(e.prediction_id for e in entries)
    again = mlwright("log", "replay", "--log", pg_log, "--spill", spill, cwd=tmp_path)
    assert again.code == 0
    assert "nothing to replay" in again.stdout


def test_a_locked_postgres_log_spills_and_the_next_start_writes_it_in(
    pg_log: str, workdir: Path
) -> None:
    PREDICTIONS.create(log_engine(pg_log))
    locker = sa.create_engine(pg_log)
    entries = [entry(i) for i in range(50)]
    with locker.connect() as connection:
        connection.execute(sa.text(f"LOCK TABLE {PREDICTIONS.name} IN EXCLUSIVE MODE"))
        log = PredictionLog(pg_log, flush_seconds=0.01, stall_seconds=0.3).start()
        for e in entries:
            log.append(e)
        wait_until(lambda: not log.healthy, 3)
        assert not log.close(timeout=0.3)
        assert log.unwritten == 50
        connection.rollback()
    locker.dispose()
    assert log.spill_path.parent == Path()  # in the working directory, named after the database
    assert (workdir / log.spill_path).exists()
    again = PredictionLog(pg_log).start()
    assert again.replayed is not None
    assert again.replayed.written == 50
    assert again.close()
    assert sorted(r["prediction_id"] for r in read_log(pg_log)) == sorted(
        e.prediction_id for e in entries
    )


def _create_at_once(url: str, starts: int) -> list[BaseException]:
    """``starts`` workers create the log's table on one database at the same moment, as
    `mlwright serve --workers N` does on a new log; the errors they raised."""
    from mlwright.serve._log import create_table, log_engine

    engines = [log_engine(url) for _ in range(starts)]
    barrier = threading.Barrier(starts)
    errors: list[BaseException] = []

    def start(engine: sa.Engine) -> None:
        barrier.wait()
        try:
            create_table(engine)
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    return errors


def test_workers_creating_the_table_at_once_all_start(tmp_path: Path) -> None:
    # Two workers once raced: one found "table mlwright_predictions already exists" between
    # its check and its CREATE, and the whole server stopped at start-up.
    for attempt in range(20):
        url = f"sqlite:///{tmp_path / f'race{attempt}.db'}"
        assert _create_at_once(url, 4) == []
        assert sa.inspect(sa.create_engine(url)).has_table(PREDICTIONS.name)


def test_workers_creating_the_table_at_once_all_start_on_postgres(pg_log: str) -> None:
    for _ in range(10):
        assert _create_at_once(pg_log, 4) == []
        engine = sa.create_engine(pg_log)
        PREDICTIONS.drop(engine, checkfirst=True)
        engine.dispose()


def test_a_new_log_opened_while_another_process_holds_the_file_waits_for_it(
    tmp_path: Path,
) -> None:
    # Switching a file to WAL needs it to itself, and while another connection holds a write
    # lock SQLite refuses at once instead of waiting: workers opening a new log together, or
    # one opening it while another process wrote, failed at connect ("database is locked").
    path = tmp_path / "held.db"
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("CREATE TABLE other (x INTEGER)")
    locker.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.5, locker.rollback)
    releaser.start()
    engine = log_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        assert str(mode).lower() == "wal"
    finally:
        releaser.join()
        locker.close()
        engine.dispose()
