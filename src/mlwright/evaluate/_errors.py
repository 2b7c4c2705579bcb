"""Error analysis on the holdout: the slices where the model is worst, the confusion matrix,
residuals by predicted value, and the rows it gets most wrong.

Slices are single features and pairs of features, each feature cut into bins (quantiles of
a number or a date, the most frequent categories, 'missing'). Every slice with enough rows
is scored exactly — counts, sums and sums of squares of the per-row loss for all singles
and pairs come from three products of a one-hot matrix (the linear-algebra formulation of
SliceLine, Sagadeeva & Boehm 2021, stopped at pairs) — and tested against the rest of the
rows with a one-sided Welch t-test. Holm's correction over every slice tested keeps the
chance of reporting any slice that is not really worse under 5%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlwright.evaluate._metrics import defined, score
from mlwright.features import boolean_column, category_column, number_column, timestamp_column

NUMERIC_BINS = 5
TOP_CATEGORIES = 10
# Slices are searched on at most this many rows (a random sample beyond it), which keeps
# the one-hot products to about a second.
SLICE_ROWS = 50_000
SIGNIFICANCE = 0.05
MAX_SLICES = 10
WORST_EXAMPLES = 10
_EPS = 1e-15


def per_row_loss(problem_type: str, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Classification: each row's log loss (-log of the probability of its true class);
    regression: its absolute error."""
    if problem_type == "regression":
        return np.abs(np.asarray(y, dtype=np.float64) - np.asarray(pred, dtype=np.float64))
    proba = np.asarray(pred, dtype=np.float64)
    picked = proba[np.arange(len(y)), np.asarray(y).astype(np.int64)]
    return np.asarray(-np.log(np.clip(picked, _EPS, 1.0)))


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def bin_column(series: pl.Series, kind: str, bins: int = NUMERIC_BINS) -> np.ndarray | None:
    """Each row's bin label for ``series`` (None for text, which is not sliced). Values are
    read as the feature plans read them (dates given as text included)."""
    if kind == "text":
        return None
    if kind in ("numeric", "datetime"):
        if kind == "datetime":
            epoch = timestamp_column(series).dt.epoch("us")
            values = epoch.cast(pl.Float64).fill_null(np.nan).to_numpy()
        else:
            values = number_column(series)
        missing = np.isnan(values)
        present = values[~missing]
        labels = np.full(len(values), "missing", dtype=object)
        if len(present) == 0:
            return labels
        distinct = np.unique(present)
        if len(distinct) <= bins:
            for value in distinct:
                labels[~missing & (values == value)] = f"= {_show(value, kind)}"
            return labels
        edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
        index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
        for b in range(len(edges) - 1):
            close = "]" if b == len(edges) - 2 else ")"
            labels[~missing & (index == b)] = (
                f"in [{_show(edges[b], kind)}, {_show(edges[b + 1], kind)}{close}"
            )
        return labels
    if kind == "boolean":
        flags = boolean_column(series)
        return np.where(
            np.isnan(flags), "missing", np.where(flags > 0, "= true", "= false")
        ).astype(object)
    text = category_column(series)
    top = set(text.drop_nulls().value_counts(sort=True).to_series(0).head(TOP_CATEGORIES).to_list())
    return np.array(
        ["missing" if v is None else (f"= {v}" if v in top else "other") for v in text.to_list()],
        dtype=object,
    )


def _show(value: float, kind: str) -> str:
    if kind == "datetime":
        return str(np.datetime64(int(value), "us").astype("datetime64[D]"))
    return _fmt(float(value))


@dataclass(frozen=True)
class Slice:
    """Rows matching every condition: how many, their mean per-row loss beside the rest's,
    the task's metric on them (when defined there), and the Holm-adjusted p-value of the
    one-sided test that their loss is higher than the rest's."""

    conditions: tuple[str, ...]
    rows: int
    loss: float
    rest_loss: float
    metric: float | None
    p_value: float

    @property
    def name(self) -> str:
        return " and ".join(self.conditions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "slice": self.name,
            "conditions": list(self.conditions),
            "rows": self.rows,
            "loss": self.loss,
            "rest_loss": self.rest_loss,
            "loss_ratio": self.loss / self.rest_loss if self.rest_loss > 0 else math.inf,
            "metric": self.metric,
            "p_value_holm": self.p_value,
        }


@dataclass(frozen=True)
class SliceSearch:
    slices: list[Slice]
    tested: int
    rows: int
    min_support: int
    loss: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "slices": [s.to_dict() for s in self.slices],
            "tested": self.tested,
            "rows": self.rows,
            "min_support": self.min_support,
            "loss": self.loss,
            "method": "singles and pairs of binned features; one-sided Welch t-test of the "
            f"slice's loss against the rest; Holm correction over all {self.tested} slices "
            f"tested; significance {SIGNIFICANCE}",
        }


