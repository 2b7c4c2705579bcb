"""The interaction log as codes: users and items numbered 0..n-1, times as epoch seconds.

Every check that can fail on a user's log runs here, before any model sees it: a missing
user or item, a time that does not parse, a weight that is not a number. Each failure names
the column, how many rows, and an example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from mlwright.errors import DataCheckError, DataError

_MS_EPOCH = 1e11  # epoch numbers above this are milliseconds (1e11 s is the year 5138)


@dataclass(frozen=True)
class Interactions:
    """One row per interaction: ``users[i]`` met ``items[i]`` at ``times[i]``.

    ``user_ids`` and ``item_ids`` map codes back to the ids the data uses. Rows are sorted
    by (user, time, item), so one user's rows are contiguous and in time order.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray  # int32 code per row
    items: np.ndarray  # int32 code per row
    times: np.ndarray  # float64 epoch seconds per row
    weights: np.ndarray  # float32 per row; 1 without a weight column

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.users)

    def matrix(self, rows: np.ndarray | None = None) -> sp.csr_matrix:
        """Users x items, 1 where the user met the item (repeats count once)."""
        users, items = (
            (self.users, self.items)
            if rows is None
            else (
                self.users[rows],
                self.items[rows],
            )
        )
        data = np.ones(len(users), dtype=np.float32)
        m = sp.csr_matrix((data, (users, items)), shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def ordered_matrix(self) -> sp.csr_matrix:
        """Users x items; an entry is the item's place (1, 2, ...) in the order the user
        first met their items, so a row read by its values is the history in time order."""
        key = self.users.astype(np.int64) * self.n_items + self.items
        _, first = np.unique(key, return_index=True)  # each pair's first (earliest) row
        first = np.sort(first)
        users, items = self.users[first], self.items[first]
        starts = np.searchsorted(users, np.arange(self.n_users))
        place = np.arange(len(first)) - starts[users] + 1
        return sp.csr_matrix(
            (place.astype(np.float32), (users, items)), shape=(self.n_users, self.n_items)
        )

    def user_rows(self) -> np.ndarray:
        """Row offsets: user u's rows are ``offsets[u]:offsets[u + 1]`` (rows are sorted)."""
        return np.searchsorted(self.users, np.arange(self.n_users + 1)).astype(np.int64)

    def subset(self, rows: np.ndarray) -> Interactions:
        """The same codes, fewer rows (``rows`` a boolean mask or sorted row indices)."""
        return Interactions(
            self.user_ids,
            self.item_ids,
            self.users[rows],
            self.items[rows],
            self.times[rows],
            self.weights[rows],
        )


def epoch_seconds(column: pl.Series, name: str) -> np.ndarray:
    """A time column as float64 epoch seconds: numbers (seconds, or milliseconds when
    they are that large), dates, datetimes, or ISO-8601 text. A value that does not parse
    fails with the column, the count and an example."""
    dtype = column.dtype
    if dtype.is_numeric():
        values = column.cast(pl.Float64).to_numpy()
        finite = values[np.isfinite(values)]
        if len(finite) and np.nanmedian(np.abs(finite)) > _MS_EPOCH:
            values = values / 1000.0
        return values
    if dtype == pl.Date:
        column = column.cast(pl.Datetime("us"))
    elif dtype == pl.String:
        try:
            parsed = column.str.to_datetime(strict=False, time_unit="us")
        except pl.exceptions.PolarsError:  # no format fits even the first values
            parsed = pl.Series(name, [None] * len(column), dtype=pl.Datetime("us"))
        bad = parsed.is_null() & column.is_not_null()
        if bad.any():
            example = column.filter(bad)[0]
            raise DataError(
                f"time column '{name}': {int(bad.sum())} value(s) do not parse as a date or "
                f"time, e.g. {example!r}",
                field=name,
                hint="write times as ISO 8601 ('2026-11-27 10:30:00') or as epoch seconds",
            )
        column = parsed
    if not isinstance(column.dtype, pl.Datetime):
        raise DataError(
            f"time column '{name}' has type {dtype}; expected numbers, dates or datetimes",
            field=name,
            hint="write times as ISO 8601 text or as epoch seconds",
        )
    if column.dtype.time_zone is not None:
        column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    micros = column.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64).to_numpy()
    return micros / 1e6


def _require_column(frame: pl.DataFrame, name: str, role: str) -> pl.Series:
    if name not in frame.columns:
        raise DataError(
            f"{role} column '{name}' not found; columns are: {', '.join(frame.columns)}",
            field=name,
            hint=f"set the {role} column to one of the columns above",
        )
    return frame[name]


def _missing(series: pl.Series, name: str, role: str) -> None:
    nulls = int(series.null_count())
    if nulls:
        first = int(series.is_null().arg_true()[0])
        raise DataCheckError(
            f"{role} column '{name}': {nulls} interaction(s) have no {role} (first at row {first})",
            field=name,
            hint=f"drop those rows or fill in the {role}; an interaction needs both a user "
            "and an item",
        )


def interactions_from_frame(
    frame: pl.DataFrame,
    *,
    user: str,
    item: str,
    time: str | None = None,
    weight: str | None = None,
) -> Interactions:
    """Code an interaction table. Without a time column, row order is time order."""
    users = _require_column(frame, user, "user")
    items = _require_column(frame, item, "item")
    _missing(users, user, "user")
    _missing(items, item, "item")
    if time is not None:
        times = epoch_seconds(_require_column(frame, time, "time"), time)
        bad = ~np.isfinite(times)
        if bad.any():
            raise DataCheckError(
                f"time column '{time}': {int(bad.sum())} interaction(s) have no time (first "
                f"at row {int(np.argmax(bad))})",
                field=time,
                hint="drop those rows or give them a time; the split orders each user's "
                "interactions by time",
            )
    else:
        times = np.arange(frame.height, dtype=np.float64)
    if weight is not None:
        column = _require_column(frame, weight, "weight")
        if not column.dtype.is_numeric():
            raise DataError(
                f"weight column '{weight}' has type {column.dtype}; expected numbers",
                field=weight,
                hint="give a numeric weight (a rating, a count) or leave weight unset",
            )
        weights = column.cast(pl.Float32).fill_null(1.0).to_numpy()
    else:
        weights = np.ones(frame.height, dtype=np.float32)
    if frame.height == 0:
        raise DataError("the interaction table has no rows", hint="check the data source")
    user_ids, user_codes = _codes(users)
    item_ids, item_codes = _codes(items)
    order = np.lexsort((item_codes, times, user_codes))
    return Interactions(
        user_ids,
        item_ids,
        user_codes[order].astype(np.int32),
        item_codes[order].astype(np.int32),
        times[order].astype(np.float64),
        np.asarray(weights, dtype=np.float32)[order],
    )


def _codes(series: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ids and each row's code. Integer ids stay integers; anything else
    becomes text, so ids from JSON and from the table compare equal."""
    if series.dtype.is_integer():
        values = series.cast(pl.Int64).to_numpy()
    else:
        values = series.cast(pl.String).to_numpy().astype(object)
    ids, codes = np.unique(values, return_inverse=True)
    return ids, codes


def id_index(ids: Sequence[Any] | np.ndarray) -> dict[Any, int]:
    """id -> code, with integer ids also reachable by their text (a query string's '42')."""
    index: dict[Any, int] = {}
    for code, value in enumerate(ids):
        key = value.item() if isinstance(value, np.generic) else value
        index[key] = code
        if isinstance(key, int):
            index[str(key)] = code
    return index
