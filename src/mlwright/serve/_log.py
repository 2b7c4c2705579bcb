"""The prediction log: every answer the service gives (inputs, outputs, time, latency, model
version), written to SQLite (the default) or PostgreSQL through SQLAlchemy.

Requests never wait for the database. Each answer is queued in memory; one writer thread
takes what has queued, up to ``batch_rows`` rows, and inserts it in one transaction, at least
every ``flush_seconds``. When the database fails, the writer keeps the rows and retries with
backoff; the queue is bounded (``max_queue`` rows), and a full queue makes new requests fail
with 503 rather than acknowledge answers that could not be kept. A write that fails, or has
waited longer than ``stall_seconds`` (a locked SQLite file, a PostgreSQL server away), makes
the log unhealthy (readiness 503) until a write succeeds again.

Closing the log (graceful shutdown) writes what is queued, for up to ``grace_seconds``;
whatever is not committed by then, the batch being written included, is appended to a spill
file beside the log (JSON lines, fsynced) and counted exactly. The next ``start`` on the same
log, or ``mlwright log replay``, writes the spilled answers into the log, skipping any that
are already there, and removes the file only after the commit. A process killed outright
(kill -9) loses what was queued and not yet committed; what was committed is intact.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mlwright.errors import DataError, MlwrightError, ServiceUnavailableError, SpecError
from mlwright.serve._spill import (
    SpillLine,
    append_rows,
    locked,
    read_lines,
    remove,
    spill_path_for,
)

logger = logging.getLogger("mlwright.serve")

TABLE = "mlwright_predictions"
# Rows per INSERT statement (one multi-row VALUES; 8 parameters a row stays far below
# SQLite's 32,766). Not executemany: it steps once per row and gives up the GIL at each
# step, and under load the request thread holds the GIL for up to its switch interval
# (5 ms) each time, which slowed the writer to a few hundred rows a second.
ROWS_PER_STATEMENT = 500
# A write waiting longer than this makes the log unhealthy: ordinary commits take
# milliseconds, and a SQLite busy timeout (30 s) would otherwise hide a locked file.
STALL_SECONDS = 3.0
# How long closing may take before the rest is spilled: well inside the time orchestrators
# give a process between SIGTERM and SIGKILL (docker stop 10 s, Kubernetes 30 s).
GRACE_SECONDS = 5.0
# How long closing waits for a commit under way before spilling its rows regardless.
COMMIT_WAIT_SECONDS = 1.0
# How long a SQLite connection waits for a lock held by another before giving up.
SQLITE_BUSY_SECONDS = 30.0
SUPPORTED = "sqlite:///predictions.db or postgresql+psycopg://user:password@host/db"
_META = sa.MetaData()
PREDICTIONS = sa.Table(
    TABLE,
    _META,
    sa.Column("prediction_id", sa.String(32), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(200), nullable=False, index=True),
    sa.Column("endpoint", sa.String(20), nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("inputs", sa.Text, nullable=False),  # one record as JSON
    sa.Column("outputs", sa.Text, nullable=False),  # its answer as JSON
)


@dataclass(frozen=True)
class LogEntry:
    prediction_id: str
    created_at: dt.datetime
    model_name: str
    model_version: str
    endpoint: str
    latency_ms: float
    inputs: str
    outputs: str

    def row(self) -> dict[str, Any]:
        return {
            "prediction_id": self.prediction_id,
            "created_at": self.created_at,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "endpoint": self.endpoint,
            "latency_ms": self.latency_ms,
            "inputs": self.inputs,
            "outputs": self.outputs,
        }

    @classmethod
    def from_row(cls, value: Any) -> LogEntry:
        """The entry of a spilled row (its JSON); ValueError says what is wrong."""
        names = [f.name for f in fields(cls)]
        if not isinstance(value, dict) or set(value) != set(names):
            keys = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise ValueError(f"expected the fields {', '.join(names)}, got {keys}")
        text = [n for n in names if n not in ("created_at", "latency_ms")]
        for name in text:
            if not isinstance(value[name], str):
                raise ValueError(f"{name} is not a string")
        latency = value["latency_ms"]
        if isinstance(latency, bool) or not isinstance(latency, int | float):
            raise ValueError("latency_ms is not a number")
        try:
            created_at = dt.datetime.fromisoformat(value["created_at"])
        except (TypeError, ValueError):
            raise ValueError("created_at is not an ISO date and time") from None
        return cls(**{**value, "created_at": created_at, "latency_ms": float(latency)})


def log_engine(url: str) -> sa.Engine:
    """An engine for the log at ``url`` (a file of SQLite or a PostgreSQL database); SQLite
    files get WAL and a busy timeout, so that several server workers can write to one file.
    A URL that cannot keep a log is a SpecError naming ``--log``."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise SpecError(
            f"--log {url!r} is not a database URL",
            field="--log",
            hint=f"use e.g. {SUPPORTED}",
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise SpecError(
            f"--log {shown!r}: the prediction log is kept in SQLite or PostgreSQL, not {backend}",
            field="--log",
            hint=f"use e.g. {SUPPORTED}",
        )
    if backend == "sqlite" and _in_memory(parsed):
        raise SpecError(
            f"--log {shown!r} is an in-memory SQLite database: each connection would get its "
            "own empty one, and nothing logged would be kept",
            field="--log",
            hint="give a file, e.g. --log sqlite:///predictions.db",
        )
    try:
        return _create_engine(parsed)
    except ModuleNotFoundError as exc:
        raise SpecError(
            f"--log {shown!r} needs the database driver {exc.name}, which is not installed",
            field="--log",
            hint=_driver_hint(parsed, exc.name),
        ) from None
    except sa.exc.NoSuchModuleError:
        raise SpecError(
            f"--log {shown!r}: SQLAlchemy has no driver {parsed.drivername!r}",
            field="--log",
            hint=f"use e.g. {SUPPORTED}",
        ) from None


