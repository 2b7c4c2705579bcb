"""The model card: every section of Mitchell et al. 2019, in HTML and Markdown, from the
evidence; self-contained; escaped; written by `mlwright run` inside the artifact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mlwright
from mlwright.artifact import Model
from mlwright.pipeline import train
from mlwright.report import model_card, write_card
from mlwright.spec import spec_from_kwargs
from synth import FAST, make_frame

SECTIONS = [
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Quantitative analyses",
    "Caveats and recommendations",
]


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_every_section_in_html_and_markdown(trained: dict[str, Model], problem: str) -> None:
    card = model_card(trained[problem])
    page, text = card.to_html(), card.to_markdown()
    assert [s.title for s in card.sections] == SECTIONS
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page
        assert f"## {title}" in text
    plots = re.findall(r'<figure class="plot"><svg', page)
    assert len(plots) >= 3  # reliability or coverage, the ladder, importance, ...
    assert page.count("<figure") == text.count("*Plot: ")
    holdout = trained[problem].metrics["holdout"]["model"]["value"]
    assert f"{holdout:.4g}" in text


def test_a_reader_gets_purpose_quality_failures_and_what_to_watch_first() -> None:
    model = mlwright.fit(
        make_frame("binary", n=600, seed=3),
        target="y",
        value={"tp": 100, "fp": -10},
        card={"question": "Who will say yes?"},
        **FAST,
    )
    card = model_card(model)
    assert [label for label, _ in card.glance] == [
        "For",
        "How good",
        "Where it fails",
        "What to watch",
    ]
    glance = dict(card.glance)
    assert glance["For"] == "Who will say yes?"
    assert "against" in glance["How good"]
    assert "per 1,000 decisions" in glance["How good"]
    text = card.to_markdown()
    assert text.index("**How good**") < text.index("## Model details")
    assert '<dl class="glance">' in card.to_html()


def test_the_page_needs_nothing_from_outside() -> None:
    model = mlwright.fit(make_frame("binary", n=400, seed=3), target="y", **FAST)
    page = model_card(model).to_html()
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@import" not in page
    assert not re.search(r"url\((?!#)", page)  # only references inside the page


def test_the_spec_says_what_the_model_is_for_and_text_is_escaped() -> None:
    card = {
        "question": "Which customers will <b>leave</b> next month?",
        "intended_use": "Retention team's weekly call list",
        "out_of_scope": ["Pricing decisions", "Customers outside the EU"],
        "owner": "growth-ml@example.com",
    }
    model = mlwright.fit(make_frame("binary", n=400, seed=3), target="y", card=card, **FAST)
    page, text = model_card(model).to_html(), model_card(model).to_markdown()
    assert "&lt;b&gt;leave&lt;/b&gt;" in page
    assert "<b>leave</b>" not in page
    for phrase in ("Retention team's weekly call list", "Pricing decisions", "growth-ml@"):
        assert phrase in text
    assert "Customers outside the EU" in page


def test_run_writes_the_card_inside_the_artifact_and_report_writes_it_again(
    tmp_path: Path,
) -> None:
    from clirun import mlwright as cli

    data = tmp_path / "data.csv"
    make_frame("regression", n=400, seed=2).drop("signup").write_csv(data)

    spec = spec_from_kwargs({"target": "y", "path": str(data), **FAST})
    result = train(spec, out_dir=tmp_path / "run", register=False)
    assert result.artifact_dir is not None
    for name in ("model_card.html", "model_card.md"):
        assert (result.artifact_dir / name).stat().st_size > 1000
    loaded = mlwright.load(result.artifact_dir)  # the card is hashed with the rest
    out = tmp_path / "cards" / "again.html"
    done = cli("report", str(result.artifact_dir), "--out", str(out), cwd=tmp_path)
    assert done.code == 0, str(done)
    assert out.exists()
    assert out.with_suffix(".md").read_text().startswith(f"# Model card: {loaded.spec.task_name}")
    bad = cli("report", str(result.artifact_dir), "--out", str(tmp_path / "card.pdf"), cwd=tmp_path)
    assert bad.code != 0
    assert "--out must name an .html file" in bad.output


def test_write_card_returns_what_it_writes(trained: dict[str, Model], tmp_path: Path) -> None:
    page, text = write_card(trained["binary"], tmp_path / "c.html", tmp_path / "c.md")
    assert (tmp_path / "c.html").read_text() == page
    assert (tmp_path / "c.md").read_text() == text
