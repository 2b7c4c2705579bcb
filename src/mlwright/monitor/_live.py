"""The live test of a traffic split: champion and challenger each answer their share of
the requests (``mlwright serve --challenger REF --challenger-mode split``), labels arrive
(``mlwright feedback``), and a sequential test says, at any moment, whether the answer is
already clear, so the experiment can stop as soon as it is.

Each labelled answer gives two per-row measures: its loss (log loss of the logged
probabilities for classifiers, squared error for regression: proper scores, averaged per
arm) and, when the spec states the business value of decisions, the value of the decision
it served. For each measure the difference of the arms' means (challenger minus champion)
gets an always-valid 95% confidence sequence: a mixture sequential probability ratio test
for a difference of means (Robbins' normal mixture, as in Johari et al. 2017, "Peeking at
A/B tests"), which holds at every moment at once, so reading it after every label does
not inflate the error rate as repeated fixed-sample tests would. The test stops at the
first moment the sequence excludes zero.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlwright.artifact import Model, class_name
from mlwright.errors import DataError
from mlwright.monitor._feedback import Labelled, labelled_answers
from mlwright.registry import CHAMPION, champion_and_challenger, load

# The mixture's spread, in standard deviations of the per-row measure: tuned to effects of
# about a tenth of a standard deviation (the sequence is valid for any value).
MIXTURE_SD = 0.1
CHECK_EVERY = 10  # labelled answers between two looks (each look is valid on its own)
MIN_PER_ARM = 10


def confidence_sequence(
    a: np.ndarray, b: np.ndarray, *, alpha: float = 0.05
) -> tuple[float, float, float]:
    """The difference of means ``mean(b) - mean(a)`` and its always-valid (1 - alpha)
    confidence bounds (normal mixture with prior sd MIXTURE_SD x the pooled sd)."""
    na, nb = len(a), len(b)
    diff = float(np.mean(b) - np.mean(a))
    var = float(np.var(a, ddof=1)) / na + float(np.var(b, ddof=1)) / nb
    pooled = float(np.var(np.concatenate([a, b]), ddof=1))
    tau2 = (MIXTURE_SD**2) * pooled
    if var <= 0 or tau2 <= 0:
        return diff, diff, diff
    radius = math.sqrt(
        var * (var + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((var + tau2) / var))
    )
    return diff, diff - radius, diff + radius


@dataclass
class Measure:
    """One measure's sequential test: the arms' means, the difference and its bounds now,
    and the moment the answer became clear (if it has)."""

    name: str
    better: str  # "lower" or "higher"
    champion_mean: float
    challenger_mean: float
    difference: float
    low: float
    high: float
    decided: str  # "challenger", "champion" or "not yet"
    decided_at: int | None  # labelled answers seen when it became clear
    decided_time: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "better": self.better,
            "champion_mean": self.champion_mean,
            "challenger_mean": self.challenger_mean,
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "decided": self.decided,
            "decided_at": self.decided_at,
            "decided_time": None if self.decided_time is None else self.decided_time.isoformat(),
        }


@dataclass
class LiveTest:
    model_name: str
    champion_version: str
    challenger_version: str
    champion_rows: int
    challenger_rows: int
    alpha: float
    measures: list[Measure]

    @property
    def wins(self) -> bool:
        """The challenger is clearly better on the loss and not clearly worse in value."""
        loss = self.measures[0]
        value_worse = any(m.decided == "champion" for m in self.measures[1:])
        return loss.decided == "challenger" and not value_worse

    @property
    def verdict(self) -> str:
        loss = self.measures[0]
        if self.wins:
            return (
                f"the challenger (version {self.challenger_version}) is better: {loss.name} "
                f"{loss.difference:+.4f} [{loss.low:+.4f}, {loss.high:+.4f}], clear after "
                f"{loss.decided_at} labelled answers; the test can stop"
            )
        if loss.decided == "champion":
            return (
                f"the champion is better: {loss.name} {loss.difference:+.4f} "
                f"[{loss.low:+.4f}, {loss.high:+.4f}]; the test can stop"
            )
        if any(m.decided == "champion" for m in self.measures[1:]):
            return "the challenger's decisions are worth less than the champion's; do not promote"
        return (
            f"not clear yet after {self.champion_rows + self.challenger_rows} labelled answers: "
            f"{loss.name} {loss.difference:+.4f} [{loss.low:+.4f}, {loss.high:+.4f}]; keep "
            "the split running"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "champion_rows": self.champion_rows,
            "challenger_rows": self.challenger_rows,
            "alpha": self.alpha,
            "measures": [m.to_dict() for m in self.measures],
            "wins": self.wins,
            "verdict": self.verdict,
        }


def live_test(
    model_name: str,
    log_url: str,
    *,
    tracking_uri: str | None = None,
    since: dt.datetime | None = None,
    alpha: float = 0.05,
) -> LiveTest:
    """The sequential test of the split between ``champion`` and ``challenger``, from the
    labelled answers each gave."""
    champion_v, challenger_v = champion_and_challenger(
        model_name,
        what="for a live test",
        hint="register a challenger (mlwright retrain SPEC) and serve both with "
        "--challenger models:/NAME@challenger --challenger-mode split",
        uri=tracking_uri,
    )
    model = load(f"models:/{model_name}@{CHAMPION}", tracking_uri=tracking_uri)
    answers = [
        a
        for a in labelled_answers(log_url, model_name, since=since)
        if a.model_version in (champion_v, challenger_v)
    ]
    arm = np.asarray([a.model_version == challenger_v for a in answers])
    if min(int(arm.sum()), int((~arm).sum())) < MIN_PER_ARM:
        raise DataError(
            f"the split has {int((~arm).sum())} labelled answers from the champion (version "
            f"{champion_v}) and {int(arm.sum())} from the challenger (version {challenger_v}); "
            f"at least {MIN_PER_ARM} each are needed",
            field="labels",
            hint="serve both with --challenger-mode split and store labels with feedback",
        )
    measures = [
        _sequential(name, better, per_row, arm, answers, alpha=alpha)
        for name, better, per_row in _measures(model, answers)
    ]
    return LiveTest(
        model_name=model_name,
        champion_version=champion_v,
        challenger_version=challenger_v,
        champion_rows=int((~arm).sum()),
        challenger_rows=int(arm.sum()),
        alpha=alpha,
        measures=measures,
    )


def _measures(model: Model, answers: Sequence[Labelled]) -> list[tuple[str, str, np.ndarray]]:
    if model.problem_type == "regression":
        errors = [(float(a.outputs["prediction"]) - float(a.label)) ** 2 for a in answers]
        return [("squared error", "lower", np.asarray(errors))]
    names = model.class_names
    loss = [
        -math.log(max(float(a.outputs["probabilities"][class_name(a.label)]), 1e-15))
        for a in answers
    ]
    out = [("log loss", "lower", np.asarray(loss))]
    values = model.spec.value
    matrix = values.matrix_for(names)
    if matrix is None and model.problem_type == "binary" and values.stated:
        # [true][predicted], classes in code order: negative first.
        matrix = np.asarray([[values.tn, values.fp], [values.fn, values.tp]])
    if matrix is not None:
        index = {n: i for i, n in enumerate(names)}
        worth = [
            float(matrix[index[class_name(a.label)], index[class_name(a.outputs["prediction"])]])
            for a in answers
        ]
        out.append(("value per decision", "higher", np.asarray(worth)))
    return out


def _sequential(
    name: str,
    better: str,
    per_row: np.ndarray,
    arm: np.ndarray,
    answers: Sequence[Labelled],
    *,
    alpha: float,
) -> Measure:
    """Look every CHECK_EVERY answers (in time order); the first look whose sequence
    excludes zero decides, and the decision stands (the sequences hold at every look)."""
    decided, decided_at, decided_time = "not yet", None, None
    n = len(per_row)
    looks = [*range(CHECK_EVERY, n, CHECK_EVERY), n]
    for k in looks:
        a, b = per_row[:k][~arm[:k]], per_row[:k][arm[:k]]
        if min(len(a), len(b)) < 2:
            continue
        _, low, high = confidence_sequence(a, b, alpha=alpha)
        if low > 0 or high < 0:
            challenger_better = (high < 0) if better == "lower" else (low > 0)
            decided = "challenger" if challenger_better else "champion"
            decided_at, decided_time = k, answers[k - 1].created_at
            break
    a, b = per_row[~arm], per_row[arm]
    diff, low, high = confidence_sequence(a, b, alpha=alpha)
    return Measure(
        name=name,
        better=better,
        champion_mean=float(a.mean()),
        challenger_mean=float(b.mean()),
        difference=diff,
        low=low,
        high=high,
        decided=decided,
        decided_at=decided_at,
        decided_time=decided_time,
    )
