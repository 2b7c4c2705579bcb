"""Ctrl-C during a search is a request to stop, not an exception thrown into native code.

Python raises ``KeyboardInterrupt`` at whatever bytecode runs when the signal arrives. Inside
a native library's Python callback (XGBoost's data iterator is a ctypes callback) the
exception is swallowed and the library goes on with half-built state: the process dies with
"double free or corruption". So while a search runs, the first Ctrl-C only records the
request. Learners treat it like a passed deadline and stop boosting at their next
iteration; the trial in hand is then discarded (``raise_if_stop_requested`` at a point of
plain Python), and the search ends with the trials that finished. A second Ctrl-C raises
``KeyboardInterrupt`` as usual, for a user who will not wait.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_requested = threading.Event()


def stop_requested() -> bool:
    """Whether the user asked the running search to stop."""
    return _requested.is_set()


def raise_if_stop_requested() -> None:
    """Raise ``KeyboardInterrupt`` here, at a safe point, if the user asked to stop."""
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

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if _requested.is_set():
            raise KeyboardInterrupt
        _requested.set()

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()
