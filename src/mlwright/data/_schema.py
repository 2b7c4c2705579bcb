"""Schema inference: what each column is, and which columns become features."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import polars as pl

from mlwright.spec import TaskSpec

ColumnKind = Literal[
    "numeric", "categorical", "boolean", "datetime", "text", "identifier", "constant", "unsupported"
]
FEATURE_KINDS = ("numeric", "categorical", "boolean", "datetime", "text")
Role = Literal["feature", "target", "id", "group", "time", "ignored", "excluded"]

_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
# A string column is an identifier when almost every value is distinct ...
_ID_UNIQUE_RATIO = 0.95
# ... and text when its values are also long or many-worded.
_TEXT_MIN_WORDS = 3.0
_TEXT_MIN_CHARS = 25.0
_MIN_ROWS_FOR_ID = 30


@dataclass(frozen=True)
class ColumnInfo:
    """One column as inferred from the data."""

    name: str
    kind: ColumnKind
    dtype: str
    role: Role
    missing: int
    missing_rate: float
    n_unique: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Schema:
    """All columns, in data order, with their kinds and roles."""

    columns: list[ColumnInfo]
    n_rows: int
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> ColumnInfo:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def features(self) -> list[ColumnInfo]:
        return [c for c in self.columns if c.role == "feature"]

    def to_dict(self) -> dict[str, Any]:
        return {"n_rows": self.n_rows, "columns": [c.to_dict() for c in self.columns]}


def dtype_family(dtype: pl.DataType) -> str:
    """A coarse type name that survives the round trip through CSV and JSON."""
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float() or dtype.is_decimal():
        return "float"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype in (pl.String, pl.Categorical, pl.Enum):
        return "string"
    if dtype == pl.Null:
        return "null"
    return str(dtype)


def infer_kind(series: pl.Series) -> tuple[ColumnKind, str]:
    """The kind of one column, with the reason in words."""
    values = series.drop_nulls()
    if series.dtype.is_float():
        values = values.filter(values.is_not_nan())
    n = len(values)
    n_unique = values.n_unique() if n else 0
    dtype = series.dtype
    if n_unique <= 1:
        return "constant", "all values missing" if n == 0 else f"one distinct value ({values[0]!r})"
    if dtype == pl.Boolean:
        return "boolean", "boolean values"
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return "datetime", f"{dtype} values"
    if dtype.is_integer():
        if n >= _MIN_ROWS_FOR_ID and n_unique == n:
            lo, hi = values.min(), values.max()
            if isinstance(lo, int) and isinstance(hi, int) and hi - lo + 1 == n:
                return "identifier", "consecutive integers, one per row"
        return "numeric", "integer values"
    if dtype.is_numeric():
        return "numeric", "numeric values"
    if dtype in (pl.String, pl.Categorical, pl.Enum):
        text = values.cast(pl.String)
        sample = text.head(2_000)
        if bool(sample.str.contains(_ISO_DATE.pattern).all()):
            return "datetime", "ISO 8601 date strings"
        ratio = n_unique / n
        words = float(sample.str.split(" ").list.len().mean() or 0.0)  # type: ignore[arg-type]
        chars = float(sample.str.len_chars().mean() or 0.0)  # type: ignore[arg-type]
        if ratio >= 0.5 and (words >= _TEXT_MIN_WORDS or chars >= _TEXT_MIN_CHARS) and words >= 2:
            return "text", f"free text ({words:.1f} words, {chars:.0f} characters on average)"
        if n >= _MIN_ROWS_FOR_ID and ratio >= _ID_UNIQUE_RATIO:
            return "identifier", f"{ratio:.0%} of values distinct"
        return "categorical", f"{n_unique} distinct text values"
    return "unsupported", f"type {dtype} is not supported as a feature"


def infer_schema(frame: pl.DataFrame, spec: TaskSpec) -> Schema:
    """Kinds and roles of every column of ``frame`` under ``spec``."""
    roles: dict[str, Role] = {spec.task.target: "target"}
    if spec.task.id:
        roles[spec.task.id] = "id"
    if spec.task.group:
        roles[spec.task.group] = "group"
    if spec.task.time:
        roles[spec.task.time] = "time"
    for name in spec.task.ignore:
        roles[name] = "ignored"
    columns = []
    n_rows = frame.height
    for name in frame.columns:
        series = frame[name]
        kind, reason = infer_kind(series)
        missing = series.null_count()
        if series.dtype.is_float():
            missing += int(series.is_nan().sum())
        role: Role = roles.get(name, "feature")
        if role == "feature" and kind not in FEATURE_KINDS:
            role = "excluded"
        columns.append(
            ColumnInfo(
                name=name,
                kind=kind,
                dtype=dtype_family(series.dtype),
                role=role,
                missing=missing,
                missing_rate=missing / n_rows if n_rows else 0.0,
                n_unique=series.drop_nulls().n_unique(),
                reason=reason,
            )
        )
    return Schema(columns=columns, n_rows=n_rows)
