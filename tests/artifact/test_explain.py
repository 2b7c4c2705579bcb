"""Model.explain: contributions of a whole ensemble add up to each prediction, whatever its
members, stacking layer and calibration, and follow the signal."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlwright
from mlwright.artifact import Calibrator, Model, Stacker
from synth import make_frame, mixed_model


@pytest.fixture(scope="module")
def mixed() -> dict[str, Model]:
    return {problem: mixed_model(problem) for problem in ("binary", "multiclass", "regression")}


def _adds_up(table: pd.DataFrame) -> float:
    inputs = [c for c in table.columns if c not in ("class", "base", "prediction")]
    gap = table["base"] + table[inputs].sum(axis=1) - table["prediction"]
    return float(gap.abs().max())


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_contributions_add_up_to_every_prediction(mixed: dict[str, Model], problem: str) -> None:
    model = mixed[problem]
    data = make_frame(problem, n=60, seed=8).drop("y")
    table = model.explain(data)
    scale = 100.0 if problem == "regression" else 1.0
    assert _adds_up(table) < 1e-9 * scale
    expected = model._raw(data)
    if problem == "binary":
        np.testing.assert_allclose(table["prediction"], expected[:, 1])
    elif problem == "multiclass":
        np.testing.assert_allclose(table["prediction"], expected.max(axis=1))
        assert set(table["class"]) <= set(model.class_names)
    else:
        np.testing.assert_allclose(table["prediction"], expected)
    assert table["base"].nunique() == (1 if problem != "multiclass" else table["class"].nunique())
    assert list(table.columns[-2:]) == ["base", "prediction"]


def test_each_member_is_explained_by_the_best_method_it_has(mixed: dict[str, Model]) -> None:
    from mlwright.artifact import explain_model

    model = mixed["binary"]
    explanation = explain_model(model, make_frame("binary", n=5, seed=2).drop("y"))
    assert explanation.methods == {
        "lightgbm": "treeshap",
        "xgboost": "treeshap",
        "catboost": "treeshap",
        "linear": "coefficients",
        "knn": "occlusion",
        "extra_trees": "occlusion",
    }


def test_the_signal_gets_the_largest_share(mixed: dict[str, Model]) -> None:
    # The target is 15 x num + ... ; the free-text note is noise.
    table = mixed["regression"].explain(make_frame("regression", n=200, seed=3).drop("y"))
    importance = table.drop(columns=["base", "prediction"]).abs().mean()
    assert importance.idxmax() == "num"
    assert importance["note"] < 0.2 * importance["num"]


@pytest.mark.parametrize("problem", ["binary", "multiclass"])
def test_stacked_and_calibrated_models_still_add_up(mixed: dict[str, Model], problem: str) -> None:
    model = copy.copy(mixed[problem])
    per = len(model.classes) if problem == "multiclass" else 1
    groups = len(model.trial_names)
    model.set_stacker(
        Stacker(
            "logit" if problem == "binary" else "log",
            np.random.default_rng(0).uniform(0.2, 1.0, size=(per, per * groups)),
            np.zeros(per),
        )
    )
    model.set_calibrator(
        Calibrator("platt", {"a": 0.7, "b": -0.2})
        if problem == "binary"
        else Calibrator("temperature", {"t": 1.6})
    )
    table = model.explain(make_frame(problem, n=40, seed=6).drop("y"))
    assert _adds_up(table) < 1e-9


def test_a_chosen_class_and_a_loaded_model_explain_alike(
    mixed: dict[str, Model], tmp_path: Path
) -> None:
    model = mixed["multiclass"]
    data = make_frame("multiclass", n=20, seed=4).drop("y")
    table = model.explain(data, target_class="high")
    assert set(table["class"]) == {"high"}
    np.testing.assert_allclose(
        table["prediction"], model.predict_proba(data)["high"].to_numpy(), rtol=1e-12
    )
    loaded = mlwright.load(model.save(tmp_path / "model"))
    pd.testing.assert_frame_equal(loaded.explain(data, target_class="high"), table)
    with pytest.raises(mlwright.InputError, match="target_class 'huge'") as raised:
        model.explain(data, target_class="huge")
    assert raised.value.field == "target_class"
