"""Loading data, inferring its schema, checking it, and splitting it for validation."""

from mlwright.data._checks import (
    CHECKS,
    CheckReport,
    Finding,
    labelled_rows,
    run_checks,
    univariate_score,
)
from mlwright.data._load import (
    fingerprint,
    load_training_data,
    read_file,
    read_sql,
    to_polars,
)
from mlwright.data._profile import (
    PERCENTILES,
    bin_counts,
    prediction_statistics,
    reference_statistics,
)
from mlwright.data._schema import (
    ColumnInfo,
    ColumnKind,
    Schema,
    dtype_family,
    infer_kind,
    infer_schema,
)
from mlwright.data._splits import Splits, Strategy, choose_strategy, make_splits, refold

__all__ = [
    "CHECKS",
    "PERCENTILES",
    "CheckReport",
    "ColumnInfo",
    "ColumnKind",
    "Finding",
    "Schema",
    "Splits",
    "Strategy",
    "bin_counts",
    "choose_strategy",
    "dtype_family",
    "fingerprint",
    "infer_kind",
    "infer_schema",
    "labelled_rows",
    "load_training_data",
    "make_splits",
    "prediction_statistics",
    "read_file",
    "read_sql",
    "reference_statistics",
    "refold",
    "run_checks",
    "to_polars",
    "univariate_score",
]
