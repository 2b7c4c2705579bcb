"""The model card: every section of Mitchell et al. 2019, in HTML and Markdown, from the
evidence; self-contained; escaped; written by `mlwright run` inside the artifact."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

import mlwright
from carded import edited, troubled
from mlwright.artifact import Model
from mlwright.errors import ArtifactError
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


# -- numbers, units, and what the evidence warns of ---------------------------------------------


def caveats(card_text: str) -> list[str]:
    section = card_text.split("## Caveats and recommendations")[1]
    return re.findall(r"^\| \d+ \| (.*) \|$", section, flags=re.MULTILINE)


def test_caveats_open_with_what_the_holdout_says_against_the_model(
    trained: dict[str, Model],
) -> None:
    card = model_card(troubled(trained["regression"]))
    first = caveats(card.to_markdown())[:3]

    assert first[0].startswith("The prediction intervals cover far less than they promise")
    assert "the 90% intervals covered 47.2%" in first[0]
    assert first[1].startswith("R² on the holdout is -0.2614")
    assert first[2].startswith("Cross-validation and the holdout disagree")
    assert "holdout rmse 3,267 [2,914, 3,591]" in first[2]
    assert "read caveats 1-3 first" in dict(card.glance)["How good"]


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_no_warning_when_the_holdout_agrees(trained: dict[str, Model], problem: str) -> None:
    card = model_card(trained[problem])

    for text in caveats(card.to_markdown()):
        for opening in ("The prediction intervals", "R² on the holdout", "Cross-validation and"):
            assert not text.startswith(opening)
    assert "read caveat" not in dict(card.glance)["How good"]


def test_coverage_within_the_holdout_noise_is_no_warning(trained: dict[str, Model]) -> None:
    # 80 holdout rows: 72% covered by an 80% interval is within binomial noise (99%).
    model = trained["regression"]
    intervals = copy.deepcopy(model.metadata["metrics"]["intervals"])
    intervals["levels"]["0.8"]["holdout_coverage"] = {"value": 0.725, "low": 0.62, "high": 0.81}
    text = model_card(edited(model, intervals=intervals)).to_markdown()
    assert not any(c.startswith("The prediction intervals") for c in caveats(text))

    intervals["levels"]["0.8"]["holdout_coverage"] = {"value": 0.6, "low": 0.49, "high": 0.70}
    text = model_card(edited(model, intervals=intervals)).to_markdown()
    assert caveats(text)[0].startswith("The prediction intervals cover far less")


def test_numbers_read_one_way_in_prose_and_tables(trained: dict[str, Model]) -> None:
    model = troubled(trained["regression"])
    reference = model.metadata["reference"]["features"]["num"]["quantiles"]
    reference.update({"0.01": 12029.6, "0.5": 22210.5, "0.99": 1_234_567.25})
    text = model_card(model).to_markdown()

    assert not re.search(r"\d\.\d+e[+-]\d", text)  # no 2.221e+04 anywhere
    assert "num 12,030 to 1,234,567" in text
    assert "median 22,210" in text
    assert "3,267 [2,914, 3,591]" in text


def test_business_values_carry_their_currency() -> None:
    model = mlwright.fit(
        make_frame("binary", n=400, seed=3),
        target="y",
        value={"tp": 100, "fp": -10, "currency": "€"},
        **FAST,
    )
    card = model_card(model)
    text = card.to_markdown()

    assert re.search(r"earns €[\d,]+ \[", dict(card.glance)["How good"])
    assert "true positive €100, false positive -€10" in text
    assert "(holdout, €)" in card.to_html()  # the value curve's axis


@pytest.mark.parametrize(
    ("problem", "metric", "step", "advice"),
    [
        ("binary", "roc_auc", "linear", "set search.learners = ['linear']"),
        ("multiclass", "log_loss", "best single", "set search.ensemble = false"),
    ],
)
def test_the_ladder_says_why_the_shipped_model_is_not_the_recommended_one(
    trained: dict[str, Model], problem: str, metric: str, step: str, advice: str
) -> None:
    model = trained[problem]  # an ensemble shipped; the holdout recommends a simpler step
    ladder = model.metadata["metrics"]["complexity"]
    assert ladder["steps"][-1]["name"] == "ensemble"
    assert ladder["recommended"] == step
    card = model_card(model)
    analyses = next(s for s in card.sections if s.title == "Quantitative analyses")
    reason = next(b for b in analyses.blocks if isinstance(b, str) and "shipped" in b)

    assert reason.startswith("The shipped model is the ensemble step")
    assert f"not the recommended {step} step" in reason
    assert f"chooses the model on its cross-validated {metric}" in reason
    assert "never on the holdout" in reason
    assert advice in reason
    assert "ensemble (shipped)" in card.to_markdown()
    assert any("The shipped model is the ensemble step" in c for c in caveats(card.to_markdown()))


# -- the evidence, typed -----------------------------------------------------------------------


def test_a_model_without_a_run_has_a_card_of_its_spec(trained: dict[str, Model]) -> None:
    model = copy.copy(trained["binary"])
    model.metadata = {}  # built by hand: no evidence at all
    card = model_card(model)
    text = card.to_markdown()

    assert [s.title for s in card.sections] == SECTIONS
    assert [label for label, _ in card.glance] == ["For", "What to watch"]
    assert "trained unknown time" in card.subtitle
    assert "| chosen model | - | - |" in text
    assert "- rows, - labelled; - for the search" in text
    assert "| num | numeric | 0.0% | - |" in text
    assert caveats(text) == [
        "Monitor the inputs' drift and the realised performance once labels arrive; the "
        "artifact holds the reference statistics for that."
    ]


def test_damaged_evidence_is_an_artifact_error_naming_the_field(
    trained: dict[str, Model],
) -> None:
    holdout = copy.deepcopy(trained["regression"].metadata["metrics"]["holdout"])
    del holdout["model"]["value"]
    with pytest.raises(ArtifactError) as raised:
        model_card(edited(trained["regression"], holdout=holdout))
    assert raised.value.field == "metrics.holdout.model.value"
