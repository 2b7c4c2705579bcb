"""Small synthetic tables with every feature kind and a learnable target, for fast tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl

import mlwright
from mlwright.artifact import Member, Model
from mlwright.features import FeaturePlan
from mlwright.learners import LEARNERS, LearnerTask
from mlwright.pipeline import encode_target

WORDS = [
    "late",
    "delivery",
    "great",
    "price",
    "refund",
    "broken",
    "love",
    "support",
    "slow",
    "fast",
]


def make_frame(
    problem_type: str = "binary", n: int = 400, seed: int = 0, curved: bool = False
) -> pl.DataFrame:
    """Columns: num (float, some missing), count (int), plan (categorical), vip (boolean),
    signup (datetime), note (free text) and the target ``y``.

    The target is linear in the inputs unless ``curved``: that adds a sine of ``num`` and a
    ``count``-and-``vip`` interaction, which trees learn and a linear model cannot, so a
    search ships a tree model beside the linear one (the draws, and so every other column,
    stay the same)."""
    rng = np.random.default_rng(seed)
    num = rng.normal(size=n)
    count = rng.integers(0, 20, n)
    plan = rng.choice(["basic", "plus", "pro", "team"], n, p=[0.4, 0.3, 0.2, 0.1])
    vip = rng.random(n) < 0.3
    start = dt.datetime(2021, 1, 1)
    signup = [start + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 700, n)]
    note = [" ".join(rng.choice(WORDS, 5)) for _ in range(n)]
    signal = 1.5 * num + 0.1 * count + (plan == "pro") * 1.0 + vip * 0.8 + rng.normal(0, 0.7, n)
    if curved:
        signal += 1.5 * np.sin(3 * num) + 1.5 * ((count >= 10) & vip)
    num_with_missing = np.where(rng.random(n) < 0.08, np.nan, num)
    frame = pl.DataFrame(
        {
            "num": num_with_missing,
            "count": count,
            "plan": plan,
            "vip": vip,
            "signup": signup,
            "note": note,
        }
    ).with_columns(pl.col("num").fill_nan(None))
    if problem_type == "binary":
        y = np.where(signal > np.quantile(signal, 0.7), "yes", "no")
    elif problem_type == "multiclass":
        y = np.array(["low", "mid", "high"])[np.digitize(signal, np.quantile(signal, [0.33, 0.66]))]
    else:
        y = signal * 10.0 + 50.0
    return frame.with_columns(pl.Series("y", y))


# One record of make_frame's inputs, as a client of the service sends it.
RECORD = {
    "num": 0.5,
    "count": 3,
    "plan": "pro",
    "vip": True,
    "signup": "2022-01-01T10:00:00",
    "note": "late delivery",
}

# Small and deterministic: a few trials, no wall-clock cut-offs inside them.
FAST = {"time_budget": 120, "folds": 3, "max_trials": 3, "learners": ["lightgbm", "linear"]}


# One member of each kind of explanation: TreeSHAP, coefficients, occlusion.
FAMILIES = ["lightgbm", "xgboost", "catboost", "linear", "knn", "extra_trees"]


def mixed_model(problem: str, families: Sequence[str] = FAMILIES) -> Model:
    """One member of each family, equally weighted, on the data's own feature plans."""
    data = make_frame(problem, n=500, seed=1)
    base = mlwright.fit(data, target="y", **FAST)
    y, classes = encode_target(data["y"], problem, None)  # type: ignore[arg-type]
    columns = [(f.name, f.kind) for f in base.inputs]
    task_classes = len(classes) if problem != "regression" else 0
    plans, members = {}, []
    for family in families:
        learner = LEARNERS[family]({}, seed=0)
        style = learner.feature_style
        if style not in plans:
            plans[style] = FeaturePlan(columns, style, n_classes=task_classes).fit(data, y)
        X = plans[style].transform(data)
        task = LearnerTask(problem, task_classes, tuple(plans[style].categorical_indices))  # type: ignore[arg-type]
        members.append(Member(family, learner.fit(X, y, task), 1.0, style))
    return Model(
        spec=base.spec,
        classes=classes,
        threshold=None,
        inputs=base.inputs,
        plans=plans,
        members=members,
        metadata=base.metadata,
    )


def assert_bitwise_equal(batch: np.ndarray, single: np.ndarray) -> None:
    """Two float64 matrices agree bit for bit (NaN where the other has NaN): the batch and
    single-record paths of a feature plan must give the same numbers."""
    assert batch.shape == single.shape
    assert batch.dtype == np.float64
    nan_b, nan_s = np.isnan(batch), np.isnan(single)
    assert np.array_equal(nan_b, nan_s), "missing values differ between the paths"
    same = batch.view(np.uint64)[~nan_b] == single.view(np.uint64)[~nan_s]
    assert same.all(), f"values differ: {batch[~nan_b][~same]} vs {single[~nan_s][~same]}"
