"""The prediction log: every answer the service gives (inputs, outputs, time, latency, model
version), written to SQLite (the default) or PostgreSQL through SQLAlchemy.

Requests never wait for the database. Each answer is queued in memory; one writer thread
takes what has queued, up to ``batch_rows`` rows, and inserts it in one transaction, at least
every ``flush_seconds``. Closing the log (graceful shutdown) writes everything queued before
it returns, so nothing acknowledged is lost. A process killed outright (kill -9) loses what
was queued and not yet committed: at most ``flush_seconds`` of answers plus one batch in
flight; what was committed is intact (SQLite in WAL mode, PostgreSQL transactions).

When the database fails, the writer keeps the rows and retries with backoff; the queue is
bounded (``max_queue`` rows), and a full queue makes new requests fail with 503 rather than
acknowledge answers that could not be kept.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from mlwright.errors import ServiceUnavailableError, SpecError

TABLE = "mlwright_predictions"
# Rows per INSERT statement (one multi-row VALUES; 8 parameters a row stays far below
# SQLite's 32,766). Not executemany: it steps once per row and gives up the GIL at each
# step, and under load the request thread holds the GIL for up to its switch interval
# (5 ms) each time, which slowed the writer to a few hundred rows a second.
ROWS_PER_STATEMENT = 500
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


def log_engine(url: str) -> sa.Engine:
    """An engine for the log at ``url``; SQLite files get WAL and a busy timeout, so that
    several server workers can write to one file."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise SpecError(
            f"--log {url!r} is not a database URL",
            field="--log",
            hint="use e.g. sqlite:///predictions.db or postgresql+psycopg://user:password@host/db",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class PredictionLog:
    """A batched, bounded, threaded writer of log entries."""

    def __init__(
        self,
        url: str,
        *,
        flush_seconds: float = 0.05,
        batch_rows: int = 1000,
        max_queue: int = 100_000,
    ):
        self.url = url
        self.flush_seconds = flush_seconds
        self.batch_rows = batch_rows
        self.engine = log_engine(url)
        self._queue: queue.Queue[LogEntry | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self.written = 0
        self.write_errors = 0
        self.last_error: str | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> PredictionLog:
        """Create the table when absent and start the writer."""
        PREDICTIONS.create(self.engine, checkfirst=True)
        self._thread = threading.Thread(target=self._run, name="mlwright-log", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 30.0) -> bool:
        """Write everything queued, stop the writer; False if it could not finish in time."""
        if self._thread is None or self._closed:
            return True
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        done = not self._thread.is_alive()
        if done:
            self.engine.dispose()
        return done

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    @property
    def healthy(self) -> bool:
        """Writing works (no failed write since the last successful one)."""
        return self.last_error is None

    # -- writing -------------------------------------------------------------------------------

    def append(self, entry: LogEntry) -> None:
        """Queue one entry; refuse (503) when the queue is full or the log is closed."""
        if self._closed:
            raise ServiceUnavailableError(
                "the service is shutting down", hint="retry against another instance"
            )
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            raise ServiceUnavailableError(
                f"the prediction log cannot keep up ({self._queue.maxsize:,} answers waiting"
                + (f"; last error: {self.last_error}" if self.last_error else "")
                + ")",
                hint="retry later; check the log database",
            ) from None

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[LogEntry] = []
            first = self._queue.get()
            if first is None:
                stop = True
            else:
                batch.append(first)
                deadline = time.monotonic() + self.flush_seconds
                while len(batch) < self.batch_rows:
                    wait = deadline - time.monotonic()
                    try:
                        item = (
                            self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                        )
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
            if stop:  # drain: closing writes everything acknowledged
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        batch.append(item)
            if batch:
                self._write(batch)

    def _write(self, batch: list[LogEntry]) -> None:
        rows = [e.row() for e in batch]
        delay = 0.05
        while True:
            try:
                with self.engine.begin() as connection:
                    for start in range(0, len(rows), ROWS_PER_STATEMENT):
                        part = rows[start : start + ROWS_PER_STATEMENT]
                        connection.execute(PREDICTIONS.insert().values(part))
                self.written += len(rows)
                self.last_error = None
                return
            except sa.exc.IntegrityError:
                # A row already there (a retry after a commit whose answer was lost): write
                # the others one by one, skipping those present.
                self._write_each(rows)
                return
            except Exception as exc:  # keep the rows; retry until the database is back
                self.write_errors += 1
                self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _write_each(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            try:
                with self.engine.begin() as connection:
                    connection.execute(PREDICTIONS.insert(), [row])
                self.written += 1
            except sa.exc.IntegrityError:
                continue
        self.last_error = None


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
