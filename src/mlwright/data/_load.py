"""Loading tables from CSV, Parquet, a SQL query, or an in-memory pandas/Polars frame."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlwright.errors import DataError, SpecError
from mlwright.spec import TaskSpec

# Markers read as missing in CSV files (pandas' defaults, less 'None' which is often a real
# category such as "None" for no internet service).
NULL_MARKERS = ["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "<NA>", "#N/A"]
_FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}

TableLike = Any  # pandas.DataFrame | polars.DataFrame | str | Path: kept loose for callers


def read_file(path: str | Path, file_format: str = "auto") -> pl.DataFrame:
    """Read a CSV or Parquet file into Polars, with errors that say what to do."""
    file = Path(path)
    if not file.exists():
        raise DataError(
            f"data file not found: {file}",
            field=str(file),
            hint=f"check the path (relative paths in a spec are relative to the spec's folder; "
            f"working directory: {Path.cwd()})",
        )
    if file.is_dir():
        raise DataError(
            f"data path {file} is a directory, not a file",
            field=str(file),
            hint="point data.path at one CSV or Parquet file inside it",
        )
    fmt = file_format if file_format != "auto" else _FORMATS.get(file.suffix.lower())
    if fmt is None:
        raise DataError(
            f"cannot tell the format of {file} from its extension '{file.suffix}'",
            field=str(file),
            hint="use a .csv or .parquet file, or set data.format = 'csv' or 'parquet'",
        )
    try:
        frame = pl.read_parquet(file) if fmt == "parquet" else _read_csv(file)
    except DataError:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = "check that the file is a well-formed " + (
            "CSV with a header row" if fmt == "csv" else "Parquet file"
        )
        if fmt == "csv" and "utf-8" in first.lower():
            hint = "save the file as UTF-8 text (spreadsheet exports are often Latin-1)"
        raise DataError(
            f"could not read {file} as {fmt.upper()}: {first}", field=str(file), hint=hint
        ) from exc
    return require_rows(frame, str(file))


def _read_csv(file: Path) -> pl.DataFrame:
    separator = "\t" if file.suffix.lower() == ".tsv" else ","
    options: dict[str, Any] = {
        "separator": separator,
        "null_values": NULL_MARKERS,
        "try_parse_dates": True,
        "infer_schema_length": 10_000,
    }
    if file.stat().st_size == 0:
        raise DataError(f"data file {file} is empty", field=str(file), hint="add a header and rows")
    try:
        return pl.read_csv(file, **options)
    except pl.exceptions.ComputeError:
        # A value late in the file did not fit the type guessed from the first rows.
        return pl.read_csv(file, **{**options, "infer_schema_length": None})


def read_sql(sql: str, url: str) -> pl.DataFrame:
    """Run a query through SQLAlchemy and return its rows."""
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc

    try:
        engine = sa.create_engine(url)
    except sa_exc.ArgumentError as exc:
        raise SpecError(
            f"data.url {url!r} is not a SQLAlchemy URL: {exc}",
            field="data.url",
            hint="write e.g. 'sqlite:///shop.db' or 'postgresql+psycopg://user:pass@host/db'",
        ) from exc
    except ModuleNotFoundError as exc:
        raise SpecError(
            f"the database driver for {url.split(':', 1)[0]!r} is not installed ({exc.name})",
            field="data.url",
            hint="for PostgreSQL: pip install 'mlwright[postgres]'",
        ) from exc
    try:
        try:
            conn = engine.connect()
        except sa_exc.SQLAlchemyError as exc:
            raise DataError(
                f"could not connect to the database at data.url "
                f"{engine.url.render_as_string(hide_password=True)!r}: {_first_line(exc)}",
                field="data.url",
                hint="check the host, port, database name, user and password in data.url, "
                "and that the server is running",
            ) from exc
        with conn:
            frame = pl.read_database(sa.text(sql), conn, infer_schema_length=None)
    except sa_exc.SQLAlchemyError as exc:
        raise DataError(
            f"the query in data.sql failed: {_first_line(exc)}",
            field="data.sql",
            hint="run the query in a SQL client against data.url and fix it there",
        ) from exc
    finally:
        engine.dispose()
    return require_rows(frame, "the query in data.sql")


def _first_line(exc: Exception) -> str:
    """The first line of the database's own message (SQLAlchemy appends its boilerplate)."""
    cause = getattr(exc, "orig", None) or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def require_rows(frame: pl.DataFrame, where: str) -> pl.DataFrame:
    if frame.width == 0 or frame.height == 0:
        raise DataError(
            f"{where} has no rows" if frame.width else f"{where} has no columns",
            field=where,
            hint="point the spec at a table with a header row and at least one data row",
        )
    return frame


def to_polars(data: TableLike, *, base_dir: Path | None = None) -> pl.DataFrame:
    """A Polars frame from a Polars or pandas frame, or a path to a CSV or Parquet file."""
    if isinstance(data, pl.DataFrame):
        return require_rows(data, "the table passed in")
    if isinstance(data, str | Path):
        path = Path(data)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return read_file(path)
    module = type(data).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            frame = data.reset_index(drop=True)
            frame.columns = [str(c) for c in frame.columns]
            repeated = sorted(set(frame.columns[frame.columns.duplicated()]))
            if repeated:
                raise DataError(
                    f"the pandas DataFrame has repeated column names: {', '.join(repeated)}",
                    field=repeated[0],
                    hint="rename or drop the repeated columns; every column needs its own name",
                )
            try:
                return require_rows(pl.from_pandas(frame), "the table passed in")
            except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
                raise DataError(
                    f"could not convert the pandas DataFrame: {exc}",
                    hint="give each column one type (numbers, strings, booleans or datetimes)",
                ) from exc
    raise DataError(
        f"cannot read data of type {type(data).__name__}",
        hint="pass a pandas or Polars DataFrame, or a path to a CSV or Parquet file",
    )


def load_training_data(spec: TaskSpec, data: TableLike | None = None) -> pl.DataFrame:
    """The training table: ``data`` when given, else the spec's file or query."""
    if data is not None:
        return to_polars(data, base_dir=spec.base_dir)
    if spec.data.sql:
        assert spec.data.url is not None  # rule_sql_needs_url
        return read_sql(spec.data.sql, spec.data.url)
    if spec.data.path:
        return read_file(spec.resolve_path(spec.data.path), spec.data.format)
    raise SpecError(
        "the spec names no data",
        field="data",
        hint="set data.path to a CSV or Parquet file, or data.sql with data.url",
    )


def fingerprint(frame: pl.DataFrame) -> str:
    """SHA-256 of a table's column names, types and values, independent of library versions."""
    digest = hashlib.sha256()
    for name in frame.columns:
        series = frame[name]
        digest.update(f"{name}\x1f{series.dtype}\x1e".encode())
        nulls = series.is_null().to_numpy()
        digest.update(np.packbits(nulls).tobytes())
        if series.dtype.is_numeric() or series.dtype == pl.Boolean:
            values = series.cast(pl.Float64).fill_null(0.0).to_numpy()
            digest.update(np.ascontiguousarray(values).tobytes())
        elif series.dtype.is_temporal():
            values = series.to_physical().cast(pl.Int64).fill_null(0).to_numpy()
            digest.update(np.ascontiguousarray(values).tobytes())
        else:
            # Lists, arrays and bytes have no cast to text; their Python values print stably.
            castable = not isinstance(series.dtype, pl.List | pl.Array | pl.Binary)
            items = series.cast(pl.String).to_list() if castable else series.to_list()
            text = "\x00".join("" if x is None else str(x) for x in items)
            digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()
