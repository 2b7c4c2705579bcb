"""Global importance of each input column for the whole model, on holdout rows.

When every member has exact contributions (TreeSHAP for gradient boosting, coefficients for
linear models), an input's importance is its mean absolute contribution to the prediction
(``Model.explain``), on the model's output scale. Otherwise it is permutation importance:
how much the task's metric worsens when that column's values are shuffled across rows
(Breiman 2001), which needs nothing from the members but predictions.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl

from mlwright.artifact import Model, explain_model
from mlwright.evaluate._metrics import defined, greater_is_better, score

IMPORTANCE_ROWS = 2000
PROBE_ROWS = 10  # explained first, to time the rest
MIN_ROWS = 100  # fewer would rank the inputs by noise
MIN_SECONDS = 0.5


def global_importance(
    model: Model,
    frame: pl.DataFrame,
    y: np.ndarray,
    *,
    seconds: float,
    seed: int = 0,
    rows: int = IMPORTANCE_ROWS,
) -> dict[str, Any]:
    """Importance of every input on up to ``rows`` holdout rows, or the reason it was not
    computed within ``seconds``."""
    if frame.height > rows:
        keep = np.sort(np.random.default_rng(seed).choice(frame.height, rows, replace=False))
        frame, y = frame[keep], y[keep]
    started = time.monotonic()
    names = [f.name for f in model.inputs]
    if seconds < MIN_SECONDS:
        return {
            "computed": False,
            "reason": f"{max(seconds, 0):.1f} s of the time budget were left for it",
        }
    if all(m.learner.has_contributions() and not m.inputs for m in model.members):
        # Time a few rows, then explain as many more as the time left allows.
        first = min(PROBE_ROWS, frame.height)
        chunks = [np.abs(explain_model(model, frame[:first]).contributions)]
        per_row = (time.monotonic() - started) / first
        more = min(frame.height - first, int((seconds - (time.monotonic() - started)) / per_row))
        if first + max(more, 0) < MIN_ROWS and frame.height >= MIN_ROWS:
            return {
                "computed": False,
                "reason": f"explaining {MIN_ROWS} rows would take about {per_row * MIN_ROWS:.0f}"
                f" s and {max(seconds, 0):.0f} s of the time budget were left",
            }
        if more > 0:
            chunks.append(np.abs(explain_model(model, frame[first : first + more]).contributions))
        values = np.concatenate(chunks).mean(axis=(0, 1))
        used = first + max(more, 0)
        method = (
            "mean absolute contribution to the prediction (TreeSHAP for gradient boosting, "
            "coefficient x value for linear models), on the model's output scale"
        )
    else:
        metric = model.spec.task.metric
        if not defined(metric, y):
            return {"computed": False, "reason": f"{metric} is not defined on the holdout rows"}
        started_one = time.monotonic()
        reference = score(metric, y, model._raw(frame))
        per_column = time.monotonic() - started_one
        if per_column * len(names) > seconds:
            return {
                "computed": False,
                "reason": f"permutation importance would take about {per_column * len(names):.0f}"
                f" s and {max(seconds, 0):.0f} s of the time budget were left",
            }
        rng = np.random.default_rng(seed)
        sign = 1.0 if greater_is_better(metric) else -1.0
        drops = []
        for name in names:
            shuffled = frame.with_columns(frame[name].gather(rng.permutation(frame.height)))
            drops.append(sign * (reference - score(metric, y, model._raw(shuffled))))
        values = np.asarray(drops)
        used = frame.height
        method = (
            f"permutation importance: how much the holdout {metric} worsens when the column's "
            "values are shuffled"
        )
    order = np.argsort(-values, kind="stable")
    return {
        "computed": True,
        "method": method,
        "rows": used,
        "seconds": round(time.monotonic() - started, 3),
        "features": [{"name": names[i], "importance": float(values[i])} for i in order],
    }
