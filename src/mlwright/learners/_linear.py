"""Regularised linear models: logistic regression (L2) and ridge regression.

Saved as coefficients in JSON; predictions are a dot product, so a single row takes
microseconds."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from mlwright.learners._base import Learner, LearnerTask, probabilities_from_binary
from mlwright.learners._portfolio import learned_configs


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only, so large |z| never overflows.
    e = np.exp(-np.abs(z))
    out: np.ndarray = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


class Linear(Learner):
    family = "linear"
    seed_varies = False
    feature_style = "linear"
    description = "L2-regularised logistic or ridge regression on standardised features"
    _rows: list[tuple[list[float], float]] | None = None  # coefficients as lists, for one row

    @classmethod
    def default_configs(cls, task: LearnerTask, n_rows: int) -> list[dict[str, Any]]:
        learned = learned_configs(cls.family, task.problem_type)
        if learned:
            return learned
        return [{"C": 1.0}] if task.problem_type != "regression" else [{"alpha": 1.0}]

    @classmethod
    def search_space(cls, trial: Any, task: LearnerTask, n_rows: int) -> dict[str, Any]:
        if task.problem_type == "regression":
            return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}
        return {"C": trial.suggest_float("C", 1e-3, 1e2, log=True)}

    @classmethod
    def cost_hint(cls, n_rows: int, n_features: int, task: LearnerTask) -> float:
        return 0.02 + 2e-7 * n_rows * max(n_features, 1)

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        task: LearnerTask,
        *,
        X_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
        deadline: float | None = None,
    ) -> Self:
        from sklearn.linear_model import LogisticRegression, Ridge

        X = np.asarray(X, dtype=np.float64)
        if task.problem_type == "regression":
            model = Ridge(alpha=float(self.params.get("alpha", 1.0)), random_state=self.seed)
            model.fit(X, y)
            self.coef_ = np.atleast_2d(model.coef_).astype(np.float64)
            self.intercept_ = np.atleast_1d(model.intercept_).astype(np.float64)
        else:
            model = LogisticRegression(
                C=float(self.params.get("C", 1.0)), max_iter=2000, random_state=self.seed
            )
            with warnings.catch_warnings():
                # Not converging to the last digit on hard data still gives a usable model;
                # the cross-validated score says how usable.
                warnings.simplefilter("ignore", category=UserWarning)
                try:
                    from sklearn.exceptions import ConvergenceWarning

                    warnings.simplefilter("ignore", category=ConvergenceWarning)
                except ImportError:  # pragma: no cover
                    pass
                model.fit(X, y)
            classes = model.classes_.astype(np.int64)
            coef = np.atleast_2d(model.coef_).astype(np.float64)
            intercept = np.atleast_1d(model.intercept_).astype(np.float64)
            if task.n_classes > 2 and len(classes) < task.n_classes:
                # A class absent from this fold: it gets a very negative score.
                full_coef = np.zeros((task.n_classes, X.shape[1]))
                full_int = np.full(task.n_classes, -30.0)
                full_coef[classes] = coef
                full_int[classes] = intercept
                coef, intercept = full_coef, full_int
            self.coef_, self.intercept_ = coef, intercept
        # C order, as after loading from JSON: BLAS sums in an order that depends on layout.
        self.coef_ = np.ascontiguousarray(self.coef_)
        self._rows = None
        self.task_ = task
        return self

    def _predict(self, X: np.ndarray) -> np.ndarray:
        z = X @ self.coef_.T + self.intercept_
        if self.task_.problem_type == "regression":
            return z[:, 0]
        if self.coef_.shape[0] == 1:
            return probabilities_from_binary(_sigmoid(z[:, 0]))
        return _softmax(z)

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        terms = X[:, None, :] * self.coef_[None, :, :]
        bias = np.broadcast_to(self.intercept_[None, :, None], (len(X), len(self.intercept_), 1))
        return np.concatenate([terms, bias], axis=2)

    def _predict_one(self, x: Sequence[float]) -> list[float]:
        # Plain Python, not NumPy: one NumPy call touches enough code that, with caches
        # cold after a few ms idle, it costs ~100 us against ~10 for this loop.
        rows = self._rows
        if rows is None:
            rows = self._rows = [
                (row.tolist(), float(b)) for row, b in zip(self.coef_, self.intercept_, strict=True)
            ]
        z = [math.fsum([c * v for c, v in zip(coef, x, strict=True)]) + b for coef, b in rows]
        if self.task_.problem_type == "regression":
            return z
        if len(z) == 1:
            t = z[0]
            p = 1.0 / (1.0 + math.exp(-t)) if t >= 0 else math.exp(t) / (1.0 + math.exp(t))
            return [1.0 - p, p]
        top = max(z)
        e = [math.exp(v - top) for v in z]
        s = sum(e)
        return [v / s for v in e]

    def _save(self, directory: Path) -> dict[str, Any]:
        payload = {"coef": self.coef_.tolist(), "intercept": self.intercept_.tolist()}
        (directory / "linear.json").write_text(json.dumps(payload))
        return {"files": ["linear.json"]}

    @classmethod
    def _load(cls, directory: Path, meta: Mapping[str, Any], task: LearnerTask) -> Self:
        payload = json.loads((directory / "linear.json").read_text())
        learner = cls()
        learner.coef_ = np.asarray(payload["coef"], dtype=np.float64).reshape(
            len(payload["coef"]), -1
        )
        learner.intercept_ = np.asarray(payload["intercept"], dtype=np.float64)
        return learner