def _in_memory(parsed: sa.URL) -> bool:
    database = parsed.database or ""
    return (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or "mode=memory" in database
        or parsed.query.get("mode") == "memory"
    )


def _driver_hint(parsed: sa.URL, module: str | None) -> str:
    if parsed.get_backend_name() == "postgresql":
        extra = "install the postgres extra: pip install 'mlwright[postgres]'"
        if module == "psycopg":
            return extra
        return f"write postgresql+psycopg://... and {extra}; or install {module}"
    return f"install {module}, or use e.g. {SUPPORTED}"


def _create_engine(parsed: sa.URL) -> sa.Engine:
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_SECONDS})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        try:
            _use_wal(cursor, SQLITE_BUSY_SECONDS)
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return engine


def _use_wal(cursor: Any, patience: float) -> None:
    """Put the SQLite file in WAL mode, retrying while it is locked. Switching the mode needs
    the file to itself, and SQLite answers "database is locked" at once rather than calling
    the busy handler, so workers opening a new log together, or a connection opened while
    another process writes, failed at connect. A file already in WAL is left as it is."""
    deadline = time.monotonic() + patience
    delay = 0.005
    while True:
        try:
            (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


class _AbandonedError(Exception):
    """Closing gave up on the batch being written (it is in the spill file): roll back."""


def create_table(engine: sa.Engine) -> None:
    """Create the log's table when absent. Several server workers start at once on one log:
    the check and the CREATE of one may interleave with another's, which then finds the
    table there (SQLite: "already exists"; PostgreSQL: a unique violation on its catalog)."""
    try:
        PREDICTIONS.create(engine, checkfirst=True)
    except sa.exc.DatabaseError:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(TABLE):
                raise


class PredictionLog:
    """A batched, bounded, threaded writer of log entries that spills what it could not
    write at close."""

    def __init__(
        self,
        url: str,
        *,
        flush_seconds: float = 0.05,
        batch_rows: int = 1000,
        max_queue: int = 100_000,
        stall_seconds: float = STALL_SECONDS,
        grace_seconds: float = GRACE_SECONDS,
        spill_path: Path | str | None = None,
    ):
        self.url = url
        self.flush_seconds = flush_seconds
        self.batch_rows = batch_rows
        self.max_queue = max_queue
        self.stall_seconds = stall_seconds
        self.grace_seconds = grace_seconds
        self.engine = log_engine(url)
        self.spill_path = Path(spill_path) if spill_path is not None else spill_path_for(url)
        self.written = 0
        self.write_errors = 0
        self.last_error: str | None = None
        self.replayed: Replayed | None = None  # what start() wrote in from the spill file
        self.unwritten = 0  # answers close() could not write: spilled, unless spill_error
        self.uncertain = 0  # of those, the ones whose commit was under way: maybe logged too
        self.spill_error: str | None = None
        self._waiting: collections.deque[LogEntry] = collections.deque()
        self._in_flight: tuple[LogEntry, ...] = ()  # taken by the writer, not yet committed
        self._write_since: float | None = None  # when the writer took the batch in flight
        self._cond = threading.Condition()  # guards _waiting, _in_flight and _closing
        self._commit_lock = threading.Lock()  # a commit, or closing giving up on the batch
        self._abandon = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> PredictionLog:
        """Create the table when absent, write in any answers spilled by an earlier close on
        this log, and start the writer."""
        create_table(self.engine)
        try:
            self.replayed = replay_spill(self.url, self.spill_path, engine=self.engine)
        except MlwrightError as exc:  # the file stays for `mlwright log replay`; serve on
            logger.error("%s (%s)", exc.message, exc.hint)
        else:
            if self.replayed.found:
                logger.warning("%s", self.replayed.summary())
        self._thread = threading.Thread(target=self._run, name="mlwright-log", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float | None = None) -> bool:
        """Write everything queued and stop the writer, waiting up to ``timeout`` seconds
        (default ``grace_seconds``). What is not committed by then is appended to the spill
        file (``unwritten`` answers, ``spill_error`` if that failed too); False then."""
        with self._cond:
            if self._closing or self._thread is None:
                self._closing = True
                return self.unwritten == 0
            self._closing = True
            self._cond.notify_all()
        self._thread.join(self.grace_seconds if timeout is None else timeout)
        if not self._thread.is_alive():
            self.engine.dispose()
            return True
        self._spill()
        return self.unwritten == 0

    def _spill(self) -> None:
        idle = self._commit_lock.acquire(timeout=COMMIT_WAIT_SECONDS)
        try:
            with self._cond:
                self._abandon.set()
                in_flight, unwritten = self._in_flight, [*self._in_flight, *self._waiting]
                self._in_flight = ()
                self._waiting.clear()
        finally:
            if idle:
                self._commit_lock.release()
        self.unwritten = len(unwritten)
        self.uncertain = 0 if idle else len(in_flight)
        if not unwritten:
            return
        try:
            append_rows(self.spill_path, [e.row() for e in unwritten])
        except OSError as exc:
            self.spill_error = f"{type(exc).__name__}: {exc}"

    # -- state ---------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Answers not yet written: queued, and in the batch being written."""
        return len(self._waiting) + len(self._in_flight)

    @property
    def oldest_seconds(self) -> float:
        """How long the oldest answer not yet written has waited (0 when none)."""
        in_flight = self._in_flight
        try:
            oldest = in_flight[0] if in_flight else self._waiting[0]
        except IndexError:
            return 0.0
        created = oldest.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        return max(0.0, (dt.datetime.now(dt.UTC) - created).total_seconds())

    @property
    def waiting_seconds(self) -> float:
        """How long the batch being written has been at it, retries included (0: none)."""
        since = self._write_since
        return 0.0 if since is None else time.monotonic() - since

    @property
    def problem(self) -> str | None:
        """Why the log is unhealthy: a write failed and is being retried, or one has waited
        longer than ``stall_seconds``; None while writes go through."""
        if self.last_error is not None:
            return (
                f"the prediction log is failing ({self.pending:,} answers unwritten): "
                f"{self.last_error}"
            )
        waited = self.waiting_seconds
        if waited > self.stall_seconds:
            return (
                f"the prediction log is stalled: a write has waited {waited:.1f} s "
                f"({self.pending:,} answers unwritten)"
            )
        return None

    @property
    def healthy(self) -> bool:
        """Writing works: no failed write since the last successful one, none stalled."""
        return self.problem is None

    # -- writing -------------------------------------------------------------------------------

    def append(self, entry: LogEntry) -> None:
        """Queue one entry; refuse (503) when the queue is full or the log is closed."""
        with self._cond:
            if self._closing:
                raise ServiceUnavailableError(
                    "the service is shutting down", hint="retry against another instance"
                )
            waiting = len(self._waiting)
            if waiting >= self.max_queue:
                raise ServiceUnavailableError(
                    f"the prediction log cannot keep up ({self.max_queue:,} answers waiting"
                    + (f"; last error: {self.last_error}" if self.last_error else "")
                    + ")",
                    hint="retry later; check the log database",
                )
            self._waiting.append(entry)
            if waiting == 0 or waiting + 1 == self.batch_rows:  # the writer waits for these
                self._cond.notify()

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            self._write(batch)
            self._write_since = None

    def _take(self) -> tuple[LogEntry, ...] | None:
        """The next batch, now in flight: up to ``batch_rows`` entries, once that many have
        queued or ``flush_seconds`` after the first; None once closed and drained."""
        with self._cond:
            while not self._waiting and not self._closing:
                self._cond.wait()
            deadline = time.monotonic() + self.flush_seconds
            while not self._closing and len(self._waiting) < self.batch_rows:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._abandon.is_set() or not self._waiting:
                return None
            count = min(self.batch_rows, len(self._waiting))
            batch = tuple(self._waiting.popleft() for _ in range(count))
            self._in_flight = batch
            self._write_since = time.monotonic()
            return batch

    def _write(self, batch: Sequence[LogEntry]) -> None:
        """Insert ``batch``, retrying with backoff until every entry is committed (or found
        already there), or until closing gives up on it."""
        done: set[str] = set()
        one_by_one = False
        delay = 0.05
        while not self._abandon.is_set():
            todo = [e for e in batch if e.prediction_id not in done]
            if not todo:
                self.last_error = None
                return
            try:
                if one_by_one:
                    self._insert_each(todo, done)
                else:
                    self._insert(todo, done)
            except _AbandonedError:
                return
            except sa.exc.IntegrityError:
                # A row already there (a retry after a commit whose answer was lost): write
                # the others one by one, skipping those present.
                one_by_one = True
            except Exception as exc:  # keep the rows; retry until the database is back
                self.write_errors += 1
                self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                self._abandon.wait(delay)
                delay = min(delay * 2, 2.0)

    def _insert(self, entries: Sequence[LogEntry], done: set[str]) -> None:
        rows = [e.row() for e in entries]
        with self.engine.connect() as connection:
            for start in range(0, len(rows), ROWS_PER_STATEMENT):
                part = rows[start : start + ROWS_PER_STATEMENT]
                connection.execute(PREDICTIONS.insert().values(part))
            self._commit(connection, entries, done, written=True)

    def _insert_each(self, entries: Sequence[LogEntry], done: set[str]) -> None:
        for entry in entries:
            with self.engine.connect() as connection:
                try:
                    connection.execute(PREDICTIONS.insert(), [entry.row()])
                except sa.exc.IntegrityError:  # already there: in the log, not written now
                    connection.rollback()
                    self._commit(connection, [entry], done, written=False)
                else:
                    self._commit(connection, [entry], done, written=True)

    def _commit(
        self,
        connection: sa.Connection,
        entries: Sequence[LogEntry],
        done: set[str],
        *,
        written: bool,
    ) -> None:
        """Commit unless closing has given up on these entries; they leave the batch in
        flight in the same step, so that closing spills exactly what was not committed."""
        with self._commit_lock:
            if self._abandon.is_set():
                raise _AbandonedError  # leaving the connection rolls the transaction back
            connection.commit()
            ids = {e.prediction_id for e in entries}
            done.update(ids)
            with self._cond:
                self._in_flight = tuple(e for e in self._in_flight if e.prediction_id not in ids)
            if written:
                self.written += len(entries)


@dataclass(frozen=True)
class Replayed:
    """What a replay of a spill file did."""

    path: Path
    found: bool  # False: there was no spill file
    written: int = 0  # answers written into the log now
    present: int = 0  # answers already there (committed before, or by an earlier replay)
    damaged: list[int] = field(default_factory=list)  # lines not JSON: cut short by a crash

    def summary(self) -> str:
        if not self.found:
            return f"no spill file at {self.path}: nothing to replay"
        text = (
            f"wrote {self.written:,} answers from the spill file {self.path} into the log; "
            f"{self.present:,} were already there"
        )
        if self.damaged:
            lines = ", ".join(str(n) for n in self.damaged[:10])
            text += f"; {len(self.damaged)} damaged lines skipped (cut short by a crash: {lines})"
        return text


def replay_spill(
    url: str, spill: Path | str | None = None, *, engine: sa.Engine | None = None
) -> Replayed:
    """Write the answers of the spill file (default: the one of the log at ``url``) into
    the log, skipping those already there, then remove the file. A replay interrupted
    midway leaves the file, and the next one skips what this one wrote: nothing is lost
    or written twice."""
    path = Path(spill) if spill is not None else spill_path_for(url)
    own = engine is None
    engine = engine if engine is not None else log_engine(url)
    try:
        with locked(path, create=False) as fd:
            if fd is None:
                return Replayed(path, found=False)
            contents = read_lines(fd)
            entries = _entries(path, contents.lines)
            create_table(engine)
            written = _insert_missing(engine, entries.values())
            remove(path)
            present = len(contents.lines) - written
            return Replayed(path, True, written, present, contents.damaged)
    except sa.exc.SQLAlchemyError as exc:
        raise ServiceUnavailableError(
            f"the spill file {path} could not be written into the log: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
            hint="the file is kept; run `mlwright log replay` again once the database is back",
        ) from None
    except OSError as exc:
        raise DataError(
            f"the spill file {path} could not be read or removed: {exc}",
            field=str(path),
            hint="check the path and its permissions, then run `mlwright log replay`",
        ) from None
    finally:
        if own:
            engine.dispose()


def _entries(path: Path, lines: Iterable[SpillLine]) -> dict[str, LogEntry]:
    """The spilled entries by prediction id (a repeated one once); a line that is JSON but
    not a logged answer stops the replay before anything is written."""
    entries: dict[str, LogEntry] = {}
    for line in lines:
        try:
            entry = LogEntry.from_row(line.value)
        except ValueError as exc:
            raise DataError(
                f"line {line.number} of the spill file {path} is not a logged answer: {exc}",
                field=str(path),
                hint="fix or remove that line, then run `mlwright log replay`",
            ) from None
        entries.setdefault(entry.prediction_id, entry)
    return entries


def _insert_missing(engine: sa.Engine, entries: Iterable[LogEntry]) -> int:
    """Insert the entries whose prediction id is not in the log yet, a chunk per
    transaction; the number inserted."""
    todo = list(entries)
    written = 0
    for start in range(0, len(todo), ROWS_PER_STATEMENT):
        chunk = todo[start : start + ROWS_PER_STATEMENT]
        while True:
            try:
                with engine.begin() as connection:
                    ids = [e.prediction_id for e in chunk]
                    query = sa.select(PREDICTIONS.c.prediction_id).where(
                        PREDICTIONS.c.prediction_id.in_(ids)
                    )
                    present = set(connection.scalars(query))
                    rows = [e.row() for e in chunk if e.prediction_id not in present]
                    if rows:
                        connection.execute(PREDICTIONS.insert().values(rows))
                written += len(rows)
                break
            except sa.exc.IntegrityError:
                continue  # written by someone else meanwhile: look again
    return written


def read_log(
    url: str,
    *,
    limit: int | None = None,
    model_name: str | None = None,
    model_version: str | None = None,
    endpoint: str | tuple[str, ...] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[Mapping[str, Any]]:
    """The logged answers, oldest first (for tests, monitoring and inspection), optionally
    of one model (version), one endpoint (or any of several), and created in [since,
    until)."""
    engine = log_engine(url)
    try:
        query = sa.select(PREDICTIONS).order_by(PREDICTIONS.c.created_at)
        c = PREDICTIONS.c
        for column, value in ((c.model_name, model_name), (c.model_version, model_version)):
            if value is not None:
                query = query.where(column == value)
        if isinstance(endpoint, str):
            query = query.where(c.endpoint == endpoint)
        elif endpoint is not None:
            query = query.where(c.endpoint.in_(endpoint))
        if since is not None:
            query = query.where(c.created_at >= since)
        if until is not None:
            query = query.where(c.created_at < until)
        if limit is not None:
            query = query.limit(limit)
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(TABLE):
                return []
            return [dict(r._mapping) for r in connection.execute(query)]
    finally:
        engine.dispose()
