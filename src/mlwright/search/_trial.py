"""One trial: a learner configuration fitted on every fold (k-fold bagging).

``run_trial`` is what an executor runs, in this process or a worker: it reads the fold
matrices, fits one learner per fold (early stopping on the fold's validation rows, within
the trial's time allowance), writes each fold model in its library's own format, the
out-of-fold predictions as ``oof.npy``, and last ``outcome.json``, which marks the trial
as finished (a resumed search reuses exactly the trials that have one).
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
from mlwright.search._prepare import FoldFiles

OUTCOME = "outcome.json"
OOF = "oof.npy"


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
    try:
        for i, files in enumerate(spec.folds):
            X_fit, y_fit, X_valid, y_valid = files.load()
            deadline = None
            if spec.seconds is not None:
                left = spec.seconds - (time.monotonic() - started)
                allowance = max(left / (len(spec.folds) - i), spec.min_fold_seconds)
                deadline = time.monotonic() + allowance
            learner = cls(spec.params, seed=spec.seed, threads=spec.threads)
            learner.fit(
                np.asarray(X_fit),
                y_fit,
                task,
                X_valid=np.asarray(X_valid),
                y_valid=y_valid,
                deadline=deadline,
            )
            best = getattr(learner, "best_iteration_", None)
            if best is not None:
                outcome.best_iterations.append(int(best))
            if spec.valid_positions is not None:
                oof[spec.valid_positions[i]] = learner.predict(np.asarray(X_valid))
            outcome.fold_infos.append(learner.to_files(out / f"fold{i}"))
            # A fold cut short by Ctrl-C is not this configuration's result: the trial is
            # dropped unjournaled (KeyboardInterrupt passes the handler below).
            raise_if_stop_requested()
    except Exception as exc:  # a failing configuration is a result, not a crash of the search
        outcome.status = "failed"
        outcome.message = f"{type(exc).__name__}: {exc}"
        (out / "error.txt").write_text(traceback.format_exc())
    outcome.fit_seconds = time.monotonic() - started
    np.save(out / OOF, oof)
    _write_json(out / OUTCOME, outcome.to_dict())
    return outcome


def read_outcome(out_dir: Path) -> tuple[TrialOutcome, np.ndarray] | None:
    """A finished trial's outcome and out-of-fold predictions, or None if it never finished."""
    path = out_dir / OUTCOME
    if not path.is_file():
        return None
    outcome = TrialOutcome.from_dict(json.loads(path.read_text()))
    return outcome, np.load(out_dir / OOF)
