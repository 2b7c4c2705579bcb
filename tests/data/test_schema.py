"""Schema inference: the kind of each column, and its role under the spec."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import polars as pl
import pytest

from mlwright.data import Schema, dtype_family, infer_kind, infer_schema
from mlwright.data._schema import FEATURE_KINDS
from mlwright.spec import spec_from_kwargs

N = 60
rng = np.random.default_rng(7)
START = dt.datetime(2024, 1, 1)

COLUMNS: dict[str, tuple[pl.Series, str, str]] = {
    # name: (values, kind, words in the reason)
    "amount": (pl.Series(rng.normal(size=N)), "numeric", "numeric"),
    "visits": (pl.Series(rng.integers(0, 5, N)), "numeric", "integer"),
    "price": (
        pl.Series([decimal.Decimal(i % 7) / 4 for i in range(N)]),
        "numeric",
        "numeric",
    ),
    # Distinct integers that are not consecutive are measurements, not row numbers.
    "big_ids": (pl.Series(rng.permutation(N) * 7 + 1000), "numeric", "integer"),
    "plan": (pl.Series(rng.choice(["basic", "plus", "pro"], N)), "categorical", "3 distinct"),
    "tier": (
        pl.Series(rng.choice(["gold", "silver"], N)).cast(pl.Categorical),
        "categorical",
        "2 distinct",
    ),
    "vip": (pl.Series([i % 3 == 0 for i in range(N)]), "boolean", "boolean"),
    "signup": (
        pl.Series([START.date() + dt.timedelta(days=3 * i) for i in range(N)]),
        "datetime",
        "Date",
    ),
    "seen": (
        pl.Series([START + dt.timedelta(minutes=17 * i) for i in range(N)]),
        "datetime",
        "Datetime",
    ),
    "seen_text": (
        pl.Series([f"2024-0{1 + i % 9}-{1 + i % 28:02d}T10:{i % 60:02d}:00Z" for i in range(N)]),
        "datetime",
        "ISO 8601",
    ),
    "review": (
        pl.Series([f"delivery was late again, order {i} arrived broken" for i in range(N)]),
        "text",
        "free text",
    ),
    "customer_code": (pl.Series([f"C{i:06d}" for i in range(N)]), "identifier", "100%"),
    "row_number": (
        pl.Series(rng.permutation(np.arange(500, 500 + N))),
        "identifier",
        "consecutive",
    ),
    "country": (pl.Series(["NL"] * N), "constant", "'NL'"),
    "empty": (pl.Series([None] * N, dtype=pl.Float64), "constant", "all values missing"),
    "all_nan": (pl.Series([float("nan")] * N), "constant", "all values missing"),
    "null_typed": (pl.Series([None] * N), "constant", "all values missing"),
    "tags": (pl.Series([[i, i + 1] for i in range(N)]), "unsupported", "List"),
    "wait": (pl.Series([dt.timedelta(minutes=i) for i in range(N)]), "unsupported", "Duration"),
    "payload": (pl.Series([bytes([i]) for i in range(N)]), "unsupported", "Binary"),
}


@pytest.mark.parametrize("name", list(COLUMNS))
def test_infer_kind(name: str) -> None:
    values, kind, reason = COLUMNS[name]

    inferred, why = infer_kind(values.alias(name))

    assert inferred == kind
    assert reason in why


def test_every_kind_is_covered() -> None:
    kinds = {kind for _, kind, _ in COLUMNS.values()}
    assert kinds == {*FEATURE_KINDS, "identifier", "constant", "unsupported"}


def test_missing_values_do_not_decide_the_kind() -> None:
    mostly_missing = pl.Series([1.5, None, float("nan"), None, 1.5])
    one_value_and_gaps = pl.Series(["a", None, "a", None])

    assert infer_kind(mostly_missing)[0] == "constant"
    assert infer_kind(one_value_and_gaps)[0] == "constant"
    assert infer_kind(pl.Series([True, None, True]))[0] == "constant"


def test_few_rows_are_never_identifiers() -> None:
    few = 29  # an identifier needs at least 30 rows of evidence

    assert infer_kind(pl.Series(np.arange(few)))[0] == "numeric"
    assert infer_kind(pl.Series([f"C{i}" for i in range(few)]))[0] == "categorical"
    assert infer_kind(pl.Series(np.arange(few + 1)))[0] == "identifier"


def test_short_distinct_strings_are_identifiers_not_text() -> None:
    words = pl.Series([f"user {i}" for i in range(N)])  # two short words

    assert infer_kind(words)[0] == "identifier"


def test_repeated_long_strings_are_categories_not_text() -> None:
    # Long values, but only a few distinct ones: a category with verbose labels.
    labels = ["month to month contract", "one year contract", "two year contract"]
    series = pl.Series([labels[i % 3] for i in range(N)])

    assert infer_kind(series) == ("categorical", "3 distinct text values")


def test_dates_need_every_value_to_be_iso() -> None:
    values = [f"2024-01-{1 + i % 28:02d}" for i in range(N - 1)] + ["yesterday"]

    assert infer_kind(pl.Series(values))[0] != "datetime"


@pytest.mark.parametrize(
    ("dtype", "family"),
    [
        (pl.Boolean, "boolean"),
        (pl.Int8, "integer"),
        (pl.UInt64, "integer"),
        (pl.Float32, "float"),
        (pl.Decimal(10, 2), "float"),
        (pl.Date, "date"),
        (pl.Datetime("ms", "UTC"), "datetime"),
        (pl.String, "string"),
        (pl.Categorical, "string"),
        (pl.Null, "null"),
    ],
)
def test_dtype_family(dtype: pl.DataType, family: str) -> None:
    assert dtype_family(dtype) == family


@pytest.fixture
def frame() -> pl.DataFrame:
    data = {name: values for name, (values, _, _) in COLUMNS.items()}
    return pl.DataFrame(data).with_columns(
        pl.Series("churn", rng.choice(["yes", "no"], N)),
        pl.Series("customer", [f"K{i % 12}" for i in range(N)]),
        pl.Series("month", [START.date() + dt.timedelta(days=30 * (i % 6)) for i in range(N)]),
        pl.Series("account", np.arange(N)),
        pl.Series("notes", rng.choice(["a", "b"], N)),
    )


def test_infer_schema_kinds_and_roles(frame: pl.DataFrame) -> None:
    spec = spec_from_kwargs(
        {
            "target": "churn",
            "id": "account",
            "group": "customer",
            "time": "month",
            "ignore": ["notes", "plan"],
        }
    )

    schema = infer_schema(frame, spec)

    assert [c.name for c in schema.columns] == frame.columns
    assert schema.n_rows == N
    roles = {c.name: c.role for c in schema.columns}
    assert roles["churn"] == "target"
    assert roles["account"] == "id"
    assert roles["customer"] == "group"
    assert roles["month"] == "time"
    assert roles["notes"] == roles["plan"] == "ignored"
    for name, (_, kind, _) in COLUMNS.items():
        assert schema[name].kind == kind, name
        if name != "plan":
            expected = "feature" if kind in FEATURE_KINDS else "excluded"
            assert roles[name] == expected, name
    # A role from the spec wins over the kind: the id column is an identifier, still 'id'.
    assert schema["account"].kind == "identifier"
    assert [c.name for c in schema.features] == [
        name for name, (_, kind, _) in COLUMNS.items() if kind in FEATURE_KINDS and name != "plan"
    ]


def test_infer_schema_counts_missing_values_and_nan(frame: pl.DataFrame) -> None:
    frame = frame.with_columns(
        pl.when(pl.int_range(N) < 15).then(None).otherwise(pl.col("amount")).alias("amount"),
        pl.when(pl.int_range(N) % 10 == 0)
        .then(float("nan"))
        .otherwise(pl.col("visits").cast(pl.Float64))
        .alias("visits"),
    )
    schema = infer_schema(frame, spec_from_kwargs({"target": "churn"}))

    assert (schema["amount"].missing, schema["amount"].missing_rate) == (15, 0.25)
    assert schema["amount"].n_unique == N - 15
    assert (schema["visits"].missing, schema["visits"].missing_rate) == (6, 0.1)
    assert (schema["all_nan"].missing, schema["all_nan"].missing_rate) == (N, 1.0)
    assert (schema["empty"].missing, schema["empty"].n_unique) == (N, 0)
    assert schema["plan"].missing == 0
    assert schema["plan"].n_unique == 3
    assert schema["amount"].dtype == "float"
    assert schema["signup"].dtype == "date"


def test_schema_lookup_and_serialisation(frame: pl.DataFrame) -> None:
    schema = infer_schema(frame, spec_from_kwargs({"target": "churn"}))

    with pytest.raises(KeyError):
        schema["no such column"]
    as_dict = schema.to_dict()
    assert as_dict["n_rows"] == N
    assert as_dict["columns"][0] == {
        "name": "amount",
        "kind": "numeric",
        "dtype": "float",
        "role": "feature",
        "missing": 0,
        "missing_rate": 0.0,
        "n_unique": N,
        "reason": "numeric values",
    }
    assert isinstance(schema, Schema)
