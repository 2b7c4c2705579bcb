"""Calibration: reliability diagrams, expected calibration error, and choosing a calibrator.

A calibrator is fitted on the out-of-fold predictions of the training rows and chosen by
cross-validation over those rows (each candidate is fitted on some folds and scored by log
loss on the others), so the holdout judges the calibrated model as it judges the rest:
unseen. Kept only when it beats leaving the probabilities alone by a clear margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlwright.artifact import CalibrationKind, Calibrator
from mlwright.evaluate._metrics import score

# A calibrator is used only if it lowers the cross-validated log loss by this fraction.
MIN_GAIN = 0.005
CALIBRATION_FOLDS = 5
RELIABILITY_BINS = 10


@dataclass(frozen=True)
class ReliabilityBin:
    """Rows whose predicted probability fell in [low, high): their mean prediction, the
    observed frequency of the event, and how many there were."""

    low: float
    high: float
    predicted: float
    observed: float
    rows: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "low": self.low,
            "high": self.high,
            "predicted": self.predicted,
            "observed": self.observed,
            "rows": self.rows,
        }


def _event(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, hit): binary, p(positive) and whether the row is positive; multiclass,
    the top probability and whether the top class is right."""
    y = np.asarray(y).astype(np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape[1] == 2:
        return proba[:, 1], (y == 1).astype(np.float64)
    top = proba.argmax(axis=1)
    return proba[np.arange(len(y)), top], (top == y).astype(np.float64)


def reliability(
    y: np.ndarray, proba: np.ndarray, bins: int = RELIABILITY_BINS
) -> list[ReliabilityBin]:
    """Equal-width bins of the predicted probability (binary: of the positive class;
    multiclass: of the top class); empty bins are left out."""
    confidence, hit = _event(y, proba)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        rows = index == b
        n = int(rows.sum())
        if n:
            out.append(
                ReliabilityBin(
                    low=float(edges[b]),
                    high=float(edges[b + 1]),
                    predicted=float(confidence[rows].mean()),
                    observed=float(hit[rows].mean()),
                    rows=n,
                )
            )
    return out


def expected_calibration_error(
    y: np.ndarray, proba: np.ndarray, bins: int = RELIABILITY_BINS
) -> float:
    """Row-weighted mean gap between predicted and observed frequency over the bins of
    ``reliability``."""
    return table_calibration_error(reliability(y, proba, bins))


def table_calibration_error(table: list[ReliabilityBin]) -> float:
    """The expected calibration error of a ``reliability`` table."""
    total = sum(b.rows for b in table)
    if total == 0:
        return float("nan")
    return float(sum(b.rows * abs(b.predicted - b.observed) for b in table) / total)


def fit_calibrator(kind: CalibrationKind, y: np.ndarray, proba: np.ndarray) -> Calibrator:
    """Fit one calibration map to predictions ``proba`` (n, classes) and truths ``y``."""
    y = np.asarray(y).astype(np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if kind == "temperature":
        from scipy.optimize import minimize_scalar

        logp = np.log(np.clip(proba, Calibrator.EPS, 1.0))

        def loss(log_t: float) -> float:
            z = logp / np.exp(log_t)
            z -= z.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(z).sum(axis=1))
            return float(np.mean(log_norm - z[np.arange(len(y)), y]))

        found = minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded")
        return Calibrator("temperature", {"t": float(np.exp(found.x))})
    p = np.clip(proba[:, 1], Calibrator.EPS, 1.0 - Calibrator.EPS)
    if kind == "platt":
        from sklearn.linear_model import LogisticRegression

        logit = np.log(p / (1.0 - p))[:, None]
        fitted = LogisticRegression(C=1e6, max_iter=1000).fit(logit, y)
        return Calibrator(
            "platt", {"a": float(fitted.coef_[0, 0]), "b": float(fitted.intercept_[0])}
        )
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(
        out_of_bounds="clip", y_min=Calibrator.EPS, y_max=1.0 - Calibrator.EPS
    ).fit(p, y)
    x, fitted_y = np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_)
    keep = np.concatenate([[True], np.diff(x) > 0])  # strictly increasing knots
    return Calibrator("isotonic", {"x": x[keep].tolist(), "y": fitted_y[keep].tolist()})


