"""Engineered features for the ``"engineered"`` plan style, fitted on the fold's rows.

* ``CountEncoded``: a high-cardinality categorical's level as its share of the fitted rows.
* ``Interaction``: a product, quotient or difference of two numeric columns, the pairs
  chosen by the gain of a quick LightGBM (``select``).
* ``GroupAggregate``: a numeric column's mean within a categorical column's level, and the
  row's value minus that mean.

None of them reads the target, so none needs out-of-fold values (the plan's target
encodings do; see ``FeaturePlan``). Like every transform, the batch and single-record paths
run the same float64 operations in the same order, so they agree exactly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import polars as pl

from mlwright.features import _values as v
from mlwright.features._transforms import Codes, Raw, Transform

NAN = v.NAN
_T = TypeVar("_T")
OPERATIONS = ("times", "over", "minus")
# A quotient whose divisor is at most this in magnitude is missing (NaN), not huge.
TINY = 1e-12


def _check_lengths(what: str, *lists: Sequence[Any]) -> None:
    if len({len(items) for items in lists}) > 1:
        raise ValueError(f"{what}: its lists differ in length")


class CountEncoded(Transform):
    """A categorical level's share of the fitted rows. Levels past the ``len(levels)`` most
    frequent ones, and unseen levels, are 0.0; a missing value is the share of fitted rows
    that were missing."""

    kind = "count"

    def __init__(self, column: str, *, levels: list[str], shares: list[float], missing: float):
        super().__init__(column)
        _check_lengths(f"count encoding of '{column}'", levels, shares)
        self.levels, self.shares, self.missing = levels, shares, float(missing)
        self._share = {level: float(s) for level, s in zip(levels, shares, strict=True)}

    @classmethod
    def fit(cls, column: str, keys: pl.Series, max_levels: int) -> CountEncoded:
        n = max(len(keys), 1)
        counts = keys.drop_nulls().value_counts(sort=True)
        rows = sorted(
            ((str(k), int(c)) for k, c in counts.iter_rows()), key=lambda r: (-r[1], r[0])
        )
        rows = rows[:max_levels]
        return cls(
            column,
            levels=[level for level, _ in rows],
            shares=[c / n for _, c in rows],
            missing=keys.null_count() / n,
        )

    @property
    def names(self) -> list[str]:
        return [f"{self.column}__count"]

    def batch(self, series: pl.Series) -> np.ndarray:
        s = v.category_column(series)
        shares = s.replace_strict(self._share, default=0.0, return_dtype=pl.Float64)
        shares = pl.select(pl.when(s.is_null()).then(self.missing).otherwise(shares)).to_series()
        return np.ascontiguousarray(shares.to_numpy(), dtype=np.float64).reshape(-1, 1)

    def one(self, value: Any, out: list[float]) -> None:
        key = v.category(self.column, value)
        out.append(self.missing if key is None else self._share.get(key, 0.0))

    def params(self) -> dict[str, Any]:
        return {"levels": self.levels, "shares": self.shares, "missing": self.missing}


class _Pair(Transform):
    """A transform of two columns: ``column`` and ``other``, each numeric or boolean
    (``booleans``). Its outputs are attributed to ``column`` unless it says otherwise."""

    def __init__(self, column: str, *, other: str, booleans: Sequence[bool]):
        super().__init__(column)
        if len(booleans) != 2:
            raise ValueError(f"transform of '{column}' and '{other}' needs two boolean flags")
        self.other = other
        self.booleans = [bool(b) for b in booleans]
        self._read = [v.boolean if b else v.number for b in self.booleans]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column, self.other)

    def _values(self, data: pl.DataFrame, i: int) -> np.ndarray:
        series = data[self.columns[i]]
        return v.boolean_column(series) if self.booleans[i] else v.number_column(series)

    def batch(self, series: pl.Series) -> np.ndarray:
        raise TypeError(f"{self.kind} reads two columns: call batch_frame")

    def one(self, value: Any, out: list[float]) -> None:
        raise TypeError(f"{self.kind} reads two columns: call one_record")


class Interaction(_Pair):
    """``column`` times, over or minus ``other``. A quotient whose divisor is missing or at
    most ``tiny`` in magnitude is NaN. Attributed to ``column``."""

    kind = "interaction"

    def __init__(
        self, column: str, *, other: str, booleans: Sequence[bool], op: str, tiny: float = TINY
    ):
        super().__init__(column, other=other, booleans=booleans)
        if op not in OPERATIONS:
            raise ValueError(f"unknown interaction {op!r}; expected one of {OPERATIONS}")
        self.op, self.tiny = op, float(tiny)

    @property
    def names(self) -> list[str]:
        return [f"{self.column}__{self.op}__{self.other}"]

    def batch_frame(self, data: pl.DataFrame) -> np.ndarray:
        a, b = self._values(data, 0), self._values(data, 1)
        with np.errstate(all="ignore"):
            if self.op == "times":
                out = a * b
            elif self.op == "minus":
                out = a - b
            else:
                out = np.where(np.abs(b) > self.tiny, a / b, NAN)
        return np.ascontiguousarray(out, dtype=np.float64).reshape(-1, 1)

    def one_record(self, record: Mapping[str, Any], out: list[float]) -> None:
        a = self._read[0](self.column, record[self.column])
        b = self._read[1](self.other, record[self.other])
        if self.op == "times":
            out.append(a * b)
        elif self.op == "minus":
            out.append(a - b)
        else:
            out.append(a / b if abs(b) > self.tiny else NAN)

    def params(self) -> dict[str, Any]:
        return {"other": self.other, "booleans": self.booleans, "op": self.op, "tiny": self.tiny}


class GroupAggregate(_Pair):
    """The mean of numeric ``column`` within the level of categorical ``other`` over the
    fitted rows (finite values only), and the row's value minus that mean. A missing,
    unseen or rare level (not in ``levels``) has a NaN mean. The mean is attributed to
    ``other`` (it depends on the level alone), the difference to ``column``."""

    kind = "group_mean"

    def __init__(
        self,
        column: str,
        *,
        other: str,
        boolean: bool,
        levels: list[str],
        means: list[float],
    ):
        super().__init__(column, other=other, booleans=[boolean, False])
        _check_lengths(f"group means of '{column}' by '{other}'", levels, means)
        self.boolean, self.levels, self.means = bool(boolean), levels, means
        self._mean = {level: float(m) for level, m in zip(levels, means, strict=True)}

    @classmethod
    def fit(
        cls, column: str, other: str, *, boolean: bool, levels: list[str], data: pl.DataFrame
    ) -> GroupAggregate:
        draft = cls(column, other=other, boolean=boolean, levels=[], means=[])
        x = draft._values(data, 0)
        index = {level: i for i, level in enumerate(levels)}
        keys = v.category_column(data[other])
        pos = keys.replace_strict(index, default=-1, return_dtype=pl.Int64).fill_null(-1).to_numpy()
        keep = (pos >= 0) & np.isfinite(x)
        with np.errstate(all="ignore"):
            sums = np.bincount(pos[keep], weights=x[keep], minlength=len(levels))
            counts = np.bincount(pos[keep], minlength=len(levels))
            means = sums / counts
        # Levels without a finite mean (no values, or sums past the float range) stay NaN.
        kept = [
            (level, float(means[i])) for i, level in enumerate(levels) if math.isfinite(means[i])
        ]
        return cls(
            column,
            other=other,
            boolean=boolean,
            levels=[level for level, _ in kept],
            means=[m for _, m in kept],
        )

    @property
    def names(self) -> list[str]:
        return [
            f"{self.column}__mean_by__{self.other}",
            f"{self.column}__minus_mean_by__{self.other}",
        ]

    @property
    def output_sources(self) -> list[str]:
        return [self.other, self.column]

    def batch_frame(self, data: pl.DataFrame) -> np.ndarray:
        keys = v.category_column(data[self.other])
        mean = keys.replace_strict(self._mean, default=NAN, return_dtype=pl.Float64)
        m = np.ascontiguousarray(mean.fill_null(NAN).to_numpy(), dtype=np.float64)
        x = self._values(data, 0)
        with np.errstate(all="ignore"):
            return np.column_stack([m, x - m])

    def one_record(self, record: Mapping[str, Any], out: list[float]) -> None:
        key = v.category(self.other, record[self.other])
        x = self._read[0](self.column, record[self.column])
        m = NAN if key is None else self._mean.get(key, NAN)
        out.append(m)
        out.append(x - m)

    def params(self) -> dict[str, Any]:
        return {
            "other": self.other,
            "boolean": self.boolean,
            "levels": self.levels,
            "means": self.means,
        }


ENGINEERED_TRANSFORMS: dict[str, type[Transform]] = {
    t.kind: t for t in (CountEncoded, Interaction, GroupAggregate)
}


# -- choosing interactions and group-bys by gain ---------------------------------------------


@dataclass(frozen=True)
class Selection:
    """What ``select`` needs: the sizes and the quick model's rounds (from ``PlanSettings``)."""

    max_interactions: int
    top_numeric: int
    groupby_categoricals: int
    groupby_numerics: int
    groupby_max_levels: int
    trees: int


