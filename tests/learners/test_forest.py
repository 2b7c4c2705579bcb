"""What is specific to the random_forest and extra_trees learners (the shared contract is in
test_conformance.py): the saved array format, and predictions equal to scikit-learn's."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from mlwright.errors import ArtifactError, SchemaMismatchError, SpecError
from mlwright.learners import LEARNERS, ExtraTrees, LearnerTask, RandomForest
from mlwright.learners._forest import FILE, MIN_TREES, SMALL_BATCH, _round_down_float32

FAMILIES = ["random_forest", "extra_trees"]
PROBLEMS = ["binary", "multiclass", "regression"]
SKLEARN = {
    ("random_forest", False): RandomForestClassifier,
    ("random_forest", True): RandomForestRegressor,
    ("extra_trees", False): ExtraTreesClassifier,
    ("extra_trees", True): ExtraTreesRegressor,
}


def dataset(
    problem: str, n: int = 400, seed: int = 0, missing: float = 0.08
) -> tuple[np.ndarray, np.ndarray, LearnerTask]:
    """Numbers with missing values in every column, and a category code column."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 5] = rng.integers(0, 4, n)
    X[rng.random(X.shape) < missing] = np.nan
    signal = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.isnan(X[:, 2])
    signal += (X[:, 5] == 2) + 0.3 * rng.normal(size=n)
    if problem == "binary":
        return X, (signal > 0.3).astype(np.int64), LearnerTask("binary", 2, (5,))
    if problem == "multiclass":
        # Four classes, one of them absent from the training rows.
        y = np.digitize(signal, [-0.5, 1.0]).astype(np.int64)
        y[y == 2] = 3
        return X, y, LearnerTask("multiclass", 4, (5,))
    return X, signal * 3.0, LearnerTask("regression", 0, (5,))


def sklearn_twin(learner: Any, problem: str, params: dict[str, Any]) -> Any:
    """The scikit-learn forest that the learner's parameters describe, built independently."""
    regression = problem == "regression"
    cls = SKLEARN[(learner.family, regression)]
    return cls(
        n_estimators=params["n_estimators"],
        max_features=params.get("max_features", 1.0 if regression else "sqrt"),
        min_samples_leaf=params.get("min_samples_leaf", 1),
        max_depth=params.get("max_depth", 16),
        max_leaf_nodes=learner.max_leaf_nodes_,
        bootstrap=learner.family == "random_forest",
        random_state=learner.seed,
        n_jobs=1,
    )


