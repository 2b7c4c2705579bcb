"""benchmarks/latency_members.py's compiled-predictor rows: outputs in predict_one's shape,
the agreement check, and (where lleaves and tl2cgen are installed) the real compilers."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from benchmark_module import load_benchmark
from mlwright.learners import LearnerTask, LightGBM


@pytest.fixture(scope="module")
def members() -> ModuleType:
    return load_benchmark("latency_members")


def test_a_compiled_binary_output_takes_predict_ones_two_probabilities(
    members: ModuleType,
) -> None:
    binary = members._as_outputs(lambda x: np.array([0.25]), LearnerTask("binary", 2))
    assert binary([1.0]) == [0.75, 0.25]
    values = members._as_outputs(lambda x: np.array([[3.5]]), LearnerTask("regression", 0))
    assert values([1.0]) == [3.5]


def test_the_agreement_names_the_largest_difference_from_predict_one(
    members: ModuleType,
) -> None:
    class Shipped:
        def predict_one(self, x: list[float]) -> list[float]:
            return [x[0] * 2.0]

    suffix = members._agreement(lambda x: [x[0] * 2.0 + x[0] / 1000], Shipped(), [[1.0], [4.0]])
    assert suffix == ", differs by at most 0.004"


def test_compiled_lightgbm_members_give_the_shipped_outputs(members: ModuleType) -> None:
    pytest.importorskip("lleaves")
    pytest.importorskip("tl2cgen")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = X[:, 0] - 2 * X[:, 1] + rng.normal(scale=0.1, size=300)
    learner = LightGBM({"n_estimators": 20}, seed=0).fit(X, y, LearnerTask("regression", 0))
    compiled = members.compiled_predictors(learner, "lightgbm")
    assert [name.split(" (")[0] for name, _ in compiled] == [
        "lightgbm via lleaves",
        "lightgbm via tl2cgen",
    ]
    for _, predict in compiled:
        for row in X[:5]:
            assert predict(row) == pytest.approx(learner.predict_one(row), abs=1e-9)
