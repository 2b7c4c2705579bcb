"""Is the complexity worth it? Each step up (baseline -> linear -> best single model ->
ensemble) scored on the same holdout rows, with paired intervals of what it adds, beside
its cost in single-row latency and size; the simplest step that is as good as the best
(its paired difference to the best contains 0) is the one to recommend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlwright.evaluate._metrics import greater_is_better, resample
from mlwright.evaluate._value import best_threshold, per_1000_interval, row_values
from mlwright.spec import TaskSpec


@dataclass(frozen=True)
class Step:
    """One rung: its name, what it is, its holdout and out-of-fold predictions, and its
    single-row p99 latency (µs) and size (MB) when known."""

    name: str
    model: str
    hold: np.ndarray
    oof: np.ndarray
    p99_us: float | None
    size_mb: float | None


def complexity_ladder(
    spec: TaskSpec, steps: Sequence[Step], *, y_oof: np.ndarray, y_hold: np.ndarray
) -> dict[str, Any]:
    """The ladder's numbers and its recommendation. With business values (binary), value
    per 1,000 decisions at each step's own out-of-fold threshold decides; else the metric."""
    metric = spec.task.metric
    seed = spec.seed
    by_value = spec.resolved_problem_type == "binary" and spec.value.stated
    per_row: dict[str, np.ndarray] = {}
    scored = resample(metric, y_hold, {s.name: s.hold for s in steps}, seed=seed)
    rows = []
    for step in steps:
        entry: dict[str, Any] = {
            "name": step.name,
            "model": step.model,
            "score": scored.interval(step.name).to_dict(),
            "p99_us": step.p99_us,
            "size_mb": step.size_mb,
        }
        if by_value:
            threshold = best_threshold(y_oof, step.oof[:, 1], spec.value).threshold
            per_row[step.name] = row_values(y_hold, step.hold[:, 1], threshold, spec.value)
            entry["value_per_1000"] = per_1000_interval(per_row[step.name], seed=seed).to_dict()
        rows.append(entry)
    for k in range(1, len(steps)):
        step, before = steps[k], steps[k - 1]
        rows[k]["gain_over_previous"] = scored.difference(step.name, before.name).to_dict()
        if by_value:
            rows[k]["value_gain_over_previous"] = per_1000_interval(
                per_row[step.name] - per_row[before.name], seed=seed
            ).to_dict()

    sign = 1.0 if greater_is_better(metric) else -1.0
    if by_value:
        best = max(range(len(rows)), key=lambda i: rows[i]["value_per_1000"]["value"])
    else:
        best = max(range(len(rows)), key=lambda i: sign * rows[i]["score"]["value"])
    recommended = best
    for i, step in enumerate(steps[:best]):
        gap = (
            per_1000_interval(per_row[step.name] - per_row[steps[best].name], seed=seed)
            if by_value
            else scored.difference(step.name, steps[best].name)
        )
        if gap.low <= 0.0 <= gap.high:
            recommended = i
            break
    for i, entry in enumerate(rows):
        entry["recommended"] = i == recommended
    return {
        "decided_by": "value per 1,000 decisions" if by_value else f"holdout {metric}",
        "steps": rows,
        "best": rows[best]["name"],
        "recommended": rows[recommended]["name"],
        "summary": _summary(rows, best, recommended, metric, by_value),
    }


def _summary(
    rows: list[dict[str, Any]], best: int, recommended: int, metric: str, by_value: bool
) -> str:
    top, pick = rows[best], rows[recommended]
    key = "value_per_1000" if by_value else "score"
    what = "value per 1,000 decisions" if by_value else metric
    if best == recommended:
        return (
            f"{pick['name']} ({pick['model']}) is the best step and every simpler one is "
            f"measurably worse on the holdout ({what} {pick[key]['value']:.4g})."
        )
    cost = ""
    if top.get("p99_us") and pick.get("p99_us"):
        cost = (
            f"; it costs {top['p99_us'] / max(pick['p99_us'], 1e-9):.1f}x the single-row p99 "
            "latency (both as searched: bagged fold models, before any refit)"
        )
    return (
        f"{pick['name']} ({pick['model']}) is within the holdout's uncertainty of the best, "
        f"{top['name']} ({what} {pick[key]['value']:.4g} vs {top[key]['value']:.4g}): the "
        f"extra complexity buys {top[key]['value'] - pick[key]['value']:+.4g} that this "
        f"holdout cannot tell from noise{cost}."
    )
