"""The library's progress argument: bars when a person watches, silence otherwise."""

from __future__ import annotations

import pytest
import rich.console

from mlwright._progress import RichProgress, Silent, shown


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def stage(self, name: str, total: int | None = None) -> None:
        self.lines.append(name)

    def advance(self, steps: int = 1, note: str = "") -> None:
        return None

    def log(self, message: str) -> None:
        self.lines.append(message)


@pytest.mark.parametrize(
    ("terminal", "progress", "drawn"),
    [
        ("1", None, True),
        ("0", None, False),
        ("1", False, False),
        ("0", True, True),
    ],
    ids=["terminal-default", "pipe-default", "terminal-off", "pipe-forced"],
)
def test_progress_is_drawn_when_watched_or_asked_for(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    terminal: str,
    progress: bool | None,
    drawn: bool,
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", terminal)
    with shown(progress) as reporter:
        assert isinstance(reporter, RichProgress if drawn else Silent)
        reporter.stage("searching models", total=2)
        reporter.advance(1, note="lightgbm: 0.91")
        reporter.log("validation: 5-fold")
    err = capsys.readouterr().err
    assert ("searching models" in err) is drawn
    assert ("validation: 5-fold" in err) is drawn


def test_a_callers_progress_is_used_as_it_is() -> None:
    mine = Recorder()
    with shown(mine) as reporter:
        assert reporter is mine


def test_a_notebook_without_ipywidgets_gets_lines_instead_of_bars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with shown(None) as reporter:
        assert isinstance(reporter, RichProgress), "a notebook is watched"
        assert reporter.lines
        assert not reporter.bars.live.is_started
