"""Learning curve: would more data help? The best single configuration is refitted on
shares of each fold's training rows and scored on the fold's validation rows, as the
search scored it on all of them; the last doubling's gain says whether the curve is still
rising."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from mlwright.errors import TrainingError
from mlwright.evaluate._metrics import defined, greater_is_better, score
from mlwright.learners import LearnerTask, learner_class
from mlwright.search import FoldFiles, Prepared, TrialResult, stopping_split

SHARES = (0.125, 0.25, 0.5)
MAX_FOLDS = 3


def learning_curve(
    prepared: Prepared,
    trial: TrialResult,
    *,
    metric: str,
    problem_type: str,
    seconds: float,
    seed: int = 0,
) -> dict[str, Any]:
    """Cross-validated score of ``trial``'s configuration at each share of the training rows
    (the full share is the trial's own score), or why it was not measured."""
    folds = prepared.files[trial.style][:MAX_FOLDS]
    n_folds = len(prepared.files[trial.style])
    per_fold = trial.fit_seconds / max(n_folds, 1)
    expected = per_fold * len(folds) * sum(SHARES)
    if expected > seconds:
        return {
            "computed": False,
            "reason": f"refitting {trial.candidate.name} on smaller shares would take about "
            f"{expected:.0f} s and {max(seconds, 0):.0f} s of the time budget were left",
        }
    started = time.monotonic()
    scores, rows = _score_shares(
        prepared,
        trial,
        folds,
        metric=metric,
        problem_type=problem_type,
        seed=seed,
        stop_at=started + seconds,  # a hard stop, should the estimate be wrong
    )
    full_rows = int(np.mean([len(fit) for fit, _ in prepared.folds]))
    points = [
        {
            "share": share,
            "rows": int(np.mean(rows[share])),
            "score": float(np.mean(scores[share])),
            "std": float(np.std(scores[share])),
        }
        for share in SHARES
        if scores[share]
    ]
    points.append({"share": 1.0, "rows": full_rows, "score": trial.cv_score, "std": trial.cv_std})
    out: dict[str, Any] = {
        "computed": True,
        "model": trial.candidate.name,
        "folds": len(folds),
        "seconds": round(time.monotonic() - started, 3),
        "points": points,
    }
    if len(points) >= 2:
        out.update(_last_doubling(points, metric, len(folds)))
    return out


def _score_shares(
    prepared: Prepared,
    trial: TrialResult,
    folds: list[FoldFiles],
    *,
    metric: str,
    problem_type: str,
    seed: int,
    stop_at: float,
) -> tuple[dict[float, list[float]], dict[float, list[int]]]:
    """Per share, the validation scores of the configuration refitted on that share of each
    fold's training rows, and how many rows each fit had."""
    cls = learner_class(trial.candidate.family)
    task = LearnerTask(problem_type, prepared.n_classes, prepared.categorical[trial.style])  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    scores: dict[float, list[float]] = {share: [] for share in SHARES}
    rows: dict[float, list[int]] = {share: [] for share in SHARES}
    for files in folds:
        X_fit, y_fit, X_valid, y_valid = files.load()
        X_stop, y_stop = None, None  # rows to stop on, as the search's trial had
        if cls.stops_early():
            X_fit, y_fit, X_stop, y_stop = stopping_split(files, X_fit, y_fit, X_valid, y_valid)
        for share in SHARES:
            if time.monotonic() >= stop_at:
                break
            keep = np.sort(rng.choice(len(y_fit), max(2, round(share * len(y_fit))), replace=False))
            if problem_type != "regression" and len(np.unique(y_fit[keep])) < 2:
                continue
            learner = cls(trial.candidate.params, seed=seed)
            try:
                learner.fit(
                    np.asarray(X_fit[keep]),
                    y_fit[keep],
                    task,
                    X_valid=X_stop,
                    y_valid=y_stop,
                    deadline=stop_at,
                )
            except TrainingError:  # a learner that cannot fit so few rows leaves a gap
                continue
            if time.monotonic() >= stop_at:
                break  # cut short by the deadline: its score would understate the share
            if defined(metric, y_valid):
                scores[share].append(score(metric, y_valid, learner.predict(np.asarray(X_valid))))
                rows[share].append(len(keep))
    return scores, rows


def _last_doubling(points: list[dict[str, Any]], metric: str, n_folds: int) -> dict[str, Any]:
    """The gain of the last doubling of the rows, and whether it stands above the folds' noise."""
    last, before = points[-1], points[-2]
    gain = (last["score"] - before["score"]) * (1 if greater_is_better(metric) else -1)
    noise = math.sqrt(last["std"] ** 2 + before["std"] ** 2) / math.sqrt(max(n_folds, 1))
    return {
        "last_doubling_gain": gain,
        "reading": (
            f"doubling the training rows from {before['rows']:,} to {last['rows']:,} took "
            f"{metric} from {before['score']:.4g} to {last['score']:.4g}"
            + (
                ": still rising, so more data would likely help"
                if gain > noise
                else ", within the folds' noise: more data of the same kind may help little"
            )
        ),
    }
