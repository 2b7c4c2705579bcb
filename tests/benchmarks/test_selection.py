"""The ensemble-choice study (benchmarks/selection.py): its rules, and one real capture."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from benchmark_module import load_benchmark


@pytest.fixture(scope="module")
def selection() -> ModuleType:
    return load_benchmark("selection")


def _rmse(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((truth - pred) ** 2)))


def test_each_rule_chooses_from_its_own_pool(selection: ModuleType) -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    noise = [0.3, 0.5, 0.4, 0.6, 0.35, 0.7]  # trial i predicts y plus this much noise
    oof = np.stack([[y + s * rng.normal(size=200) for _ in range(2)] for s in noise])
    cv = np.array([_rmse(y, oof[i, 0]) for i in range(len(noise))])
    family = ["a", "a", "b", "b", "c", "c"]
    origin = ["tpe", "portfolio", "portfolio", "tpe", "tpe", "portfolio"]
    chosen = selection.rules(cv, family, origin, oof, y, _rmse, False)
    for weights in chosen.values():
        assert sum(weights.values()) == pytest.approx(1.0)
    assert chosen["best single"] == {int(np.argmin(cv)): 1.0}
    assert set(chosen["default configurations"]) <= {1, 2, 5}
    firsts = set(chosen["best of each family"])
    assert len({family[i] for i in firsts}) == len(firsts), "one trial a family at most"
    assert firsts <= {0, 2, 4}, "each family's best by its cross-validated score"


def test_a_capture_of_a_real_run_is_analysed(selection: ModuleType, tmp_path: Path) -> None:
    """A short run on concrete: its trials refit and scored on the test split, the rules'
    choices scored the same way; the search's own rule reproduces a real score."""
    out = tmp_path / "concrete.npz"
    captured = selection.capture("modeldata/concrete:compressive_strength", 0, 8.0, out)
    assert captured["score"] > 0
    summary = selection.analyse_one(out)
    assert summary["metric"] == "rmse"
    assert summary["trials"] >= 1
    rules = summary["rules"]
    assert set(rules) >= {"the search's (best 20)", "best single", "default configurations"}
    assert all(np.isfinite(v) and v > 0 for v in rules.values())
    assert summary["best_single_on_test"] <= rules["best single"]
    saved = tmp_path / "summary.json"
    assert selection.main(["analyse", str(out), "--json", str(saved)]) == 0
    assert json.loads(saved.read_text())[0]["capture"] == "concrete.npz"
