"""Reference statistics of the training data, stored in the artifact for monitoring.

Each numeric column (and each prediction score) keeps its percentiles (for Wasserstein
distances) and a histogram over its own deciles (for PSI and Jensen-Shannon); each
categorical column keeps the shares of its most common categories. ``bin_counts`` is the
one binning rule, used here and by the monitor on served traffic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
TOP_CATEGORIES = 50
PERCENTILES = np.linspace(0.0, 1.0, 101)
DECILES = np.linspace(0.1, 0.9, 9)


def bin_counts(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Counts of non-missing ``values`` in the bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    present = values[~np.isnan(values)]
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), present, side="left")
    return np.bincount(index, minlength=len(edges) + 1)


# Probabilities are binned in fixed bands: decile edges of a probability sit close to 0 or
# 1, where a refit on all rows (the served model) answers a little differently from the
# fold models that scored the holdout, and such narrow tail bins would read that as drift.
PROBABILITY_BANDS = np.linspace(0.1, 0.9, 9)


def distribution(numbers: np.ndarray, edges: np.ndarray | None = None) -> dict[str, Any]:
    """Percentiles and a histogram of non-missing numbers (at least one), over ``edges``
    (default: the numbers' own deciles)."""
    edges = np.unique(np.quantile(numbers, DECILES)) if edges is None else np.asarray(edges)
    counts = bin_counts(numbers, edges)
    return {
        "percentiles": np.quantile(numbers, PERCENTILES).tolist(),
        "bins": {"edges": edges.tolist(), "shares": (counts / counts.sum()).tolist()},
    }


def profile_column(series: pl.Series, kind: str) -> dict[str, Any]:
    """Missing rate and the distribution of one column (quantiles or category shares)."""
    n = len(series)
    missing = series.null_count() + (int(series.is_nan().sum()) if series.dtype.is_float() else 0)
    stats: dict[str, Any] = {"kind": kind, "rows": n, "missing_rate": missing / n if n else 0.0}
    if kind in ("numeric", "boolean"):
        numbers = series.cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
        if len(numbers):
            stats["quantiles"] = dict(
                zip(
                    [str(q) for q in QUANTILES],
                    np.quantile(numbers, QUANTILES).tolist(),
                    strict=True,
                )
            )
            stats["mean"] = float(numbers.mean())
            stats["std"] = float(numbers.std())
            stats.update(distribution(numbers))
    elif kind in ("categorical", "text"):
        values = series.cast(pl.String).drop_nulls()
        stats["distinct"] = values.n_unique()
        if kind == "categorical" and len(values):
            counts = values.value_counts(sort=True).head(TOP_CATEGORIES)
            total = len(values)
            stats["top"] = {str(k): int(c) / total for k, c in counts.iter_rows()}
            # Complete: every category seen is listed, so any other one is new.
            stats["complete"] = stats["distinct"] <= TOP_CATEGORIES
    elif kind == "datetime":
        present = series.drop_nulls()
        if len(present) and present.dtype != pl.String:
            stats["min"] = str(present.min())
            stats["max"] = str(present.max())
    return stats


def reference_statistics(frame: pl.DataFrame, columns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {name: profile_column(frame[name], kind) for name, kind in columns}


def prediction_statistics(
    pred: np.ndarray, problem_type: str, class_names: Sequence[str]
) -> dict[str, Any]:
    """Distribution of predictions: quantiles of values, or of each class's probability;
    ``score`` is the one the monitor watches (the value, or the positive class's
    probability; for multiclass the predicted class's share is watched instead)."""
    if problem_type == "regression":
        return {
            "quantiles": dict(
                zip([str(q) for q in QUANTILES], np.quantile(pred, QUANTILES).tolist(), strict=True)
            ),
            "rows": len(pred),
            "score": distribution(np.asarray(pred, dtype=np.float64)),
        }
    extra: dict[str, Any] = {"rows": len(pred)}
    if problem_type == "binary":
        extra["score"] = distribution(
            np.asarray(pred[:, 1], dtype=np.float64), edges=PROBABILITY_BANDS
        )
    # The most probable class's probability: what a label-free estimate of accuracy reads.
    extra["confidence"] = distribution(np.asarray(pred.max(axis=1), dtype=np.float64))
    return {
        **extra,
        "class_share": dict(
            zip(
                class_names,
                np.bincount(pred.argmax(axis=1), minlength=len(class_names)) / len(pred),
                strict=True,
            )
        ),
        "probability_quantiles": {
            name: dict(
                zip(
                    [str(q) for q in QUANTILES],
                    np.quantile(pred[:, j], QUANTILES).tolist(),
                    strict=True,
                )
            )
            for j, name in enumerate(class_names)
        },
    }
