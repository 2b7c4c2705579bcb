"""How long work reports progress: the library calls a Progress; ``RichProgress`` draws it
(the command line always, ``mlwright.fit`` and ``mlwright.run`` when a person watches)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID


class Progress(Protocol):
    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage begins; ``total`` steps if known."""

    def advance(self, steps: int = 1, note: str = "") -> None:
        """Steps of the current stage are done."""

    def log(self, message: str) -> None:
        """A line worth showing the user."""


class Silent:
    """Reports nothing (``progress=False``)."""

    def stage(self, name: str, total: int | None = None) -> None:
        return None

    def advance(self, steps: int = 1, note: str = "") -> None:
        return None

    def log(self, message: str) -> None:
        return None


class RichProgress:
    """Draws the library's progress reports as Rich progress bars on ``console`` (in a
    terminal, or in a notebook with ipywidgets); elsewhere each stage is a line of its own.
    A context manager: the bars are drawn between enter and exit."""

    def __init__(self, console: Console):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as Bars

        self.console = console
        # Rich redraws a notebook's bars through ipywidgets; without it, lines will do.
        self.lines = console.is_jupyter and importlib.util.find_spec("ipywidgets") is None
        self.bars = Bars(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[note]}"),
            console=console,
            transient=False,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        if not self.lines:
            self.bars.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is None:  # a stage cut short by an error is not shown as complete
            self._finish()
        if not self.lines:
            self.bars.stop()

    def _finish(self) -> None:
        if self.task is not None:
            total = self.bars.tasks[-1].total
            self.bars.update(
                self.task, completed=total if total is not None else 1, total=total or 1, note=""
            )

    def stage(self, name: str, total: int | None = None) -> None:
        from rich.markup import escape

        if self.lines:
            self.console.print(f"{escape(name)} ...", highlight=False)
            return
        self._finish()
        self.task = self.bars.add_task(escape(name), total=total, note="")

    def advance(self, steps: int = 1, note: str = "") -> None:
        from rich.markup import escape

        if self.task is not None:
            self.bars.update(self.task, advance=steps, note=escape(note))

    def log(self, message: str) -> None:
        from rich.markup import escape

        self.console.print(f"  [dim]{escape(message)}[/]", highlight=False)


def watched(console: Console) -> bool:
    """Whether a person is likely to watch ``console``: a terminal or a notebook."""
    return console.is_terminal or console.is_jupyter


@contextmanager
def shown(progress: Progress | bool | None) -> Iterator[Progress]:
    """The Progress for the library's ``progress=`` argument: ``None`` draws bars on stderr
    when a person watches it (a terminal or a notebook) and is silent otherwise (a script
    whose output goes to a file, a test, a service); ``True`` always draws them; ``False``
    is silent; a ``Progress`` of the caller's is used as it is."""
    if progress is not None and not isinstance(progress, bool):
        yield progress
        return
    if progress is False:
        yield Silent()
        return
    from rich.console import Console

    console = Console(stderr=True)
    if progress is None and not watched(console):
        yield Silent()
        return
    with RichProgress(console) as bars:
        yield bars
