"""Cross-validated model selection under a wall-clock budget.

Each candidate (a learner family with parameters) is scored on the same folds. Feature
plans are fitted on each fold's training rows only, once per feature style, and shared by
the candidates of that style. Boosting stops early on the fold's validation rows (as
AutoGluon's bagging does); the holdout, never seen here, is what reports the final score.

The baseline always runs first and always finishes; so does the first real candidate,
even past the deadline, so that a tight budget never leaves only the baseline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from mlwright._progress import Progress, Silent
from mlwright.data import Splits
from mlwright.errors import TrainingError
from mlwright.features import FeatureKind, FeaturePlan, FeatureStyle
from mlwright.learners import Learner, LearnerTask, learner_class
from mlwright.spec import METRICS, ProblemType

# Scores one fold's predictions against its truths; None where the metric is undefined on
# those rows (ROC AUC of a single class). The pipeline passes evaluate's metric in, so that
# search does not depend on evaluate (a stage to its right).
FoldScorer = Callable[[np.ndarray, np.ndarray], float | None]

REFIT_ROUNDS_FACTOR = 1.1  # more rows in the refit than in a fold: a few more boosting rounds
# Families most likely to win come first, so a short budget spends itself on them.
FAMILY_ORDER = ("lightgbm", "linear")
# A candidate that must finish past the deadline still gets this long per fold.
MIN_FOLD_SECONDS = 0.5


@dataclass(frozen=True)
class Candidate:
    name: str
    family: str
    params: dict[str, Any]


@dataclass
class TrialResult:
    candidate: Candidate
    status: Literal["ok", "failed", "skipped"]
    fold_scores: list[float] = field(default_factory=list)
    oof: np.ndarray | None = None
    fit_seconds: float = 0.0
    best_iterations: list[int] = field(default_factory=list)
    message: str = ""

    @property
    def cv_score(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else float("nan")

    @property
    def cv_std(self) -> float:
        return float(np.std(self.fold_scores)) if len(self.fold_scores) > 1 else 0.0


@dataclass
class SearchResult:
    metric: str
    trials: list[TrialResult]
    best: TrialResult
    baseline: TrialResult

    def ranked(self) -> list[TrialResult]:
        """The candidates that finished, best cross-validated score first."""
        ok = [t for t in self.trials if t.status == "ok"]
        greater = METRICS[self.metric].greater_is_better
        return sorted(ok, key=lambda t: -t.cv_score if greater else t.cv_score)

    def leaderboard(self) -> list[dict[str, Any]]:
        """Finished candidates best first, then the ones that failed or were skipped."""
        ok = self.ranked()
        rest = [t for t in self.trials if t.status != "ok"]
        rows = []
        for rank, trial in enumerate([*ok, *rest], start=1):
            rows.append(
                {
                    "rank": rank if trial.status == "ok" else None,
                    "model": trial.candidate.name,
                    "family": trial.candidate.family,
                    f"cv_{self.metric}": trial.cv_score if trial.status == "ok" else None,
                    "cv_std": trial.cv_std if trial.status == "ok" else None,
                    "fit_seconds": round(trial.fit_seconds, 3),
                    "status": trial.status,
                    "chosen": trial is self.best,
                    "params": trial.candidate.params,
                    "note": trial.message,
                }
            )
        return rows


def candidates_for(families: Sequence[str], task: LearnerTask, n_rows: int) -> list[Candidate]:
    """The baseline, then every family's first (strongest default) configuration, then the
    other configurations: the likely best come first when the budget is short."""
    out = [Candidate("baseline", "baseline", {})]
    rounds: list[list[Candidate]] = []
    ordered = sorted(
        (f for f in families if f != "baseline"),
        key=lambda f: FAMILY_ORDER.index(f) if f in FAMILY_ORDER else len(FAMILY_ORDER),
    )
    for family in ordered:
        configs = learner_class(family).default_configs(task, n_rows)
        for i, params in enumerate(configs):
            name = family if len(configs) == 1 else f"{family}_{i + 1}"
            if len(rounds) <= i:
                rounds.append([])
            rounds[i].append(Candidate(name, family, dict(params)))
    for batch in rounds:
        out.extend(batch)
    return out


class _FoldCache:
    """Feature matrices per (style, fold), fitted on the fold's training rows only."""

    def __init__(
        self,
        *,
        frame: pl.DataFrame,
        y: np.ndarray,
        splits: Splits,
        columns: Sequence[tuple[str, FeatureKind]],
        n_classes: int,
        seed: int,
    ):
        self.frame, self.y, self.splits = frame, y, splits
        self.columns, self.n_classes, self.seed = columns, n_classes, seed
        self._cache: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, tuple[int, ...]]] = {}

    def get(self, style: FeatureStyle, fold: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        key = (style, fold)
        if key not in self._cache:
            fit_pos, valid_pos = self.splits.folds[fold]
            fit_rows = self.splits.train[fit_pos]
            valid_rows = self.splits.train[valid_pos]
            plan = FeaturePlan(self.columns, style, n_classes=self.n_classes, seed=self.seed)
            X_fit = plan.fit_transform(self.frame[fit_rows], self.y[fit_rows])
            X_valid = plan.transform(self.frame[valid_rows])
            self._cache[key] = (X_fit, X_valid, tuple(plan.categorical_indices))
        return self._cache[key]


def run_search(
    *,
    frame: pl.DataFrame,
    y: np.ndarray,
    splits: Splits,
    columns: Sequence[tuple[str, FeatureKind]],
    problem_type: ProblemType,
    n_classes: int,
    metric: str,
    scorer: FoldScorer,
    families: Sequence[str],
    seed: int,
    deadline: float,
    progress: Progress | None = None,
) -> SearchResult:
    """Score every candidate by cross-validation until ``deadline`` (time.monotonic())."""
    progress = progress if progress is not None else Silent()
    base_task = LearnerTask(problem_type, n_classes)
    candidates = candidates_for(families, base_task, len(splits.train))
    cache = _FoldCache(
        frame=frame, y=y, splits=splits, columns=columns, n_classes=n_classes, seed=seed
    )
    n_train = len(splits.train)
    width = n_classes if problem_type != "regression" else 0
    progress.stage("cross-validating candidates", total=len(candidates) * len(splits.folds))
    trials: list[TrialResult] = []
    fold_seconds: dict[str, float] = {}
    for candidate in candidates:
        cls = learner_class(candidate.family)
        # The baseline and the first real candidate always finish.
        must_finish = candidate.family == "baseline" or not any(
            t.status == "ok" and t.candidate.family != "baseline" for t in trials
        )
        expected = fold_seconds.get(candidate.family, 0.0)
        if not must_finish and time.monotonic() + expected > deadline:
            trials.append(TrialResult(candidate, "skipped", message="time budget spent"))
            progress.advance(len(splits.folds), note=f"{candidate.name}: skipped")
            continue
        oof = np.full((n_train, width) if width else n_train, np.nan)
        trial = TrialResult(candidate, "ok", oof=oof)
        started = time.monotonic()
        try:
            for fold, (_, valid_pos) in enumerate(splits.folds):
                if not must_finish and time.monotonic() > deadline:
                    trial.status, trial.message = "skipped", "time budget spent mid-way"
                    break
                X_fit, X_valid, categorical = cache.get(cls.feature_style, fold)
                fit_rows = splits.train[splits.folds[fold][0]]
                y_fit, y_valid = y[fit_rows], y[splits.train[valid_pos]]
                task = LearnerTask(problem_type, n_classes, categorical)
                learner = cls(candidate.params, seed=seed)
                now = time.monotonic()
                allowance = (deadline - now) / (len(splits.folds) - fold)
                if must_finish:
                    allowance = max(allowance, MIN_FOLD_SECONDS)
                learner.fit(
                    X_fit, y_fit, task, X_valid=X_valid, y_valid=y_valid, deadline=now + allowance
                )
                best = getattr(learner, "best_iteration_", None)
                if best is not None:
                    trial.best_iterations.append(int(best))
                pred = learner.predict(X_valid)
                oof[valid_pos] = pred
                fold_score = scorer(y_valid, pred)
                if fold_score is not None:
                    trial.fold_scores.append(fold_score)
                progress.advance(1, note=f"{candidate.name} fold {fold + 1}")
        except (ValueError, RuntimeError, MemoryError) as exc:
            trial.status, trial.message = "failed", f"{type(exc).__name__}: {exc}"
        trial.fit_seconds = time.monotonic() - started
        if trial.status == "ok" and not trial.fold_scores:
            trial.status, trial.message = "failed", f"{metric} undefined on every fold"
        if trial.status == "ok":
            fold_seconds[candidate.family] = max(
                fold_seconds.get(candidate.family, 0.0), trial.fit_seconds / len(splits.folds)
            )
        if trial.status != "ok":
            trial.oof = None
            progress.log(f"{candidate.name}: {trial.status} ({trial.message})")
        trials.append(trial)
    baseline = next((t for t in trials if t.candidate.family == "baseline"), None)
    if baseline is None or baseline.status != "ok":
        raise TrainingError(
            "even the baseline could not be cross-validated"
            + (f": {baseline.message}" if baseline else ""),
            hint="check the data-check findings; the target may be degenerate in some folds",
        )
    result = SearchResult(metric=metric, trials=trials, best=baseline, baseline=baseline)
    result.best = result.ranked()[0]
    return result


def fit_final(
    trial: TrialResult,
    *,
    frame: pl.DataFrame,
    y: np.ndarray,
    columns: Sequence[tuple[str, FeatureKind]],
    problem_type: ProblemType,
    n_classes: int,
    seed: int,
    deadline: float | None = None,
) -> tuple[Learner, FeaturePlan]:
    """Fit a candidate on ``frame`` with what cross-validation learned (boosting rounds)."""
    cls = learner_class(trial.candidate.family)
    plan = FeaturePlan(columns, cls.feature_style, n_classes=n_classes, seed=seed)
    X = plan.fit_transform(frame, y)
    params = dict(trial.candidate.params)
    if trial.best_iterations:
        rounds = float(np.mean(trial.best_iterations)) * REFIT_ROUNDS_FACTOR
        params["n_estimators"] = max(1, round(rounds))
    learner = cls(params, seed=seed)
    task = LearnerTask(problem_type, n_classes, tuple(plan.categorical_indices))
    learner.fit(X, y, task, deadline=deadline)
    return learner, plan