def _holm(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


Moments = tuple[np.ndarray, np.ndarray, np.ndarray]


def _worse_p(one: Moments, other: Moments) -> np.ndarray:
    """One-sided Welch t-test p-values that group ``one``'s mean exceeds group ``other``'s,
    each given as (count, sum, sum of squares) arrays."""
    from scipy import stats

    (n1, s1, q1), (n2, s2, q2) = one, other
    n1, n2 = np.maximum(n1, 1), np.maximum(n2, 1)
    m1, m2 = s1 / n1, s2 / n2
    v1 = np.maximum(q1 - s1 * m1, 0.0) / np.maximum(n1 - 1, 1) / n1
    v2 = np.maximum(q2 - s2 * m2, 0.0) / np.maximum(n2 - 1, 1) / n2
    se2 = v1 + v2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se2 > 0, (m1 - m2) / np.sqrt(se2), 0.0)
        df = se2**2 / (v1**2 / np.maximum(n1 - 1, 1) + v2**2 / np.maximum(n2 - 1, 1))
    return np.asarray(stats.t.sf(t, np.nan_to_num(df, nan=1.0, posinf=1e6)))


@dataclass(frozen=True)
class _Candidates:
    """Every single slice with enough rows in and out of it: a 0/1 column each (rows by
    slices), its name ('feature label') and the index of its feature."""

    indicators: np.ndarray
    names: list[str]
    owners: np.ndarray


@dataclass(frozen=True)
class _Tested:
    """Every slice tested (a single where ``first == second``, else a pair): its two
    parts, rows, mean loss in and out of it, and Holm-adjusted p-value; ``tests`` counts
    every test made."""

    first: np.ndarray
    second: np.ndarray
    rows: np.ndarray
    mean: np.ndarray
    rest_mean: np.ndarray
    p_value: np.ndarray
    tests: int


def _candidate_slices(
    frame: pl.DataFrame, columns: Sequence[tuple[str, str]], rows: np.ndarray, support: int
) -> _Candidates | None:
    n = len(rows)
    one_hot: list[np.ndarray] = []
    names: list[str] = []
    owner: list[int] = []
    for f, (name, kind) in enumerate(columns):
        labels = bin_column(frame[name].gather(rows), kind)
        if labels is None:
            continue
        for label in np.unique(labels):
            hit = labels == label
            if support <= hit.sum() <= n - support:
                one_hot.append(hit)
                names.append(f"{name} {label}")
                owner.append(f)
    if not one_hot:
        return None
    return _Candidates(np.column_stack(one_hot).astype(np.float64), names, np.asarray(owner))


def _test_slices(candidates: _Candidates, e: np.ndarray, support: int) -> _Tested:
    """Score every single and pair of different features from three products of the
    one-hot matrix, and test each against the rest of the rows (pairs also against the rest
    of each of their parts), with Holm's correction over all the tests."""
    M, n = candidates.indicators, len(e)
    counts = M.T @ M
    sums = M.T @ (M * e[:, None])
    squares = M.T @ (M * (e * e)[:, None])
    owners = candidates.owners
    upper = np.triu(np.ones_like(counts, dtype=bool), k=1)
    usable = (upper & (owners[:, None] != owners[None, :])) | np.eye(
        len(candidates.names), dtype=bool
    )
    usable &= (counts >= support) & (counts <= n - support)
    i, j = np.nonzero(usable)
    N, S, Q = counts[i, j], sums[i, j], squares[i, j]
    total, total_sq = e.sum(), (e * e).sum()
    marginal = _worse_p((N, S, Q), (n - N, total - S, total_sq - Q))
    # Pairs only: the test against the rest of each part (old customers on the 'pro' plan
    # against other old customers, and against other 'pro' customers).
    pair = np.nonzero(i != j)[0]
    within = np.zeros(len(pair))
    for part in (i[pair], j[pair]):
        part_n = np.diag(counts)[part] - N[pair]
        p_part = _worse_p(
            (N[pair], S[pair], Q[pair]),
            (part_n, np.diag(sums)[part] - S[pair], np.diag(squares)[part] - Q[pair]),
        )
        within = np.maximum(within, np.where(part_n > 1, p_part, 1.0))
    adjusted = _holm(np.concatenate([marginal, within]))
    p_value = adjusted[: len(marginal)].copy()
    p_value[pair] = np.maximum(p_value[pair], adjusted[len(marginal) :])
    return _Tested(i, j, N, S / N, (total - S) / (n - N), p_value, len(adjusted))


