"""An artifact written by mlwright 0.1.0 (2026-12-05) still loads, predicts and renders."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import mlwright
from mlwright.pipeline import predict_table
from mlwright.report import model_card

FIXTURES = Path(__file__).parents[1] / "fixtures"
LEGACY = FIXTURES / "artifact-0.1.0"
CHURN = Path(__file__).parents[2] / "examples" / "churn" / "churn.csv"


def test_a_0_1_0_artifact_predicts_as_it_did_when_written() -> None:
    expected = json.loads((FIXTURES / "artifact-0.1.0-predictions.json").read_text())
    model = mlwright.load(LEGACY)
    rows = pl.read_csv(CHURN).head(expected["rows"])
    got = predict_table(model, rows).to_dicts()
    assert [r["prediction"] for r in got] == [r["prediction"] for r in expected["predictions"]]
    for ours, then in zip(got, expected["predictions"], strict=True):
        assert ours["proba_Yes"] == pytest.approx(then["proba_Yes"], abs=1e-12)


def test_a_0_1_0_artifact_keeps_its_evidence_and_card() -> None:
    model = mlwright.load(LEGACY)
    assert model.metadata["chosen"].startswith("ensemble(")
    card = model_card(model).to_markdown()
    assert "holdout roc_auc 0.8540" in card
