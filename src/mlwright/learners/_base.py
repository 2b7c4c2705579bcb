"""The Learner contract every model family implements.

scikit-learn's conventions: the constructor only stores its arguments, ``fit`` validates and
returns self, learned attributes end in ``_``, and an unfitted learner raises. Learners save
to and load from their library's own safe formats (never pickle).
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from mlwright._interrupt import stop_requested
from mlwright.errors import ArtifactError, MlwrightError, NotFittedError
from mlwright.features import FeatureStyle
from mlwright.learners._probe import trusted_files
from mlwright.spec import ProblemType


def out_of_time(deadline: float | None) -> bool:
    """Whether an iterative fit should stop now: its deadline passed, or the user asked the
    search to stop (Ctrl-C; see mlwright._interrupt)."""
    return stop_requested() or (deadline is not None and time.monotonic() > deadline)


@dataclass(frozen=True)
class LearnerTask:
    """What a learner is asked to fit: the problem type, the number of classes (0 for
    regression) and which input columns hold native category codes."""

    problem_type: ProblemType
    n_classes: int = 0
    categorical: tuple[int, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem_type": self.problem_type,
            "n_classes": self.n_classes,
            "categorical": list(self.categorical),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LearnerTask:
        return cls(data["problem_type"], int(data["n_classes"]), tuple(data["categorical"]))


class NativeFileError(ValueError):
    """A learner's file that its library must not be given: ``file`` (a name inside the
    learner's folder) and the ``reason``."""

    def __init__(self, file: str, reason: str):
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: {reason}")


DAMAGED_HINT = "the artifact is damaged or was tampered with; fetch it again or retrain"


