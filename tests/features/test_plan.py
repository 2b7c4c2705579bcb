from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwright.errors import InputError, NotFittedError, SchemaMismatchError
from mlwright.features import FEATURE_KINDS, FeaturePlan, PlanSettings
from synth import assert_bitwise_equal

# -- the property: batch and single-record paths agree to the last bit ---------------------------

LEVELS = ["a", "b", "c", "d", "e", "f", "g"]
UNSEEN = ["zz", "unseen", ""]
WORDS = ["alpha", "beta", "gamma", "delta", "x", "naïve", "café", "42"]
DTYPES = {
    "numeric": pl.Float64,
    "integer": pl.Int64,
    "categorical": pl.String,
    "boolean": pl.Boolean,
    "datetime": pl.Datetime("us"),
    "text": pl.String,
}


def values_for(kind: str, *, test: bool) -> st.SearchStrategy[Any]:
    missing = st.none()
    if kind == "numeric":
        return st.one_of(
            missing,
            st.floats(allow_nan=True, allow_infinity=True, width=64),
            st.floats(min_value=-1e6, max_value=1e6),
        )
    if kind == "integer":
        return st.one_of(missing, st.integers(min_value=-(2**40), max_value=2**40))
    if kind == "categorical":
        return st.one_of(missing, st.sampled_from(LEVELS + (UNSEEN if test else [])))
    if kind == "boolean":
        return st.one_of(missing, st.booleans())
    if kind == "datetime":
        return st.one_of(
            missing,
            st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2040, 1, 1)),
            st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2040, 1, 1)).map(
                lambda d: dt.datetime(d.year, d.month, d.day)
            ),
        )
    return st.one_of(
        missing,
        st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join),
        st.text(max_size=20),  # any Unicode: the embedding's tokenizer sees it too
    )


@st.composite
def plans_and_frames(draw: st.DrawFn) -> tuple[FeaturePlan, pl.DataFrame, pl.DataFrame, np.ndarray]:
    kinds = draw(st.lists(st.sampled_from(list(DTYPES)), min_size=1, max_size=6))
    n_train = draw(st.integers(min_value=1, max_value=40))
    n_test = draw(st.integers(min_value=1, max_value=15))
    train: dict[str, pl.Series] = {}
    test: dict[str, pl.Series] = {}
    columns = []
    for i, kind in enumerate(kinds):
        name = f"c{i}_{kind}"
        train_values = draw(
            st.lists(values_for(kind, test=False), min_size=n_train, max_size=n_train)
        )
        test_values = draw(st.lists(values_for(kind, test=True), min_size=n_test, max_size=n_test))
        train[name] = pl.Series(name, train_values, dtype=DTYPES[kind])
        test[name] = pl.Series(name, test_values, dtype=DTYPES[kind])
        columns.append((name, "numeric" if kind == "integer" else kind))
    style = draw(st.sampled_from(["tree", "linear"]))
    n_classes = draw(st.sampled_from([0, 2, 3]))
    if n_classes:
        y = np.asarray(
            draw(st.lists(st.integers(0, n_classes - 1), min_size=n_train, max_size=n_train))
        )
    else:
        y = np.asarray(
            draw(st.lists(st.floats(-1e3, 1e3), min_size=n_train, max_size=n_train)), dtype=float
        )
    knobs = PlanSettings(
        tree_min_count=draw(st.integers(1, 3)),
        tree_max_levels=draw(st.integers(1, 8)),
        linear_min_count=draw(st.integers(1, 3)),
        max_onehot=draw(st.integers(1, 4)),
        text_buckets=draw(st.sampled_from([1, 4, 16])),
        text_embedding_dims=draw(st.sampled_from([0, 8])),
        encoding_folds=2,
    )
    plan = FeaturePlan(
        columns, style, n_classes=n_classes, settings=knobs, seed=draw(st.integers(0, 9))
    )
    return plan, pl.DataFrame(train), pl.DataFrame(test), y


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans_and_frames())
def test_batch_and_single_record_paths_agree_bitwise(
    case: tuple[FeaturePlan, pl.DataFrame, pl.DataFrame, np.ndarray],
) -> None:
    plan, train, test, y = case
    plan.fit(train, y)
    for frame in (train, test):
        batch = plan.transform(frame)
        single = np.array(
            [plan.transform_one(record) for record in frame.iter_rows(named=True)], dtype=np.float64
        ).reshape(batch.shape)
        assert_bitwise_equal(batch, single)
        assert batch.shape[1] == len(plan.feature_names)
    # Plain data: the plan survives JSON and gives the same outputs.
    again = FeaturePlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert_bitwise_equal(plan.transform(test), again.transform(test))


