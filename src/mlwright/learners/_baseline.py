"""The trivial baseline: class priors for classification, the mean for regression.

Every score mlwright reports stands beside this one."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from mlwright.learners._base import Learner, LearnerTask


class Baseline(Learner):
    family = "baseline"
    seed_varies = False
    feature_style = "tree"
    description = "class priors (classification) or the training mean (regression)"

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
        y = np.asarray(y)
        if len(y) == 0:
            raise ValueError("cannot fit on zero rows")
        if task.problem_type == "regression":
            self.value_ = [float(np.mean(y))]
        else:
            counts = np.bincount(y.astype(np.int64), minlength=task.n_classes).astype(np.float64)
            self.value_ = (counts / counts.sum()).tolist()
        self.task_ = task
        return self

    def _predict(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        if self.task_.problem_type == "regression":
            return np.full(n, self.value_[0])
        return np.tile(np.asarray(self.value_), (n, 1))

    def _predict_one(self, x: Sequence[float]) -> list[float]:
        return list(self.value_)

    def _save(self, directory: Path) -> dict[str, Any]:
        (directory / "baseline.json").write_text(json.dumps({"value": self.value_}))
        return {"files": ["baseline.json"]}

    @classmethod
    def _load(cls, directory: Path, meta: Mapping[str, Any], task: LearnerTask) -> Self:
        learner = cls()
        learner.value_ = [
            float(v) for v in json.loads((directory / "baseline.json").read_text())["value"]
        ]
        return learner
