"""The model card in a real browser: headless Chromium opens each card, with no console
error, no network request, and every plot drawn; a full-page screenshot of each is kept in
build/screenshots/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carded import troubled, with_slices
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


# Every plot of the page: each text's box against the SVG's, and the legend's box against the
# plotting area's (matplotlib names them legend_N and the axes' first patch).
MEASURE = """() => [...document.querySelectorAll('figure.plot svg')].map(svg => {
    const box = r => { const b = r.getBoundingClientRect();
                       return {left: b.left, top: b.top, right: b.right, bottom: b.bottom}; };
    const area = svg.querySelector('g[id^="axes_"] > g[id^="patch_"]');
    const legend = svg.querySelector('g[id^="legend_"]');
    return {
        svg: box(svg),
        texts: [...svg.querySelectorAll('text')].map(t => [t.textContent, box(t)]),
        area: area ? box(area) : null,
        legend: legend ? box(legend) : null,
        words: [...svg.querySelectorAll('text')].map(t => t.textContent).join(' '),
    };
})"""


def inside(inner: dict[str, float], outer: dict[str, float], slack: float = 1.0) -> bool:
    return (
        inner["left"] >= outer["left"] - slack
        and inner["top"] >= outer["top"] - slack
        and inner["right"] <= outer["right"] + slack
        and inner["bottom"] <= outer["bottom"] + slack
    )


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["right"] <= b["left"]
        or b["right"] <= a["left"]
        or a["bottom"] <= b["top"]
        or b["bottom"] <= a["top"]
    )


def test_plot_labels_are_whole_and_legends_cover_no_data(
    browser: Any, trained: dict[str, Model], tmp_path: Path
) -> None:
    # Long slice names, intervals that miss their promise (the coverage legend once sat on
    # those bars), the ladder, residuals: every plot with a legend or long labels.
    card = tmp_path / "card.html"
    write_card(with_slices(troubled(trained["regression"])), card)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(card.as_uri(), wait_until="load")
    plots = page.evaluate(MEASURE)
    page.close()

    assert len(plots) >= 4
    for plot in plots:
        for text, box in plot["texts"]:
            assert inside(box, plot["svg"]), f"{text!r} is cut at the plot's edge"
        if plot["legend"] is not None:
            assert plot["area"] is not None
            assert not overlap(plot["legend"], plot["area"]), plot["words"][:80]
    legends = sum(plot["legend"] is not None for plot in plots)
    assert legends >= 3  # coverage, slices, residuals, ladder
    words = " ".join(plot["words"] for plot in plots)
    for part in ("signup in [2021-03-01, 2021-07-30)", "and plan = a plan with a long", "name"):
        assert part in words  # wrapped, never cut with "..."
