"""What is specific to the knn learner (the shared contract is in test_conformance.py):
exact neighbours, equal to scikit-learn's, whichever path finds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from mlwright.errors import InputError, SchemaMismatchError, SpecError
from mlwright.learners import KNN, LearnerTask
from mlwright.learners._knn import FILE, SAMPLE_FROM_ROWS

PROBLEMS = ["binary", "multiclass", "regression"]


def dataset(
    problem: str, n: int = 600, p: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, LearnerTask]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    signal = X[:, 0] + X[:, 1] * X[:, 2] + 0.3 * rng.normal(size=n)
    if problem == "binary":
        return X, (signal > 0).astype(np.int64), LearnerTask("binary", 2, ())
    if problem == "multiclass":
        return X, np.digitize(signal, [-0.7, 0.7]).astype(np.int64), LearnerTask("multiclass", 3)
    return X, signal, LearnerTask("regression", 0, ())


def sklearn_twin(learner: KNN, problem: str, k: int, weights: str) -> Any:
    cls = KNeighborsRegressor if problem == "regression" else KNeighborsClassifier
    model = cls(n_neighbors=k, weights=weights, algorithm="brute")
    # The learner keeps its rows in float32; scikit-learn sees the same values.
    return model.fit(learner.X_.astype(np.float64), learner.y_)  # type: ignore[attr-defined]


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("n", [600, SAMPLE_FROM_ROWS + 1000])  # direct and sampled selection
def test_predictions_equal_scikit_learns(problem: str, weights: str, n: int) -> None:
    X, y, task = dataset(problem, n=n + 150)
    learner = KNN({"n_neighbors": 7, "weights": weights}).fit(X[:n], y[:n], task)
    twin = sklearn_twin(learner, problem, 7, weights)
    test = X[n:]
    expected = twin.predict(test) if problem == "regression" else twin.predict_proba(test)
    got = learner.predict(test)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    for row, want in zip(test[:40], got[:40], strict=True):
        np.testing.assert_allclose(learner.predict_one(list(row)), np.atleast_1d(want), 0, 1e-12)


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_ties_are_broken_the_same_way_for_one_row_and_a_batch(weights: str) -> None:
    # Few distinct rows, many copies with different labels: distances tie everywhere, and a
    # different choice among tied neighbours would move a probability by 1/k.
    rng = np.random.default_rng(1)
    base = rng.integers(-2, 3, size=(40, 4)).astype(np.float64)
    X = base[rng.integers(0, 40, size=SAMPLE_FROM_ROWS + 500)]
    y = rng.integers(0, 3, size=len(X))
    task = LearnerTask("multiclass", 3)
    learner = KNN({"n_neighbors": 9, "weights": weights}).fit(X, y, task)
    queries = np.vstack([base[:20], rng.integers(-2, 3, size=(30, 4)).astype(np.float64)])
    batch = learner.predict(queries)
    for row, want in zip(queries, batch, strict=True):
        np.testing.assert_allclose(learner.predict_one(list(row)), want, rtol=0, atol=1e-12)
    # Ties go to the earlier stored row, as a stable sort of all distances gives.
    d2 = ((X - queries[0]) ** 2).sum(axis=1)
    first = np.argsort(d2, kind="stable")[:9]
    nb, _ = learner._index.neighbours_one(queries[0])  # type: ignore[attr-defined]
    assert np.array_equal(nb, first)


def test_an_exact_match_takes_all_the_weight() -> None:
    X, y, task = dataset("binary")
    learner = KNN({"n_neighbors": 15, "weights": "distance"}).fit(X, y, task)
    stored = learner.X_[10].astype(np.float64)  # type: ignore[attr-defined]
    label = int(learner.y_[10])  # type: ignore[attr-defined]
    assert learner.predict_one(list(stored))[label] == 1.0
    assert learner.predict(stored[None, :])[0, label] == 1.0


def test_stored_rows_are_capped_by_a_seeded_subsample(tmp_path: Path) -> None:
    X, y, task = dataset("regression", n=3000)
    learner = KNN({"max_rows": 1000}, seed=3).fit(X, y, task)
    again = KNN({"max_rows": 1000}, seed=3).fit(X, y, task)
    other = KNN({"max_rows": 1000}, seed=4).fit(X, y, task)
    assert learner.X_.shape == (1000, 8)  # type: ignore[attr-defined]
    assert np.array_equal(learner.X_, again.X_)  # type: ignore[attr-defined]
    assert not np.array_equal(learner.X_, other.X_)  # type: ignore[attr-defined]
    info = json.loads(json.dumps(learner.to_files(tmp_path)))
    assert info["meta"]["n_rows_seen"] == 3000
    assert info["meta"]["n_stored"] == 1000
    with np.load(tmp_path / FILE, allow_pickle=False) as data:
        assert sorted(data.files) == ["X", "y"]
        assert data["X"].dtype == np.float32
        assert data["y"].dtype == np.float64
    loaded = KNN.from_files(tmp_path, info)
    assert np.array_equal(loaded.predict(X), learner.predict(X))


def test_more_neighbours_than_rows_uses_them_all() -> None:
    X, y, task = dataset("multiclass", n=12)
    learner = KNN({"n_neighbors": 50, "weights": "uniform"}).fit(X, y, task)
    expected = np.bincount(y, minlength=3) / len(y)
    np.testing.assert_allclose(learner.predict(X[:3]), np.tile(expected, (3, 1)), atol=1e-15)
    np.testing.assert_allclose(learner.predict_one(list(X[0])), expected, atol=1e-15)


def test_missing_values_are_refused() -> None:
    X, y, task = dataset("binary")
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="linear"):
        KNN().fit(bad, y, task)
    learner = KNN().fit(X, y, task)
    with pytest.raises(InputError):
        learner.predict(bad)
    with pytest.raises(InputError):
        learner.predict_one(list(bad[0]))
    with pytest.raises(SchemaMismatchError):
        learner.predict_one(list(X[0, :3]))


def test_bad_parameters_fail_before_fitting() -> None:
    X, y, task = dataset("binary")
    with pytest.raises(SpecError, match="did you mean 'n_neighbors'"):
        KNN({"n_neighbours": 5}).fit(X, y, task)
    with pytest.raises(SpecError, match="uniform"):
        KNN({"weights": "gaussian"}).fit(X, y, task)
    with pytest.raises(SpecError, match="positive integer"):
        KNN({"n_neighbors": 0}).fit(X, y, task)


def test_search_space_portfolio_and_cost_hint() -> None:
    X, y, task = dataset("binary", n=200)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        params = KNN.search_space(study.ask(), task, len(y))
        assert np.isfinite(KNN(params).fit(X, y, task).predict(X)).all()
    configs = KNN.default_configs(task, 1000)
    assert all(5 <= c["n_neighbors"] <= 30 for c in configs)
    assert 0 < KNN.cost_hint(1_000, 10, task) < KNN.cost_hint(100_000, 10, task)


def test_selection_stays_exact_when_the_sample_misleads() -> None:
    # The rows nearest the query sit exactly where the strided sample looks, so the sample's
    # threshold keeps fewer than k rows and both paths must fall back to a full selection.
    rng = np.random.default_rng(2)
    m = SAMPLE_FROM_ROWS + 904
    X = rng.normal(size=(m, 5)) + 10.0
    index_stride = KNN({"n_neighbors": 10}).fit(X, np.zeros(m), LearnerTask("regression"))
    stride = index_stride._index.stride  # type: ignore[attr-defined]
    near = np.arange(0, 25 * stride, stride)
    X[near] = rng.normal(size=(len(near), 5)) * 0.01
    y = rng.normal(size=m)
    learner = KNN({"n_neighbors": 10, "weights": "uniform"}).fit(X, y, LearnerTask("regression"))
    queries = rng.normal(size=(5, 5)) * 0.01
    expected = [
        y[np.argsort(((X - q) ** 2).sum(axis=1), kind="stable")[:10]].mean() for q in queries
    ]
    np.testing.assert_allclose(learner.predict(queries), expected, rtol=1e-12)
    for q, want in zip(queries, expected, strict=True):
        np.testing.assert_allclose(learner.predict_one(list(q)), [want], rtol=1e-12)
