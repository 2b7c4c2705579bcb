"""CatBoost oblivious trees, with the native category codes as CatBoost categorical features.

CatBoost hashes categorical values as strings, so codes go in as integers (missing as -1),
through a Polars frame for batches (the fastest input CatBoost takes) and as a Python list
for one row; both hash the same. Saved in CatBoost's own ``.cbm`` format. CatBoost returns
raw scores in float64; the link (sigmoid, softmax) is applied here.

Two things make one-row predictions fast. CatBoost re-parses the model's stored training
parameters (several KB of JSON) on every predict call, so the saved model keeps only the
parameters as given and the loss function there. And one row goes straight to the Pool's
and the model's compiled methods, skipping ``CatBoost.predict``'s Python checks; a CatBoost
version whose private signatures differ falls back to the public ``predict``, with the
same numbers.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mlwright.errors import TrainingError
from mlwright.learners._base import (
    LearnerTask,
    NativeFileError,
    contributions_by_output,
    out_of_time,
)
from mlwright.learners._boosted import BoostedTrees, BoostPlan, Validation
from mlwright.learners._links import link, link_one
from mlwright.learners._portfolio import learned_configs
from mlwright.learners._probe import probe_file

DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.08,
    "depth": 6,
    "l2_leaf_reg": 3.0,
    "random_strength": 1.0,
    "bagging_temperature": 1.0,
    "border_count": 254,
    "one_hot_max_size": 4,
    # Combinations of up to two categorical columns. CatBoost's own default (4) costs several
    # times more with many categorical columns (modeldata/ames, 40 of 73: 29 s against 15 s
    # on one core) for no better score there.
    "max_ctr_complexity": 2,
    "n_estimators": 2000,  # upper bound on rounds when early stopping on a validation set
    "early_stopping_rounds": 50,
}
_LOSS = {"binary": "Logloss", "multiclass": "MultiClass", "regression": "RMSE"}
MISSING_CODE = -1  # the categorical value CatBoost sees for a missing category
_RAW = "RawFormulaVal"


class _StopAt:
    """A CatBoost training callback that ends boosting at ``deadline`` or on a stop request,
    keeping the trees so far (CatBoost stops when ``after_iteration`` returns False)."""

    def __init__(self, deadline: float | None):
        self.deadline = deadline

    def after_iteration(self, info: Any) -> bool:
        return not out_of_time(self.deadline)


def _stop_callbacks(params: Mapping[str, Any], deadline: float | None) -> list[_StopAt] | None:
    """The deadline and stop-request callback, except on GPU: CatBoost refuses user
    callbacks there ("not supported for GPU"), so a GPU fit runs to its early stopping."""
    if str(params.get("task_type", "CPU")).upper() == "GPU":
        return None
    return [_StopAt(deadline)]


def _frame(X: np.ndarray, categorical: Sequence[int]) -> Any:
    """X as a Polars frame: floats, and the category codes as integers (missing: -1)."""
    import polars as pl

    X = np.asarray(X, dtype=np.float64)
    cats = set(categorical)
    columns = {}
    for i in range(X.shape[1]):
        col = X[:, i]
        if i in cats:
            columns[f"f{i}"] = pl.Series(
                np.where(np.isnan(col), MISSING_CODE, col).astype(np.int64)
            )
        else:
            columns[f"f{i}"] = pl.Series(col)
    return pl.DataFrame(columns)


class CatBoost(BoostedTrees):
    family = "catboost"
    defaults = DEFAULTS
    model_file = "model.cbm"
    description = "CatBoost oblivious trees with ordered target statistics for categories"
    available: ClassVar[bool] = importlib.util.find_spec("catboost") is not None
    libraries = ("catboost",)

    @classmethod
    def default_configs(cls, task: LearnerTask, n_rows: int) -> list[dict[str, Any]]:
        return learned_configs(cls.family, task.problem_type) or [
            {},
            # Deep trees without category combinations, so their cost stays bounded.
            {"learning_rate": 0.05, "depth": 8, "l2_leaf_reg": 5.0, "max_ctr_complexity": 1},
            {
                "learning_rate": 0.1,
                "depth": 4,
                "l2_leaf_reg": 1.0,
                "random_strength": 2.0,
                "max_ctr_complexity": 4,
            },
        ]

    @classmethod
    def search_space(cls, trial: Any, task: LearnerTask, n_rows: int) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "depth": trial.suggest_int("depth", 4, 10),
            "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 30.0, log=True),
            "random_strength": trial.suggest_float("random_strength", 0.1, 10.0, log=True),
            "bagging_temperature": trial.suggest_float("bagging_temperature", 0.0, 2.0),
            "one_hot_max_size": trial.suggest_int("one_hot_max_size", 2, 10),
            "max_ctr_complexity": trial.suggest_int("max_ctr_complexity", 1, 4),
        }

    @classmethod
    def cost_hint(cls, n_rows: int, n_features: int, task: LearnerTask) -> float:
        # CatBoost is the slowest of the boosters to fit, and a categorical column costs it
        # about ten numeric ones (target statistics, combinations). Measured on one core with
        # early stopping, relative to LightGBM's first default (the base hint): 6x on 20
        # columns with 2 categorical, 20x on modeldata/ames (40 of 73 categorical).
        n_cat = len(task.categorical)
        width = max(n_features - n_cat, 1) + 10 * n_cat
        classes = 1.0 + 0.5 * (task.n_classes - 1) if task.problem_type == "multiclass" else 1.0
        return 0.2 + 3.2e-6 * n_rows * width * classes

    @classmethod
    def gpu_params(cls) -> dict[str, Any]:
        return {"task_type": "GPU"}

    def _cb_params(self, task: LearnerTask, plan: BoostPlan) -> dict[str, Any]:
        params = plan.library_params
        params.update(
            loss_function=_LOSS[task.problem_type],
            iterations=plan.rounds,
            random_seed=self.seed,
            thread_count=plan.threads,
            allow_writing_files=False,
            logging_level="Silent",
        )
        if task.problem_type != "regression":
            # Fixes the output columns to classes 0..k-1, present in this fold or not.
            params["class_names"] = list(range(task.n_classes))
        return params

    def _fit_model(
        self,
        X: np.ndarray,
        y: np.ndarray,
        task: LearnerTask,
        *,
        valid: Validation | None,
        plan: BoostPlan,
        deadline: float | None,
    ) -> None:
        from catboost import CatBoost as CatBoostModel
        from catboost import CatBoostError, Pool

        y = np.asarray(y)
        if len(np.unique(y)) < 2:
            raise TrainingError(
                f"catboost cannot fit a target with a single value ({y[0] if len(y) else None})",
                hint="use another learner for this fold, or check the target column",
            )
        categorical = list(task.categorical)
        train = Pool(
            _frame(X, categorical), label=y, cat_features=categorical, thread_count=plan.threads
        )
        valid_pool = None
        if valid is not None:
            valid_pool = Pool(
                _frame(valid.X, categorical),
                label=np.asarray(valid.y),
                cat_features=categorical,
                thread_count=plan.threads,
            )
        params = self._cb_params(task, plan)
        model = CatBoostModel(params)
        try:
            model.fit(
                train,
                eval_set=valid_pool,
                early_stopping_rounds=plan.patience,
                use_best_model=valid_pool is not None,
                callbacks=_stop_callbacks(params, deadline),
            )
        except CatBoostError as e:
            raise TrainingError(f"catboost could not fit: {e}", hint="check the data") from e
        self.rounds_run_ = _rounds_run(model)
        _compact_metadata(model)
        self.model_ = model
        self.best_iteration_ = int(model.tree_count_)

    def _prepare_predictors(self, task: LearnerTask) -> None:
        self._row = _RowPredictor(self.model_, self.n_features_, list(task.categorical))

    def _predict_batch(self, X: np.ndarray) -> np.ndarray:
        from catboost import Pool

        threads = self._threads(len(X))
        categorical = list(self.task_.categorical)
        pool = Pool(_frame(X, categorical), cat_features=categorical, thread_count=threads)
        raw = self.model_.predict(pool, prediction_type=_RAW, thread_count=threads)
        return link(raw, self.task_)

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        from catboost import Pool

        categorical = list(self.task_.categorical)
        threads = self._threads(len(X))
        pool = Pool(_frame(X, categorical), cat_features=categorical, thread_count=threads)
        flat = self.model_.get_feature_importance(pool, type="ShapValues", thread_count=threads)
        return contributions_by_output(flat, self.n_features_)

    def _predict_row(self, x: Sequence[float]) -> list[float]:
        return link_one(self._row(x), self.task_)

    def _write_model(self, path: Path) -> None:
        # CatBoost stamps each file with its finish time and a random id; without them the
        # same seed and data give the same bytes, so an artifact's digest names its model.
        stamps = self.model_.get_metadata()
        for key in ("train_finish_time", "model_guid"):
            if key in stamps:
                del stamps[key]
        self.model_.save_model(str(path), format="cbm")

    def _read_model(self, path: Path, meta: Mapping[str, Any], task: LearnerTask) -> None:
        from catboost import CatBoost as CatBoostModel

        n_features = self.n_features_
        if n_features < 1 or any(not 0 <= int(i) < n_features for i in task.categorical):
            raise ValueError(f"n_features {n_features} and categorical {task.categorical} disagree")
        _check_envelope(path)
        # CatBoost's own checks of a .cbm are not enough (a damaged file can crash it), and
        # the format cannot be checked here in Python: a child process loads it first.
        probe_file(self.family, path.parent, path.name, meta, task.to_dict())
        model = CatBoostModel()
        model.load_model(str(path), format="cbm")
        if model.tree_count_ is None or len(model.feature_names_ or []) > n_features:
            raise NativeFileError(path.name, "the model reads more features than it is given")
        self.model_ = model


def _check_envelope(path: Path) -> None:
    """A .cbm starts with b"CBM1" and the length of the model core that follows."""
    with path.open("rb") as handle:
        head = handle.read(8)
    size = path.stat().st_size
    if len(head) < 8 or head[:4] != b"CBM1" or int.from_bytes(head[4:], "little") > size - 8:
        raise NativeFileError(path.name, "it is not a CatBoost model (a .cbm) or it is cut short")


def _rounds_run(model: Any) -> int:
    """Rounds boosted: the length of the learning curve (its trees, after use_best_model
    cut them back to the best round, are fewer)."""
    curves = model.get_evals_result()
    return max((len(c) for metrics in curves.values() for c in metrics.values()), default=0) or int(
        model.tree_count_
    )


def _compact_metadata(model: Any) -> None:
    """Keep only the parameters as given and the loss function of the stored training
    parameters (CatBoost parses them on every predict call: 30 us of a 40 us one-row
    prediction), and drop the learning curve. Without ``flat_params`` loading the model
    prints a warning."""
    info = model.get_metadata()
    params = json.loads(info["params"]) if "params" in info else {}
    info["params"] = json.dumps(
        {
            "flat_params": params.get("flat_params", {}),
            "loss_function": params.get("loss_function", {}),
        }
    )
    if "training" in info:
        del info["training"]


class _RowPredictor:
    """One row's raw scores, through CatBoost's compiled Pool and model methods directly."""

    def __init__(self, model: Any, n_features: int, categorical: list[int]):
        self._model = model
        self._categorical = categorical
        self._is_cat = [False] * n_features
        for i in categorical:
            self._is_cat[i] = True
        self._fast = True

    def _values(self, x: Sequence[float]) -> list[Any]:
        return [
            (MISSING_CODE if math.isnan(v) else int(v)) if cat else float(v)
            for v, cat in zip(x, self._is_cat, strict=True)
        ]

    def __call__(self, x: Sequence[float]) -> list[float]:
        data = np.array([self._values(x)], dtype=object)
        if self._fast:
            try:
                return self._direct(data)
            except (AttributeError, TypeError):
                self._fast = False  # another CatBoost version: the public path, same numbers
        raw = self._model.predict(data, prediction_type=_RAW, thread_count=1)
        return [float(v) for v in np.ravel(raw)]

    def _direct(self, data: np.ndarray) -> list[float]:
        from catboost import Pool

        pool = Pool.__new__(Pool)
        pool._init_pool(
            data, None, self._categorical, None, None, None, None, None, None, None, None,
            None, None, None, None, None, None, 1,
        )  # fmt: skip
        raw = self._model._object._base_predict(pool, _RAW, 0, 0, 1, False, "CPU")
        return [float(v) for v in np.ravel(raw)]
