"""Ctrl-C ends a search with what finished; a killed run resumes from its finished trials."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest

from clirun import MLWRIGHT, cli_env, mlwright

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "examples" / "churn" / "spec.toml", tmp_path / "spec.toml")
    data = pl.read_csv(ROOT / "examples" / "churn" / "churn.csv").sample(2000, seed=1)
    data.write_csv(tmp_path / "churn.csv")
    return tmp_path


def start_run(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(MLWRIGHT), "run", "spec.toml", "--time-budget", "300s", "--workers", "1", *args],
        cwd=project,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_trials(project: Path, count: int, timeout: float = 120) -> list[Path]:
    """The journal's finished trials, once there are ``count`` (the baseline included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = sorted(project.glob(".mlwright/runs/*/trials/*/outcome.json"))
        if len(done) >= count:
            return done
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} trials finished in {timeout} s")


def test_ctrl_c_ends_the_search_with_the_trials_that_finished(project: Path) -> None:
    run = start_run(project, "--no-register")
    try:
        wait_for_trials(project, 3)
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, f"{out}\n{err}"
    assert "search interrupted" in out
    assert "Traceback" not in out + err
    manifest = project / "models" / "churn" / "manifest.json"
    assert manifest.is_file()
    assert not list(project.glob(".mlwright/runs/*")), "a finished run clears its journal"


def test_a_killed_run_resumes_from_its_finished_trials(project: Path) -> None:
    run = start_run(project, "--no-register")
    try:
        finished = wait_for_trials(project, 3)
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    names = {path.parent.name for path in finished}
    assert "baseline" in names
    resumed = mlwright(
        "run", "spec.toml", "--resume", "--max-trials", "3", "--no-register", cwd=project
    )
    assert resumed.code == 0, str(resumed)
    assert "(resumed)" in resumed.stdout
    nothing = mlwright("run", "spec.toml", "--resume", "--max-trials", "2", cwd=project)
    assert nothing.code == 7
    assert "nothing to resume" in nothing.stderr
