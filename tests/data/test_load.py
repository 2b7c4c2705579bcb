"""Loading tables: files, SQL (SQLite and a real PostgreSQL), in-memory frames, and bad input."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from mlwright.data import fingerprint, load_training_data, read_file, read_sql, to_polars
from mlwright.errors import DataError, MlwrightError, SpecError
from mlwright.spec import load_spec, spec_from_kwargs


@pytest.fixture
def table() -> pl.DataFrame:
    """Every type a CSV can carry, with a missing value in each column."""
    return pl.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "amount": [10.5, None, -3.25, 1e6],
            "plan": ["basic", "pro", None, "None"],  # 'None' is a category, not missing
            "vip": [True, False, None, True],
            "signup": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), None, dt.date(2025, 12, 31)],
            "seen": [
                dt.datetime(2024, 1, 1, 8, 30),
                None,
                dt.datetime(2024, 3, 1, 23, 59, 59),
                dt.datetime(2025, 1, 1),
            ],
            "churn": ["yes", "no", "no", "yes"],
        }
    )


def assert_helpful(error: MlwrightError, *names: str) -> None:
    """The error names what was wrong (each of ``names`` in its message) and what to do."""
    for name in names:
        assert name in error.message, f"{name!r} not in {error.message!r}"
    assert error.hint, f"no hint on {error!r}"
    assert error.hint in str(error)


# -- files --------------------------------------------------------------------------------------


def test_csv_round_trip(tmp_path: Path, table: pl.DataFrame) -> None:
    path = tmp_path / "table.csv"
    table.write_csv(path)

    assert_frame_equal(read_file(path), table)


def test_csv_reads_the_usual_missing_markers_but_keeps_none(tmp_path: Path) -> None:
    path = tmp_path / "markers.csv"
    path.write_text("x,s\n1,None\nNA,a\nN/A,b\nNULL,c\n#N/A,d\n,e\nnan,f\n")

    frame = read_file(path)

    assert frame["x"].to_list() == [1, None, None, None, None, None, None]
    assert frame["x"].dtype == pl.Int64
    assert frame["s"].to_list() == ["None", "a", "b", "c", "d", "e", "f"]


def test_csv_with_a_late_value_of_another_type_reads_the_whole_column(tmp_path: Path) -> None:
    # The type guessed from the first 10,000 rows (integer) does not fit the last row.
    path = tmp_path / "late.csv"
    path.write_text("code\n" + "".join(f"{i}\n" for i in range(10_050)) + "A-17\n")

    frame = read_file(path)

    assert frame.height == 10_051
    assert frame["code"].dtype == pl.String
    assert frame["code"][-1] == "A-17"


@pytest.mark.parametrize(
    ("name", "text"),
    [("table.tsv", "a\tb\n1\tx\n2\ty\n"), ("table.txt", "a,b\n1,x\n2,y\n")],
)
def test_tsv_and_txt_files_are_csv(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)

    assert_frame_equal(read_file(path), pl.DataFrame({"a": [1, 2], "b": ["x", "y"]}))


def test_explicit_format_overrides_the_extension(tmp_path: Path, table: pl.DataFrame) -> None:
    path = tmp_path / "export.dat"
    table.write_parquet(path)

    assert_frame_equal(read_file(path, "parquet"), table)


def test_parquet_round_trip(tmp_path: Path, table: pl.DataFrame) -> None:
    richer = table.with_columns(
        pl.col("id").cast(pl.Int32),
        pl.col("plan").cast(pl.Categorical).alias("plan_cat"),
        pl.col("seen").dt.replace_time_zone("UTC").alias("seen_utc"),
    )
    for name in ("table.parquet", "table.pq"):
        path = tmp_path / name
        richer.write_parquet(path)

        assert_frame_equal(read_file(path), richer)


# -- SQL ----------------------------------------------------------------------------------------


def test_read_sql_from_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER, spend REAL, plan TEXT, churn TEXT)")
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?)",
            [(1, 10.5, "basic", "no"), (2, None, "pro", "yes"), (3, 7.0, None, "no")],
        )
    conn.close()

    frame = read_sql("SELECT * FROM customers WHERE id >= 1 ORDER BY id", f"sqlite:///{db}")

    expected = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "spend": [10.5, None, 7.0],
            "plan": ["basic", "pro", None],
            "churn": ["no", "yes", "no"],
        }
    )
    assert_frame_equal(frame, expected)


@pytest.fixture
def pg_table(pg_url: str) -> Iterator[str]:
    """A uniquely named table on the server, dropped afterwards."""
    name = f"mlwright_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f"CREATE TABLE {name} (id integer, spend double precision, "
                    "amount numeric(10, 2), plan text, vip boolean, seen timestamp, "
                    "signup date, churn text)"
                )
            )
            conn.execute(
                sa.text(
                    f"INSERT INTO {name} VALUES "
                    "(1, 10.5, 3.25, 'basic', true, '2024-01-01 08:30', '2023-12-01', 'no'), "
                    "(2, NULL, NULL, NULL, NULL, NULL, NULL, 'yes'), "
                    "(3, 7.0, 100.00, 'pro', false, '2024-03-01 23:59:59', '2024-02-29', 'no')"
                )
            )
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        engine.dispose()


@pytest.mark.postgres
def test_read_sql_from_postgres(pg_url: str, pg_table: str) -> None:
    frame = read_sql(f"SELECT * FROM {pg_table} ORDER BY id", pg_url)

    assert frame.columns == ["id", "spend", "amount", "plan", "vip", "seen", "signup", "churn"]
    assert frame["id"].to_list() == [1, 2, 3]
    assert frame["spend"].to_list() == [10.5, None, 7.0]
    assert frame["amount"].cast(pl.Float64).to_list() == [3.25, None, 100.0]
    assert frame["plan"].to_list() == ["basic", None, "pro"]
    assert frame["vip"].to_list() == [True, None, False]
    assert frame["seen"].to_list() == [
        dt.datetime(2024, 1, 1, 8, 30),
        None,
        dt.datetime(2024, 3, 1, 23, 59, 59),
    ]
    assert frame["signup"].to_list() == [dt.date(2023, 12, 1), None, dt.date(2024, 2, 29)]
    assert frame["churn"].to_list() == ["no", "yes", "no"]


@pytest.mark.postgres
def test_failing_postgres_query_names_data_sql(pg_url: str, pg_table: str) -> None:
    with pytest.raises(DataError) as info:
        read_sql(f"SELECT no_such_column FROM {pg_table}", pg_url)

    assert info.value.field == "data.sql"
    assert_helpful(info.value, "data.sql", "no_such_column")


@pytest.mark.postgres
def test_postgres_login_failure_names_data_url_without_the_password(pg_url: str) -> None:
    wrong = sa.make_url(pg_url).set(password="not-the-password")

    with pytest.raises(DataError) as info:
        read_sql("SELECT 1", wrong.render_as_string(hide_password=False))

    assert info.value.field == "data.url"
    assert_helpful(info.value, "data.url", "could not connect")
    assert "not-the-password" not in str(info.value)


@pytest.mark.postgres
def test_postgres_query_without_rows_is_refused(pg_url: str, pg_table: str) -> None:
    with pytest.raises(DataError) as info:
        read_sql(f"SELECT * FROM {pg_table} WHERE id > 100", pg_url)

    assert_helpful(info.value, "data.sql", "no rows")


# -- in-memory frames and specs -----------------------------------------------------------------


def test_polars_frame_passes_through(table: pl.DataFrame) -> None:
    assert to_polars(table) is table


def test_pandas_frame_is_converted(table: pl.DataFrame) -> None:
    # Arrow-backed pandas columns keep every type, dates included.
    frame = table.to_pandas(use_pyarrow_extension_array=True)
    frame.index = pd.Index([10, 20, 30, 40], name="row")  # dropped, not turned into a column

    assert_frame_equal(to_polars(frame), table)


def test_numpy_backed_pandas_frame_is_converted() -> None:
    frame = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "x": [0.5, np.nan, 2.0],
            "s": ["a", None, "c"],
            "b": [True, False, True],
            "t": pd.to_datetime(["2024-01-01 00:00", None, "2024-03-01 12:00"]),
            "c": pd.Categorical(["u", "v", "u"]),
        },
        index=[7, 8, 9],
    )

    result = to_polars(frame)

    assert result.schema["n"] == pl.Int64
    assert result["x"].to_list()[0] == 0.5
    assert result["x"].is_null().to_list() == [False, True, False]  # NaN means missing
    assert result["s"].to_list() == ["a", None, "c"]
    assert result["b"].to_list() == [True, False, True]
    assert result["t"].to_list() == [dt.datetime(2024, 1, 1), None, dt.datetime(2024, 3, 1, 12)]
    assert result["c"].cast(pl.String).to_list() == ["u", "v", "u"]


def test_pandas_column_names_become_strings() -> None:
    frame = pd.DataFrame({0: [1.0, 2.0], 1: ["a", "b"]})

    assert to_polars(frame).columns == ["0", "1"]


def test_path_given_as_data_is_relative_to_base_dir(tmp_path: Path, table: pl.DataFrame) -> None:
    (tmp_path / "sub").mkdir()
    table.write_parquet(tmp_path / "sub" / "t.parquet")

    assert_frame_equal(to_polars("sub/t.parquet", base_dir=tmp_path), table)
    assert_frame_equal(to_polars(tmp_path / "sub" / "t.parquet"), table)


def test_load_training_data_resolves_path_against_the_spec_folder(
    workdir: Path, table: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = workdir / "project"
    (project / "data").mkdir(parents=True)
    table.write_csv(project / "data" / "train.csv")
    (project / "spec.toml").write_text(
        '[data]\npath = "data/train.csv"\n\n[task]\ntarget = "churn"\n'
    )
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory must not matter

    spec = load_spec(project / "spec.toml")

    assert_frame_equal(load_training_data(spec), table)


def test_load_training_data_from_kwargs_spec_with_base_dir(
    tmp_path: Path, table: pl.DataFrame
) -> None:
    table.write_parquet(tmp_path / "train.parquet")
    spec = spec_from_kwargs({"target": "churn", "path": "train.parquet"}, base_dir=tmp_path)

    assert_frame_equal(load_training_data(spec), table)


def test_load_training_data_prefers_the_table_passed_in(
    tmp_path: Path, table: pl.DataFrame
) -> None:
    spec = spec_from_kwargs({"target": "churn", "path": "missing.csv"}, base_dir=tmp_path)

    given = table.to_pandas(use_pyarrow_extension_array=True)

    assert_frame_equal(load_training_data(spec, given), table)


def test_load_training_data_runs_the_spec_query(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x REAL, churn TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1.0, "no"), (2.0, "yes")])
    conn.close()
    spec = spec_from_kwargs(
        {"target": "churn", "sql": "SELECT x, churn FROM t ORDER BY x", "url": f"sqlite:///{db}"}
    )

    assert_frame_equal(
        load_training_data(spec), pl.DataFrame({"x": [1.0, 2.0], "churn": ["no", "yes"]})
    )


def test_load_training_data_missing_file_names_the_resolved_path(tmp_path: Path) -> None:
    spec = spec_from_kwargs({"target": "churn", "path": "data/nope.csv"}, base_dir=tmp_path)

    with pytest.raises(DataError) as info:
        load_training_data(spec)

    expected = tmp_path / "data" / "nope.csv"
    assert info.value.field == str(expected)
    assert_helpful(info.value, str(expected))
    assert "relative to the spec's folder" in (info.value.hint or "")


def test_spec_without_data_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as info:
        load_training_data(spec_from_kwargs({"target": "churn"}))

    assert info.value.field == "data"
    assert_helpful(info.value, "names no data")


def test_fingerprint_follows_content_not_identity(table: pl.DataFrame) -> None:
    same = pl.DataFrame(table.to_dict(as_series=False), schema=table.schema)
    changed = table.with_columns(pl.col("amount").fill_null(0.0))
    reordered = table.select(reversed(table.columns))
    renamed = table.rename({"plan": "tier"})

    assert fingerprint(same) == fingerprint(table)
    assert len({fingerprint(f) for f in (table, changed, reordered, renamed)}) == 4


@pytest.mark.parametrize(
    "column",
    [
        pl.Series("c", [[1, 2], None, [3]]),
        pl.Series("c", [[1, 2], [3, 4], None], dtype=pl.Array(pl.Int64, 2)),
        pl.Series("c", [b"\xff\x00", b"ok", None]),
        pl.Series("c", [{"a": 1}, {"a": 2}, None]),
        pl.Series("c", [dt.timedelta(seconds=1), None, dt.timedelta(days=2)]),
    ],
    ids=lambda s: str(s.dtype),
)
def test_fingerprint_of_columns_that_are_not_features(column: pl.Series) -> None:
    # Such columns pass the checks (as 'unsupported; not used'), so the training data's
    # fingerprint must still be computable.
    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0]}).with_columns(column)
    changed = frame.with_columns(pl.col("c").reverse())

    assert fingerprint(frame) == fingerprint(frame.clone())
    assert fingerprint(frame) != fingerprint(changed)


# -- bad input ----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"

    with pytest.raises(DataError) as info:
        read_file(path)

    assert info.value.field == str(path)
    assert_helpful(info.value, str(path), "not found")


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        read_file(tmp_path)

    assert info.value.field == str(tmp_path)
    assert_helpful(info.value, str(tmp_path), "directory")


@pytest.mark.parametrize(
    ("content", "says", "fix"),
    [
        pytest.param(
            b"a,b\n1,2\n3,4,5,6\n7,8\n", "more fields", "well-formed CSV", id="ragged-rows"
        ),
        pytest.param(
            b'a,b\n"1,2\n3,4\n', "could not parse", "well-formed CSV", id="unterminated-quote"
        ),
        pytest.param(
            np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
            "utf-8",
            "UTF-8",
            id="binary-garbage",
        ),
    ],
)
def test_unparseable_csv(tmp_path: Path, content: bytes, says: str, fix: str) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(content)

    with pytest.raises(DataError) as info:
        read_file(path)

    assert info.value.field == str(path)
    assert_helpful(info.value, str(path), "as CSV", says)
    assert fix in (info.value.hint or "")


def test_csv_in_another_encoding_asks_for_utf8(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes("name,city\nJos\u00e9,M\u00fcnchen\n".encode("latin-1"))

    with pytest.raises(DataError) as info:
        read_file(path)

    assert_helpful(info.value, str(path), "utf-8")
    assert "UTF-8" in (info.value.hint or "")


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"a,b\n1,2\n")

    with pytest.raises(DataError) as info:
        read_file(path)

    assert info.value.field == str(path)
    assert_helpful(info.value, str(path), "as PARQUET")


@pytest.mark.parametrize("content", [b"", b"\n\n\n"], ids=["zero-bytes", "blank-lines"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)

    with pytest.raises(DataError) as info:
        read_file(path)

    assert info.value.field == str(path)
    assert_helpful(info.value, str(path), "empty")


def test_header_only_csv(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("id,amount,churn\n")

    with pytest.raises(DataError) as info:
        read_file(path)

    assert info.value.field == str(path)
    assert_helpful(info.value, str(path), "no rows")


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    path.write_text('[{"a": 1}]')

    with pytest.raises(DataError) as info:
        read_file(path)

    assert info.value.field == str(path)
    assert_helpful(info.value, str(path), "'.json'")
    assert "data.format" in (info.value.hint or "")


def test_failing_sql_query(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    sqlite3.connect(db).close()

    with pytest.raises(DataError) as info:
        read_sql("SELECT * FROM no_such_table", f"sqlite:///{db}")

    assert info.value.field == "data.sql"
    assert_helpful(info.value, "data.sql", "no_such_table")


def test_sql_query_without_rows(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    conn.close()

    with pytest.raises(DataError) as info:
        read_sql("SELECT x FROM t", f"sqlite:///{db}")

    assert info.value.field == "the query in data.sql"
    assert_helpful(info.value, "data.sql", "no rows")


def test_unreachable_database_names_data_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no_such_dir' / 'shop.db'}"

    with pytest.raises(DataError) as info:
        read_sql("SELECT 1", url)

    assert info.value.field == "data.url"
    assert_helpful(info.value, "data.url", "could not connect", "no_such_dir")


@pytest.mark.parametrize(
    "url",
    ["not a url", "sqlite//missing-colon.db", "postgresql+nosuchdriver://u:p@localhost/db"],
)
def test_malformed_sqlalchemy_url(url: str) -> None:
    with pytest.raises(SpecError) as info:
        read_sql("SELECT 1", url)

    assert info.value.field == "data.url"
    assert_helpful(info.value, "data.url", repr(url))
    assert "sqlite:///" in (info.value.hint or "")


def test_empty_frames_are_refused() -> None:
    for frame in (pl.DataFrame({"a": []}), pd.DataFrame({"a": []})):
        with pytest.raises(DataError) as info:
            to_polars(frame)
        assert_helpful(info.value, "no rows")
    with pytest.raises(DataError) as info:
        to_polars(pl.DataFrame())
    assert_helpful(info.value, "no columns")


def test_pandas_frame_with_repeated_column_names() -> None:
    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])

    with pytest.raises(DataError) as info:
        to_polars(frame)

    assert info.value.field == "a"
    assert_helpful(info.value, "repeated column names: a")


def test_pandas_column_of_mixed_types() -> None:
    with pytest.raises(DataError) as info:
        to_polars(pd.DataFrame({"a": [1, "x", 2.5]}))

    assert_helpful(info.value, "pandas DataFrame")


def test_unknown_data_type() -> None:
    with pytest.raises(DataError) as info:
        to_polars([{"a": 1}])

    assert_helpful(info.value, "type list")