def test_every_kind_is_covered_by_the_property() -> None:
    assert {"numeric", "categorical", "boolean", "datetime", "text"} == set(FEATURE_KINDS)
    assert set(FEATURE_KINDS) <= {("numeric" if k == "integer" else k) for k in DTYPES}


# -- specific behaviour ----------------------------------------------------------------------------


def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "n": [1.0, 2.0, None, 4.0, 5.0, 6.0],
            "c": ["x", "x", "y", "y", "rare", None],
            "b": [True, False, None, True, True, False],
        }
    )


COLUMNS = [("n", "numeric"), ("c", "categorical"), ("b", "boolean")]


def test_tree_style_keeps_missing_and_codes_categories() -> None:
    plan = FeaturePlan(COLUMNS, "tree", settings=PlanSettings(tree_min_count=2)).fit(frame())
    X = plan.transform(frame())
    assert np.isnan(X[2, 0])
    codes = X[:, 1]
    assert codes[0] == codes[1] != codes[2]
    assert codes[4] == 2.0  # a rare level shares the code after the frequent ones
    assert np.isnan(codes[5])
    assert plan.categorical_indices == [1]
    unseen = plan.transform_one({"n": 1.0, "c": "never seen", "b": None})
    assert unseen[1] == 2.0  # unseen behaves like rare
    assert np.isnan(unseen[2])


def test_linear_style_imputes_scales_and_flags_missing() -> None:
    plan = FeaturePlan(COLUMNS, "linear", settings=PlanSettings(linear_min_count=2)).fit(frame())
    X = plan.transform(frame())
    assert not np.isnan(X).any()
    names = plan.feature_names
    assert "n__missing" in names
    assert X[2, names.index("n__missing")] == 1.0
    assert abs(X[:, names.index("n")].mean()) < 1e-12
    assert "c=__other__" in names
    assert "c=__missing__" in names
    row = plan.transform_one({"n": 3.0, "c": "never seen", "b": True})
    assert row[names.index("c=__other__")] == 1.0
    assert row[names.index("c=x")] == 0.0


def test_linear_clips_to_the_training_range() -> None:
    plan = FeaturePlan([("n", "numeric")], "linear").fit(pl.DataFrame({"n": [0.0, 10.0]}))
    assert plan.transform_one({"n": 1e9}) == plan.transform_one({"n": 10.0})


def test_target_encoding_is_out_of_fold_on_training_rows() -> None:
    rng = np.random.default_rng(0)
    levels = [f"l{i}" for i in range(60)]
    keys = rng.choice(levels, 600)
    y = rng.integers(0, 2, 600)
    data = pl.DataFrame({"k": keys})
    plan = FeaturePlan(
        [("k", "categorical")], "linear", n_classes=2, settings=PlanSettings(max_onehot=10)
    )
    X_train = plan.fit_transform(data, y)
    assert plan.feature_names == ["k__target"]
    X_again = plan.transform(data)
    # In-sample encodings would copy each row's own target in; out-of-fold ones differ.
    assert not np.allclose(X_train, X_again)
    corr_oof = np.corrcoef(X_train[:, 0], y)[0, 1]
    corr_in = np.corrcoef(X_again[:, 0], y)[0, 1]
    assert corr_oof < corr_in
    prior = plan.transform_one({"k": "never seen"})
    assert prior == plan.transform_one({"k": None})


def test_multiclass_target_encoding_has_a_column_per_class() -> None:
    keys = [f"l{i % 40}" for i in range(400)]
    y = np.array([i % 3 for i in range(400)])
    plan = FeaturePlan(
        [("k", "categorical")], "linear", n_classes=3, settings=PlanSettings(max_onehot=5)
    )
    plan.fit(pl.DataFrame({"k": keys}), y)
    assert plan.feature_names == ["k__target0", "k__target1", "k__target2"]


