"""Reference statistics of training data and predictions, kept in the artifact for monitoring."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import pytest

from mlwright.data import infer_schema, prediction_statistics, reference_statistics
from mlwright.data._profile import (
    DECILES,
    PERCENTILES,
    QUANTILES,
    TOP_CATEGORIES,
    bin_counts,
)
from mlwright.spec import spec_from_kwargs
from synth import make_frame

QUANTILE_KEYS = [str(q) for q in QUANTILES]


def assert_quantiles(quantiles: dict[str, float], values: np.ndarray) -> None:
    assert list(quantiles) == QUANTILE_KEYS
    numbers = list(quantiles.values())
    assert numbers == sorted(numbers)
    assert quantiles["0.0"] == pytest.approx(values.min())
    assert quantiles["0.5"] == pytest.approx(np.median(values))
    assert quantiles["1.0"] == pytest.approx(values.max())


def test_reference_statistics_of_every_feature_kind() -> None:
    frame = make_frame("binary", n=400, seed=2)
    schema = infer_schema(frame, spec_from_kwargs({"target": "y"}))
    columns = [(c.name, c.kind) for c in schema.features]

    stats = reference_statistics(frame, columns)

    assert list(stats) == ["num", "count", "plan", "vip", "signup", "note"]
    for name, kind in columns:
        assert stats[name]["kind"] == kind
        assert stats[name]["rows"] == 400
    num = frame["num"].drop_nulls().to_numpy()
    assert stats["num"]["missing_rate"] == frame["num"].null_count() / 400
    assert 0 < stats["num"]["missing_rate"] < 0.2
    assert_quantiles(stats["num"]["quantiles"], num)
    assert stats["num"]["mean"] == pytest.approx(num.mean())
    assert stats["num"]["std"] == pytest.approx(num.std())
    assert_quantiles(stats["count"]["quantiles"], frame["count"].to_numpy())
    assert stats["vip"]["mean"] == pytest.approx(frame["vip"].mean())
    assert_quantiles(stats["vip"]["quantiles"], frame["vip"].cast(pl.Float64).to_numpy())
    shares = frame["plan"].value_counts(normalize=True)
    assert stats["plan"]["distinct"] == 4
    assert stats["plan"]["top"] == pytest.approx(dict(shares.iter_rows()))
    assert list(stats["plan"]["top"]) == ["basic", "plus", "pro", "team"]  # most common first
    assert stats["plan"]["complete"] is True
    assert_distribution(stats["num"], num)
    assert_distribution(stats["vip"], frame["vip"].cast(pl.Float64).to_numpy())
    assert stats["signup"]["min"] == str(frame["signup"].min())
    assert stats["signup"]["max"] == str(frame["signup"].max())
    assert stats["note"] == {"kind": "text", "rows": 400, "missing_rate": 0.0, "distinct": 400}
    json.dumps(stats, allow_nan=False)  # stored in the artifact's manifest


def test_missing_values_and_nan_are_left_out_of_the_distribution() -> None:
    frame = pl.DataFrame(
        {
            "x": [1.0, None, float("nan"), 3.0, 5.0, None, 7.0, 9.0],
            "c": ["a", None, "a", "b", None, "a", "b", "c"],
            "d": [dt.date(2024, 5, i + 1) if i % 2 else None for i in range(8)],
            "gone": pl.Series([None] * 8, dtype=pl.Float64),
        }
    )

    stats = reference_statistics(
        frame, [("x", "numeric"), ("c", "categorical"), ("d", "datetime"), ("gone", "numeric")]
    )

    assert stats["x"]["missing_rate"] == 3 / 8
    assert_quantiles(stats["x"]["quantiles"], np.array([1.0, 3.0, 5.0, 7.0, 9.0]))
    assert stats["x"]["mean"] == 5.0
    assert stats["c"]["missing_rate"] == 2 / 8
    assert stats["c"]["distinct"] == 3
    assert stats["c"]["top"] == {"a": 0.5, "b": 2 / 6, "c": 1 / 6}
    assert (stats["d"]["min"], stats["d"]["max"]) == ("2024-05-02", "2024-05-08")
    assert stats["gone"] == {"kind": "numeric", "rows": 8, "missing_rate": 1.0}


def test_only_the_most_common_categories_are_kept() -> None:
    values = [f"v{i:03d}" for i in range(TOP_CATEGORIES + 30) for _ in range(1 + i % 4)]
    stats = reference_statistics(pl.DataFrame({"c": values}), [("c", "categorical")])

    top = stats["c"]["top"]
    assert stats["c"]["distinct"] == TOP_CATEGORIES + 30
    assert len(top) == TOP_CATEGORIES
    assert stats["c"]["complete"] is False  # a category not listed may be an old one
    shares = list(top.values())
    assert shares == sorted(shares, reverse=True)
    assert sum(shares) < 1.0
    counts = sorted(Counter(values).values(), reverse=True)
    # The rarest kept is at least as common as any dropped.
    assert min(shares) * len(values) == counts[TOP_CATEGORIES - 1] >= counts[TOP_CATEGORIES]


def assert_distribution(
    stats: dict[str, Any], values: np.ndarray, edges: Sequence[float] | None = None
) -> None:
    """Percentiles of the values, and a histogram that counts them over ``edges`` (default:
    their own deciles)."""
    values = values[~np.isnan(values)]
    assert stats["percentiles"] == pytest.approx(np.quantile(values, PERCENTILES).tolist())
    edges = list(np.unique(np.quantile(values, DECILES)) if edges is None else edges)
    assert stats["bins"]["edges"] == pytest.approx(edges)
    assert edges == sorted(set(edges))
    shares = stats["bins"]["shares"]
    assert len(shares) == len(edges) + 1
    assert sum(shares) == pytest.approx(1.0)
    assert shares == pytest.approx((bin_counts(values, edges) / len(values)).tolist())


def test_bins_put_each_value_in_the_bin_its_edges_name() -> None:
    values = np.array([-5.0, 1.0, 1.5, 2.0, 2.0, 9.0, np.nan])
    # (-inf, 1], (1, 2], (2, inf); the missing value is left out
    assert bin_counts(values, [1.0, 2.0]).tolist() == [2, 3, 1]
    assert bin_counts(np.array([np.nan]), [0.0]).tolist() == [0, 0]


def test_regression_prediction_statistics() -> None:
    pred = np.random.default_rng(0).normal(100.0, 15.0, 1000)

    stats = prediction_statistics(pred, "regression", [])

    assert list(stats) == ["quantiles", "rows", "score"]
    assert_quantiles(stats["quantiles"], pred)
    assert stats["rows"] == 1000
    assert_distribution(stats["score"], pred)
    json.dumps(stats, allow_nan=False)


@pytest.mark.parametrize("classes", [["no", "yes"], ["high", "low", "mid"]])
def test_classification_prediction_statistics(classes: list[str]) -> None:
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(len(classes)), 500)

    stats = prediction_statistics(proba, "multiclass" if len(classes) > 2 else "binary", classes)

    binary = len(classes) == 2
    expected = {"rows", "class_share", "probability_quantiles", "confidence"}
    assert set(stats) == expected | ({"score"} if binary else set())
    assert stats["rows"] == 500
    assert_distribution(stats["confidence"], proba.max(axis=1))
    if binary:  # the positive class's probability is the score watched, in bands of 0.1
        assert_distribution(stats["score"], proba[:, 1], [i / 10 for i in range(1, 10)])
    share = stats["class_share"]
    assert list(share) == classes
    assert sum(share.values()) == pytest.approx(1.0)
    winners = np.bincount(proba.argmax(axis=1), minlength=len(classes)) / 500
    assert list(share.values()) == pytest.approx(winners.tolist())
    assert list(stats["probability_quantiles"]) == classes
    for j, name in enumerate(classes):
        quantiles = stats["probability_quantiles"][name]
        assert_quantiles(quantiles, proba[:, j])
        assert 0.0 <= quantiles["0.0"] <= quantiles["1.0"] <= 1.0
    json.dumps(stats, allow_nan=False)