@functools.cache
def cuda_available() -> bool:
    """Whether a CUDA GPU is visible here (``nvidia-smi`` lists one)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    try:
        listed = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


class Learner(ABC):
    """A model family. Outputs are probabilities (n, n_classes) for classification and values
    (n,) for regression."""

    family: ClassVar[str]
    feature_style: ClassVar[FeatureStyle]
    description: ClassVar[str]
    #: The libraries (distribution names) a fitted learner needs, for the manifest.
    libraries: ClassVar[tuple[str, ...]] = ()
    # Below this many rows one thread is faster than several (threads=0 chooses by it); and
    # on a busy machine OpenMP's spinning threads can make a small fit 100x slower
    # (measured with LightGBM: 0.14 s on 1 thread, 16 s on 2 with other processes running).
    single_thread_rows: ClassVar[int] = 50_000
    # Iterative learners: the parameter that counts rounds (or epochs), and how many a refit
    # on all rows runs per the folds' mean early-stopping round (more rows than a fold saw).
    refit_rounds_param: ClassVar[str | None] = None
    refit_rounds_factor: ClassVar[float] = 1.1
    # A fit that runs mostly in Python between short library calls (a network's training
    # loop) holds the interpreter's lock: two such fits in threads of one process share a
    # core (two MLP refits side by side: 4.1 s of thread CPU in 7.5 s of wall). The refit
    # runs them one at a time, beside the other members.
    holds_gil: ClassVar[bool] = False
    task_: LearnerTask  # set by fit (and from_files)

    @classmethod
    def warm_up(cls) -> None:
        """Get this process ready to fit the family (a library's import and first-use
        setup), so that the first fit here, a refit's, does not pay for them. The run calls
        it in a thread while the search's workers fit; a failure here is left for the fit.
        Most families need nothing: their libraries load with mlwright."""
        return None

    @classmethod
    def stops_early(cls) -> bool:
        """Whether ``fit`` stops on its validation rows (boosting rounds, network epochs),
        whose count a refit then replays: the search gives such a learner rows of its own
        to stop on, not the rows its predictions are scored on."""
        return cls.refit_rounds_param is not None

    def __init__(self, params: Mapping[str, Any] | None = None, *, seed: int = 0, threads: int = 0):
        """``threads``: CPU threads for fitting and batch prediction; 0 lets the learner
        choose from the data size."""
        self.params = dict(params) if params is not None else {}
        self.seed = seed
        self.threads = threads

    def _threads(self, n_rows: int) -> int:
        """CPU threads for ``n_rows``: the ``threads`` asked for, else one below
        ``single_thread_rows`` and every core above."""
        if self.threads > 0:
            return self.threads
        return 1 if n_rows < self.single_thread_rows else os.cpu_count() or 1

    # -- the contract -----------------------------------------------------------------------

    @abstractmethod
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
        """Fit on ``X`` (float64, n x p) and ``y`` (class codes 0..k-1, or values). A
        validation set, when given, may be used for early stopping. Iterative learners stop
        at ``deadline`` (a ``time.monotonic()`` value) with the model they have so far."""

    @abstractmethod
    def _predict(self, X: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _predict_one(self, x: Sequence[float]) -> list[float]: ...

    @abstractmethod
    def _save(self, directory: Path) -> dict[str, Any]:
        """Write the model's files into ``directory``; return JSON-able metadata."""

    @classmethod
    @abstractmethod
    def _load(cls, directory: Path, meta: Mapping[str, Any], task: LearnerTask) -> Self:
        """Rebuild a fitted learner from its files and metadata."""

    @classmethod
    def default_configs(cls, task: LearnerTask, n_rows: int) -> list[dict[str, Any]]:
        """Configurations worth trying first, best expected first (the search's portfolio)."""
        return [{}]

    @classmethod
    def search_space(cls, trial: Any, task: LearnerTask, n_rows: int) -> dict[str, Any]:
        """Parameters for one Optuna trial (``trial.suggest_*``); the default configuration
        when the family has nothing to tune."""
        return {}

    @classmethod
    def cost_hint(cls, n_rows: int, n_features: int, task: LearnerTask) -> float:
        """Rough seconds to fit the first default configuration once on one core, used to
        order the portfolio by expected gain per second before anything has been timed."""
        return 1e-6 * n_rows * max(n_features, 1)

    @classmethod
    def refit_params(
        cls, params: Mapping[str, Any], best_iterations: Sequence[int]
    ) -> dict[str, Any]:
        """Parameters for a refit on all rows, given the early-stopping rounds the folds
        found (iterative learners fix their round count from them; others keep params)."""
        out = dict(params)
        if cls.refit_rounds_param is not None and best_iterations:
            rounds = round(float(np.mean(best_iterations)) * cls.refit_rounds_factor)
            out[cls.refit_rounds_param] = max(1, rounds)
        return out

    @classmethod
    def gpu_params(cls) -> dict[str, Any]:
        """Parameters that move training onto a CUDA GPU (empty: the family has no GPU
        path). Prediction always runs on the CPU."""
        return {}

    @classmethod
    def tunable(cls) -> bool:
        """Whether the family defines a search space of its own."""
        own = cls.__mro__[: cls.__mro__.index(Learner)]
        return any("search_space" in vars(klass) for klass in own)

    #: Whether the family is available here (optional extras such as PyTorch may be absent).
    available: ClassVar[bool] = True
    #: Whether a search with no ``search.learners`` tries the family (else only on request).
    in_default_search: ClassVar[bool] = True
    #: Whether the fit depends on the seed (a seed-bagged copy would differ from the trial).
    seed_varies: ClassVar[bool] = True

    # -- shared behaviour ---------------------------------------------------------------------

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "task_")

    def _check_fitted(self) -> LearnerTask:
        try:
            task: LearnerTask = self.task_
        except AttributeError:
            raise NotFittedError(
                f"this {self.family} learner is not fitted", hint="call fit(X, y, task) first"
            ) from None
        return task

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (n, k), or predicted values (n,) for regression."""
        self._check_fitted()
        return self._predict(np.asarray(X, dtype=np.float64))

    def predict_one(self, x: Sequence[float]) -> list[float]:
        """The same for one feature vector: k probabilities, or [value]."""
        self._check_fitted()
        return self._predict_one(x)

    def contributions(self, X: np.ndarray) -> np.ndarray | None:
        """Each feature's additive contribution to the raw score (log-odds, per-class score
        or value) with the bias last: (n, outputs, features + 1), outputs 1 for regression
        and binary tasks or one per class; rows sum to the raw score. None for learners
        whose library computes no exact contributions (TreeSHAP for gradient boosting,
        coefficient x value for linear models)."""
        self._check_fitted()
        return self._contributions(np.asarray(X, dtype=np.float64))

    def _contributions(self, X: np.ndarray) -> np.ndarray | None:
        return None

    @classmethod
    def has_contributions(cls) -> bool:
        """Whether ``contributions`` gives exact numbers (rather than None)."""
        return cls._contributions is not Learner._contributions

    def to_files(self, directory: str | Path) -> dict[str, Any]:
        """Save into ``directory`` (created); return the metadata ``from_files`` needs."""
        task = self._check_fitted()
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        meta = self._save(path)
        return {
            "family": self.family,
            "params": self.params,
            "seed": self.seed,
            "task": task.to_dict(),
            "meta": meta,
        }

    @classmethod
    def from_files(
        cls, directory: str | Path, info: Mapping[str, Any], *, trusted: bool = False
    ) -> Self:
        """Rebuild the learner ``to_files`` saved. A file that does not hold together, and
        any error of the library that reads it, is an ``ArtifactError`` naming the file:
        the native files are checked before their library sees them (see each family).
        ``trusted``: files the search wrote in its own run folder (its fold models), which
        skip the native-file checks and the child-process probe; never an artifact."""
        path = Path(directory)
        try:
            task = LearnerTask.from_dict(info["task"])
            with trusted_files() if trusted else contextlib.nullcontext():
                learner = cls._load(path, info["meta"], task)
            learner.params = dict(info["params"])
            learner.seed = int(info["seed"])
        except MlwrightError:
            raise
        except NativeFileError as exc:
            raise ArtifactError(
                f"the {cls.family} model file {path / exc.file} is refused: {exc.reason}",
                field=str(path / exc.file),
                hint=DAMAGED_HINT,
            ) from exc
        except Exception as exc:  # the library's own error on a damaged file, whatever its type
            raise ArtifactError(
                f"the {cls.family} model in {path} could not be read "
                f"({type(exc).__name__}: {str(exc)[:300]})",
                field=str(path),
                hint=DAMAGED_HINT,
            ) from exc
        learner.task_ = task
        return learner

    def __repr__(self) -> str:
        return f"{type(self).__name__}(params={self.params!r}, seed={self.seed})"


def probabilities_from_binary(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    return np.column_stack([1.0 - p, p])


def contributions_by_output(flat: np.ndarray, n_features: int) -> np.ndarray:
    """A library's contribution matrix, (n, features + 1) or (n, outputs * (features + 1))
    or (n, outputs, features + 1), as (n, outputs, features + 1)."""
    flat = np.asarray(flat, dtype=np.float64)
    return flat.reshape(len(flat), -1, n_features + 1)