def test_datetime_strings_and_objects_give_the_same_features() -> None:
    moments = [dt.datetime(2024, 3, 1, 12, 30), dt.datetime(2023, 12, 31, 0, 0), None]
    data = pl.DataFrame({"t": moments})
    for style in ("tree", "linear"):
        plan = FeaturePlan([("t", "datetime")], style).fit(data)  # type: ignore[arg-type]
        as_text = pl.DataFrame({"t": ["2024-03-01T12:30:00", "2023-12-31", None]})
        assert_bitwise_equal(plan.transform(data), plan.transform(as_text))
        assert plan.transform_one({"t": "2024-03-01 12:30"}) == plan.transform_one(
            {"t": moments[0]}
        )
        aware = dt.datetime(2024, 3, 1, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        assert plan.transform_one({"t": aware}) == plan.transform_one({"t": moments[0]})
        assert plan.transform_one({"t": dt.date(2023, 12, 31)}) == plan.transform_one(
            {"t": "2023-12-31"}
        )
    names = FeaturePlan([("t", "datetime")], "tree").fit(data).feature_names
    assert names == ["t__year", "t__month", "t__day", "t__weekday", "t__hour", "t__elapsed_days"]


def test_text_is_hashed_tfidf_and_l2_normalised() -> None:
    texts = ["late delivery again", "great price", None, "refund refund please"]
    plan = FeaturePlan([("t", "text")], "tree", settings=PlanSettings(text_buckets=64)).fit(
        pl.DataFrame({"t": texts})
    )
    X = plan.transform(pl.DataFrame({"t": texts}))[:, :64]  # the embedding follows
    norms = np.linalg.norm(X, axis=1)
    assert np.allclose(norms[[0, 1, 3]], 1.0)
    assert norms[2] == 0.0


# -- errors ----------------------------------------------------------------------------------------


def test_unfitted_plan_raises() -> None:
    plan = FeaturePlan(COLUMNS, "tree")
    with pytest.raises(NotFittedError):
        plan.transform(frame())
    with pytest.raises(NotFittedError):
        plan.transform_one({"n": 1.0, "c": "x", "b": True})


def test_missing_columns_are_named() -> None:
    plan = FeaturePlan(COLUMNS, "tree").fit(frame())
    with pytest.raises(SchemaMismatchError, match="missing: c, b") as info:
        plan.transform(frame().drop("c", "b"))
    assert info.value.field == "c"


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("n", ["1", "2", "3", "4", "5", "6"], "numeric"),
        ("c", [1, 2, 3, 4, 5, 6], "text"),
        ("b", [1.0, 0.0, 1.0, 1.0, 0.0, 1.0], "boolean"),
    ],
)
def test_changed_column_types_are_named(column: str, values: list[object], expected: str) -> None:
    plan = FeaturePlan(COLUMNS, "linear").fit(frame())
    changed = frame().with_columns(pl.Series(column, values))
    with pytest.raises(SchemaMismatchError, match=f"column '{column}'.*{expected}") as info:
        plan.transform(changed)
    assert info.value.field == column


@pytest.mark.parametrize(
    ("record", "field", "pattern"),
    [
        ({"c": "x", "b": True}, "n", "field 'n' is missing"),
        ({"n": "3", "c": "x", "b": True}, "n", "field 'n' expects a number"),
        ({"n": True, "c": "x", "b": True}, "n", "expects a number, got a boolean"),
        ({"n": 1.0, "c": 7, "b": True}, "c", "field 'c' expects a string"),
        ({"n": 1.0, "c": "x", "b": "yes"}, "b", "field 'b' expects true or false"),
    ],
)
def test_bad_records_name_the_field(record: dict[str, Any], field: str, pattern: str) -> None:
    plan = FeaturePlan(COLUMNS, "tree").fit(frame())
    with pytest.raises(InputError, match=pattern) as info:
        plan.transform_one(record)
    assert info.value.field == field
    assert info.value.hint


def test_bad_datetime_text_names_the_field() -> None:
    plan = FeaturePlan([("t", "datetime")], "tree").fit(
        pl.DataFrame({"t": [dt.datetime(2020, 1, 1)]})
    )
    with pytest.raises(InputError, match="field 't' expects an ISO 8601"):
        plan.transform_one({"t": "yesterday"})


@pytest.mark.parametrize("dtype", [pl.String, pl.Null, pl.Int64, pl.Float64, pl.Boolean])
def test_a_column_with_no_values_is_missing_whatever_its_type(dtype: pl.DataType) -> None:
    """A CSV reader types an all-empty column as text; that is missing data, not a type
    change."""
    plan = FeaturePlan(COLUMNS, "linear").fit(frame())
    empty = pl.DataFrame({name: pl.Series(name, [None] * 3, dtype=dtype) for name, _ in COLUMNS})
    single = [plan.transform_one({"n": None, "c": None, "b": None})] * 3
    assert_bitwise_equal(plan.transform(empty), np.array(single))
