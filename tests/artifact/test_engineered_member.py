"""A model whose members read the "engineered" feature style (``lightgbm_fe``) trains through
the public API, saves, and loads back to identical predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import mlwright
from mlwright.artifact import MANIFEST, Model
from synth import FAST, make_frame


def with_shops(problem: str, n: int, seed: int) -> pl.DataFrame:
    """make_frame plus a 30-level categorical, so that every kind of engineered feature
    qualifies."""
    frame = make_frame(problem, n=n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    return frame.with_columns(pl.Series("shop", rng.choice([f"s{i}" for i in range(30)], n)))


@pytest.mark.parametrize("problem", ["binary", "regression"])
def test_a_lightgbm_fe_model_round_trips(problem: str, tmp_path: Path) -> None:
    spec = {**FAST, "learners": ["lightgbm_fe"], "max_trials": 2}
    model = mlwright.fit(with_shops(problem, 400, 1), target="y", **spec)
    fe = [m for m in model.members if m.learner.family == "lightgbm_fe"]
    assert fe
    assert all(m.style == "engineered" for m in fe)
    plan = model.plans[fe[0].plan]
    assert plan.style == "engineered"
    assert plan.n_engineered > 0
    kinds = {t.kind for t in plan.transforms_[len(plan.columns) :]}
    assert {"count", "target", "interaction", "group_mean"} <= kinds

    saved = model.save(tmp_path / "model")
    manifest = json.loads((saved / MANIFEST).read_text())
    entry = next(m for m in manifest["members"] if m["family"] == "lightgbm_fe")
    assert entry["style"] == "engineered"
    assert manifest["feature_plans"][entry["plan"]]["style"] == "engineered"
    loaded = mlwright.load(saved)
    assert isinstance(loaded, Model)
    data = with_shops(problem, 60, 9).drop("y")
    data = data.with_columns(pl.Series("shop", ["new shop", None] * 30))  # unseen, missing
    assert np.array_equal(model._raw(data), loaded._raw(data))
    for record in data.head(10).iter_rows(named=True):
        assert loaded.predict_one(record) == model.predict_one(record)
    explained = loaded.explain(data.head(5))
    assert len(explained) == 5
