"""One trial: a learner configuration fitted on every fold (k-fold bagging).

``run_trial`` is what an executor runs, in this process or a worker: it reads the fold
matrices, fits one learner per fold (a learner that stops early stops on the fold's
early-stopping rows, see ``_prepare``; within the trial's time allowance), writes each fold
model in its library's own format, the out-of-fold predictions as ``oof.npy``, and last
``outcome.json``, which marks the trial as finished (a resumed search reuses exactly the
trials that have one).

With a stacking holdout, each fold model also predicts its rows and the trial writes their
average as ``holdout.npy``. A second-layer trial (``stack_inputs``) reads first-layer trials'
predictions as extra columns after the fold's features: their out-of-fold predictions for
the fold's rows, and their ``holdout.npy`` for the holdout's.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlwright._interrupt import raise_if_stop_requested
from mlwright.learners import LearnerTask, learner_class
from mlwright.search._prepare import FoldFiles, stopping_split

OUTCOME = "outcome.json"
OOF = "oof.npy"
HOLDOUT = "holdout.npy"


@dataclass(frozen=True)
class TrialSpec:
    """Everything a worker needs, as plain data."""

    trial_id: str
    family: str
    params: dict[str, Any]
    seed: int
    style: str
    folds: list[FoldFiles]
    valid_positions: list[list[int]] | None  # rows of the search set each fold validates
    n_rows: int
    problem_type: str
    n_classes: int
    categorical: tuple[int, ...]
    out_dir: str
    seconds: float | None  # wall-clock allowance for the whole trial; None: no limit
    min_fold_seconds: float = 0.5
    threads: int = 1
    origin: str = "portfolio"  # or "tpe"
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. Optuna distributions
    # A second-layer trial: the first-layer trials' folders whose predictions it reads, in
    # order, and the rows of the search set each fold fits on (to pick their predictions).
    stack_inputs: list[str] = field(default_factory=list)
    fit_positions: list[list[int]] | None = None


@dataclass
class TrialOutcome:
    """What a finished trial reports; the out-of-fold predictions are in ``oof.npy``."""

    trial_id: str
    family: str
    params: dict[str, Any]
    status: Literal["ok", "failed"]
    fit_seconds: float
    best_iterations: list[int]
    fold_infos: list[dict[str, Any]]
    origin: str = "portfolio"
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Per fold, the rounds (or epochs) an iterative learner ran, patience included.
    rounds_run: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialOutcome:
        return cls(**data)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)  # atomic: a reader sees the whole file or none


def run_trial(spec: TrialSpec) -> TrialOutcome:
    """Fit ``spec``'s configuration on every fold; never raises for a failing learner."""
    started = time.monotonic()
    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = spec.n_classes if spec.problem_type != "regression" else 0
    oof = np.full((spec.n_rows, width) if width else spec.n_rows, np.nan)
    outcome = TrialOutcome(
        trial_id=spec.trial_id,
        family=spec.family,
        params=spec.params,
        status="ok",
        fit_seconds=0.0,
        best_iterations=[],
        fold_infos=[],
        origin=spec.origin,
        extra=spec.extra,
    )
    cls = learner_class(spec.family)
    task = LearnerTask(spec.problem_type, spec.n_classes, spec.categorical)  # type: ignore[arg-type]
    held: list[np.ndarray] = []
    try:
        stacked = _stack_inputs(spec)
        for i, files in enumerate(spec.folds):
            X_fit, y_fit, X_valid, y_valid = files.load()
            X_hold = files.load_holdout()
            if stacked is not None:
                X_fit, X_valid, X_hold = stacked.widen(i, X_fit, X_valid, X_hold)
            deadline = None
            if spec.seconds is not None:
                left = spec.seconds - (time.monotonic() - started)
                allowance = max(left / (len(spec.folds) - i), spec.min_fold_seconds)
                deadline = time.monotonic() + allowance
            learner = cls(spec.params, seed=spec.seed, threads=spec.threads)
            X_train, y_train, X_stop, y_stop = (
                stopping_split(files, X_fit, y_fit, X_valid, y_valid)
                if cls.stops_early()
                else (np.asarray(X_fit), y_fit, None, None)
            )
            learner.fit(X_train, y_train, task, X_valid=X_stop, y_valid=y_stop, deadline=deadline)
            best = getattr(learner, "best_iteration_", None)
            if best is not None:
                outcome.best_iterations.append(int(best))
            ran = getattr(learner, "rounds_run_", None)
            if ran is not None:
                outcome.rounds_run.append(float(ran))
            if spec.valid_positions is not None:
                oof[spec.valid_positions[i]] = learner.predict(np.asarray(X_valid))
            if X_hold is not None:
                held.append(learner.predict(np.asarray(X_hold)))
            outcome.fold_infos.append(learner.to_files(out / f"fold{i}"))
            # A fold cut short by Ctrl-C is not this configuration's result: the trial is
            # dropped unjournaled (KeyboardInterrupt passes the handler below).
            raise_if_stop_requested()
    except Exception as exc:  # a failing configuration is a result, not a crash of the search
        outcome.status = "failed"
        outcome.message = f"{type(exc).__name__}: {exc}"
        (out / "error.txt").write_text(traceback.format_exc())
    outcome.fit_seconds = time.monotonic() - started
    if held and outcome.status == "ok":
        np.save(out / HOLDOUT, np.mean(held, axis=0))
    np.save(out / OOF, oof)
    _write_json(out / OUTCOME, outcome.to_dict())
    return outcome


@dataclass
class _StackInputs:
    """The first-layer predictions a second-layer trial reads, as columns."""

    oof: np.ndarray  # (search rows, columns)
    holdout: np.ndarray | None  # (holdout rows, columns)
    fit_positions: list[list[int]]
    valid_positions: list[list[int]]

    def widen(
        self, fold: int, X_fit: np.ndarray, X_valid: np.ndarray, X_hold: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        fit = np.hstack([X_fit, self.oof[self.fit_positions[fold]]])
        valid = np.hstack([X_valid, self.oof[self.valid_positions[fold]]])
        if X_hold is None:
            return fit, valid, None
        if self.holdout is None:
            raise ValueError("an input trial has no holdout predictions")
        return fit, valid, np.hstack([X_hold, self.holdout])


def _stack_inputs(spec: TrialSpec) -> _StackInputs | None:
    if not spec.stack_inputs:
        return None
    from mlwright.artifact import stack_columns

    if spec.fit_positions is None or spec.valid_positions is None:
        raise ValueError("a second-layer trial needs its folds' row positions")
    folders = [Path(d) for d in spec.stack_inputs]
    oof = stack_columns([np.load(d / OOF) for d in folders], spec.problem_type)
    holdout = None
    if all((d / HOLDOUT).is_file() for d in folders):
        holdout = stack_columns([np.load(d / HOLDOUT) for d in folders], spec.problem_type)
    return _StackInputs(oof, holdout, spec.fit_positions, spec.valid_positions)


def read_holdout(out_dir: Path) -> np.ndarray | None:
    """A finished trial's predictions of the stacking holdout's rows, if it made them."""
    path = out_dir / HOLDOUT
    return np.load(path) if path.is_file() else None


def read_outcome(out_dir: Path) -> tuple[TrialOutcome, np.ndarray] | None:
    """A finished trial's outcome and out-of-fold predictions, or None if it never finished."""
    path = out_dir / OUTCOME
    if not path.is_file():
        return None
    outcome = TrialOutcome.from_dict(json.loads(path.read_text()))
    return outcome, np.load(out_dir / OOF)
