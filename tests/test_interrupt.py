"""The first Ctrl-C in a search is a stop request; the second raises (mlwright._interrupt)."""

from __future__ import annotations

import os
import signal

import pytest

from mlwright._interrupt import (
    first_interrupt_requests_stop,
    raise_if_stop_requested,
    stop_requested,
)


def test_the_first_sigint_only_requests_a_stop_and_the_second_raises() -> None:
    before = signal.getsignal(signal.SIGINT)
    with first_interrupt_requests_stop():
        assert not stop_requested()
        os.kill(os.getpid(), signal.SIGINT)
        assert stop_requested()
        with pytest.raises(KeyboardInterrupt):
            raise_if_stop_requested()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
    assert not stop_requested(), "a refit after the search must run to the end"
    raise_if_stop_requested()


def test_an_exception_in_the_block_still_restores_the_handler() -> None:
    def interrupted_then_failing() -> None:
        with first_interrupt_requests_stop():
            os.kill(os.getpid(), signal.SIGINT)
            raise RuntimeError("boom")

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(RuntimeError):
        interrupted_then_failing()
    assert signal.getsignal(signal.SIGINT) is before
    assert not stop_requested()


def test_outside_the_main_thread_nothing_changes() -> None:
    import threading

    seen: list[object] = []

    def inside() -> None:
        with first_interrupt_requests_stop():
            seen.append(signal.getsignal(signal.SIGINT))

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=inside)
    thread.start()
    thread.join()
    assert seen == [before]
