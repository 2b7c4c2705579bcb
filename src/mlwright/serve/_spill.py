"""The spill file of the prediction log: answers that could not be written to the log's
database before the service exited, kept as JSON lines beside it until they are.

Appends and replays hold an exclusive lock on the file (``flock``), so several worker
processes of one service, or a replay from the command line, never interleave: a replay
reads, writes the rows into the database, commits, and only then removes the file.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

SUFFIX = ".spill.jsonl"

if sys.platform == "win32":

    def _lock(fd: int) -> None:
        """No flock on Windows: there, run one process per log."""

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor is closed


def spill_path_for(url: str) -> Path:
    """Where the log at ``url`` spills: beside a SQLite file (``predictions.db`` spills to
    ``predictions.db.spill.jsonl``); for a server database, in the working directory, a file
    named after the backend, host, port and database (never the password)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        database = Path(parsed.database)
        return database.with_name(database.name + SUFFIX)
    parts = [parsed.get_backend_name(), parsed.host, parsed.port, parsed.database]
    name = "-".join(_slug(str(p)) for p in parts if p not in (None, ""))
    return Path(f"mlwright-log-{name}{SUFFIX}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "_", text).strip("_") or "_"


@contextlib.contextmanager
def locked(path: Path, *, create: bool) -> Iterator[int | None]:
    """The file at ``path`` opened for appending and locked exclusively; ``None`` when it
    does not exist and ``create`` is false. A file removed by a replay while this waited
    for the lock is opened again, so nothing is appended to a file no longer there."""
    while True:
        flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT if create else 0)
        try:
            fd = os.open(path, flags, 0o600)
        except FileNotFoundError:
            yield None
            return
        try:
            _lock(fd)
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                yield fd
                return
        finally:
            os.close(fd)  # closing releases the lock


def append_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append ``rows`` to the spill file as JSON lines, flushed and fsynced (and the
    directory too when the file is new) before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    data = b"".join(orjson.dumps(row) + b"\n" for row in rows)
    with locked(path, create=True) as fd:
        assert fd is not None
        size = os.fstat(fd).st_size
        if size and _read(fd, size - 1, 1) != b"\n":
            data = b"\n" + data  # a line cut short by a crash stays apart from these rows
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    if new:
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class SpillLine:
    number: int  # 1-based, for messages
    value: Any  # the decoded JSON, not yet checked


@dataclass(frozen=True)
class SpillContents:
    lines: list[SpillLine]
    damaged: list[int]  # numbers of lines that are not JSON: cut short by a crash mid-spill


def read_lines(fd: int) -> SpillContents:
    """The JSON lines of an open spill file (blank lines skipped)."""
    data = _read(fd, 0, os.fstat(fd).st_size)
    lines: list[SpillLine] = []
    damaged: list[int] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            lines.append(SpillLine(number, orjson.loads(raw)))
        except orjson.JSONDecodeError:
            damaged.append(number)
    return SpillContents(lines, damaged)


def _read(fd: int, offset: int, size: int) -> bytes:
    os.lseek(fd, offset, os.SEEK_SET)  # appends go to the end whatever the position
    chunks = []
    while size > 0 and (chunk := os.read(fd, size)):
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def remove(path: Path) -> None:
    """Remove the spill file, durably; the caller holds its lock (``locked``), so that no
    append slips in between the read and the removal."""
    path.unlink()
    _fsync_directory(path.parent)
