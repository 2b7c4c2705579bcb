"""The same seed and ``max_trials`` give the same model, metrics and card (see golden.py)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from golden import GOLDEN, card_text, model_digests, pinned, train_golden, without_machine
from mlwright import load
from mlwright.report import model_card


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    artifact = train_golden(tmp_path_factory.mktemp("golden"))
    manifest = json.loads((artifact / "manifest.json").read_text())
    model = load(artifact)
    model.metadata = pinned(model.metadata)
    run = {
        "model_files": model_digests(artifact),
        "manifest": without_machine(manifest),
        "card": card_text(model_card(model).to_markdown()),
    }
    if os.environ.get("MLWRIGHT_WRITE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(run, indent=1, sort_keys=True) + "\n")
    return run


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())  # type: ignore[no-any-return]


def test_the_model_is_bit_identical(golden_run: dict[str, Any], golden: dict[str, Any]) -> None:
    assert golden_run["model_files"] == golden["model_files"]


def test_the_metrics_and_manifest_are_the_same(
    golden_run: dict[str, Any], golden: dict[str, Any]
) -> None:
    ours, theirs = golden_run["manifest"], golden["manifest"]
    assert ours["metrics"] == theirs["metrics"]
    assert ours == theirs


def test_the_card_text_is_the_same(golden_run: dict[str, Any], golden: dict[str, Any]) -> None:
    assert golden_run["card"].splitlines() == golden["card"].splitlines()
