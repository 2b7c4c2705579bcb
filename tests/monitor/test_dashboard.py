"""The monitoring dashboard: what a reader needs (status, alerts, drift, quality,
predictions, performance, method) in HTML and Markdown, and in a real browser every plot
drawn with nothing fetched from outside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import open_page
from logged import NAME, VERSION, days, log_traffic
from mlwright.artifact import Model
from mlwright.monitor import MonitorReport, add_feedback, dashboard, monitor
from synth import make_frame

ROWS = 300


@pytest.fixture(scope="module")
def report(trained: dict[str, Model], tmp_path_factory: pytest.TempPathFactory) -> MonitorReport:
    """Five days: quiet, quiet, a small day, then 'num' moved by one standard deviation and
    an unseen plan; the first two days labelled."""
    model = trained["binary"]
    log = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'log.db'}"
    data = make_frame("binary", n=ROWS * 5, seed=3)
    rows = pl.int_range(pl.len())
    late = rows >= 3 * ROWS
    moved = data.with_columns(
        pl.when(late).then(pl.col("num") + 1.0).otherwise(pl.col("num")).alias("num"),
        pl.when(late & (rows % 4 == 0))
        .then(pl.lit("gold"))
        .otherwise(pl.col("plan"))
        .alias("plan"),
    )
    times = days(ROWS, 5)
    keep = [i for i in range(ROWS * 5) if not (2 * ROWS + 40 <= i < 3 * ROWS)]  # day 3: 40 rows
    moved, times = moved[keep], [times[i] for i in keep]
    ids = log_traffic(log, model, moved.drop("y"), times)
    labels = pl.DataFrame({"prediction_id": ids[: 2 * ROWS], "y": moved["y"][: 2 * ROWS]})
    add_feedback(model, log, labels, model_name=NAME)
    return monitor(model, log, model_name=NAME, model_version=VERSION)


def test_the_page_says_what_happened_where(report: MonitorReport) -> None:
    assert [w.status for w in report.windows] == ["ok", "ok", "too few rows", "alert", "alert"]
    card = dashboard(report)
    titles = [s.title for s in card.sections]
    assert titles == [
        "Alerts",
        "Volume",
        "Input drift",
        "Data quality",
        "Predictions",
        "Performance",
        "How this was judged",
    ]
    page = card.to_html()
    text = card.to_markdown()
    assert dict(card.glance)["Status"] == "ALERT"
    for needle in (
        "input 'num' drifted",
        "categories unseen in training ('gold')",
        "1 windows had fewer than 200 rows and were not judged",
        "realised roc_auc",
        "Jensen-Shannon",
    ):
        assert needle in text, needle
    assert page.count("<svg") == 4  # volume, drift, predictions, performance
    assert "<script" not in page
    assert 'src="http' not in page
    assert 'href="http' not in page  # nothing fetched (the browser test watches requests)


def test_the_dashboard_renders_in_a_browser(
    browser: Any, report: MonitorReport, tmp_path: Path
) -> None:
    page = tmp_path / "monitor.html"
    page.write_text(dashboard(report).to_html())
    problems, drawn = open_page(browser, page, "monitor_dashboard.png")
    assert problems == []
    assert len(drawn) == 4
    for width, height, marks in drawn:
        assert width > 300
        assert height > 100
        assert marks > 10
