"""The model card in a real browser: headless Chromium opens each card, with no console
error, no network request, and every plot drawn; a full-page screenshot of each is kept in
build/screenshots/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import SCREENSHOTS, open_page
from mlwright.artifact import Model
from mlwright.report import write_card


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_the_card_renders_without_errors_and_draws_every_plot(
    browser: Any,
    trained: dict[str, Model],
    tmp_path: Path,
    problem: str,
) -> None:
    card = tmp_path / f"card_{problem}.html"
    write_card(trained[problem], card)
    problems, drawn = open_page(browser, card, f"model_card_{problem}.png")
    assert problems == []
    assert len(drawn) >= 3
    for width, height, marks in drawn:
        assert width > 150
        assert height > 100
        assert marks > 5
    assert (SCREENSHOTS / f"model_card_{problem}.png").stat().st_size > 10_000