def sklearn_predict(model: Any, X: np.ndarray, problem: str, n_classes: int) -> np.ndarray:
    if problem == "regression":
        out: np.ndarray = model.predict(X)
        return out
    proba = np.zeros((len(X), n_classes))
    proba[:, model.classes_] = model.predict_proba(X)
    return proba


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("size_mb", [0.02, 100.0])  # leaves capped (best-first) or not
def test_predictions_equal_scikit_learns(family: str, problem: str, size_mb: float) -> None:
    X, y, task = dataset(problem)
    params = {"n_estimators": 25, "max_size_mb": size_mb}
    learner = LEARNERS[family](params, seed=5, threads=1).fit(X[:300], y[:300], task)
    assert (learner.max_leaf_nodes_ is not None) == (size_mb < 1)  # type: ignore[attr-defined]
    twin = sklearn_twin(learner, problem, params).fit(X[:300], y[:300])
    test = X[300:]
    expected = sklearn_predict(twin, test, problem, task.n_classes)
    # Large batches walk tree by tree, small ones all trees at once, single rows too.
    assert len(test) > SMALL_BATCH
    np.testing.assert_allclose(learner.predict(test), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(learner.predict(test[:7]), expected[:7], rtol=1e-12, atol=1e-12)
    for row, want in zip(test[:30], expected[:30], strict=True):
        np.testing.assert_allclose(
            learner.predict_one(list(row)), np.atleast_1d(want), 1e-12, 1e-12
        )


@pytest.mark.parametrize("family", FAMILIES)
def test_missing_values_unseen_in_training_are_routed_as_scikit_learn_does(family: str) -> None:
    X, y, task = dataset("binary", missing=0.0)
    learner = LEARNERS[family]({"n_estimators": 20}, seed=1, threads=1).fit(X, y, task)
    twin = sklearn_twin(learner, "binary", {"n_estimators": 20}).fit(X, y)
    rng = np.random.default_rng(3)
    test = rng.normal(size=(200, 6))
    test[:, 5] = rng.integers(0, 4, 200)
    test[rng.random(test.shape) < 0.3] = np.nan
    test[0] = np.nan  # a row with nothing known
    expected = twin.predict_proba(test)
    np.testing.assert_allclose(learner.predict(test), expected, rtol=1e-12, atol=1e-12)
    for row, want in zip(test[:20], expected[:20], strict=True):
        np.testing.assert_allclose(learner.predict_one(list(row)), want, rtol=1e-12, atol=1e-12)


def test_float32_thresholds_decide_exactly_as_float64_ones() -> None:
    rng = np.random.default_rng(0)
    x32 = np.concatenate(
        [
            rng.normal(size=2000).astype(np.float32),
            np.array([0.0, -0.0, 1e-45, -1e-45, 3.4e38, -3.4e38, np.inf, -np.inf], np.float32),
        ]
    )
    # Thresholds as scikit-learn makes them (midpoints of float32 values, in float64), values
    # that float32 represents exactly, and ones beyond its range.
    sorted_x = np.sort(x32[np.isfinite(x32)]).astype(np.float64)
    t = np.concatenate(
        [
            sorted_x[:-1] / 2.0 + sorted_x[1:] / 2.0,
            sorted_x,
            rng.normal(size=500) * 1e3,
            np.array([1e39, -1e39, 1e300, -1e300, 5e-324]),
        ]
    )
    t32 = _round_down_float32(t)
    assert t32.dtype == np.float32
    for x in x32:
        assert np.array_equal(x <= t, x <= t32), x


@pytest.mark.parametrize("family", FAMILIES)
def test_the_saved_file_holds_only_numeric_arrays(family: str, tmp_path: Path) -> None:
    X, y, task = dataset("multiclass")
    learner = LEARNERS[family]({"n_estimators": 12}, seed=0).fit(X, y, task)
    info = json.loads(json.dumps(learner.to_files(tmp_path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE]
    with np.load(tmp_path / FILE, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    assert set(arrays) == {
        "children_left",
        "feature",
        "threshold",
        "missing_go_to_left",
        "leaf_value",
        "tree_depth",
    }
    assert all(a.dtype.kind in "biuf" for a in arrays.values())
    left = arrays["children_left"]
    leaves = left < 0
    n_trees = len(arrays["tree_depth"])
    # Roots first; every other node is the left (or, just after it, the right) child of
    # exactly one node. Leaf values are class probabilities.
    children = np.sort(np.concatenate([left[~leaves], left[~leaves] + 1]))
    assert np.array_equal(children, np.arange(n_trees, len(left)))
    assert arrays["leaf_value"].shape == (leaves.sum(), 4)
    np.testing.assert_allclose(arrays["leaf_value"].sum(axis=1), 1.0)
    assert n_trees == info["meta"]["n_trees"] == 12
    loaded = LEARNERS[family].from_files(tmp_path, info)
    assert np.array_equal(loaded.predict(X), learner.predict(X))


@pytest.mark.parametrize("cls", [RandomForest, ExtraTrees])
def test_size_stays_under_the_cap(cls: type[RandomForest], tmp_path: Path) -> None:
    X, y, task = dataset("regression", n=3000)
    cap_mb = 0.15
    learner = cls({"n_estimators": 40, "max_size_mb": cap_mb}, seed=0).fit(X, y, task)
    assert learner.max_leaf_nodes_ is not None  # type: ignore[attr-defined]
    assert learner.size_bytes_ <= cap_mb * 1e6  # type: ignore[attr-defined]
    learner.to_files(tmp_path)
    assert (tmp_path / FILE).stat().st_size <= cap_mb * 1e6
    uncapped = cls({"n_estimators": 40, "max_size_mb": 100.0}, seed=0).fit(X, y, task)
    assert uncapped.size_bytes_ > 2 * cap_mb * 1e6  # type: ignore[attr-defined]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_passed_deadline_keeps_a_few_trees(family: str) -> None:
    X, y, task = dataset("binary")
    learner = LEARNERS[family]({"n_estimators": 300}, seed=0)
    learner.fit(X, y, task, deadline=time.monotonic() - 1.0)
    assert learner.n_trees_ == MIN_TREES  # type: ignore[attr-defined]


def test_the_deadline_stops_tree_growth() -> None:
    X, y, task = dataset("binary", n=2000)
    learner = RandomForest({"n_estimators": 100_000}, seed=0, threads=1)
    started = time.monotonic()
    learner.fit(X, y, task, deadline=started + 1.0)
    elapsed = time.monotonic() - started
    # 100,000 trees would take minutes; each chunk is planned to end before the deadline.
    assert MIN_TREES <= learner.n_trees_ < 100_000  # type: ignore[attr-defined]
    assert elapsed < 5.0


def test_growing_in_chunks_draws_the_same_trees_as_one_fit() -> None:
    X, y, task = dataset("binary")
    whole = RandomForest({"n_estimators": 30}, seed=4).fit(X, y, task)
    # A far deadline: MIN_TREES first, then the rest.
    chunked = RandomForest({"n_estimators": 30}, seed=4).fit(
        X, y, task, deadline=time.monotonic() + 600
    )
    for name, array in whole.arrays_.items():  # type: ignore[attr-defined]
        assert np.array_equal(array, chunked.arrays_[name]), name  # type: ignore[attr-defined]


def test_unknown_or_bad_parameters_fail_before_fitting() -> None:
    X, y, task = dataset("binary")
    with pytest.raises(SpecError, match="did you mean 'n_estimators'"):
        RandomForest({"n_estimator": 10}).fit(X, y, task)
    with pytest.raises(SpecError, match="max_size_mb"):
        ExtraTrees({"max_size_mb": 0}).fit(X, y, task)


def test_inputs_of_the_wrong_width_raise() -> None:
    X, y, task = dataset("binary")
    learner = ExtraTrees({"n_estimators": 5}).fit(X, y, task)
    with pytest.raises(SchemaMismatchError):
        learner.predict(X[:, :4])
    with pytest.raises(SchemaMismatchError):
        learner.predict_one(list(X[0, :4]))


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    X, y, task = dataset("regression")
    learner = ExtraTrees({"n_estimators": 5}).fit(X, y, task)
    info = learner.to_files(tmp_path)
    with np.load(tmp_path / FILE, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["feature"][0] = 99  # a column the model never saw
    np.savez(tmp_path / FILE, **arrays)
    with pytest.raises(ArtifactError, match="feature indices"):
        ExtraTrees.from_files(tmp_path, info)


@pytest.mark.parametrize("cls", [RandomForest, ExtraTrees])
@pytest.mark.parametrize("problem", PROBLEMS)
def test_search_space_and_portfolio_fit(cls: type[RandomForest], problem: str) -> None:
    X, y, task = dataset(problem, n=200)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    params = {**cls.search_space(trial, task, len(y)), "n_estimators": 20}
    assert np.isfinite(cls(params, seed=0).fit(X, y, task).predict(X)).all()
    big = cls.default_configs(task, 500_000)
    assert json.loads(json.dumps(big)) == big
    if cls is RandomForest:  # each tree draws a bounded number of rows on big data
        assert all(0 < c["max_samples"] < 1 for c in big)
    assert 0 < cls.cost_hint(1_000, 10, task) < cls.cost_hint(100_000, 10, task)
