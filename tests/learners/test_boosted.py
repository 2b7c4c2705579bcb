"""The base classes: abstract ones refuse to be built, and what the boosted tree families
(LightGBM, XGBoost, CatBoost) share is one piece of code they all run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlwright.errors import SchemaMismatchError
from mlwright.learners import LEARNERS, CatBoost, Learner, LearnerTask, LightGBM, XGBoost
from mlwright.learners._boosted import ROUNDS_WITHOUT_VALIDATION, BoostedTrees
from mlwright.learners._forest import _Forest

BOOSTED = (LightGBM, XGBoost, CatBoost)
TASK = LearnerTask("binary", 2, (3,))


def small(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:, 3] = rng.integers(0, 3, n)  # a native category code column
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


@pytest.mark.parametrize("base", [Learner, BoostedTrees, _Forest])
def test_the_base_classes_are_abstract(base: type[Learner]) -> None:
    with pytest.raises(TypeError, match="abstract"):
        base()


@pytest.mark.parametrize("family", sorted(LEARNERS))
def test_every_registered_learner_can_be_built(family: str) -> None:
    learner = LEARNERS[family]({}, seed=1)
    assert learner.seed == 1
    assert not learner.is_fitted


@pytest.mark.parametrize("cls", BOOSTED, ids=lambda cls: cls.family)
def test_the_boosted_families_refuse_a_wrong_width_with_one_check(
    cls: type[BoostedTrees],
) -> None:
    # The check is the base class's, not a copy per family.
    assert issubclass(cls, BoostedTrees)
    assert cls._predict is BoostedTrees._predict
    assert cls._predict_one is BoostedTrees._predict_one
    X, y = small()
    learner = cls({"n_estimators": 5}).fit(X, y, TASK)
    wide = np.column_stack([X, X[:, 0]])
    with pytest.raises(SchemaMismatchError) as batch:
        learner.predict(wide)
    assert batch.value.message == (
        f"{cls.family} learner expects 4 features, got an array of shape (120, 5)"
    )
    assert batch.value.hint == "pass the feature matrix that the model's feature plan produces"
    with pytest.raises(SchemaMismatchError) as row:
        learner.predict_one(list(X[0, :3]))
    assert row.value.message == f"{cls.family} learner expects 4 features, got 3"
    assert row.value.hint == "pass the feature vector that the model's feature plan produces"
    with pytest.raises(SchemaMismatchError, match="got an array of shape \\(4,\\)"):
        learner.predict(X[0])  # one row where a matrix belongs


@pytest.mark.parametrize("cls", BOOSTED, ids=lambda cls: cls.family)
def test_the_fit_plan_is_shared(cls: type[BoostedTrees]) -> None:
    plain = cls()._plan(100, validating=False)
    assert (plain.rounds, plain.patience, plain.threads) == (ROUNDS_WITHOUT_VALIDATION, None, 1)
    validated = cls({"early_stopping_rounds": 7})._plan(100, validating=True)
    assert (validated.rounds, validated.patience) == (cls.defaults["n_estimators"], 7)
    assert cls({"n_estimators": 30}, threads=3)._plan(100, validating=False).threads == 3
    assert cls({"n_estimators": 30})._plan(100, validating=False).rounds == 30
    library = cls({"n_estimators": 30})._plan(100, validating=False).library_params
    assert "n_estimators" not in library
    assert "early_stopping_rounds" not in library


@pytest.mark.parametrize("cls", BOOSTED, ids=lambda cls: cls.family)
def test_the_boosted_families_save_one_native_file(cls: type[BoostedTrees], tmp_path: Path) -> None:
    X, y = small()
    learner = cls({"n_estimators": 5}).fit(X, y, TASK)
    info = learner.to_files(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [cls.model_file]
    assert info["meta"] == {
        "files": [cls.model_file],
        "best_iteration": learner.best_iteration_,
        "n_features": 4,
    }
    loaded = cls.from_files(tmp_path, json.loads(json.dumps(info)))
    np.testing.assert_array_equal(loaded.predict(X), learner.predict(X))
    assert loaded.predict_one(list(X[0])) == learner.predict_one(list(X[0]))