def select(
    sample: pl.DataFrame,
    y: np.ndarray,
    base: Sequence[Transform],
    *,
    n_classes: int,
    seed: int,
    choose: Selection,
) -> tuple[list[Interaction], list[tuple[Raw, Codes]]]:
    """The interactions worth adding, best first, and the (numeric, categorical) pairs to
    aggregate, chosen on ``sample`` (the fold's rows or a seeded sample of them).

    A quick LightGBM on the ``base`` (tree) outputs ranks the columns by gain. The
    ``groupby_numerics`` numeric (or boolean) columns of highest positive gain are
    aggregated within each of the ``groupby_categoricals`` categorical columns of highest
    positive gain (with 2 to ``groupby_max_levels`` levels). Among the ``top_numeric``
    numeric columns, each pair's product, quotient and difference are candidates; a second
    quick LightGBM over the base outputs and the candidates keeps the ``max_interactions``
    of highest positive gain."""
    X, offsets = _matrix(base, sample)
    categorical = [offsets[i] for i, t in enumerate(base) if isinstance(t, Codes)]
    quick = _Quick(y, categorical, n_classes, seed, choose.trees)
    gains = quick.gains(X)
    numeric = _ranked([(t, gains[offsets[i]]) for i, t in enumerate(base) if isinstance(t, Raw)])
    codes = _ranked(
        [
            (t, gains[offsets[i]])
            for i, t in enumerate(base)
            if isinstance(t, Codes) and 2 <= len(t.levels) <= choose.groupby_max_levels
        ]
    )
    groups = [
        (num, cat)
        for cat in codes[: choose.groupby_categoricals]
        for num in numeric[: choose.groupby_numerics]
    ]
    pairs = _interactions(sample, X, quick, numeric[: choose.top_numeric], choose.max_interactions)
    return pairs, groups


