"""One conformance suite over every registered learner and every problem type."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlwright.errors import NotFittedError
from mlwright.features import FEATURE_STYLES
from mlwright.learners import LEARNERS, Learner, LearnerTask

PROBLEMS = ["binary", "multiclass", "regression"]
CASES = [(family, problem) for family in LEARNERS for problem in PROBLEMS]
PICKLE_MARKERS = (b"cloudpickle", b"joblib", b"__reduce__", b"\x80\x04\x95", b"\x80\x05\x95")


def dataset(
    problem: str, n: int = 300, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, LearnerTask]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 4] = rng.integers(0, 4, n)  # a native category code column
    X[rng.random(n) < 0.05, 0] = np.nan if problem != "regression" else 0.0
    signal = np.nan_to_num(X[:, 0]) + X[:, 1] + (X[:, 4] == 2)
    if problem == "binary":
        return X, (signal > 0.5).astype(np.int64), LearnerTask("binary", 2, (4,))
    if problem == "multiclass":
        y = np.digitize(signal, [-0.5, 1.0]).astype(np.int64)
        return X, y, LearnerTask("multiclass", 3, (4,))
    return X, signal * 3.0, LearnerTask("regression", 0, (4,))


def features_for(learner: Learner, X: np.ndarray) -> np.ndarray:
    # Linear learners get imputed inputs, as their feature plan would give them.
    return np.nan_to_num(X) if learner.feature_style == "linear" else X


def fitted(family: str, problem: str, seed: int = 0) -> tuple[Learner, np.ndarray, np.ndarray]:
    X, y, task = dataset(problem)
    learner = LEARNERS[family]({}, seed=seed)
    X = features_for(learner, X)
    assert learner.fit(X, y, task) is learner
    return learner, X, y


@pytest.mark.parametrize(("family", "problem"), CASES)
def test_constructor_only_stores_arguments(family: str, problem: str) -> None:
    params = LEARNERS[family].default_configs(dataset(problem)[2], 300)[0]
    learner = LEARNERS[family](params, seed=3)
    assert learner.params == params
    assert learner.seed == 3
    assert not learner.is_fitted
    assert not [k for k in vars(learner) if k.endswith("_") and not k.startswith("_")]


@pytest.mark.parametrize(("family", "problem"), CASES)
def test_unfitted_learner_raises(family: str, problem: str, tmp_path: Path) -> None:
    learner = LEARNERS[family]()
    X, _, _ = dataset(problem)
    with pytest.raises(NotFittedError, match="not fitted"):
        learner.predict(X)
    with pytest.raises(NotFittedError):
        learner.predict_one(list(X[0]))
    with pytest.raises(NotFittedError):
        learner.to_files(tmp_path)


@pytest.mark.parametrize(("family", "problem"), CASES)
def test_predictions_have_the_contract_shape(family: str, problem: str) -> None:
    learner, X, y = fitted(family, problem)
    pred = learner.predict(X)
    if problem == "regression":
        assert pred.shape == (len(y),)
    else:
        k = 2 if problem == "binary" else 3
        assert pred.shape == (len(y), k)
        assert np.allclose(pred.sum(axis=1), 1.0)
        assert ((pred >= 0) & (pred <= 1)).all()
    assert np.isfinite(pred).all()


@pytest.mark.parametrize(("family", "problem"), [c for c in CASES if c[0] != "baseline"])
def test_learns_better_than_nothing(family: str, problem: str) -> None:
    learner, X, y = fitted(family, problem)
    pred = learner.predict(X)
    if problem == "regression":
        assert np.mean((pred - y) ** 2) < 0.7 * np.var(y)
    else:
        assert np.mean(pred.argmax(axis=1) == y) > np.bincount(y).max() / len(y) + 0.05


@pytest.mark.parametrize(("family", "problem"), CASES)
def test_same_seed_same_model(family: str, problem: str) -> None:
    a, X, _ = fitted(family, problem, seed=11)
    b, _, _ = fitted(family, problem, seed=11)
    assert np.array_equal(a.predict(X), b.predict(X))


@pytest.mark.parametrize(("family", "problem"), CASES)
def test_save_load_gives_identical_predictions(family: str, problem: str, tmp_path: Path) -> None:
    learner, X, _ = fitted(family, problem)
    info = learner.to_files(tmp_path / "m")
    info = json.loads(json.dumps(info))  # the metadata is plain JSON
    loaded = LEARNERS[family].from_files(tmp_path / "m", info)
    assert np.array_equal(learner.predict(X), loaded.predict(X))
    for row in X[:5]:
        assert loaded.predict_one(list(row)) == learner.predict_one(list(row))
    for path in (tmp_path / "m").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(marker in data for marker in PICKLE_MARKERS), path


@pytest.mark.parametrize(("family", "problem"), CASES)
def test_predict_one_matches_batch(family: str, problem: str) -> None:
    learner, X, _ = fitted(family, problem)
    batch = learner.predict(X[:25])
    for i, row in enumerate(X[:25]):
        one = np.asarray(learner.predict_one(list(row)))
        expected = np.atleast_1d(batch[i])
        assert np.allclose(one, expected, rtol=1e-12, atol=1e-12), (one, expected)


# Families whose libraries give exact additive contributions (TreeSHAP, coefficients).
EXPLAINED = {"lightgbm", "lightgbm_fe", "xgboost", "catboost", "linear"}


@pytest.mark.parametrize(("family", "problem"), CASES)
def test_contributions_add_up_to_the_raw_score(family: str, problem: str) -> None:
    learner, X, _ = fitted(family, problem)
    contributions = learner.contributions(X[:40])
    if family not in EXPLAINED:
        assert contributions is None
        return
    assert contributions is not None
    outputs = 3 if problem == "multiclass" else 1
    assert contributions.shape == (40, outputs, X.shape[1] + 1)
    raw = contributions.sum(axis=2)
    pred = learner.predict(X[:40])
    if problem == "regression":
        expected = pred
    elif problem == "binary":
        expected = np.log(pred[:, 1] / pred[:, 0])
    else:
        e = np.exp(raw - raw.max(axis=1, keepdims=True))
        raw, expected = e / e.sum(axis=1, keepdims=True), pred
    np.testing.assert_allclose(raw.reshape(expected.shape), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("family", "problem"), CASES)
def test_default_configs_are_plain_dicts(family: str, problem: str) -> None:
    configs = LEARNERS[family].default_configs(dataset(problem)[2], 1000)
    assert configs
    for config in configs:
        assert json.loads(json.dumps(config)) == config


def test_lightgbm_stops_early_on_a_validation_set() -> None:
    X, y, task = dataset("binary", n=600)
    learner = LEARNERS["lightgbm"]({"n_estimators": 1000, "early_stopping_rounds": 10}, seed=0)
    learner.fit(X[:400], y[:400], task, X_valid=X[400:], y_valid=y[400:])
    assert 1 <= learner.best_iteration_ < 1000  # type: ignore[attr-defined]


def test_registry_holds_the_issue_learners() -> None:
    assert {"baseline", "linear", "lightgbm"} <= set(LEARNERS)
    for family, cls in LEARNERS.items():
        assert cls.family == family
        assert cls.feature_style in FEATURE_STYLES
        assert cls.description


@pytest.mark.parametrize(("family", "problem"), CASES)
def test_a_passed_deadline_still_gives_a_usable_model(family: str, problem: str) -> None:
    import time

    X, y, task = dataset(problem)
    learner = LEARNERS[family]({}, seed=0)
    X = features_for(learner, X)
    learner.fit(X, y, task, deadline=time.monotonic() - 1.0)
    pred = learner.predict(X)
    assert np.isfinite(pred).all()
    if family == "lightgbm":
        assert learner.best_iteration_ <= 2  # type: ignore[attr-defined]


BOOSTED = ["lightgbm", "xgboost", "catboost", "mlp"]


@pytest.mark.parametrize("family", BOOSTED)
def test_a_stop_request_ends_iterative_training_like_a_passed_deadline(
    family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during a search stops boosting at the next round (mlwright._interrupt), with
    or without a deadline; the model so far is still usable."""
    from mlwright import _interrupt

    X, y, task = dataset("binary")
    learner = LEARNERS[family]({}, seed=0)
    X = features_for(learner, X)
    monkeypatch.setattr(_interrupt, "_requested", _interrupt.threading.Event())
    _interrupt._requested.set()
    learner.fit(X, y, task)
    assert learner.best_iteration_ == 1  # type: ignore[attr-defined]
    assert np.isfinite(learner.predict(X)).all()
    _interrupt._requested.clear()
    assert LEARNERS[family]({}, seed=0).fit(X, y, task).best_iteration_ > 1  # type: ignore[attr-defined]


