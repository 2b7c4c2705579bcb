from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parents[1]

# CI replays the same examples on every run, so that a red CI means a regression and not a
# new draw; a developer's run draws new examples each time, which is how edge cases (a
# subnormal share, a 65-bit id) get found. .ci/run sets HYPOTHESIS_PROFILE=ci.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session", autouse=True)
def hand_written_portfolio() -> Iterator[None]:
    """Tests in this process search from the families' hand-written configurations, so that
    a recomputed learned portfolio (src/mlwright/learners/portfolio.json, a data file that
    benchmarks/portfolio.py rewrites) changes no test's result. Tests of the portfolio set
    their own with ``use_portfolio``; tests/learners/test_shipped_portfolio.py checks the
    shipped file; commands run as child processes read it as users do."""
    from mlwright.learners._portfolio import use_portfolio

    with use_portfolio(None):
        yield


@pytest.fixture
def churn_csv() -> Path:
    """The bundled example's data (modeldata/wa_churn)."""
    return ROOT / "examples" / "churn" / "churn.csv"


@pytest.fixture
def churn_spec() -> Path:
    return ROOT / "examples" / "churn" / "spec.toml"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory (MLflow's default store lands here), no tracking URI set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture
def pg_url() -> str:
    """The PostgreSQL server of MLWRIGHT_TEST_PG_URL; required when MLWRIGHT_REQUIRE_PG=1."""
    url = os.environ.get("MLWRIGHT_TEST_PG_URL")
    if not url:
        if os.environ.get("MLWRIGHT_REQUIRE_PG") == "1":
            pytest.fail("MLWRIGHT_REQUIRE_PG=1 but MLWRIGHT_TEST_PG_URL is not set")
        pytest.skip("set MLWRIGHT_TEST_PG_URL to a PostgreSQL SQLAlchemy URL to run this")
    return url


@pytest.fixture(scope="session")
def trained() -> dict[str, object]:
    """One small fitted model per problem type, shared by the tests that only read them.
    Curved targets, so each ships an ensemble with a LightGBM member, as the tests of the
    ladder and of LightGBM's files need."""
    import mlwright
    from synth import FAST, make_frame

    return {
        problem: mlwright.fit(make_frame(problem, n=400, seed=5, curved=True), target="y", **FAST)
        for problem in ("binary", "multiclass", "regression")
    }


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = ROOT / "build" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's chromium package, which .ci/run installs). Per module:
    Playwright's sync API holds an event loop in the main thread while it is open, and
    later tests run their own (asyncio.run)."""
    if CHROMIUM is None:
        if os.environ.get("MLWRIGHT_REQUIRE_CHROMIUM") == "1":
            pytest.fail("headless Chromium is required here (MLWRIGHT_REQUIRE_CHROMIUM=1)")
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(
    browser: Any, page_file: Path, screenshot: str
) -> tuple[list[str], list[list[float]]]:
    """Open a self-contained report page; the problems seen (console errors, page errors,
    requests beyond the file) and each plot's [width, height, marks]. A full-page
    screenshot is kept in build/screenshots/."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "request",
        lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(r.url),
    )
    page.goto(page_file.as_uri(), wait_until="load")
    drawn = page.eval_on_selector_all(
        "figure.plot svg",
        """els => els.map(e => {
            const box = e.getBoundingClientRect();
            return [box.width, box.height, e.querySelectorAll('path, text, use').length];
        })""",
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / screenshot), full_page=True)
    page.close()
    return problems, drawn
