"""Run the real ``mlwright`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The console script installed beside the interpreter running the tests.
MLWRIGHT = Path(sys.executable).parent / ("mlwright.exe" if os.name == "nt" else "mlwright")


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return (
            f"$ mlwright {' '.join(self.args)}\nexit {self.code}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def cli_env() -> dict[str, str]:
    """The environment of a plain user: no tracking URI, no debug tracebacks, no colour,
    and a wide terminal so that Rich does not wrap the lines the tests read."""
    env = dict(os.environ)
    for name in ("MLFLOW_TRACKING_URI", "MLWRIGHT_DEBUG", "FORCE_COLOR"):
        env.pop(name, None)
    env.update(NO_COLOR="1", TERM="dumb", COLUMNS="400")
    return env


def mlwright(*args: str | Path, cwd: Path, timeout: float = 180) -> Result:
    """``mlwright ARGS...`` run in ``cwd``; the exit code and both streams."""
    assert MLWRIGHT.exists(), f"the mlwright console script is not installed at {MLWRIGHT}"
    argv = tuple(str(a) for a in args)
    proc = subprocess.run(
        [str(MLWRIGHT), *argv],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(argv, proc.returncode, proc.stdout, proc.stderr)


def assert_clean_failure(result: Result, exit_code: int, *needles: str, fix: bool = True) -> str:
    """A failure as the CLI promises it: the error's exit code, an ``error:`` line on stderr
    that contains every needle, a ``fix:`` hint (when the error has one), no traceback."""
    assert result.code == exit_code, str(result)
    assert "Traceback" not in result.output, str(result)
    assert "internal error" not in result.output, str(result)
    assert result.stderr.startswith("error: ") or "\nerror: " in result.stderr, str(result)
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in stderr\n{result}"
    if fix:
        assert "\n  fix: " in result.stderr, str(result)
    return result.stderr
