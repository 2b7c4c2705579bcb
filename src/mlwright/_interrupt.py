"""Ctrl-C during a search is a request to stop, not an exception thrown into native code.

Python raises ``KeyboardInterrupt`` at whatever bytecode runs when the signal arrives. Inside
a native library's Python callback (XGBoost's data iterator is a ctypes callback) the
exception is swallowed and the library goes on with half-built state: the process dies with
"double free or corruption". So while a search runs, the first Ctrl-C only records the
request. Learners treat it like a passed deadline and stop boosting at their next
iteration; the trial in hand is then discarded (``raise_if_stop_requested`` at a point of
plain Python), and the search ends with the trials that finished. A second Ctrl-C raises
``KeyboardInterrupt`` as usual, for a user who will not wait.

SIGTERM (``kill PID``, a service manager, a CI timeout) asks the process to end: while a
search runs it is a stop request too, but at the safe point it raises ``Terminated``, which
ends the run instead of finishing with the trials so far; the search shuts its worker pool
down on the way out, and a second SIGTERM raises at once. A program that set its own
SIGTERM handler keeps it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_requested = threading.Event()
_terminating = threading.Event()


class Terminated(SystemExit):
    """The process was asked to end (SIGTERM) while a search ran. A ``SystemExit`` with
    the shell's code for it (128 + 15), so that a program that does not catch it ends as
    SIGTERM would have ended it, but after its ``finally`` blocks have run."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


def stop_requested() -> bool:
    """Whether the user asked the running search to stop (Ctrl-C or SIGTERM)."""
    return _requested.is_set()


def raise_if_terminated() -> None:
    """Raise ``Terminated`` here, at a safe point, if the process was asked to end."""
    if _terminating.is_set():
        raise Terminated


def raise_if_stop_requested() -> None:
    """Raise ``Terminated`` (SIGTERM) or ``KeyboardInterrupt`` (Ctrl-C) here, at a safe
    point, if the user asked to stop."""
    raise_if_terminated()
    if _requested.is_set():
        raise KeyboardInterrupt


@contextmanager
def first_interrupt_requests_stop() -> Iterator[None]:
    """Within the block, the first SIGINT sets the stop request; the second raises.

    Outside the main thread (where signals are not delivered) it changes nothing. On exit
    the request is cleared, so that fits after the search (the refit on all rows) run to
    the end."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    _terminating.clear()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if _requested.is_set():
            raise KeyboardInterrupt
        _requested.set()

    def request_end(signum: int, frame: FrameType | None) -> None:
        if _terminating.is_set():
            raise Terminated
        _terminating.set()
        _requested.set()

    previous = signal.signal(signal.SIGINT, request_stop)
    # Only where SIGTERM would kill the process outright; a handler of the program stays.
    ends = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    previous_term = signal.signal(signal.SIGTERM, request_end) if ends else None
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
        _requested.clear()
        _terminating.clear()
