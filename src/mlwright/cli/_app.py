"""The ``mlwright`` Typer app, its consoles, and what every command shares: the options
several take, the mapping of mlwright's errors to exit codes, and the checks of paths and
moments given on the command line."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from mlwright._interrupt import Terminated
from mlwright._progress import RichProgress
from mlwright.errors import MlwrightError, SpecError
from mlwright.spec import parse_duration

if TYPE_CHECKING:
    from mlwright.spec import TaskSpec

T = TypeVar("T")

app = typer.Typer(
    name="mlwright",
    help="A machine-learning engineer's job as software: frame a task, check the data, "
    "train, evaluate, register and score.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
INTERNAL_ERROR = 70
TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process that SIGTERM ended
# Output to a file or a pipe is read by programs and kept in logs: Rich lays it out this wide
# instead of the terminal's width (80 columns without one), so no line wraps and no cell is
# cut short ("catboo…").
REDIRECTED_WIDTH = 10_000

# Options several commands share.
ModelRef = Annotated[str, typer.Argument(help="Artifact directory or models:/NAME@ALIAS.")]
SpecPath = Annotated[Path, typer.Argument(help="Task spec (TOML).")]
TrackingUri = Annotated[
    str | None, typer.Option("--tracking-uri", help="MLflow tracking URI for models:/ URIs.")
]
LogUrl = Annotated[
    str,
    typer.Option("--log", help="The prediction log the service writes (a SQLAlchemy URL)."),
]
TimeBudget = Annotated[
    str | None, typer.Option("--time-budget", help="Override the budget: 90s, 5m, 1h.")
]
MaxTrials = Annotated[
    int | None, typer.Option("--max-trials", min=1, help="Stop after N trials (reproducible).")
]
ArtifactDir = Annotated[
    Path | None, typer.Option("--out", help="Artifact directory (default: the spec's).")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
ModelName = Annotated[str, typer.Argument(help="Registered model name (champion and challenger).")]
LabelledData = Annotated[
    Path | None,
    typer.Option("--data", help="A labelled CSV or Parquet file to compare on instead."),
]


def _fail(exc: MlwrightError) -> None:
    # Messages quote user text ("[task]", "[leakage.single_feature:x]"): escape it, or Rich
    # would read it as markup and drop it.
    err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
    if exc.hint:
        err.print(f"  [bold]fix:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


@contextmanager
def exit_codes() -> Iterator[None]:
    """mlwright's errors become a message and the error's exit code, never a traceback
    (MLWRIGHT_DEBUG=1 shows one); an interrupt exits 130, SIGTERM 143."""
    try:
        yield
    except MlwrightError as exc:
        if os.environ.get("MLWRIGHT_DEBUG"):
            raise
        _fail(exc)
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except Terminated as exc:
        err.print(
            "terminated (SIGTERM); the trials that finished are kept: run the same "
            "`mlwright run` with --resume to continue from them",
            highlight=False,
        )
        raise typer.Exit(int(exc.code or TERMINATED)) from None


def refuse_directory(path: Path, option: str, example: str) -> None:
    """``option`` names a file to write; a directory of that name would fail the write (or
    be written into by accident)."""
    if path.is_dir():
        raise SpecError(
            f"{option} {path} is a directory; it must name a file",
            field=option,
            hint=f"name a file, e.g. {option} {path / example}",
        )


def write_output(path: Path, option: str, write: Callable[[], object]) -> None:
    """``write()`` the file an option named; one that cannot be written is the user's
    mistake in that option (exit 2)."""
    from mlwright.pipeline import write_output as write_file

    write_file(path, write, option=option, error=SpecError)


def load_spec_with(path: Path, **overrides: object) -> TaskSpec:
    """The spec at ``path`` with the command's options that were given (not None)."""
    from mlwright.spec import load_spec, with_overrides

    task = load_spec(path)
    given = {k: v for k, v in overrides.items() if v is not None}
    return with_overrides(task, given) if given else task


def with_progress(quiet: bool, work: Callable[[Any], T]) -> T:
    """``work(progress)`` with Rich progress bars on stderr, or silently with --quiet."""
    if quiet:
        return work(None)
    with RichProgress(err) as reporter:
        return work(reporter)


def moment(value: str | None, option: str) -> dt.datetime | None:
    """An ISO date or time (UTC unless it says otherwise), or a duration ago ('7d', '12h')."""
    if value is None:
        return None
    try:
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise SpecError(
            f"{option} {value!r} is neither a date, a time nor a duration",
            field=option,
            hint="write e.g. 2026-03-01, 2026-03-01T06:00 or 7d (seven days ago)",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _version(value: bool) -> None:
    if value:
        from mlwright import __version__

        out.print(f"mlwright {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """mlwright: frame -> check -> train -> evaluate -> register -> score."""
    for console in (out, err):
        if not console.is_terminal:
            console.width = REDIRECTED_WIDTH


def main() -> None:
    """The console script: the app, with anything unexpected reported as a bug (exit 70)."""
    try:
        app()
    except MlwrightError as exc:  # pragma: no cover - commands catch their own
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("MLWRIGHT_DEBUG"):
            raise
        err.print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "  this is a bug in mlwright; rerun with MLWRIGHT_DEBUG=1 for the traceback and "
            "report it",
            markup=False,
            highlight=False,
        )
        sys.exit(INTERNAL_ERROR)
