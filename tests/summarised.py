"""What `mlwright run` prints after a run, as text, for tests of the summary."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from rich.console import Console

from mlwright.artifact import Model
from mlwright.cli._print import print_summary


def summary_text(result: Any) -> str:
    """The summary of a run's result, printed on a wide console without colour."""
    console = Console(file=io.StringIO(), width=400, no_color=True)
    print_summary(console, result)
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def summary_of(model: Model) -> str:
    """The summary of a run that made ``model`` (a second's wall clock, nothing saved)."""
    return summary_text(
        SimpleNamespace(
            model=model,
            search=SimpleNamespace(resume_note=None),
            timings={"wall": 1.0},
            artifact_dir=None,
            registration=None,
        )
    )
