"""Ctrl-C ends a search with what finished; a killed run leaves no process behind and
resumes from its finished trials, saying what it reused."""

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


def start_run(project: Path, *args: str, workers: int = 1) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(MLWRIGHT),
            "run",
            "spec.toml",
            "--time-budget",
            "300s",
            "--workers",
            str(workers),
            *args,
        ],
        cwd=project,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own session: every process it starts is found by sid
    )


def session_processes(sid: int) -> list[str]:
    """The live processes of session ``sid`` (from /proc: pid and command line)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        fields = text.rsplit(")", 1)[1].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
            found.append(f"{stat.parent.name}: {command.decode(errors='replace')}")
    return found


def gone_within(sid: int, seconds: float) -> list[str]:
    """The processes of session ``sid`` still alive after ``seconds`` (none, one hopes)."""
    deadline = time.monotonic() + seconds
    while (left := session_processes(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


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
    assert "resumed" in resumed.stdout
    # It says what it reused, in the progress log (before and after) and in the summary.
    reused = f"resumed: {len(finished)} trials reused from .mlwright/runs/churn-"
    assert reused in resumed.stderr, resumed.stderr
    assert f"trials, {3 + 1 - len(finished)} to go" in resumed.stderr
    assert "resumed: " in resumed.stdout
    assert "trials reused from .mlwright/runs/churn-" in resumed.stdout
    assert " run now" in resumed.stdout
    nothing = mlwright("run", "spec.toml", "--resume", "--max-trials", "2", cwd=project)
    assert nothing.code == 7
    assert "nothing to resume" in nothing.stderr


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_run_leaves_no_process_behind(project: Path, how: signal.Signals) -> None:
    run = start_run(project, "--no-register", workers=2)
    try:
        wait_for_trials(project, 3)
        running = session_processes(run.pid)
        assert any("forkserver" in p for p in running), running  # the workers are up
        os.kill(run.pid, how)
        run.wait(timeout=30)
        left = gone_within(run.pid, 10)
    finally:
        if run.poll() is None:
            run.kill()
        for line in session_processes(run.pid):  # never leave them to the next test
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
    assert run.stderr is not None
    err = run.stderr.read()  # once no leftover process holds the pipe open
    assert not left, f"still running after {how.name}:\n" + "\n".join(left)
    if how == signal.SIGTERM:  # handled: the pool shut down, the journal kept, code 143
        assert run.returncode == 143, err
        assert "terminated" in err
        assert "Traceback" not in err
    assert list(project.glob(".mlwright/runs/*/trials/*/outcome.json")), "kept for --resume"
