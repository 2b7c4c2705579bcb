"""Error analysis: planted bad slices are found, noise is not reported, and the tables add up."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from mlwright.evaluate import (
    bin_column,
    confusion,
    find_slices,
    per_row_loss,
    residuals_by_prediction,
    score,
    worst_examples,
)

COLUMNS = [("age", "numeric"), ("plan", "categorical"), ("region", "categorical")]


def _table(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "age": rng.uniform(18, 80, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "region": rng.choice(["north", "south", "east", "west"], n),
        }
    )


def _regression_case(frame: pl.DataFrame, seed: int, *, planted: bool) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n = frame.height
    pred = rng.normal(100, 10, n)
    noise = rng.normal(0, 1, n)
    if planted:
        # The model is four times as wrong for old customers on the 'pro' plan.
        bad = (frame["age"].to_numpy() > 68) & (frame["plan"].to_numpy() == "pro")
        noise[bad] *= 4
    return pred + noise, pred


def test_a_planted_pair_slice_is_found_first() -> None:
    frame = _table(3000, 0)
    y, pred = _regression_case(frame, 1, planted=True)
    loss = per_row_loss("regression", y, pred)
    found = find_slices(frame, COLUMNS, loss, metric="rmse", y=y, pred=pred)
    assert found.slices, "the planted slice was not found"
    top = found.slices[0]
    assert len(top.conditions) == 2
    assert top.conditions[1] == "plan = pro"
    assert top.conditions[0].startswith("age in [")
    assert top.loss > 2.5 * top.rest_loss
    assert top.p_value < 0.05
    assert top.metric is not None
    assert top.metric > 2 * score("rmse", y, pred)  # the slice's own RMSE
    assert "region" not in " ".join(c for s in found.slices for c in s.conditions)
    assert found.tested > 20


def test_noise_is_not_reported_as_a_slice() -> None:
    # Holm's correction keeps the chance of any false report per search under 5%.
    reported = 0
    for seed in range(20):
        frame = _table(1500, seed)
        y, pred = _regression_case(frame, seed + 100, planted=False)
        found = find_slices(
            frame, COLUMNS, per_row_loss("regression", y, pred), metric="rmse", y=y, pred=pred
        )
        reported += bool(found.slices)
    assert reported <= 2


def test_binning_labels_every_row() -> None:
    numbers = pl.Series("x", [1.0, 2.0, None, 4.0, 5.0, 6.0, 7.0, 8.0, float("nan"), 10.0])
    labels = bin_column(numbers, "numeric", bins=3)
    assert labels is not None
    assert labels[2] == "missing"
    assert labels[8] == "missing"
    assert labels[0].startswith("in [1, ")
    assert labels[-1].endswith(", 10]")
    few = bin_column(pl.Series("k", [1, 2, 2, 1, None]), "numeric")
    assert few is not None
    assert list(few) == ["= 1", "= 2", "= 2", "= 1", "missing"]
    days = pl.Series("d", [dt.date(2024, 1, d) for d in range(1, 31)]).cast(pl.Datetime)
    dated = bin_column(days, "datetime", bins=3)
    assert dated is not None
    assert dated[0] == "in [2024-01-01, 2024-01-10)"
    # Dates given as text (as a CSV holds them) are read as the feature plans read them.
    as_text = bin_column(days.dt.strftime("%Y-%m-%d"), "datetime", bins=3)
    assert as_text is not None
    assert list(as_text) == list(dated)
    flags = bin_column(pl.Series("b", [True, False, None]), "boolean")
    assert flags is not None
    assert list(flags) == ["= true", "= false", "missing"]
    # v0 is the most frequent (20 rows) ... v12 the least (8): the top ten keep their names.
    many = pl.Series("c", [f"v{i}" for i in range(13) for _ in range(20 - i)] + [None])
    cats = bin_column(many, "categorical")
    assert cats is not None
    assert set(cats) == {*(f"= v{i}" for i in range(10)), "other", "missing"}
    assert (cats == "other").sum() == 10 + 9 + 8
    assert cats[-1] == "missing"
    assert bin_column(pl.Series("t", ["a b", "c"]), "text") is None


def test_classification_loss_is_each_rows_log_loss() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 200)
    proba = rng.dirichlet(np.ones(3), 200)
    loss = per_row_loss("multiclass", y, proba)
    assert loss.mean() == pytest.approx(score("log_loss", y, proba))


def test_confusion_counts_every_row_once() -> None:
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    labels = np.array([0, 1, 1, 1, 2, 0, 2])
    table = confusion(y, labels, ["a", "b", "c"])
    assert table["matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]


def test_residual_bins_show_a_bias() -> None:
    rng = np.random.default_rng(4)
    pred = rng.uniform(0, 100, 5000)
    y = pred + np.where(pred > 80, 10.0, 0.0) + rng.normal(0, 1, 5000)
    table = residuals_by_prediction(y, pred)
    assert sum(b["rows"] for b in table) == 5000
    assert table[-1]["mean_residual_low"] > 8
    assert abs(table[0]["mean_residual"]) < 0.2


def test_worst_examples_come_first_with_their_inputs() -> None:
    frame = pl.DataFrame({"a": [1.0, float("nan"), 3.0], "when": [dt.date(2024, 1, 1)] * 3})
    loss = np.array([0.5, 2.0, 1.0])
    rows = worst_examples(frame, loss, truth=[1, 2, 3], predicted=[1.5, 4.0, 2.0], k=2)
    assert [r["row"] for r in rows] == [1, 2]
    assert rows[0]["inputs"] == {"a": None, "when": "2024-01-01"}
    assert rows[0]["truth"] == 2
    assert math.isclose(rows[0]["loss"], 2.0)
