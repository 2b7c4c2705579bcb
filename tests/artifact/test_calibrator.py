"""Calibration maps and prediction intervals: the single-record path gives the batch
numbers, they round-trip through the manifest, and a malformed manifest is refused."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwright.artifact import Calibrator, PredictionIntervals
from mlwright.errors import ArtifactError


def _calibrator(kind: str, rng: np.random.Generator) -> Calibrator:
    if kind == "platt":
        return Calibrator("platt", {"a": float(rng.uniform(0.2, 3)), "b": float(rng.normal())})
    if kind == "temperature":
        return Calibrator("temperature", {"t": float(rng.uniform(0.3, 3))})
    x = np.unique(rng.uniform(0, 1, 8))
    return Calibrator(
        "isotonic", {"x": x.tolist(), "y": np.sort(rng.uniform(0, 1, len(x))).tolist()}
    )


@settings(max_examples=80, deadline=None)
@given(
    kind=st.sampled_from(["platt", "temperature", "isotonic"]),
    classes=st.integers(2, 5),
    seed=st.integers(0, 10_000),
)
def test_one_record_gives_the_batch_numbers(kind: str, classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = classes if kind == "temperature" else 2
    proba = rng.dirichlet(np.ones(classes) * 0.5, size=40)
    proba[0] = np.eye(classes)[0]  # a certain prediction: logs of 0 and 1
    calibrator = Calibrator.from_dict(_calibrator(kind, rng).to_dict())
    batch = calibrator.apply(proba)
    for row, expected in zip(proba, batch, strict=True):
        one = calibrator.apply_one(row.tolist())
        assert one == pytest.approx(expected.tolist(), rel=1e-12, abs=1e-15)
    assert np.allclose(batch.sum(axis=1), 1.0)
    assert np.all(batch > 0)
    assert np.all(batch <= 1)


@pytest.mark.parametrize("kind", ["platt", "isotonic"])
def test_binary_maps_keep_the_order_of_the_scores(kind: str) -> None:
    rng = np.random.default_rng(3)
    p = np.sort(rng.uniform(0, 1, 200))
    out = _calibrator(kind, rng).apply(np.column_stack([1 - p, p]))[:, 1]
    assert np.all(np.diff(out) >= 0)


def test_temperature_keeps_the_top_class() -> None:
    rng = np.random.default_rng(4)
    proba = rng.dirichlet(np.ones(4), size=300)
    out = Calibrator("temperature", {"t": 2.5}).apply(proba)
    assert np.array_equal(out.argmax(axis=1), proba.argmax(axis=1))
    # A temperature above 1 softens: the top probability never grows.
    assert np.all(out.max(axis=1) <= proba.max(axis=1) + 1e-12)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"kind": "magic", "params": {}}, "unknown calibration 'magic'"),
        ({"params": {"a": 1}}, "names no kind"),
        ({"kind": "platt", "params": {"a": 1.0}}, "platt calibration is malformed"),
        ({"kind": "temperature", "params": {"t": -1.0}}, "temperature must be positive"),
        ({"kind": "isotonic", "params": {"x": [0.5, 0.2], "y": [0.1, 0.2]}}, "increasing x"),
        ({"kind": "isotonic", "params": {"x": [0.1], "y": [0.1, 0.2]}}, "as many x as y"),
    ],
)
def test_a_malformed_calibration_is_refused(data: dict[str, Any], match: str) -> None:
    with pytest.raises(ArtifactError, match=match):
        Calibrator.from_dict(data)


def test_interval_bins_pick_the_half_width_by_prediction() -> None:
    intervals = PredictionIntervals.from_dict(
        PredictionIntervals([10.0, 20.0], {"0.9": [1.0, 2.0, 3.0], 0.8: [0.5, 1, 1.5]}).to_dict()
    )
    assert intervals.levels == [0.8, 0.9]
    pred = np.array([5.0, 10.0, 15.0, 25.0])
    lower, upper = intervals.bounds(pred, 0.9)
    assert lower.tolist() == [4.0, 8.0, 13.0, 22.0]
    assert upper.tolist() == [6.0, 12.0, 17.0, 28.0]
    for value, low, high in zip(pred, lower, upper, strict=True):
        assert intervals.bounds_one(float(value), 0.9) == (low, high)
    with pytest.raises(ValueError, match=r"no prediction intervals at level 0\.95"):
        intervals.bounds(pred, 0.95)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"edges": [1.0]}, "need edges and halfwidths"),
        ({"edges": [2.0, 1.0], "halfwidths": {"0.9": [1, 1, 1]}}, "not increasing"),
        ({"edges": [1.0], "halfwidths": {"0.9": [1.0]}}, "need 2 non-negative"),
        ({"edges": [1.0], "halfwidths": {"0.9": [1.0, -1.0]}}, "need 2 non-negative"),
        ({"edges": [1.0], "halfwidths": {"0.9": [1.0, math.nan]}}, "need 2 non-negative"),
        ({"edges": ["x"], "halfwidths": {"0.9": [1.0, 1.0]}}, "malformed"),
    ],
)
def test_malformed_intervals_are_refused(data: dict[str, Any], match: str) -> None:
    with pytest.raises(ArtifactError, match=match):
        PredictionIntervals.from_dict(data)
