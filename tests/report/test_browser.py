"""The model card in a real browser: headless Chromium (Debian's chromium package, which
.ci/run installs) opens each card, with no console error, no network request, and every
plot drawn; a full-page screenshot of each is kept in build/screenshots/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mlwright.artifact import Model
from mlwright.report import write_card

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if CHROMIUM is None:
        if os.environ.get("MLWRIGHT_REQUIRE_CHROMIUM") == "1":
            pytest.fail("headless Chromium is required here (MLWRIGHT_REQUIRE_CHROMIUM=1)")
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_the_card_renders_without_errors_and_draws_every_plot(
    browser,  # type: ignore[no-untyped-def]
    trained: dict[str, Model],
    tmp_path: Path,
    problem: str,
) -> None:
    card = tmp_path / f"card_{problem}.html"
    write_card(trained[problem], card)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "request",
        lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(r.url),
    )
    page.goto(card.as_uri(), wait_until="load")
    drawn = page.eval_on_selector_all(
        "figure.plot svg",
        """els => els.map(e => {
            const box = e.getBoundingClientRect();
            return [box.width, box.height, e.querySelectorAll('path, text, use').length];
        })""",
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"model_card_{problem}.png"), full_page=True)
    page.close()
    assert problems == []
    assert len(drawn) >= 3
    for width, height, marks in drawn:
        assert width > 150
        assert height > 100
        assert marks > 5
    assert (SCREENSHOTS / f"model_card_{problem}.png").stat().st_size > 10_000