def _interactions(
    sample: pl.DataFrame, X: np.ndarray, quick: _Quick, top: Sequence[Raw], keep: int
) -> list[Interaction]:
    candidates = [
        Interaction(a.column, other=b.column, booleans=[a.boolean, b.boolean], op=op)
        for a, b in itertools.combinations(top, 2)
        for op in OPERATIONS
    ]
    if not candidates or keep <= 0:
        return []
    extra = np.hstack([c.batch_frame(sample) for c in candidates])
    extra[~np.isfinite(extra)] = NAN  # for choosing only: infinities carry no split
    gains = quick.gains(np.hstack([X, extra]))[X.shape[1] :]
    order = sorted(range(len(candidates)), key=lambda i: (-gains[i], i))
    return [candidates[i] for i in order if gains[i] > 0][:keep]


def _matrix(base: Sequence[Transform], data: pl.DataFrame) -> tuple[np.ndarray, list[int]]:
    """The base outputs for ``data`` and each transform's first output position."""
    blocks = [t.batch_frame(data) for t in base]
    offsets = list(itertools.accumulate((b.shape[1] for b in blocks), initial=0))[:-1]
    X = np.hstack(blocks) if blocks else np.zeros((len(data), 0))
    return np.ascontiguousarray(X, dtype=np.float64), offsets


def _ranked(scored: Sequence[tuple[_T, float]]) -> list[_T]:
    """The items of positive score, highest first (ties in their given order)."""
    order = sorted(range(len(scored)), key=lambda i: (-scored[i][1], i))
    return [scored[i][0] for i in order if scored[i][1] > 0]


class _Quick:
    """A small, seeded, single-threaded LightGBM whose total gain per feature ranks features
    (deterministic: the same rows and seed give the same gains)."""

    def __init__(
        self, y: np.ndarray, categorical: list[int], n_classes: int, seed: int, trees: int
    ):
        self.y, self.categorical, self.trees = y, categorical, trees
        self.params: dict[str, Any] = {
            "learning_rate": 0.1,
            "num_leaves": 15,
            "min_data_in_leaf": max(2, min(20, len(y) // 20)),
            "min_data_in_bin": 1,
            "max_bin": 63,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,
            "verbosity": -1,
        }
        if n_classes > 2:
            self.params.update(objective="multiclass", num_class=n_classes)
        else:
            self.params["objective"] = "binary" if n_classes == 2 else "regression"

    def gains(self, X: np.ndarray) -> np.ndarray:
        import lightgbm as lgb

        if X.shape[1] == 0:
            return np.zeros(0)
        data = lgb.Dataset(
            X,
            label=self.y,
            categorical_feature=self.categorical or "auto",
            free_raw_data=True,
            params={"verbosity": -1, "max_bin": 63, "min_data_in_bin": 1},
        )
        booster = lgb.train(self.params, data, num_boost_round=self.trees)
        return np.asarray(booster.feature_importance("gain"), dtype=np.float64)
