"""What the gradient-boosted tree families (LightGBM, XGBoost, CatBoost) share.

The fit preamble (the family's defaults overlaid with the parameters given, threads, the
round count, early stopping on a validation set), the check that an input has the fitted
width, and the skeleton of saving to and loading from one native model file. Each family
keeps its own library calls and the checks of its native file, which run before its
library reads the file.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from mlwright.errors import SchemaMismatchError
from mlwright.features import FeatureStyle
from mlwright.learners._base import Learner, LearnerTask

ROUNDS_WITHOUT_VALIDATION = 200  # rounds when neither a validation set nor n_estimators is given
# The keys of the defaults that set the boosting loop rather than the library's parameters.
OWN_KEYS = ("n_estimators", "early_stopping_rounds")


@dataclass(frozen=True)
class BoostPlan:
    """How one fit runs: ``settings`` (the family's defaults overlaid with the parameters
    given), the CPU ``threads``, the boosting ``rounds`` and, when there is a validation
    set, the early-stopping ``patience`` (None without one)."""

    settings: dict[str, Any]
    threads: int
    rounds: int
    patience: int | None

    @property
    def library_params(self) -> dict[str, Any]:
        """The settings the family's library takes as its own parameters."""
        return {k: v for k, v in self.settings.items() if k not in OWN_KEYS}


@dataclass(frozen=True)
class Validation:
    """The validation rows early stopping scores (never empty)."""

    X: np.ndarray
    y: np.ndarray


class BoostedTrees(Learner):
    """A gradient-boosted tree family saved as one native model file."""

    feature_style: ClassVar[FeatureStyle] = "tree"
    refit_rounds_param = "n_estimators"
    #: The family's default parameters, including the ``OWN_KEYS``.
    defaults: ClassVar[Mapping[str, Any]]
    #: The name of the model file inside the learner's folder.
    model_file: ClassVar[str]
    n_features_: int
    best_iteration_: int
    #: Rounds the last fit boosted, early stopping's patience included (what it cost).
    rounds_run_: int

    # -- fitting ----------------------------------------------------------------------------

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
        valid = None
        if X_valid is not None and y_valid is not None and len(y_valid) > 0:
            valid = Validation(X_valid, y_valid)
        plan = self._plan(len(y), validating=valid is not None)
        self._fit_model(X, y, task, valid=valid, plan=plan, deadline=deadline)
        self.n_features_ = int(np.asarray(X).shape[1])
        self.task_ = task
        self._prepare_predictors(task)
        return self

    def _plan(self, n_rows: int, *, validating: bool) -> BoostPlan:
        settings = {**self.defaults, **self.params}
        if "n_estimators" in self.params or validating:
            rounds = int(settings["n_estimators"])
        else:
            rounds = ROUNDS_WITHOUT_VALIDATION
        patience = int(settings["early_stopping_rounds"]) if validating else None
        return BoostPlan(settings, self._threads(n_rows), rounds, patience)

    @abstractmethod
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
        """Boost with the family's library; keep the model and set ``best_iteration_`` and
        ``rounds_run_``."""

    @abstractmethod
    def _prepare_predictors(self, task: LearnerTask) -> None:
        """Set up what predictions need once the model is fitted or loaded."""

    # -- predicting -------------------------------------------------------------------------

    def _predict(self, X: np.ndarray) -> np.ndarray:
        if X.ndim != 2 or X.shape[1] != self.n_features_:
            raise self._wrong_width(f"an array of shape {X.shape}", "matrix")
        return self._predict_batch(X)

    def _predict_one(self, x: Sequence[float]) -> list[float]:
        if len(x) != self.n_features_:
            raise self._wrong_width(str(len(x)), "vector")
        return self._predict_row(x)

    def _wrong_width(self, got: str, what: str) -> SchemaMismatchError:
        """The one error of the boosted families for an input that is not of the fitted
        width (their libraries would fail with errors of their own, or read past a row)."""
        return SchemaMismatchError(
            f"{self.family} learner expects {self.n_features_} features, got {got}",
            hint=f"pass the feature {what} that the model's feature plan produces",
        )

    @abstractmethod
    def _predict_batch(self, X: np.ndarray) -> np.ndarray:
        """``_predict`` on a matrix of the fitted width."""

    @abstractmethod
    def _predict_row(self, x: Sequence[float]) -> list[float]:
        """``_predict_one`` on a row of the fitted width."""

    # -- files ------------------------------------------------------------------------------

    def _save(self, directory: Path) -> dict[str, Any]:
        self._write_model(directory / self.model_file)
        return {
            "files": [self.model_file],
            "best_iteration": self.best_iteration_,
            "n_features": self.n_features_,
        }

    @classmethod
    def _load(cls, directory: Path, meta: Mapping[str, Any], task: LearnerTask) -> Self:
        learner = cls()
        learner.n_features_ = int(meta["n_features"])
        learner._read_model(directory / cls.model_file, meta, task)
        learner.best_iteration_ = int(meta["best_iteration"])
        learner._prepare_predictors(task)
        return learner

    @abstractmethod
    def _write_model(self, path: Path) -> None:
        """Write the model in the library's own format."""

    @abstractmethod
    def _read_model(self, path: Path, meta: Mapping[str, Any], task: LearnerTask) -> None:
        """Check the model file at ``path`` (a ``NativeFileError`` for one the library must
        not be given), then read it into this learner (``n_features_`` is set)."""
