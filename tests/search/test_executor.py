"""The executor runs trials in worker processes without re-running the caller's script."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

UNGUARDED_SCRIPT = """
import mlwright
from synth import make_frame

print("script body ran", flush=True)
frame = make_frame("binary", 400, seed=3)
model = mlwright.fit(
    frame, target="y", time_budget=120, folds=3, max_trials=2,
    learners=["lightgbm", "linear"], workers=2,
)
print("fitted", model.metadata["chosen"], flush=True)
"""


def test_an_unguarded_script_runs_once_with_worker_processes(tmp_path: Path) -> None:
    # No `if __name__ == "__main__":` guard: a worker that re-imported the script would run
    # fit again inside itself (and print "script body ran" twice, or hang).
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(UNGUARDED_SCRIPT))
    tests = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(script)],
        check=False,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tests), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("script body ran") == 1, done.stdout
    assert "fitted" in done.stdout


WATCHED_WORKER = """
import sys, time
from mlwright.search._executor import _exit_with

_exit_with(int(sys.argv[1]))
print("watching", flush=True)
time.sleep(60)
"""


def test_a_worker_ends_when_the_search_process_is_killed(tmp_path: Path) -> None:
    # A worker's parent is the fork server, so it must watch the search's process itself:
    # otherwise a killed `mlwright run` leaves its workers (and the fork server) running.
    search = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    worker = subprocess.Popen(
        [sys.executable, "-c", WATCHED_WORKER, str(search.pid)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "watching"
        search.kill()
        search.wait(timeout=10)
        worker.wait(timeout=5)  # not the 60 s of its sleep
    finally:
        for process in (search, worker):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert worker.returncode == 1


def test_a_worker_whose_search_is_gone_already_ends_at_once() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    worker = subprocess.run(
        [sys.executable, "-c", WATCHED_WORKER, str(gone.pid)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert worker.returncode == 1