def test_gpu_params_name_a_device_only_for_families_with_a_gpu_path() -> None:
    assert LEARNERS["xgboost"].gpu_params() == {"device": "cuda"}
    assert LEARNERS["catboost"].gpu_params() == {"task_type": "GPU"}
    for family in ("baseline", "linear", "lightgbm", "random_forest", "knn"):
        assert LEARNERS[family].gpu_params() == {}


def test_no_cuda_device_is_seen_when_none_is_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlwright.learners import cuda_available

    cuda_available.cache_clear()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cuda_available() is False
    cuda_available.cache_clear()


PATIENCE = {"lightgbm": "early_stopping_rounds", "xgboost": "early_stopping_rounds"}
PATIENCE |= {"catboost": "early_stopping_rounds", "mlp": "patience"}


@pytest.mark.parametrize("family", BOOSTED)
def test_rounds_run_count_what_early_stopping_cost_beyond_the_best_round(family: str) -> None:
    """The refit's time is planned from the rounds a fold fit ran (search.Search.refit_effort):
    the best round plus the patience that confirmed it, not the best round alone."""
    X, y, task = dataset("regression", n=600)
    y = y + np.random.default_rng(1).normal(scale=2.0, size=len(y))  # noise: it stops early
    params = {PATIENCE[family]: 7, "learning_rate": 0.3}
    # The network's early stopping waits out a quarter of its epochs first (here 15).
    params |= {"epochs": 60} if family == "mlp" else {"n_estimators": 2000}
    learner = LEARNERS[family](params, seed=0)
    X = features_for(learner, X)
    learner.fit(X[:400], y[:400], task, X_valid=X[400:], y_valid=y[400:])
    best, ran = learner.best_iteration_, learner.rounds_run_  # type: ignore[attr-defined]
    assert ran == best + 7 < params.get("epochs", 2000)
    # Without a validation set nothing stops it: every round asked for runs.
    params = {"epochs": 5} if family == "mlp" else {"n_estimators": 5}
    learner = LEARNERS[family](params, seed=0).fit(X, y, task)
    assert learner.rounds_run_ == learner.best_iteration_ == 5  # type: ignore[attr-defined]