def candidate_kinds(n_classes: int, *, ranking_metric: bool) -> list[CalibrationKind]:
    """Maps worth trying: multiclass, temperature; binary, Platt, and isotonic unless the
    task is judged by ranking (isotonic's flat steps tie rows that were ordered)."""
    if n_classes > 2:
        return ["temperature"]
    return ["platt"] if ranking_metric else ["platt", "isotonic"]


@dataclass(frozen=True)
class CalibrationChoice:
    """The chosen calibrator (None: leave the probabilities alone) and the cross-validated
    log loss and expected calibration error of every option tried."""

    calibrator: Calibrator | None
    cv_log_loss: dict[str, float]
    cv_ece: dict[str, float]
    reason: str

    @property
    def kind(self) -> str:
        return "none" if self.calibrator is None else self.calibrator.kind

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.kind,
            "params": self.calibrator.params if self.calibrator is not None else {},
            "cv_log_loss": self.cv_log_loss,
            "cv_ece": self.cv_ece,
            "reason": self.reason,
        }


def choose_calibrator(
    y: np.ndarray,
    proba: np.ndarray,
    *,
    ranking_metric: bool,
    seed: int = 0,
    folds: int = CALIBRATION_FOLDS,
) -> CalibrationChoice:
    """Cross-fit each candidate map on ``folds`` splits of (y, proba) — out-of-fold
    predictions — and keep the one with the lowest log loss if it beats 'none' by
    ``MIN_GAIN``; the kept map is then refitted on every row."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y).astype(np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    n_classes = proba.shape[1]
    losses = {"none": score("log_loss", y, proba)}
    eces = {"none": expected_calibration_error(y, proba)}
    smallest_class = int(np.bincount(y, minlength=n_classes).min())
    splits = min(folds, smallest_class)
    if splits < 2:
        return CalibrationChoice(
            None, losses, eces, "too few rows of the rarest class to calibrate in cross-validation"
        )
    kinds = candidate_kinds(n_classes, ranking_metric=ranking_metric)
    splitter = StratifiedKFold(n_splits=splits, shuffle=True, random_state=seed)
    parts = list(splitter.split(np.zeros(len(y)), y))
    for kind in kinds:
        crossed = np.empty_like(proba)
        for fit_rows, apply_rows in parts:
            crossed[apply_rows] = fit_calibrator(kind, y[fit_rows], proba[fit_rows]).apply(
                proba[apply_rows]
            )
        losses[kind] = score("log_loss", y, crossed)
        eces[kind] = expected_calibration_error(y, crossed)
    best = min(kinds, key=losses.__getitem__)
    gain = (losses["none"] - losses[best]) / losses["none"] if losses["none"] > 0 else 0.0
    if gain < MIN_GAIN:
        effect = (
            f"lowers the cross-validated log loss by only {gain:.2%} (at least {MIN_GAIN:.1%} "
            "is needed)"
            if gain > 0
            else f"does not lower the cross-validated log loss ({losses[best]:.4g} vs "
            f"{losses['none']:.4g} as predicted)"
        )
        return CalibrationChoice(
            None, losses, eces, f"no calibration: the best map ({best}) {effect}"
        )
    calibrator = fit_calibrator(best, y, proba)
    if calibrator.kind == "platt" and calibrator.params["a"] <= 0:
        # A map that reverses the order of the scores is no calibration: the model is broken.
        return CalibrationChoice(
            None, losses, eces, "no calibration: the Platt map would reverse the scores' order"
        )
    return CalibrationChoice(
        calibrator,
        losses,
        eces,
        f"{best} calibration lowers the cross-validated log loss from {losses['none']:.4g} to "
        f"{losses[best]:.4g} ({gain:.1%})",
    )
