"""What is specific to the CatBoost learner (the shared contract is in test_conformance.py)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mlwright.errors import SchemaMismatchError, TrainingError
from mlwright.learners import LEARNERS, CatBoost, LearnerTask

POSITIVE_LEVELS = (1, 4, 6)
FEW = {"n_estimators": 20}


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
    code separates; the other columns are noise. Some codes are missing (NaN): negative."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    X[:, 2] = rng.integers(0, 8, n)
    y = np.isin(X[:, 2], POSITIVE_LEVELS).astype(np.int64)
    X[rng.random(n) < 0.05, 2] = np.nan
    return X, np.where(np.isnan(X[:, 2]), 0, y)


def test_native_categories_are_used() -> None:
    # One split of depth one: on the category's target statistic it finds the set; a
    # threshold on the code cannot (at most 5 of 8 levels right).
    X, y = category_only(600, seed=0)
    X_test, y_test = category_only(400, seed=1)
    stump = {"depth": 1, "n_estimators": 1, "learning_rate": 1.0, "random_strength": 0.0}
    native = CatBoost(stump).fit(X, y, LearnerTask("binary", 2, (2,)))
    as_number = CatBoost(stump).fit(X, y, LearnerTask("binary", 2, ()))
    native_acc = np.mean(native.predict(X_test).argmax(axis=1) == y_test)
    number_acc = np.mean(as_number.predict(X_test).argmax(axis=1) == y_test)
    assert native_acc == 1.0
    assert number_acc < 0.8
    assert native.model_.get_cat_feature_indices() == [2]


def test_unseen_and_missing_categories_predict() -> None:
    X, y = category_only(400, seed=0)
    learner = CatBoost(FEW).fit(X, y, LearnerTask("binary", 2, (2,)))
    rows = np.array([[0.0, 0.0, 8.0], [0.0, 0.0, np.nan], [0.0, 0.0, 250.0]])
    pred = learner.predict(rows)
    assert np.isfinite(pred).all()
    for row, batch in zip(rows, pred, strict=True):
        assert learner.predict_one(list(row)) == list(batch)


@pytest.mark.parametrize(
    ("problem", "n_classes"),
    [("binary", 2), ("multiclass", 3), ("multiclass", 10), ("regression", 0)],
)
def test_predict_one_equals_batch_to_the_last_bit(problem: str, n_classes: int) -> None:
    X, y, task = dataset(problem, n=300)
    if n_classes == 10:  # eight or more classes: NumPy sums a row's terms in blocks
        y = np.arange(len(y)) % 10
        task = LearnerTask("multiclass", 10, (4,))
    learner = CatBoost(FEW).fit(X, y, task)
    batch = learner.predict(X)
    for row, expected in zip(X, batch, strict=True):
        assert learner.predict_one(list(row)) == list(np.atleast_1d(expected))


@pytest.mark.parametrize("problem", ["binary", "multiclass"])
def test_probabilities_are_catboosts_own(problem: str) -> None:
    # The link applied here, and the trimmed model metadata, give CatBoost's probabilities.
    from catboost import Pool

    from mlwright.learners._catboost import _frame

    X, y, task = dataset(problem, n=300)
    learner = CatBoost(FEW).fit(X, y, task)
    pool = Pool(_frame(X, [4]), cat_features=[4])
    own = learner.model_.predict(pool, prediction_type="Probability")
    assert np.allclose(learner.predict(X), own, rtol=1e-12, atol=1e-15)


def test_the_saved_model_keeps_few_training_params(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # CatBoost re-parses these on every predict call; the full set made one row 3x slower.
    X, y, task = dataset("binary", n=200)
    learner = CatBoost(FEW).fit(X, y, task)
    info = learner.to_files(tmp_path)
    loaded = CatBoost.from_files(tmp_path, json.loads(json.dumps(info)))
    loaded.predict_one(list(X[0]))
    for model in (learner.model_, loaded.model_):
        metadata = model.get_metadata()
        params = json.loads(metadata["params"])
        assert set(params) == {"flat_params", "loss_function"}
        assert params["loss_function"]["type"] == "Logloss"
        assert "training" not in metadata
    # and CatBoost has nothing to complain about when it loads the model
    assert capfd.readouterr().err == ""


def test_the_public_predict_path_gives_the_same_numbers() -> None:
    X, y, task = dataset("multiclass", n=300)
    learner = CatBoost(FEW).fit(X, y, task)
    fast = [learner.predict_one(list(row)) for row in X[:20]]
    learner._row._fast = False  # as on a CatBoost whose private signatures differ
    assert [learner.predict_one(list(row)) for row in X[:20]] == fast


def test_early_stopping_stops_before_the_round_cap() -> None:
    X, y, task = dataset("binary", n=800)
    learner = CatBoost({"n_estimators": 1000, "early_stopping_rounds": 10}, seed=0)
    learner.fit(X[:500], y[:500], task, X_valid=X[500:], y_valid=y[500:])
    assert 1 <= learner.best_iteration_ < 1000
    assert learner.model_.tree_count_ == learner.best_iteration_


def test_a_deadline_ends_boosting_with_the_trees_so_far() -> None:
    X, y, task = dataset("regression", n=2000)
    learner = CatBoost({"n_estimators": 100_000, "learning_rate": 0.01}, seed=0)
    start = time.monotonic()
    learner.fit(X, y, task, deadline=start + 0.3)
    assert time.monotonic() - start < 5.0
    assert 1 <= learner.best_iteration_ < 100_000
    assert np.isfinite(learner.predict(X)).all()


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_a_passed_deadline_with_a_validation_set_keeps_one_round(problem: str) -> None:
    X, y, task = dataset(problem, n=400)
    learner = CatBoost({}, seed=0)
    learner.fit(X[:300], y[:300], task, X_valid=X[300:], y_valid=y[300:], deadline=0.0)
    assert learner.best_iteration_ == 1
    assert np.isfinite(learner.predict(X)).all()


def test_a_class_missing_from_the_fold_keeps_its_column() -> None:
    X, y, task = dataset("multiclass", n=300)
    y = np.where(y == 2, 1, y)  # class 2 absent here
    pred = CatBoost(FEW).fit(X, y, task).predict(X)
    assert pred.shape == (300, 3)
    assert np.allclose(pred.sum(axis=1), 1.0)


@pytest.mark.parametrize("problem", ["binary", "regression"])
def test_a_single_target_value_is_a_training_error(problem: str) -> None:
    X, _, task = dataset(problem, n=100)
    with pytest.raises(TrainingError, match="single value"):
        CatBoost(FEW).fit(X, np.ones(100, dtype=np.int64), task)


def test_search_space_gives_params_that_fit() -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y, task = dataset("multiclass", n=300)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    for _ in range(4):
        trial = study.ask()
        params = CatBoost.search_space(trial, task, len(y))
        assert json.loads(json.dumps(params)) == params
        learner = CatBoost({**params, "n_estimators": 15}, seed=0).fit(X, y, task)
        pred = learner.predict(X)
        assert np.isfinite(pred).all()
        study.tell(trial, float(np.mean(pred.argmax(axis=1) != y)))


def test_default_configs_fit_and_are_portfolio_sized() -> None:
    X, y, task = dataset("binary", n=300)
    configs = CatBoost.default_configs(task, len(y))
    assert 1 <= len(configs) <= 4
    for config in configs:
        learner = CatBoost({**config, "n_estimators": 10}).fit(X, y, task)
        assert np.isfinite(learner.predict(X)).all()
    # CatBoost is the slow one to fit: its hint says so.
    assert CatBoost.cost_hint(10_000, 20, task) > LEARNERS["lightgbm"].cost_hint(10_000, 20, task)


def test_refit_params_fix_the_rounds_from_the_folds() -> None:
    params = CatBoost.refit_params({"depth": 4}, [100, 120])
    assert params == {"depth": 4, "n_estimators": 121}
    X, y, task = dataset("regression", n=300)
    learner = CatBoost({"n_estimators": 37}).fit(X, y, task)
    assert learner.best_iteration_ == 37


def test_nothing_is_written_outside_the_save_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    X, y, task = dataset("binary", n=400)
    learner = CatBoost(FEW).fit(X[:300], y[:300], task, X_valid=X[300:], y_valid=y[300:])
    learner.predict(X)
    learner.predict_one(list(X[0]))
    info = learner.to_files(tmp_path / "model")
    CatBoost.from_files(tmp_path / "model", json.loads(json.dumps(info))).predict(X)
    assert list(cwd.iterdir()) == []  # no catboost_info
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.cbm"]
    assert info["meta"]["files"] == ["model.cbm"]


def test_predict_one_is_safe_across_threads() -> None:
    X, y, task = dataset("binary", n=300)
    learner = CatBoost(FEW).fit(X, y, task)
    expected = [list(p) for p in learner.predict(X)]
    failures: list[int] = []

    def work(offset: int) -> None:
        for _ in range(5):
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
    learner = CatBoost({"n_estimators": 5}).fit(X, y, task)
    with pytest.raises(SchemaMismatchError, match="expects 5 features"):
        learner.predict(X[:, :4])
    with pytest.raises(SchemaMismatchError, match="expects 5 features"):
        learner.predict_one(list(X[0, :4]))


def test_registered() -> None:
    assert LEARNERS["catboost"] is CatBoost
    assert CatBoost.available
    assert CatBoost.feature_style == "tree"


def test_gpu_fits_carry_no_user_callback() -> None:
    """CatBoost refuses user callbacks on GPU, so the deadline callback is CPU-only."""
    from mlwright.learners._catboost import _stop_callbacks

    assert _stop_callbacks({"task_type": "GPU"}, deadline=1.0) is None
    cpu = _stop_callbacks({}, deadline=None)
    assert cpu is not None
    assert len(cpu) == 1


def test_only_files_from_outside_the_run_are_probed_in_a_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A .cbm cannot be checked in Python, so an artifact's is loaded in a child first; the
    # search's own fold files (trusted) skip it: a child per fold cost seconds of the budget.
    from mlwright.learners import _probe

    X, y, task = dataset("binary")
    info = CatBoost(FEW).fit(X, y, task).to_files(tmp_path / "m")
    children: list[list[str]] = []
    real = _probe.run_child

    def counted(module: str, args: list[str], *, timeout: float) -> _probe.ChildEnd:
        children.append(list(args))
        return real(module, args, timeout=timeout)

    monkeypatch.setattr(_probe, "run_child", counted)
    monkeypatch.setattr(_probe, "_PASSED", set())
    CatBoost.from_files(tmp_path / "m", info, trusted=True)
    assert children == []
    loaded = CatBoost.from_files(tmp_path / "m", info)
    assert len(children) == 1
    np.testing.assert_array_equal(
        loaded.predict(X), CatBoost.from_files(tmp_path / "m", info).predict(X)
    )
    assert len(children) == 1  # the same file passed once in this process
