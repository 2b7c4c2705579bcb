"""A run whose tuned configurations the stacking holdout judges (``judge_tuning``): what
ships, and what its evidence, card, summary and log say."""

from __future__ import annotations

from typing import Any

import pytest

import mlwright
from mlwright.search import _select
from searching import LogLines
from summarised import summary_of
from synth import make_frame

# Tuning on (a trial count past the portfolio), a stacking holdout (stack_levels = 1).
TUNED = {
    "time_budget": 600,
    "folds": 3,
    "max_trials": 14,
    "learners": ["lightgbm", "linear"],
    "stack_levels": 1,
}


@pytest.fixture(scope="module")
def judged() -> tuple[mlwright.Model, list[str]]:
    """A regression run on which the greedy ensemble over the first layer takes tuned
    configurations (the linear model's), with the lines it logged."""
    lines: list[str] = []
    model = mlwright.fit(
        make_frame("regression", n=1500, seed=5), target="y", progress=LogLines(lines), **TUNED
    )
    return model, lines


def test_the_check_decides_what_ships_and_its_evidence_says_why(
    judged: tuple[mlwright.Model, list[str]],
) -> None:
    model, _ = judged
    tuning = model.metadata["tuning"]
    leaderboard = {row["model"]: row for row in model.metadata["leaderboard"]}
    assert tuning["holdout_rows"] == model.metadata["layers"]["holdout_rows"]
    # rmse, lower is better: the defaults win by how much lower they score
    defaults_gain = tuning["with_tuned"]["score"] - tuning["defaults"]["score"]
    assert tuning["kept"] == (tuning["noise"] is None or defaults_gain <= tuning["noise"])
    shipped_origins = {leaderboard[name]["origin"] for name in model.metadata["ensemble"]}
    if not tuning["kept"]:
        assert "tpe" not in shipped_origins
        first_layer = model.metadata["layers"]["first_layer"]["choice"]
        assert first_layer == tuning["defaults"]["choice"]
    assert model.evidence.tuning is not None
    assert model.evidence.tuning.kept == tuning["kept"]


def test_the_card_summary_and_log_say_whether_tuning_was_kept(
    judged: tuple[mlwright.Model, list[str]],
) -> None:
    from mlwright.report import model_card

    model, lines = judged
    tuning = model.metadata["tuning"]
    verdict = "kept" if tuning["kept"] else "not kept"
    markdown = model_card(model).to_markdown()
    assert f"Tuned configurations were {verdict}: on the stacking holdout" in markdown
    assert f"±{tuning['noise']:.2g} (one standard error over the holdout's rows)" in markdown
    assert (
        f"tuned configurations {verdict}: on the stacking holdout ({tuning['holdout_rows']} "
        "rows no model saw) rmse" in summary_of(model)
    )
    assert any(
        line.startswith(f"tuned configurations {verdict}: on the stacking holdout")
        and tuning["with_tuned"]["choice"] in line
        for line in lines
    )


def test_a_check_that_rejects_tuning_ships_the_defaults_and_judges_the_second_layer_on_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same run with the check made to reject tuning: the default configurations'
    ensemble is the first layer's choice, no tuned configuration ships as a member, and the
    second layer is judged against the defaults."""
    real = _select.judge_tuning

    def reject(search: Any, **kw: Any) -> tuple[dict[str, float], dict[str, Any]]:
        _, tuning = real(search, **kw)
        return kw["defaults"], {**tuning, "kept": False}

    monkeypatch.setattr(_select, "judge_tuning", reject)
    model = mlwright.fit(make_frame("regression", n=1500, seed=5), target="y", **TUNED)
    tuning = model.metadata["tuning"]
    assert not tuning["kept"]
    assert model.metadata["layers"]["first_layer"]["choice"] == tuning["defaults"]["choice"]
    # A tuned first-layer trial, or a seed copy of one, is named after its tuning trial.
    first_layer = [n for n in model.metadata["ensemble"] if not n.startswith("l2_")]
    assert first_layer
    assert not any("_tpe" in name for name in first_layer)