def _worst_slices(
    candidates: _Candidates,
    tested: _Tested,
    rows: np.ndarray,
    *,
    metric: str,
    y: np.ndarray,
    pred: np.ndarray,
) -> list[Slice]:
    """The significant slices, worst mean loss first, at most ``MAX_SLICES``."""
    M, names = candidates.indicators, candidates.names
    found = []
    for k in np.argsort(-tested.mean, kind="stable"):
        if tested.p_value[k] >= SIGNIFICANCE:
            continue
        a, b = int(tested.first[k]), int(tested.second[k])
        picked = rows[(M[:, a] > 0) & (M[:, b] > 0)]
        found.append(
            Slice(
                conditions=(names[a],) if a == b else (names[a], names[b]),
                rows=int(tested.rows[k]),
                loss=float(tested.mean[k]),
                rest_loss=float(tested.rest_mean[k]),
                metric=score(metric, y[picked], pred[picked])
                if defined(metric, y[picked])
                else None,
                p_value=float(tested.p_value[k]),
            )
        )
        if len(found) == MAX_SLICES:
            break
    return found


def find_slices(
    frame: pl.DataFrame,
    columns: Sequence[tuple[str, str]],
    loss: np.ndarray,
    *,
    metric: str,
    y: np.ndarray,
    pred: np.ndarray,
    min_support: int | None = None,
    seed: int = 0,
) -> SliceSearch:
    """The slices (single features and pairs) whose loss is significantly above the rest's,
    worst first; a pair only when it is also significantly worse than the rest of each of
    its two parts (else it repeats a single slice that is bad on its own). Holm's
    correction runs over every test made."""
    n_all = len(loss)
    rows = np.arange(n_all)
    if n_all > SLICE_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(n_all, SLICE_ROWS, replace=False))
    n = len(rows)
    support = min_support if min_support is not None else max(30, math.ceil(0.01 * n))
    loss_name = "absolute error" if pred.ndim == 1 else "log loss"
    candidates = _candidate_slices(frame, columns, rows, support)
    if candidates is None:
        return SliceSearch([], 0, n, support, loss_name)
    tested = _test_slices(candidates, loss[rows].astype(np.float64), support)
    found = _worst_slices(candidates, tested, rows, metric=metric, y=y, pred=pred)
    return SliceSearch(found, tested.tests, n, support, loss_name)


def confusion(y: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Counts of (true class, predicted class), rows in true-class order."""
    k = len(class_names)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y).astype(np.int64), np.asarray(labels).astype(np.int64)), 1)
    return {"classes": list(class_names), "matrix": matrix.tolist()}


def residuals_by_prediction(
    y: np.ndarray, pred: np.ndarray, bins: int = 10
) -> list[dict[str, float | int]]:
    """Regression residuals (truth - prediction) in bins of the predicted value: the mean
    (a bias where it is far from 0) with its 95% interval, and the mean absolute error."""
    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    edges = np.unique(np.quantile(pred, np.linspace(0, 1, bins + 1)))
    index = np.clip(np.searchsorted(edges, pred, side="right") - 1, 0, max(len(edges) - 2, 0))
    out = []
    for b in range(max(len(edges) - 1, 1)):
        hit = index == b
        r = y[hit] - pred[hit]
        if len(r) == 0:
            continue
        half = 1.96 * r.std(ddof=1) / math.sqrt(len(r)) if len(r) > 1 else math.nan
        out.append(
            {
                "low": float(edges[b]) if len(edges) > 1 else float(pred.min()),
                "high": float(edges[b + 1]) if len(edges) > 1 else float(pred.max()),
                "rows": int(hit.sum()),
                "mean_residual": float(r.mean()),
                "mean_residual_low": float(r.mean() - half),
                "mean_residual_high": float(r.mean() + half),
                "mae": float(np.abs(r).mean()),
            }
        )
    return out


def worst_examples(
    frame: pl.DataFrame,
    loss: np.ndarray,
    truth: Sequence[Any],
    predicted: Sequence[Any],
    k: int = WORST_EXAMPLES,
) -> list[dict[str, Any]]:
    """The ``k`` rows with the highest loss: their inputs, truth, prediction and loss."""
    order = np.argsort(-loss, kind="stable")[:k]
    out = []
    for i in order:
        row = frame.row(int(i), named=True)
        out.append(
            {
                "row": int(i),
                "loss": float(loss[i]),
                "truth": truth[i],
                "prediction": predicted[i],
                "inputs": {key: _jsonable(value) for key, value in row.items()},
            }
        )
    return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)
