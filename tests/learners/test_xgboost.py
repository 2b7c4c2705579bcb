"""What is specific to the XGBoost learner (the shared contract is in test_conformance.py)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mlwright.errors import SchemaMismatchError
from mlwright.learners import LEARNERS, LearnerTask, XGBoost

POSITIVE_LEVELS = (1, 4, 6)


def dataset(
    problem: str, n: int = 300, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, LearnerTask]:
    """As in test_conformance: numbers with missing values and a category code column."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 4] = rng.integers(0, 4, n)
    X[rng.random(n) < 0.05, 0] = np.nan
    signal = np.nan_to_num(X[:, 0]) + X[:, 1] + (X[:, 4] == 2)
    if problem == "binary":
        return X, (signal > 0.5).astype(np.int64), LearnerTask("binary", 2, (4,))
    if problem == "multiclass":
        y = np.digitize(signal, [-0.5, 1.0]).astype(np.int64)
        return X, y, LearnerTask("multiclass", 3, (4,))
    return X, signal * 3.0, LearnerTask("regression", 0, (4,))


def category_only(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The label is whether a category code is in a set that no single threshold on the
    code separates; the other columns are noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    X[:, 2] = rng.integers(0, 8, n)
    return X, np.isin(X[:, 2], POSITIVE_LEVELS).astype(np.int64)


def test_native_categories_are_used() -> None:
    # One split of depth one: a categorical partition finds the set, a threshold on the code
    # cannot (at most 5 of 8 levels right).
    X, y = category_only(600, seed=0)
    X_test, y_test = category_only(400, seed=1)
    stump = {
        "max_depth": 1,
        "n_estimators": 1,
        "learning_rate": 1.0,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
    }
    native = XGBoost(stump).fit(X, y, LearnerTask("binary", 2, (2,)))
    as_number = XGBoost(stump).fit(X, y, LearnerTask("binary", 2, ()))
    native_acc = np.mean(native.predict(X_test).argmax(axis=1) == y_test)
    number_acc = np.mean(as_number.predict(X_test).argmax(axis=1) == y_test)
    assert native_acc == 1.0
    assert number_acc < 0.8
    assert native.booster_.feature_types == ["q", "q", "c"]


def test_unseen_and_missing_categories_predict() -> None:
    X, y = category_only(400, seed=0)
    learner = XGBoost({"n_estimators": 20}).fit(X, y, LearnerTask("binary", 2, (2,)))
    rows = np.array([[0.0, 0.0, 8.0], [0.0, 0.0, np.nan], [0.0, 0.0, 250.0]])
    pred = learner.predict(rows)
    assert np.isfinite(pred).all()
    for row, batch in zip(rows, pred, strict=True):
        assert learner.predict_one(list(row)) == list(batch)


def test_early_stopping_stops_before_the_round_cap() -> None:
    X, y, task = dataset("binary", n=800)
    learner = XGBoost({"n_estimators": 1000, "early_stopping_rounds": 10}, seed=0)
    learner.fit(X[:500], y[:500], task, X_valid=X[500:], y_valid=y[500:])
    assert 1 <= learner.best_iteration_ < 1000
    # Exactly the best rounds are kept: the booster has no tree past them.
    assert learner.booster_.num_boosted_rounds() == learner.best_iteration_


def test_a_deadline_ends_boosting_with_the_trees_so_far() -> None:
    X, y, task = dataset("regression", n=2000)
    learner = XGBoost({"n_estimators": 100_000, "learning_rate": 0.01}, seed=0)
    start = time.monotonic()
    learner.fit(X, y, task, deadline=start + 0.3)
    assert time.monotonic() - start < 5.0
    assert 1 <= learner.best_iteration_ < 100_000
    assert np.isfinite(learner.predict(X)).all()


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_a_passed_deadline_with_a_validation_set_keeps_one_round(problem: str) -> None:
    X, y, task = dataset(problem, n=400)
    learner = XGBoost({}, seed=0)
    learner.fit(X[:300], y[:300], task, X_valid=X[300:], y_valid=y[300:], deadline=0.0)
    assert learner.best_iteration_ == 1
    assert np.isfinite(learner.predict(X)).all()


def test_search_space_gives_params_that_fit() -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y, task = dataset("multiclass", n=300)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    for _ in range(4):
        trial = study.ask()
        params = XGBoost.search_space(trial, task, len(y))
        assert json.loads(json.dumps(params)) == params
        learner = XGBoost({**params, "n_estimators": 15}, seed=0).fit(X, y, task)
        pred = learner.predict(X)
        assert np.isfinite(pred).all()
        study.tell(trial, float(np.mean(pred.argmax(axis=1) != y)))


def test_default_configs_fit_and_are_portfolio_sized() -> None:
    X, y, task = dataset("binary", n=300)
    configs = XGBoost.default_configs(task, len(y))
    assert 1 <= len(configs) <= 4
    for config in configs:
        learner = XGBoost({**config, "n_estimators": 10}).fit(X, y, task)
        assert np.isfinite(learner.predict(X)).all()
    assert XGBoost.cost_hint(10_000, 20, task) > 0


def test_refit_params_fix_the_rounds_from_the_folds() -> None:
    params = XGBoost.refit_params({"max_depth": 4}, [100, 120])
    assert params == {"max_depth": 4, "n_estimators": 121}
    X, y, task = dataset("regression", n=300)
    learner = XGBoost({"n_estimators": 37}).fit(X, y, task)
    assert learner.best_iteration_ == 37


def test_nothing_is_written_outside_the_save_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    X, y, task = dataset("binary", n=400)
    learner = XGBoost({"n_estimators": 30}).fit(
        X[:300], y[:300], task, X_valid=X[300:], y_valid=y[300:]
    )
    learner.predict(X)
    learner.predict_one(list(X[0]))
    info = learner.to_files(tmp_path / "model")
    XGBoost.from_files(tmp_path / "model", json.loads(json.dumps(info))).predict(X)
    assert list(cwd.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.ubj"]
    assert info["meta"]["files"] == ["model.ubj"]


@pytest.mark.parametrize(
    ("problem", "n_classes"),
    [("binary", 2), ("multiclass", 3), ("multiclass", 10), ("regression", 0)],
)
def test_predict_one_equals_batch_to_the_last_bit(problem: str, n_classes: int) -> None:
    X, y, task = dataset(problem, n=300)
    if n_classes == 10:  # eight or more classes: NumPy sums a row's terms in blocks
        y = np.arange(len(y)) % 10
        task = LearnerTask("multiclass", 10, (4,))
    learner = XGBoost({"n_estimators": 20}).fit(X, y, task)
    batch = learner.predict(X)
    for row, expected in zip(X, batch, strict=True):
        assert learner.predict_one(list(row)) == list(np.atleast_1d(expected))


def test_parallel_batches_agree_with_single_rows() -> None:
    # threads=2: batches go through a second, multi-threaded booster; rows through one thread.
    # (Fitted on one thread: two OpenMP threads on a busy two-core machine crawl.)
    X, y, task = dataset("multiclass", n=300)
    learner = XGBoost({"n_estimators": 20}, threads=1).fit(X, y, task)
    learner.threads = 2
    batch = learner.predict(X[:20])
    assert learner._parallel is not None
    for row, expected in zip(X[:20], batch, strict=True):
        assert learner.predict_one(list(row)) == list(expected)


def test_predict_one_is_safe_across_threads() -> None:
    X, y, task = dataset("binary", n=300)
    learner = XGBoost({"n_estimators": 20}).fit(X, y, task)
    expected = [list(p) for p in learner.predict(X)]
    failures: list[int] = []

    def work(offset: int) -> None:
        for _ in range(20):
            for i in range(offset, len(X), 4):
                if learner.predict_one(list(X[i])) != expected[i]:
                    failures.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_a_wrong_width_is_a_schema_error() -> None:
    X, y, task = dataset("regression", n=200)
    learner = XGBoost({"n_estimators": 5}).fit(X, y, task)
    with pytest.raises(SchemaMismatchError, match="expects 5 features"):
        learner.predict(X[:, :4])
    with pytest.raises(SchemaMismatchError, match="expects 5 features"):
        learner.predict_one(list(X[0, :4]))


def test_registered() -> None:
    assert LEARNERS["xgboost"] is XGBoost
    assert XGBoost.available
    assert XGBoost.feature_style == "tree"


# -- one row: the NumPy tree walk -----------------------------------------------------------


def hostile_rows(X: np.ndarray, seed: int) -> np.ndarray:
    """Rows beside the training rows that reach every kind of branch: missing values in any
    column, category codes unseen (8, 40), negative or fractional, and values that sit
    exactly on the float32 roundings of split conditions."""
    rng = np.random.default_rng(seed)
    rows = X[rng.choice(len(X), 150)].copy()
    rows[rng.random(rows.shape) < 0.15] = np.nan
    rows[:20, 4] = [8, 40, -1, -0.5, 2.5, 1.9999999, 3.0000001, 0, 1, 2] * 2
    rows[20:40, :4] = np.float32(rows[20:40, :4]).astype(np.float64) + 1e-12
    return np.vstack([X, rows])


@pytest.mark.parametrize("problem", ["regression", "binary", "multiclass"])
@pytest.mark.parametrize("depth", [2, 8])
def test_predict_one_walks_the_trees_as_xgboost_does(problem: str, depth: int) -> None:
    X, y, task = dataset(problem, n=400)
    learner = XGBoost({"n_estimators": 60, "max_depth": depth}).fit(X, y, task)
    rows = hostile_rows(X, seed=depth)
    batch = learner.predict(rows)
    for i, row in enumerate(rows):
        one = learner.predict_one(row.tolist())
        expected = [float(batch[i])] if problem == "regression" else batch[i].tolist()
        assert one == expected, i
    assert learner._walk is not None  # the rows above went through the walk


@pytest.mark.parametrize("problem", ["regression", "binary", "multiclass"])
def test_the_walk_holds_with_a_categorical_first_column(problem: str) -> None:
    # A leaf reads feature 0: when that column is categorical, its code must not move the
    # walk off the leaf (the walk then failed its probes, and XGBoost predicted every row).
    X, y, task = dataset(problem, n=400)
    first = [4, 0, 1, 2, 3]
    X = X[:, first]
    task = LearnerTask(task.problem_type, task.n_classes, (0,))
    learner = XGBoost({"n_estimators": 60, "max_depth": 6}).fit(X, y, task)
    rows = hostile_rows(X[:, np.argsort(first)], seed=1)[:, first]
    batch = learner.predict(rows)
    for i, row in enumerate(rows):
        one = learner.predict_one(row.tolist())
        expected = [float(batch[i])] if problem == "regression" else batch[i].tolist()
        assert one == expected, i
    assert learner._walk is not None


def test_a_loaded_model_walks_its_checked_trees(tmp_path: Path) -> None:
    X, y, task = dataset("binary", n=300)
    learner = XGBoost({"n_estimators": 40}).fit(X, y, task)
    info = learner.to_files(tmp_path / "m")
    loaded = XGBoost.from_files(tmp_path / "m", info)
    rows = hostile_rows(X, seed=3)
    batch = loaded.predict(rows)
    assert [loaded.predict_one(r.tolist()) for r in rows] == batch.tolist()
    assert loaded._walk is not None


def test_an_infinite_value_goes_to_xgboost() -> None:
    X, y, task = dataset("regression", n=200)
    learner = XGBoost({"n_estimators": 10}).fit(X, y, task)
    row = [float("inf"), 0.0, 0.0, 0.0, 1.0]
    assert learner.predict_one(row) == [float(learner.predict(np.array([row]))[0])]


def test_a_walk_that_disagrees_on_a_probe_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlwright.learners._xgboost_trees import TreeWalk

    X, y, task = dataset("binary", n=200)
    learner = XGBoost({"n_estimators": 10}).fit(X, y, task)
    monkeypatch.setattr(TreeWalk, "margins", lambda self, x: [0.0])
    assert learner.predict_one(X[0].tolist()) == learner.predict(X[:1])[0].tolist()
    assert learner._walk is None
