"""Fitting the stacking layer on out-of-fold predictions."""

from __future__ import annotations

import numpy as np

from mlwright.search import fit_stacker


def test_a_stacker_learns_to_trust_the_better_member() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    good = np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(0, 0.15, 2000), 0.01, 0.99)
    noise = rng.uniform(0.01, 0.99, 2000)
    stacker = fit_stacker(
        [np.column_stack([1 - good, good]), np.column_stack([1 - noise, noise])], y, "binary", 2
    )
    assert stacker is not None
    assert stacker.coef.shape == (1, 2)
    assert abs(stacker.coef[0, 0]) > 5 * abs(stacker.coef[0, 1])


def test_regression_stacker_recovers_a_blend() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=500), rng.normal(size=500)
    y = 0.7 * a + 0.3 * b + 2.0
    stacker = fit_stacker([a, b], y, "regression", 0)
    assert stacker is not None
    np.testing.assert_allclose(stacker.coef[0], [0.7, 0.3], atol=0.01)
    np.testing.assert_allclose(stacker.combine([a, b]), y, atol=0.02)


def test_a_class_missing_from_the_rows_gives_no_stacker() -> None:
    p = np.full((10, 3), 1 / 3)
    assert fit_stacker([p], np.array([0, 1] * 5), "multiclass", 3) is None
