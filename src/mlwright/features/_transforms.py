"""Fitted column transforms. Each is plain data (``to_dict``) with two executions:

* ``batch(series) -> ndarray (n_rows, n_outputs)``, vectorised over a Polars column;
* ``one(value, out)``, which appends the outputs for one value to a list.

A plan calls them through ``batch_frame(data)`` and ``one_record(record, out)``, which read
the transform's column (its single-record path calls ``one`` directly where it can); a
transform of several columns (``columns``) overrides those two.

Both use the same operations in the same order on IEEE doubles (no transcendental
functions, whose NumPy and libm versions may differ in the last bit), so they agree
exactly; a property test holds them to it.
"""

from __future__ import annotations

import math
import re
import zlib
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import polars as pl

from mlwright.features import _values as v

NAN = v.NAN


class Transform(ABC):
    """One input column -> one or more float outputs."""

    kind: ClassVar[str]

    def __init__(self, column: str):
        self.column = column

    @property
    def columns(self) -> tuple[str, ...]:
        """The input columns read, ``column`` first."""
        return (self.column,)

    @property
    def output_sources(self) -> list[str]:
        """The input column each output is attributed to (``column`` for all by default)."""
        return [self.column] * len(self.names)

    def batch_frame(self, data: pl.DataFrame) -> np.ndarray:
        """Outputs for a whole table (the plan's entry point)."""
        return self.batch(data[self.column])

    def one_record(self, record: Mapping[str, Any], out: list[float]) -> None:
        """Append the outputs for one record (the plan's entry point)."""
        self.one(record[self.column], out)

    @property
    @abstractmethod
    def names(self) -> list[str]:
        """Output feature names."""

    @abstractmethod
    def batch(self, series: pl.Series) -> np.ndarray:
        """Outputs for a whole column, shape (n_rows, len(names)), float64."""

    @abstractmethod
    def one(self, value: Any, out: list[float]) -> None:
        """Append the outputs for one value to ``out``."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The fitted parameters, JSON-serialisable."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "column": self.column, **self.params()}

    @property
    def categorical_outputs(self) -> list[int]:
        """Positions (within this transform's outputs) that are category codes."""
        return []


def _column(values: np.ndarray) -> np.ndarray:
    return values.reshape(-1, 1)


# -- numeric and boolean --------------------------------------------------------------------


class Raw(Transform):
    """A number (or boolean as 1/0) passed through; missing stays NaN (trees handle it)."""

    kind = "raw"

    def __init__(self, column: str, *, boolean: bool = False):
        super().__init__(column)
        self.boolean = boolean

    @property
    def names(self) -> list[str]:
        return [self.column]

    def batch(self, series: pl.Series) -> np.ndarray:
        if self.boolean:
            return _column(v.boolean_column(series))
        return _column(v.number_column(series))

    def one(self, value: Any, out: list[float]) -> None:
        out.append(v.boolean(self.column, value) if self.boolean else v.number(self.column, value))

    def params(self) -> dict[str, Any]:
        return {"boolean": self.boolean}


class Scaled(Transform):
    """For linear models: impute (median), clip to the training range, standardise, and add
    a missing indicator when training rows had missing values."""

    kind = "scaled"

    def __init__(
        self,
        column: str,
        *,
        fill: float,
        lo: float,
        hi: float,
        mean: float,
        std: float,
        indicator: bool,
        boolean: bool = False,
    ):
        super().__init__(column)
        self.fill, self.lo, self.hi, self.mean, self.std = fill, lo, hi, mean, std
        self.indicator = indicator
        self.boolean = boolean

    @classmethod
    def fit(cls, column: str, values: np.ndarray, *, boolean: bool = False) -> Scaled:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return cls(
                column, fill=0.0, lo=0.0, hi=0.0, mean=0.0, std=1.0, indicator=True, boolean=boolean
            )
        fill = float(np.median(finite))
        lo, hi = float(finite.min()), float(finite.max())
        filled = np.where(np.isfinite(values), values, fill)
        with np.errstate(over="ignore", invalid="ignore"):
            # Values near the float limits overflow the moments; such columns stay unscaled.
            mean = float(filled.mean())
            std = float(filled.std())
        if not (math.isfinite(mean) and math.isfinite(std)):
            mean, std = 0.0, 1.0
        return cls(
            column,
            fill=fill,
            lo=lo,
            hi=hi,
            mean=mean,
            std=std if std > 0 else 1.0,
            indicator=bool(finite.size < values.size),
            boolean=boolean,
        )

    @property
    def names(self) -> list[str]:
        return [self.column, f"{self.column}__missing"] if self.indicator else [self.column]

    def batch(self, series: pl.Series) -> np.ndarray:
        x = v.boolean_column(series) if self.boolean else v.number_column(series)
        return self.batch_values(x)

    def batch_values(self, x: np.ndarray) -> np.ndarray:
        missing = ~np.isfinite(x)
        x = np.where(missing, self.fill, x)
        x = np.minimum(np.maximum(x, self.lo), self.hi)
        z = (x - self.mean) / self.std
        if self.indicator:
            return np.column_stack([z, missing.astype(np.float64)])
        return _column(z)

    def one(self, value: Any, out: list[float]) -> None:
        x = v.boolean(self.column, value) if self.boolean else v.number(self.column, value)
        self.one_value(x, out)

    def one_value(self, x: float, out: list[float]) -> None:
        missing = not math.isfinite(x)
        if missing:
            x = self.fill
        x = min(max(x, self.lo), self.hi)
        out.append((x - self.mean) / self.std)
        if self.indicator:
            out.append(1.0 if missing else 0.0)

    def params(self) -> dict[str, Any]:
        return {
            "fill": self.fill,
            "lo": self.lo,
            "hi": self.hi,
            "mean": self.mean,
            "std": self.std,
            "indicator": self.indicator,
            "boolean": self.boolean,
        }


# -- categorical ----------------------------------------------------------------------------


def frequent_levels(
    values: pl.Series, *, min_count: int, max_levels: int
) -> tuple[list[str], bool]:
    """Levels seen at least ``min_count`` times (most frequent first, at most ``max_levels``),
    and whether any level was left out as rare."""
    counts = values.drop_nulls().value_counts(sort=True)
    rows = [(str(level), int(n)) for level, n in counts.iter_rows()]
    rows.sort(key=lambda r: (-r[1], r[0]))
    kept = [level for level, n in rows if n >= min_count][:max_levels]
    return kept, len(kept) < len(rows)


class Codes(Transform):
    """For gradient boosting's native categorical splits: each frequent level its integer code;
    rare and unseen levels share the code after the last; missing is NaN."""

    kind = "codes"

    def __init__(self, column: str, *, levels: list[str]):
        super().__init__(column)
        self.levels = levels
        self._index = {level: float(i) for i, level in enumerate(levels)}
        self._other = float(len(levels))

    @property
    def names(self) -> list[str]:
        return [self.column]

    @property
    def categorical_outputs(self) -> list[int]:
        return [0]

    def batch(self, series: pl.Series) -> np.ndarray:
        s = v.category_column(series)
        codes = s.replace_strict(self._index, default=self._other, return_dtype=pl.Float64)
        codes = pl.select(pl.when(s.is_null()).then(NAN).otherwise(codes)).to_series()
        return _column(np.ascontiguousarray(codes.to_numpy(), dtype=np.float64))

    def one(self, value: Any, out: list[float]) -> None:
        key = v.category(self.column, value)
        out.append(NAN if key is None else self._index.get(key, self._other))

    def params(self) -> dict[str, Any]:
        return {"levels": self.levels}


class OneHot(Transform):
    """For linear models: an indicator per frequent level, plus 'other' (rare or unseen
    levels, when training had rare ones) and 'missing' (when training had missing values)."""

    kind = "onehot"

    def __init__(self, column: str, *, levels: list[str], other: bool, missing: bool):
        super().__init__(column)
        self.levels, self.other, self.missing = levels, other, missing
        self._index = {level: i for i, level in enumerate(levels)}
        self._width = len(levels) + int(other) + int(missing)
        self._other_pos = len(levels) if other else -1
        self._missing_pos = len(levels) + int(other) if missing else -1

    @property
    def names(self) -> list[str]:
        names = [f"{self.column}={level}" for level in self.levels]
        if self.other:
            names.append(f"{self.column}=__other__")
        if self.missing:
            names.append(f"{self.column}=__missing__")
        return names

    def batch(self, series: pl.Series) -> np.ndarray:
        s = v.category_column(series)
        pos = s.replace_strict(self._index, default=self._other_pos, return_dtype=pl.Int64)
        pos = pl.select(pl.when(s.is_null()).then(self._missing_pos).otherwise(pos)).to_series()
        positions = pos.to_numpy()
        out = np.zeros((len(s), self._width), dtype=np.float64)
        rows = np.nonzero(positions >= 0)[0]
        out[rows, positions[rows]] = 1.0
        return out

    def one(self, value: Any, out: list[float]) -> None:
        key = v.category(self.column, value)
        pos = self._missing_pos if key is None else self._index.get(key, self._other_pos)
        start = len(out)
        out.extend([0.0] * self._width)
        if pos >= 0:
            out[start + pos] = 1.0

    def params(self) -> dict[str, Any]:
        return {"levels": self.levels, "other": self.other, "missing": self.missing}


class TargetEncoded(Transform):
    """For linear models on high-cardinality categoricals: each level's smoothed mean target
    (one output per class for multiclass), standardised. Rare, unseen and missing levels get
    the prior. Training rows get out-of-fold encodings (see ``FeaturePlan.fit_transform``)."""

    kind = "target"

    def __init__(
        self,
        column: str,
        *,
        levels: list[str],
        table: list[list[float]],
        prior: list[float],
        mean: list[float],
        std: list[float],
    ):
        super().__init__(column)
        self.levels, self.table, self.prior = levels, table, prior
        self.mean, self.std = mean, std
        self._index = {level: i for i, level in enumerate(levels)}
        self._k = len(prior)
        self._scaled = [
            [(row[j] - mean[j]) / std[j] for j in range(self._k)] for row in [*table, prior]
        ]

    @staticmethod
    def encode(
        keys: pl.Series, targets: np.ndarray, levels: list[str], smoothing: float
    ) -> tuple[list[list[float]], list[float]]:
        """Smoothed per-level means of ``targets`` (n_rows, k) and the prior."""
        prior = targets.mean(axis=0)
        index = {level: i for i, level in enumerate(levels)}
        pos = keys.replace_strict(index, default=-1, return_dtype=pl.Int64).fill_null(-1).to_numpy()
        sums = np.zeros((len(levels), targets.shape[1]))
        counts = np.zeros(len(levels))
        known = pos >= 0
        np.add.at(sums, pos[known], targets[known])
        np.add.at(counts, pos[known], 1.0)
        table = (sums + smoothing * prior) / (counts[:, None] + smoothing)
        return table.tolist(), prior.tolist()

    @property
    def names(self) -> list[str]:
        if self._k == 1:
            return [f"{self.column}__target"]
        return [f"{self.column}__target{j}" for j in range(self._k)]

    def batch(self, series: pl.Series) -> np.ndarray:
        s = v.category_column(series)
        codes = s.replace_strict(self._index, default=len(self.levels), return_dtype=pl.Int64)
        positions = codes.fill_null(len(self.levels)).to_numpy()
        table: np.ndarray = np.asarray(self._scaled, dtype=np.float64)
        rows: np.ndarray = table[positions]
        return rows

    def one(self, value: Any, out: list[float]) -> None:
        key = v.category(self.column, value)
        pos = len(self.levels) if key is None else self._index.get(key, len(self.levels))
        out.extend(self._scaled[pos])

    def params(self) -> dict[str, Any]:
        return {
            "levels": self.levels,
            "table": self.table,
            "prior": self.prior,
            "mean": self.mean,
            "std": self.std,
        }


# -- datetime -------------------------------------------------------------------------------

DATE_PARTS = ("year", "month", "day", "weekday", "hour", "elapsed_days")
_US_PER_DAY = 86_400_000_000.0


class DateParts(Transform):
    """Calendar parts (year, month, day, ISO weekday, hour when times vary) and days elapsed
    since the earliest training timestamp. Optionally standardised for linear models."""

    kind = "dateparts"

    def __init__(
        self,
        column: str,
        *,
        parts: list[str],
        ref_us: int,
        scalers: list[dict[str, Any]] | None = None,
    ):
        super().__init__(column)
        self.parts, self.ref_us = parts, ref_us
        self.scalers = scalers
        self._scaled = (
            [Scaled(f"{column}__{p}", **s) for p, s in zip(parts, scalers, strict=True)]
            if scalers is not None
            else None
        )

    @property
    def names(self) -> list[str]:
        raw = [f"{self.column}__{p}" for p in self.parts]
        if self._scaled is None:
            return raw
        return [name for s in self._scaled for name in s.names]

    def raw_batch(self, series: pl.Series) -> np.ndarray:
        ts = v.timestamp_column(series)
        cols = []
        for part in self.parts:
            if part == "elapsed_days":
                # In NumPy, not Polars: Polars may divide by a constant as a multiplication
                # by its reciprocal, which is not the correctly rounded quotient Python gives.
                epoch = ts.dt.epoch("us")
                delta = (epoch.fill_null(self.ref_us).to_numpy() - self.ref_us).astype(np.float64)
                days = delta / _US_PER_DAY
                days[epoch.is_null().to_numpy()] = NAN
                cols.append(days)
            else:
                cols.append(getattr(ts.dt, part)().cast(pl.Float64).fill_null(NAN).to_numpy())
        return np.column_stack(cols).astype(np.float64, copy=False)

    def batch(self, series: pl.Series) -> np.ndarray:
        raw = self.raw_batch(series)
        if self._scaled is None:
            return np.ascontiguousarray(raw)
        return np.column_stack([s.batch_values(raw[:, i]) for i, s in enumerate(self._scaled)])

    def _raw_one(self, value: Any) -> list[float]:
        ts = v.timestamp(self.column, value)
        if ts is None:
            return [NAN] * len(self.parts)
        values = []
        for part in self.parts:
            if part == "elapsed_days":
                values.append(float(v.epoch_us(ts) - self.ref_us) / _US_PER_DAY)
            elif part == "weekday":
                values.append(float(ts.isoweekday()))
            else:
                values.append(float(getattr(ts, part)))
        return values

    def one(self, value: Any, out: list[float]) -> None:
        raw = self._raw_one(value)
        if self._scaled is None:
            out.extend(raw)
        else:
            for x, scaler in zip(raw, self._scaled, strict=True):
                scaler.one_value(x, out)

    def params(self) -> dict[str, Any]:
        return {"parts": self.parts, "ref_us": self.ref_us, "scalers": self.scalers}


# -- free text ------------------------------------------------------------------------------

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _bucket_counts(text: str | None, n_buckets: int) -> Counter[int]:
    if not text:
        return Counter()
    return Counter(
        zlib.crc32(tok.encode("utf-8")) % n_buckets for tok in _TOKEN.findall(text.lower())
    )


class HashedTfidf(Transform):
    """Hashed TF-IDF: lower-cased word tokens hashed (CRC-32) into buckets, weighted by the
    buckets' inverse document frequency in training, L2-normalised. Both paths run the same
    per-value Python code, so they agree exactly."""

    kind = "tfidf"

    def __init__(self, column: str, *, idf: list[float]):
        super().__init__(column)
        self.idf = idf
        self._n = len(idf)

    @classmethod
    def fit(cls, column: str, texts: Sequence[str | None], n_buckets: int) -> HashedTfidf:
        df = np.zeros(n_buckets)
        for text in texts:
            for bucket in _bucket_counts(text, n_buckets):
                df[bucket] += 1.0
        n_docs = len(texts)
        # Smoothed IDF, as scikit-learn's TfidfTransformer(smooth_idf=True) computes it.
        idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
        return cls(column, idf=[float(x) for x in idf])

    @property
    def names(self) -> list[str]:
        return [f"{self.column}__tfidf{i}" for i in range(self._n)]

    def _vector(self, text: str | None) -> list[float]:
        vec = [0.0] * self._n
        counts = _bucket_counts(text, self._n)
        norm_sq = 0.0
        for bucket in sorted(counts):
            weight = counts[bucket] * self.idf[bucket]
            vec[bucket] = weight
            norm_sq += weight * weight
        if norm_sq > 0.0:
            norm = math.sqrt(norm_sq)
            for bucket in counts:
                vec[bucket] = vec[bucket] / norm
        return vec

    def batch(self, series: pl.Series) -> np.ndarray:
        s = v.category_column(series)
        rows = [self._vector(text) for text in s.to_list()]
        if not rows:
            return np.zeros((0, self._n))
        return np.asarray(rows, dtype=np.float64)

    def one(self, value: Any, out: list[float]) -> None:
        out.extend(self._vector(v.category(self.column, value)))

    def params(self) -> dict[str, Any]:
        return {"idf": self.idf}


TRANSFORMS: dict[str, type[Transform]] = {
    t.kind: t for t in (Raw, Scaled, Codes, OneHot, TargetEncoded, DateParts, HashedTfidf)
}


def transform_from_dict(
    data: Mapping[str, Any], kinds: Mapping[str, type[Transform]] = TRANSFORMS
) -> Transform:
    """A transform from its ``to_dict``; ``kinds`` maps each kind to its class."""
    params = dict(data)
    kind = params.pop("kind")
    column = params.pop("column")
    return kinds[kind](column, **params)
