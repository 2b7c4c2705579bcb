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
    splits = np.array([2, 1, 2, 1, 1, 2])  # trials 1, 3 and 4 fitted on one split only
    finished = np.array([50.0, 1.0, 2.0, 60.0, 70.0, 100.0])  # seconds into the search
    data = {"cv": cv, "family": family, "origin": origin, "splits": splits, "finished": finished}
    chosen = selection.rules(data, oof, y, _rmse, False)
    for weights in chosen.values():
        assert sum(weights.values()) == pytest.approx(1.0)
    assert chosen["best single"] == {int(np.argmin(cv)): 1.0}
    assert set(chosen["default configurations"]) <= {1, 2, 5}
    firsts = set(chosen["best of each family"])
    assert len({family[i] for i in firsts}) == len(firsts), "one trial a family at most"
    assert firsts <= {0, 2, 4}, "each family's best by its cross-validated score"
    assert set(chosen["repeated only"]) <= {0, 2, 5}, "only trials fitted on every split"
    assert set(chosen["checkpoint"]) <= {1, 2}, "only what finished in the first fifth"
    assert set(chosen["sorted start (best 5)"]) >= set(np.argsort(cv)[:5].tolist())

    def on_oof(weights: dict[int, float]) -> float:
        blocks = [np.concatenate(list(oof[i])) for i in weights]
        pred = sum(w * b for w, b in zip(weights.values(), blocks, strict=True))
        return _rmse(np.concatenate([y, y]), pred)

    # Running every round and keeping the best passes where stopping early stopped.
    assert on_oof(chosen["every round, best kept"]) <= on_oof(chosen["the search's (best 20)"])


def test_the_holdout_decides_between_the_checkpoint_and_the_search(
    selection: ModuleType,
) -> None:
    """The guards keep the incumbent unless the search's choice wins on the holdout by
    more than its noise; with the search's far better there, it ships."""
    rng = np.random.default_rng(1)
    truth = rng.normal(size=300)
    good, bad = truth + 0.1 * rng.normal(size=300), truth + 2.0 * rng.normal(size=300)
    data = {"y": truth, "holdout": np.arange(300), "holdout_pred": np.stack([good, bad])}
    search, checkpoint = {0: 1.0}, {1: 1.0}
    chosen = {"the search's (best 20)": search, "checkpoint": checkpoint}
    out = selection.guards(chosen, data, "rmse", _rmse, False)
    assert out["checkpoint unless the search's wins on the holdout"] == search
    assert out["best of the rules on the holdout"] == search
    # The other way round: the search's is the worse there, the checkpoint stays.
    chosen = {"the search's (best 20)": checkpoint, "checkpoint": search}
    out = selection.guards(chosen, data, "rmse", _rmse, False)
    assert out["checkpoint unless the search's wins on the holdout"] == search


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
