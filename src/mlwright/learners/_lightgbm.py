"""LightGBM gradient-boosted trees, with native categorical splits and early stopping.

Saved in LightGBM's own text format. One-row predictions go through LightGBM's
``LGBM_BoosterPredictForMatSingleRowFast`` C entry point (prepared once per thread), which
skips the per-call set-up of ``Booster.predict``: a few microseconds instead of tens.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlwright.learners._base import (
    LearnerTask,
    NativeFileError,
    contributions_by_output,
    out_of_time,
    probabilities_from_binary,
)
from mlwright.learners._boosted import BoostedTrees, BoostPlan, Validation
from mlwright.learners._lightgbm_text import check_model_text
from mlwright.learners._portfolio import learned_configs
from mlwright.learners._probe import files_trusted

DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 1.0,
    "bagging_freq": 0,
    "lambda_l2": 0.0,
    "max_bin": 255,
    "cat_smooth": 10.0,
    "max_cat_to_onehot": 4,
    "n_estimators": 2000,  # upper bound on rounds when early stopping on a validation set
    "early_stopping_rounds": 50,
}
_OBJECTIVE = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}
_C_API_DTYPE_FLOAT64 = 1
_C_API_PREDICT_NORMAL = 0


class _StopAt:
    """A LightGBM callback that ends boosting at ``deadline`` or on a stop request, keeping
    the trees so far, and counts the rounds boosted (``lgb.train`` cuts an early-stopped
    booster back to its best round, so the booster no longer says how many ran)."""

    order = 5  # before early stopping's own check, so its last round is counted too

    def __init__(self, deadline: float | None):
        self.deadline = deadline
        self.rounds = 0

    def __call__(self, env: Any) -> None:
        import lightgbm as lgb

        self.rounds = env.iteration - env.begin_iteration + 1
        if out_of_time(self.deadline):
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])


class _FastRow:
    """A prepared single-row predictor for one thread (LightGBM's FastConfig)."""

    def __init__(self, booster: Any, n_features: int, n_outputs: int):
        from lightgbm.basic import _LIB, _c_str, _safe_call  # type: ignore[attr-defined]

        self._lib = _LIB
        self._config = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_C_API_PREDICT_NORMAL),
                ctypes.c_int(0),
                ctypes.c_int(-1),
                ctypes.c_int(_C_API_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                _c_str("num_threads=1"),
                ctypes.byref(self._config),
            )
        )
        self._row = (ctypes.c_double * n_features)()
        self._out = (ctypes.c_double * n_outputs)()
        self._out_len = ctypes.c_int64()
        self._call = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        self._booster = booster  # keep the booster alive as long as its config

    def __call__(self, x: Sequence[float]) -> list[float]:
        # Slice assignment checks the length, so a wrong-sized vector raises, never reads past.
        self._row[:] = x  # type: ignore[call-overload]
        ret = self._call(self._config, self._row, ctypes.byref(self._out_len), self._out)
        if ret != 0:
            from lightgbm.basic import _safe_call

            _safe_call(ret)
        return self._out[: self._out_len.value]

    def __del__(self) -> None:
        if getattr(self, "_config", None) is not None and self._config.value:
            self._lib.LGBM_FastConfigFree(self._config)


