"""Reading one value of a record, as the single-record path does, and one column, as the batch
path does. Both paths normalise to the same Python/NumPy values so that the transforms that
follow can agree bit for bit."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import polars as pl

from mlwright.errors import InputError, SchemaMismatchError

_EPOCH = dt.datetime(1970, 1, 1)
_US = dt.timedelta(microseconds=1)
NAN = float("nan")


def _type_name(value: object) -> str:
    return type(value).__name__


# -- single values ------------------------------------------------------------------------


def number(column: str, value: Any) -> float:
    """A numeric field: int or float (NaN and None are missing)."""
    if value is None:
        return NAN
    if isinstance(value, float):
        return value
    if isinstance(value, bool | np.bool_):
        raise InputError(
            f"field '{column}' expects a number, got a boolean ({value!r})",
            field=column,
            hint="send a number, or null for a missing value",
        )
    if isinstance(value, int | np.integer | np.floating):
        return float(value)
    raise InputError(
        f"field '{column}' expects a number, got {_type_name(value)} {value!r}",
        field=column,
        hint="send a JSON number, or null for a missing value",
    )


def category(column: str, value: Any) -> str | None:
    """A categorical or text field: a string (None and NaN are missing)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    raise InputError(
        f"field '{column}' expects a string, got {_type_name(value)} {value!r}",
        field=column,
        hint="send the category as a JSON string, or null for a missing value",
    )


def boolean(column: str, value: Any) -> float:
    """A boolean field as 1.0 / 0.0 (None and NaN are missing)."""
    if value is None:
        return NAN
    if isinstance(value, bool | np.bool_):
        return 1.0 if value else 0.0
    if isinstance(value, float) and math.isnan(value):
        return NAN
    raise InputError(
        f"field '{column}' expects true or false, got {_type_name(value)} {value!r}",
        field=column,
        hint="send a JSON boolean, or null for a missing value",
    )


def parse_datetime_text(column: str, text: str) -> dt.datetime:
    try:
        parsed: dt.datetime = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"field '{column}' expects an ISO 8601 date or timestamp, got {text!r}",
            field=column,
            hint="send e.g. '2024-03-01' or '2024-03-01T12:30:00'",
        ) from None
    return parsed


def timestamp(column: str, value: Any) -> dt.datetime | None:
    """A datetime field as a naive UTC datetime (date, datetime or ISO 8601 text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime_text(column, value)
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value
        if moment.tzinfo is not None:
            try:
                moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
            except OverflowError:  # '0001-01-01T00:00+01:00' is before year 1 in UTC
                raise InputError(
                    f"field '{column}' is out of range in UTC: {moment.isoformat()}",
                    field=column,
                    hint="send a timestamp between years 1 and 9999 in UTC",
                ) from None
        return moment
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, float) and math.isnan(value):
        return None
    raise InputError(
        f"field '{column}' expects a date or timestamp, got {_type_name(value)} {value!r}",
        field=column,
        hint="send an ISO 8601 string such as '2024-03-01T12:30:00', or null",
    )


def epoch_us(value: dt.datetime) -> int:
    return (value - _EPOCH) // _US


# -- whole columns ------------------------------------------------------------------------


def _mismatch(series: pl.Series, expected: str) -> SchemaMismatchError:
    return SchemaMismatchError(
        f"column '{series.name}' has type {series.dtype}, but the model was trained on "
        f"{expected} values in it",
        field=series.name,
        hint=f"convert '{series.name}' back to {expected} values before scoring",
    )


def _all_missing(series: pl.Series) -> bool:
    """A column with no values at all carries no type (a CSV reader calls it text)."""
    return series.null_count() == len(series)


def number_column(series: pl.Series) -> np.ndarray:
    if _all_missing(series):
        return np.full(len(series), NAN)
    if not (series.dtype.is_numeric() or series.dtype == pl.Null):
        raise _mismatch(series, "numeric")
    if series.dtype == pl.Boolean:
        raise _mismatch(series, "numeric")
    values = series.cast(pl.Float64).fill_null(NAN).to_numpy()
    return np.ascontiguousarray(values, dtype=np.float64)


def category_column(series: pl.Series) -> pl.Series:
    """A column of strings (nulls for missing)."""
    if _all_missing(series):
        return pl.Series(series.name, [None] * len(series), dtype=pl.String)
    if series.dtype in (pl.String, pl.Categorical, pl.Enum, pl.Null):
        return series.cast(pl.String)
    raise _mismatch(series, "text (categorical)")


def boolean_column(series: pl.Series) -> np.ndarray:
    if _all_missing(series):
        return np.full(len(series), NAN)
    if series.dtype not in (pl.Boolean, pl.Null):
        raise _mismatch(series, "boolean")
    return np.ascontiguousarray(series.cast(pl.Float64).fill_null(NAN).to_numpy(), dtype=np.float64)


def timestamp_column(series: pl.Series) -> pl.Series:
    """A Datetime('us') column of naive UTC instants (nulls for missing)."""
    dtype = series.dtype
    if _all_missing(series):
        return pl.Series(series.name, [None] * len(series), dtype=pl.Datetime("us"))
    if dtype == pl.Date:
        return series.cast(pl.Datetime("us"))
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return series.cast(pl.Datetime("us"))
    if dtype == pl.String:
        # The same parser as the single-record path, so both agree on every string.
        name = series.name
        parsed = [timestamp(name, v) for v in series.to_list()]
        return pl.Series(name, parsed, dtype=pl.Datetime("us"))
    raise _mismatch(series, "date/timestamp")
