"""The first Ctrl-C in a search is a stop request; the second raises (mlwright._interrupt)."""

from __future__ import annotations

import os
import signal

import pytest

from mlwright._interrupt import (
    Terminated,
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


def test_sigterm_stops_the_search_at_a_safe_point_and_ends_the_run() -> None:
    outer = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as in a plain `mlwright run`
    try:
        with first_interrupt_requests_stop():
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop_requested(), "learners stop boosting as for Ctrl-C"
            with pytest.raises(Terminated) as info:
                raise_if_stop_requested()
            assert info.value.code == 143
            assert isinstance(info.value, SystemExit), "a program that does not catch it ends"
            assert not isinstance(info.value, KeyboardInterrupt), "the search must not finish"
            with pytest.raises(Terminated):
                os.kill(os.getpid(), signal.SIGTERM)  # a second one does not wait
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert not stop_requested()
        raise_if_stop_requested()
    finally:
        signal.signal(signal.SIGTERM, outer)


def test_a_programs_own_sigterm_handler_is_kept() -> None:
    seen: list[int] = []

    def own(signum: int, frame: object) -> None:
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, own)
    try:
        with first_interrupt_requests_stop():
            assert signal.getsignal(signal.SIGTERM) is own
            os.kill(os.getpid(), signal.SIGTERM)
            assert not stop_requested()
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