class LightGBM(BoostedTrees):
    family = "lightgbm"
    defaults = DEFAULTS
    model_file = "model.txt"
    description = "LightGBM gradient-boosted trees with native categorical splits"
    libraries = ("lightgbm",)

    @classmethod
    def default_configs(cls, task: LearnerTask, n_rows: int) -> list[dict[str, Any]]:
        return learned_configs(cls.family, task.problem_type) or [
            {},
            {
                "learning_rate": 0.03,
                "num_leaves": 63,
                "min_data_in_leaf": 10,
                "feature_fraction": 0.8,
                "lambda_l2": 1.0,
            },
            {
                "learning_rate": 0.05,
                "num_leaves": 15,
                "min_data_in_leaf": 40,
                "feature_fraction": 0.7,
                "bagging_fraction": 0.8,
                "bagging_freq": 1,
                "lambda_l2": 5.0,
            },
        ]

    @classmethod
    def search_space(cls, trial: Any, task: LearnerTask, n_rows: int) -> dict[str, Any]:
        bagging = trial.suggest_float("bagging_fraction", 0.5, 1.0)
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 8, 256, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 2, 100, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
            "bagging_fraction": bagging,
            "bagging_freq": 1 if bagging < 1.0 else 0,
            "lambda_l1": trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True),
            "cat_smooth": trial.suggest_float("cat_smooth", 1.0, 50.0, log=True),
            "extra_trees": trial.suggest_categorical("extra_trees", [False, True]),
        }

    @classmethod
    def cost_hint(cls, n_rows: int, n_features: int, task: LearnerTask) -> float:
        per_class = task.n_classes if task.problem_type == "multiclass" else 1
        return 0.05 + 3e-7 * n_rows * max(n_features, 1) * per_class

    def _lgb_params(self, task: LearnerTask, plan: BoostPlan) -> dict[str, Any]:
        params = plan.library_params
        params.update(
            objective=_OBJECTIVE[task.problem_type],
            seed=self.seed,
            deterministic=True,
            force_row_wise=True,
            verbosity=-1,
            num_threads=plan.threads,
        )
        if task.problem_type == "multiclass":
            params["num_class"] = task.n_classes
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
        import lightgbm as lgb

        categorical: list[int] | Literal["auto"] = list(task.categorical) or "auto"
        train = lgb.Dataset(
            np.asarray(X, dtype=np.float64),
            label=y,
            categorical_feature=categorical,
            free_raw_data=True,
            params={"verbosity": -1},
        )
        callbacks: list[Callable[..., Any]] = []
        valid_sets = []
        if valid is not None and plan.patience is not None:
            valid_data = lgb.Dataset(
                np.asarray(valid.X, dtype=np.float64),
                label=valid.y,
                reference=train,
                categorical_feature=categorical,
                params={"verbosity": -1},
            )
            valid_sets = [valid_data]
            callbacks.append(lgb.early_stopping(plan.patience, verbose=False))
        stop = _StopAt(deadline)
        callbacks.append(stop)
        booster = lgb.train(
            self._lgb_params(task, plan),
            train,
            num_boost_round=plan.rounds,
            valid_sets=valid_sets,
            callbacks=callbacks,
        )
        best = (
            booster.best_iteration
            if valid_sets and booster.best_iteration > 0
            else booster.current_iteration()
        )
        # Keep exactly the trees that count, so predict, predict_one and the saved file agree.
        self.model_text_ = booster.model_to_string(num_iteration=best)
        self.best_iteration_ = int(best)
        self.rounds_run_ = stop.rounds

    def _prepare_predictors(self, task: LearnerTask) -> None:
        import lightgbm as lgb

        self.booster_ = lgb.Booster(model_str=self.model_text_)
        self._local = threading.local()

    def _predict_batch(self, X: np.ndarray) -> np.ndarray:
        threads = self._threads(len(X))
        raw = np.asarray(self.booster_.predict(X, num_threads=threads), dtype=np.float64)
        if self.task_.problem_type == "binary":
            return probabilities_from_binary(raw)
        return np.asarray(raw, dtype=np.float64)

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        flat = self.booster_.predict(X, pred_contrib=True, num_threads=self._threads(len(X)))
        return contributions_by_output(np.asarray(flat), self.n_features_)

    def _fast_row(self) -> _FastRow:
        local = self.__dict__.get("_local")
        if local is None:
            local = self._local = threading.local()
        fast: _FastRow | None = getattr(local, "fast", None)
        if fast is None:
            n_out = self.task_.n_classes if self.task_.problem_type == "multiclass" else 1
            fast = local.fast = _FastRow(self.booster_, self.n_features_, n_out)
        return fast

    def _predict_row(self, x: Sequence[float]) -> list[float]:
        out = self._fast_row()(x)
        if self.task_.problem_type == "binary":
            return [1.0 - out[0], out[0]]
        return out

    def _write_model(self, path: Path) -> None:
        path.write_text(self.model_text_, encoding="utf-8")

    def _read_model(self, path: Path, meta: Mapping[str, Any], task: LearnerTask) -> None:
        self.model_text_ = read_model_text(
            path,
            n_features=self.n_features_,
            n_outputs=task.n_classes if task.problem_type == "multiclass" else 1,
        )


class LightGBMEngineered(LightGBM):
    """LightGBM on the ``"engineered"`` feature style: the tree features followed by count and
    out-of-fold target encodings, interactions and group aggregates (see ``FeaturePlan``).
    The model, its search space and its files are LightGBM's. In the default search since
    the dev suite at 60 s, side by side (docs/benchmarks.md): 5 wins, 4 ties, 1 loss."""

    family = "lightgbm_fe"
    feature_style = "engineered"
    description = "LightGBM on engineered features (encodings, interactions, group means)"

    @classmethod
    def default_configs(cls, task: LearnerTask, n_rows: int) -> list[dict[str, Any]]:
        # Its own learned list when the portfolio has one, else LightGBM's configurations.
        return learned_configs(cls.family, task.problem_type) or LightGBM.default_configs(
            task, n_rows
        )


def read_model_text(path: Path, *, n_features: int | None, n_outputs: int) -> str:
    """A LightGBM model file's text, checked (``check_model_text``) so that LightGBM may
    read it: a damaged file would abort the process inside LightGBM's parser. Files this
    run wrote itself (``files_trusted``) are not checked."""
    try:
        text = path.read_bytes().decode("utf-8")
        if not files_trusted():
            check_model_text(text, n_features=n_features, n_outputs=n_outputs)
    except ValueError as exc:  # UnicodeDecodeError too
        raise NativeFileError(path.name, str(exc)) from exc
    return text
