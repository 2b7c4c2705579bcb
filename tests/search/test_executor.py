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
