"""Reliability, expected calibration error, and the cross-validated choice of a calibrator."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax

from mlwright.evaluate import (
    choose_calibrator,
    expected_calibration_error,
    fit_calibrator,
    reliability,
    score,
)


def _binary(n: int, seed: int, *, power: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Truths drawn from true probabilities q; the 'model' reports q ** power (power 1:
    calibrated; above 1: too low; below 1: too high)."""
    rng = np.random.default_rng(seed)
    q = expit(rng.normal(0, 1.5, n))
    y = (rng.uniform(size=n) < q).astype(np.int64)
    p = q**power
    return y, np.column_stack([1 - p, p])


def _multiclass(n: int, seed: int, *, sharpen: float) -> tuple[np.ndarray, np.ndarray]:
    """Truths from softmax(z); the 'model' reports softmax(sharpen * z): over-confident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, (n, 4))
    q = softmax(z, axis=1)
    y = np.array([rng.choice(4, p=row) for row in q])
    return y, softmax(sharpen * z, axis=1)


def test_reliability_bins_count_every_row_once() -> None:
    y, proba = _binary(1000, 0)
    table = reliability(y, proba, bins=10)
    assert sum(b.rows for b in table) == 1000
    assert all(b.low <= b.predicted <= b.high for b in table)
    # A probability of exactly 1 falls in the last bin, not past it.
    edge = reliability(np.array([1, 0]), np.array([[0.0, 1.0], [1.0, 0.0]]), bins=4)
    assert [(b.low, b.high, b.rows) for b in edge] == [(0.0, 0.25, 1), (0.75, 1.0, 1)]


def test_expected_calibration_error_sees_miscalibration() -> None:
    calibrated = expected_calibration_error(*_binary(20_000, 1))
    too_low = expected_calibration_error(*_binary(20_000, 1, power=3.0))
    assert calibrated < 0.02
    assert too_low > 0.1


def test_miscalibrated_binary_scores_get_a_map_that_helps() -> None:
    y, proba = _binary(4000, 2, power=3.0)
    choice = choose_calibrator(y, proba, ranking_metric=False)
    assert choice.calibrator is not None
    assert choice.kind in ("platt", "isotonic")
    assert choice.cv_log_loss[choice.kind] < 0.95 * choice.cv_log_loss["none"]
    # Judged on fresh rows from the same source, the map helps there too.
    y_new, proba_new = _binary(4000, 3, power=3.0)
    after = choice.calibrator.apply(proba_new)
    assert score("log_loss", y_new, after) < score("log_loss", y_new, proba_new)
    assert expected_calibration_error(y_new, after) < expected_calibration_error(y_new, proba_new)


def test_calibrated_scores_are_left_alone() -> None:
    y, proba = _binary(4000, 4)
    choice = choose_calibrator(y, proba, ranking_metric=False)
    assert choice.calibrator is None
    assert "no calibration" in choice.reason
    assert set(choice.cv_log_loss) == {"none", "platt", "isotonic"}


def test_ranking_metrics_get_no_isotonic_map() -> None:
    y, proba = _binary(3000, 5, power=3.0)
    choice = choose_calibrator(y, proba, ranking_metric=True)
    assert set(choice.cv_log_loss) == {"none", "platt"}
    assert choice.kind == "platt"
    after = choice.calibrator.apply(proba)  # type: ignore[union-attr]
    assert score("roc_auc", y, after) == pytest.approx(score("roc_auc", y, proba), abs=1e-12)


def test_over_confident_multiclass_scores_are_softened_by_temperature() -> None:
    y, proba = _multiclass(3000, 6, sharpen=2.5)
    choice = choose_calibrator(y, proba, ranking_metric=False)
    assert choice.kind == "temperature"
    assert choice.calibrator is not None
    assert choice.calibrator.params["t"] == pytest.approx(2.5, rel=0.15)


def test_too_few_rows_of_a_class_skip_calibration() -> None:
    y = np.array([0] * 30 + [1])
    proba = np.column_stack([np.full(31, 0.9), np.full(31, 0.1)])
    choice = choose_calibrator(y, proba, ranking_metric=False)
    assert choice.calibrator is None
    assert "too few rows" in choice.reason


def test_isotonic_fit_gives_strictly_increasing_knots() -> None:
    y, proba = _binary(2000, 7, power=2.0)
    calibrator = fit_calibrator("isotonic", y, proba)
    x = np.asarray(calibrator.params["x"])
    assert np.all(np.diff(x) > 0)
