"""Where trials run: one interface, so that a distributed engine can take over later.

``InlineExecutor`` runs a trial in the calling process (one core, no start-up cost: small
data and tests). ``ProcessExecutor`` runs trials in local worker processes, one per core,
each learner on one thread: on a small machine parallel trials beat parallel threads
inside one fit. Workers start from a fork server that has imported mlwright but never ran
Polars' or OpenMP's thread pools (forking a process that has is unsafe), and they ignore
Ctrl-C: the search decides what an interrupt means. Each worker ends itself when the
search's process ends, however it ends (SIGKILL included), and the fork server follows its
last worker: a killed run leaves no process behind.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from mlwright.search._trial import TrialOutcome, TrialSpec, run_trial


class Executor(ABC):
    """Runs trials and hands back futures of their outcomes."""

    workers: int

    @abstractmethod
    def submit(self, spec: TrialSpec) -> Future[TrialOutcome]: ...

    @abstractmethod
    def shutdown(self, *, cancel: bool = False) -> None:
        """Stop; with ``cancel``, abandon running trials (their results are lost)."""


class InlineExecutor(Executor):
    workers = 1

    def submit(self, spec: TrialSpec) -> Future[TrialOutcome]:
        future: Future[TrialOutcome] = Future()
        try:
            future.set_result(run_trial(spec))
        except BaseException as exc:  # KeyboardInterrupt included: the caller decides
            future.set_exception(exc)
            if not isinstance(exc, Exception):  # an interrupt or a termination stops the search
                raise
        return future

    def shutdown(self, *, cancel: bool = False) -> None:
        return None


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """A new worker re-imports the parent's ``__main__`` from its file, which re-runs a
    user's script that calls ``mlwright.fit`` without an ``if __name__ == "__main__":``
    guard (and starts workers from inside workers). Trials need nothing from it: run_trial
    and its arguments live in mlwright. So the file is hidden while workers start."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


# Each learner gets its thread count explicitly; the workers' libraries must not spawn more.
WORKER_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _one_thread_each() -> Iterator[None]:
    """WORKER_THREAD_ENV set to 1 (where the caller has not set them) only while workers
    start: the fork server they come from keeps the environment it started with. Left in
    the caller's process, OMP_NUM_THREADS=1 made its later OpenMP work single-threaded (a
    recommender fitted after a search then overran its budget's plan)."""
    missing = [name for name in WORKER_THREAD_ENV if name not in os.environ]
    for name in missing:
        os.environ[name] = "1"
    try:
        yield
    finally:
        for name in missing:
            os.environ.pop(name, None)


# How often a worker without pidfd support (not Linux) checks that the search still runs.
PARENT_POLL_SECONDS = 1.0


def _worker_init(search_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with(search_pid)


def _exit_with(pid: int) -> None:
    """End this process when process ``pid`` ends. A worker's parent is the fork server, not
    the search, so nothing else tells it that a killed search is gone: it would wait for
    trials forever (and keep the fork server alive, which lives until its last child)."""
    try:
        handle: int | None = os.pidfd_open(pid)  # Linux 5.3+: readable once pid has ended
    except (AttributeError, OSError):  # another OS, or pid gone already (the poll sees it)
        handle = None
    watch = threading.Thread(
        target=_wait_then_exit, args=(pid, handle), name="mlwright-search-watch", daemon=True
    )
    watch.start()


def _wait_then_exit(pid: int, handle: int | None) -> None:
    if handle is not None:
        select.select([handle], [], [])
    else:
        while _alive(pid):
            time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)  # no cleanup to wait for: the trial in hand has no one to report to


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (pid reused): treat as gone
        return False
    return True


class ProcessExecutor(Executor):
    def __init__(self, workers: int):
        self.workers = workers
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["mlwright.search._trial"])
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )

    def submit(self, spec: TrialSpec) -> Future[TrialOutcome]:
        # Workers start on demand, here; they must not re-run the caller's script.
        with _main_script_hidden(), _one_thread_each():
            return self._pool.submit(run_trial, spec)

    def shutdown(self, *, cancel: bool = False) -> None:
        if cancel:
            processes = list(getattr(self._pool, "_processes", {}).values())
            for process in processes:
                process.terminate()
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.join(timeout=5)
        else:
            self._pool.shutdown(wait=True)


def make_executor(workers: int) -> Executor:
    """``workers`` processes; 1 runs inline."""
    return InlineExecutor() if workers <= 1 else ProcessExecutor(workers)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
