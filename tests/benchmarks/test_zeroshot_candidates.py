"""benchmarks/zeroshot_candidates.py: AutoGluon's zero-shot configurations, translated into
candidates for the learned portfolio (the choice among them is the meta-suite's)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from benchmark_module import load_benchmark

AG_FILE = """
hyperparameter_portfolio_zeroshot_2023 = {
    "GBM": [
        {},
        {"extra_trees": True, "learning_rate": 0.04, "num_leaves": 90,
         "ag_args": {"name_suffix": "_r131", "priority": -3}},
    ],
    "CAT": [
        {"depth": 6, "l2_leaf_reg": 2.0, "ag_args": {"name_suffix": "_r177"}},
        {"depth": 7, "grow_policy": "Depthwise", "ag_args": {"name_suffix": "_r9"}},
    ],
    "XGB": [{"max_depth": 10, "enable_categorical": False, "ag_args": {"name_suffix": "_r33"}}],
    "RF": [
        {"criterion": "gini", "ag_args": {"name_suffix": "Gini",
                                          "problem_types": ["binary", "multiclass"]}},
        {"criterion": "squared_error", "ag_args": {"name_suffix": "MSE",
                                                   "problem_types": ["regression", "quantile"]}},
        {"max_features": 0.75, "max_leaf_nodes": 37308, "ag_args": {"name_suffix": "_r195"}},
    ],
    "NN_TORCH": [{"num_layers": 4}],
}
"""


@pytest.fixture(scope="module")
def zeroshot() -> ModuleType:
    return load_benchmark("zeroshot_candidates")


def test_configurations_are_translated_and_what_mlwright_cannot_take_is_left_out(
    zeroshot: ModuleType, tmp_path: Path
) -> None:
    source = tmp_path / "zeroshot_portfolio_2023.py"
    source.write_text(AG_FILE)
    out = tmp_path / "candidates.json"
    assert zeroshot.main([str(source), "--top", "8", "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    families = written["families"]
    assert families["lightgbm"] == families["lightgbm_fe"]  # the same LightGBM settings
    assert families["lightgbm"] == [
        {
            "name": "GBM_r131",
            "params": {"extra_trees": True, "learning_rate": 0.04, "num_leaves": 90},
            "problem_types": ["binary", "multiclass", "regression"],
        }
    ]
    assert [c["name"] for c in families["catboost"]] == ["CAT_r177"]
    assert families["xgboost"][0]["params"] == {"max_depth": 10}
    forest = {c["name"]: c["problem_types"] for c in families["random_forest"]}
    assert forest == {
        "RFGini": ["binary", "multiclass"],
        "RFMSE": ["regression"],
        "RF_r195": ["binary", "multiclass", "regression"],
    }
    assert families["extra_trees"] == []  # none in AutoGluon's file here
    assert "mlp" not in families  # AutoGluon's network settings are not mlwright's
    assert "CAT_r9: non-symmetric trees" in written["left_out"]
    assert "GBM: AutoGluon's own default, not the library's" in written["left_out"]
    assert "zeroshot_portfolio_2023.py" in written["meta"]["source"]

    assert zeroshot.main([str(source), "--top", "1", "--out", str(out)]) == 0
    assert [c["name"] for c in json.loads(out.read_text())["families"]["random_forest"]] == [
        "RFGini"
    ]


def test_the_portfolio_script_takes_them_as_candidates_for_their_problem_types() -> None:
    portfolio = load_benchmark("portfolio")
    committed = json.loads(portfolio.ZEROSHOT.read_text())["families"]
    for family in ("lightgbm", "random_forest"):
        for problem_type in ("binary", "regression"):
            pool = portfolio.candidates(family, problem_type, samples=2, seed=0)
            origins = [c.origin for c in pool]
            expected = [
                c["params"] for c in committed[family] if problem_type in c["problem_types"]
            ]
            assert [c.params for c in pool if c.origin == "zeroshot"] == expected
            # Hand-written first, then AutoGluon's, then the random draws.
            assert origins == sorted(origins, key=["default", "zeroshot", "sampled"].index)
    assert "criterion" in portfolio.zeroshot("random_forest", "binary")[0].params
    assert portfolio.zeroshot("linear", "binary") == []
    assert portfolio.zeroshot("lightgbm", "binary", Path("/nonexistent.json")) == []
