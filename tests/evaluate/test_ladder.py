"""The complexity ladder recommends the simplest step the holdout cannot tell from the best."""

from __future__ import annotations

import numpy as np

from mlwright.evaluate import Step, complexity_ladder
from mlwright.spec import spec_from_kwargs


def _steps(noise_of_best: float, seed: int = 0) -> tuple[list[Step], np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 2000
    y = rng.normal(size=n) * 10
    simple = y + rng.normal(0, 5.0, n)
    best = y + rng.normal(0, noise_of_best, n)
    steps = [
        Step("baseline", "mean", np.full(n, y.mean()), np.full(n, y.mean()), 1.0, 0.001),
        Step("linear", "linear", simple, simple, 20.0, 0.01),
        Step("ensemble", "ensemble(a, b)", best, best, 400.0, 2.0),
    ]
    return steps, y


def test_a_clearly_better_ensemble_is_recommended() -> None:
    spec = spec_from_kwargs({"target": "y", "problem_type": "regression", "metric": "rmse"})
    steps, y = _steps(noise_of_best=2.0)
    ladder = complexity_ladder(spec, steps, y_oof=y, y_hold=y)
    assert ladder["best"] == "ensemble"
    assert ladder["recommended"] == "ensemble"
    assert [s["recommended"] for s in ladder["steps"]] == [False, False, True]
    gain = ladder["steps"][2]["gain_over_previous"]
    assert gain["high"] < 0  # RMSE falls: a negative difference, its interval below 0


def test_an_ensemble_within_noise_of_a_simpler_step_is_not_recommended() -> None:
    spec = spec_from_kwargs({"target": "y", "problem_type": "regression", "metric": "rmse"})
    steps, y = _steps(noise_of_best=4.97)
    ladder = complexity_ladder(spec, steps, y_oof=y, y_hold=y)
    assert ladder["recommended"] == "linear"
    assert "cannot tell from noise" in ladder["summary"]
    assert "20.0x the single-row p99" in ladder["summary"]
