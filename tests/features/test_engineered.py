"""The "engineered" feature style: count and out-of-fold target encodings, interactions
chosen by gain, group aggregates; batch and single record agree to the last bit."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwright.features import FeatureKind, FeaturePlan, PlanSettings
from mlwright.features._engineered import CountEncoded, GroupAggregate, Interaction
from mlwright.features._transforms import Transform
from synth import assert_bitwise_equal

# -- each transform: batch == one, on awkward values --------------------------------------------

NUMBERS: list[float | None] = [
    0.0,
    -0.0,
    1.0,
    -2.5,
    3.0,
    1e-300,
    -1e-13,
    5e-324,
    1e308,
    -1e308,
    math.inf,
    -math.inf,
]
NUMBERS += [math.nan, None, 7.0, 2.0**52 + 1.0, 0.1, 1e-12, 2e-12]
LEVELS = ["a", "b", "c", None, "unseen", "a", ""]


def by_record(t: Transform, data: pl.DataFrame) -> np.ndarray:
    rows = []
    for record in data.iter_rows(named=True):
        out: list[float] = []
        t.one_record(record, out)
        rows.append(out)
    return np.array(rows, dtype=np.float64).reshape(len(data), len(t.names))


def pairs_frame() -> pl.DataFrame:
    a = [x for x in NUMBERS for _ in NUMBERS]
    b = [y for _ in NUMBERS for y in NUMBERS]
    keys = [LEVELS[i % len(LEVELS)] for i in range(len(a))]
    flags = [[True, False, None][i % 3] for i in range(len(a))]
    return pl.DataFrame(
        {
            "a": pl.Series(a, dtype=pl.Float64),
            "b": pl.Series(b, dtype=pl.Float64),
            "k": pl.Series(keys, dtype=pl.String),
            "f": pl.Series(flags, dtype=pl.Boolean),
        }
    )


@pytest.mark.parametrize("op", ["times", "over", "minus"])
@pytest.mark.parametrize("columns", [("a", "b"), ("b", "a"), ("a", "f"), ("f", "a")])
def test_interactions_agree_bitwise(op: str, columns: tuple[str, str]) -> None:
    data = pairs_frame()
    flags = [c == "f" for c in columns]
    t = Interaction(columns[0], other=columns[1], booleans=flags, op=op)
    assert_bitwise_equal(t.batch_frame(data), by_record(t, data))


def test_a_quotient_by_a_tiny_or_missing_divisor_is_missing() -> None:
    t = Interaction("a", other="b", booleans=[False, False], op="over")
    data = pl.DataFrame({"a": [1.0, 1.0, 1.0, 1.0, 6.0], "b": [0.0, 1e-13, None, -0.0, 2.0]})
    out = t.batch_frame(data)[:, 0]
    assert np.isnan(out[:4]).all()
    assert out[4] == 3.0


def test_count_encoding_agrees_bitwise_and_gives_the_documented_values() -> None:
    keys = pl.Series("k", ["a", "a", "b", None, "c", "a", "b", None], dtype=pl.String)
    t = CountEncoded.fit("k", keys, max_levels=2)
    assert t.levels == ["a", "b"]  # "c" is past the two most frequent: it counts as unseen
    data = pairs_frame()
    assert_bitwise_equal(t.batch_frame(data), by_record(t, data))
    assert by_record(t, pl.DataFrame({"k": ["a", "b", "c", "unseen", None]}))[:, 0].tolist() == [
        3 / 8,
        2 / 8,
        0.0,
        0.0,
        2 / 8,  # missing: the share of fitted rows that were missing
    ]


@pytest.mark.parametrize("column", ["a", "f"])
def test_group_aggregates_agree_bitwise_and_leave_unknown_levels_missing(column: str) -> None:
    data = pairs_frame()
    t = GroupAggregate.fit(
        column, "k", boolean=column == "f", levels=["a", "b", "c", "gone"], data=data
    )
    assert "gone" not in t.levels  # no fitted row: no mean
    assert_bitwise_equal(t.batch_frame(data), by_record(t, data))
    out = t.batch_frame(pl.DataFrame({column: data[column][:3], "k": ["unseen", None, ""]}))
    assert np.isnan(out).all()


def test_group_means_are_the_finite_values_mean_per_level() -> None:
    data = pl.DataFrame({"x": [1.0, 3.0, None, math.inf, 10.0], "k": ["p", "p", "p", "p", "q"]})
    t = GroupAggregate.fit("x", "k", boolean=False, levels=["p", "q"], data=data)
    assert t.means == [2.0, 10.0]
    assert t.names == ["x__mean_by__k", "x__minus_mean_by__k"]
    assert t.output_sources == ["k", "x"]
    out: list[float] = []
    t.one_record({"x": 5.0, "k": "p"}, out)
    assert out == [2.0, 3.0]


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "count", "column": "k", "levels": ["a"], "shares": [], "missing": 0.0},
        {"kind": "interaction", "column": "a", "other": "b", "booleans": [False], "op": "times"},
        {"kind": "interaction", "column": "a", "other": "b", "booleans": [0, 0], "op": "pow"},
        {
            "kind": "group_mean",
            "column": "a",
            "other": "k",
            "boolean": False,
            "levels": ["a", "b"],
            "means": [1.0],
        },
    ],
)
def test_a_damaged_transform_is_refused_on_load(params: dict[str, Any]) -> None:
    plan = FeaturePlan([("a", "numeric")], "engineered").fit(pl.DataFrame({"a": [1.0, 2.0]}))
    data = plan.to_dict()
    data["transforms"].append(params)
    # The artifact loader turns these into an ArtifactError naming the artifact.
    with pytest.raises(ValueError, match=r"differ in length|boolean flags|unknown interaction"):
        FeaturePlan.from_dict(data)


def test_a_transform_of_a_column_the_plan_does_not_list_is_refused_on_load() -> None:
    plan = FeaturePlan([("a", "numeric")], "engineered").fit(pl.DataFrame({"a": [1.0, 2.0]}))
    data = plan.to_dict()
    data["transforms"].append(
        {"kind": "interaction", "column": "a", "other": "b", "booleans": [0, 0], "op": "times"}
    )
    with pytest.raises(ValueError, match="reads column 'b', not in the plan"):
        FeaturePlan.from_dict(data)


# -- the property: the engineered plan's two paths agree, and survive JSON ----------------------

CATEGORY_LEVELS = [f"l{i}" for i in range(14)]
TEST_ONLY = ["zz", "", "unseen"]


def numbers(*, integers: bool) -> st.SearchStrategy[Any]:
    if integers:
        return st.one_of(st.none(), st.integers(min_value=-(2**40), max_value=2**40))
    return st.one_of(
        st.none(),
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.floats(min_value=-1e3, max_value=1e3),
        st.integers(-50, 50).map(float),  # integer-valued floats
        st.sampled_from([0.0, -0.0, 1e-300, 1e300, 5e-324, 1e-12]),
    )


def column_values(kind: str, *, test: bool) -> st.SearchStrategy[Any]:
    if kind in ("numeric", "integer"):
        return numbers(integers=kind == "integer")
    if kind == "boolean":
        return st.one_of(st.none(), st.booleans())
    levels = CATEGORY_LEVELS[: 12 if kind == "wide" else 3] + (TEST_ONLY if test else [])
    return st.one_of(st.none(), st.sampled_from(levels))


FEATURE_KIND: dict[str, FeatureKind] = {
    "numeric": "numeric",
    "integer": "numeric",
    "boolean": "boolean",
    "wide": "categorical",
    "narrow": "categorical",
}
DTYPES = {
    "numeric": pl.Float64,
    "integer": pl.Int64,
    "boolean": pl.Boolean,
    "wide": pl.String,
    "narrow": pl.String,
}


@st.composite
def engineered_cases(
    draw: st.DrawFn,
) -> tuple[FeaturePlan, pl.DataFrame, pl.DataFrame, np.ndarray | None]:
    kinds = ["numeric", "numeric", "wide", "narrow"]
    kinds += draw(st.lists(st.sampled_from(list(DTYPES)), max_size=3))
    n_train = draw(st.integers(min_value=8, max_value=60))
    n_test = draw(st.integers(min_value=1, max_value=12))
    train: dict[str, pl.Series] = {}
    test: dict[str, pl.Series] = {}
    columns: list[tuple[str, FeatureKind]] = []
    for i, kind in enumerate(kinds):
        name = f"c{i}_{kind}"
        train[name] = pl.Series(
            name,
            draw(st.lists(column_values(kind, test=False), min_size=n_train, max_size=n_train)),
            dtype=DTYPES[kind],
        )
        test[name] = pl.Series(
            name,
            draw(st.lists(column_values(kind, test=True), min_size=n_test, max_size=n_test)),
            dtype=DTYPES[kind],
        )
        columns.append((name, FEATURE_KIND[kind]))
    n_classes = draw(st.sampled_from([0, 2, 3]))
    if n_classes:
        y = np.asarray(
            draw(st.lists(st.integers(0, n_classes - 1), min_size=n_train, max_size=n_train))
        )
    else:
        y = np.asarray(draw(st.lists(st.floats(-1e3, 1e3), min_size=n_train, max_size=n_train)))
    knobs = PlanSettings(
        tree_min_count=draw(st.integers(1, 3)),
        count_min_levels=draw(st.integers(2, 6)),
        count_max_levels=draw(st.integers(1, 20)),
        engineer_min_rows=8,
        selection_rows=draw(st.sampled_from([10, 1000])),
        selection_trees=3,
        encoding_folds=2,
    )
    plan = FeaturePlan(
        columns, "engineered", n_classes=n_classes, settings=knobs, seed=draw(st.integers(0, 9))
    )
    return plan, pl.DataFrame(train), pl.DataFrame(test), draw(st.sampled_from([y, None]))


def single_rows(plan: FeaturePlan, data: pl.DataFrame) -> np.ndarray:
    rows = [plan.transform_one(record) for record in data.iter_rows(named=True)]
    return np.array(rows, dtype=np.float64).reshape(len(data), len(plan.feature_names))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(engineered_cases())
def test_engineered_plan_paths_agree_bitwise_and_survive_json(
    case: tuple[FeaturePlan, pl.DataFrame, pl.DataFrame, np.ndarray | None],
) -> None:
    plan, train, test, y = case
    plan.fit(train, y)
    again = FeaturePlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    for frame in (train, test):
        batch = plan.transform(frame)
        assert batch.shape[1] == len(plan.feature_names) == len(plan.sources)
        assert_bitwise_equal(batch, single_rows(plan, frame))
        assert_bitwise_equal(batch, again.transform(frame))
        assert_bitwise_equal(batch, single_rows(again, frame))


# -- what the plan chooses ------------------------------------------------------------------------


def planted(n: int = 3000, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray, list[Any]]:
    rng = np.random.default_rng(seed)
    a, b, noise = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    shop = rng.choice([f"s{i}" for i in range(40)], n)
    region = rng.choice(["north", "south", "east"], n)
    data = pl.DataFrame({"a": a, "b": b, "noise": noise, "shop": shop, "region": region})
    columns = [
        ("a", "numeric"),
        ("b", "numeric"),
        ("noise", "numeric"),
        ("shop", "categorical"),
        ("region", "categorical"),
    ]
    return data, a * b + 0.05 * rng.normal(size=n), columns


def test_a_planted_interaction_is_chosen_first_and_the_choice_is_deterministic() -> None:
    data, y, columns = planted()
    first = FeaturePlan(columns, "engineered", seed=3).fit(data, y)
    names = first.feature_names
    chosen = [n for n in names if "__times__" in n or "__over__" in n or "__minus__" in n]
    assert chosen[0] in ("a__times__b", "b__times__a")
    assert len(chosen) <= PlanSettings().max_interactions
    second = FeaturePlan(columns, "engineered", seed=3).fit(data, y)
    assert second.to_dict() == first.to_dict()


def test_engineered_outputs_follow_the_tree_outputs_unchanged() -> None:
    data, y, columns = planted(n=800)
    days = [dt.datetime(2024, 1, 1) + dt.timedelta(hours=7 * i) for i in range(len(data))]
    notes = [f"note {i % 7} words" for i in range(len(data))]
    data = data.with_columns(pl.Series("day", days), pl.Series("note", notes))
    columns = [*columns, ("day", "datetime"), ("note", "text")]
    tree = FeaturePlan(columns, "tree").fit(data, y)
    plan = FeaturePlan(columns, "engineered").fit(data, y)
    width = len(tree.feature_names)
    X = plan.transform(data)
    assert_bitwise_equal(X[:, :width], tree.transform(data))
    assert plan.feature_names[:width] == tree.feature_names
    assert plan.categorical_indices == tree.categorical_indices
    assert plan.n_engineered == X.shape[1] - width > 0
    assert tree.n_engineered == 0
    engineered = plan.feature_names[width:]
    assert engineered[:2] == ["shop__count", "shop__target"]  # 40 levels; region has 3
    means = [n for n in engineered if "__mean_by__" in n]
    assert means
    sources = dict(zip(plan.feature_names, plan.sources, strict=True))
    assert sources["shop__count"] == "shop"
    assert all(sources[n] == n.split("__mean_by__")[1] for n in means)  # the categorical
    assert all(sources[n] == n.split("__")[0] for n in engineered if "__mean_by__" not in n)


def test_training_rows_get_out_of_fold_target_encodings() -> None:
    rng = np.random.default_rng(1)
    keys = rng.choice([f"k{i}" for i in range(60)], 600)
    y = rng.integers(0, 2, 600)
    plan = FeaturePlan([("k", "categorical")], "engineered", n_classes=2)
    X_train = plan.fit_transform(pl.DataFrame({"k": keys}), y)
    column = plan.feature_names.index("k__target")
    X_full = plan.transform(pl.DataFrame({"k": keys}))
    # The full-fit table holds each row's own target; no training row's encoding comes from it.
    assert (X_train[:, column] != X_full[:, column]).all()
    corr_oof = np.corrcoef(X_train[:, column], y)[0, 1]
    corr_in = np.corrcoef(X_full[:, column], y)[0, 1]
    assert corr_oof < corr_in
    # Every other output is the same whether the rows are training rows or not.
    others = [i for i in range(X_train.shape[1]) if i != column]
    assert_bitwise_equal(X_train[:, others], X_full[:, others])
    prior = plan.transform_one({"k": "never seen"})[column]
    assert prior == plan.transform_one({"k": None})[column]


def test_unseen_and_missing_levels_get_the_documented_values() -> None:
    data, y, columns = planted(n=800)
    data = data.with_columns(
        pl.when(pl.int_range(pl.len()) < 80).then(None).otherwise(pl.col("shop")).alias("shop")
    )
    plan = FeaturePlan(columns, "engineered").fit(data, y)
    names = plan.feature_names
    record = {"a": 1.0, "b": 2.0, "noise": 0.0, "shop": "never seen", "region": "north"}
    unseen = dict(zip(names, plan.transform_one(record), strict=True))
    missing = dict(zip(names, plan.transform_one({**record, "shop": None}), strict=True))
    assert unseen["shop__count"] == 0.0
    assert missing["shop__count"] == 80 / 800
    assert unseen["shop__target"] == missing["shop__target"]  # both the prior
    for mean in (n for n in names if n.endswith("__mean_by__shop")):
        deviation = mean.replace("__mean_by__", "__minus_mean_by__")
        for values in (unseen, missing):
            assert math.isnan(values[mean])
            assert math.isnan(values[deviation])


def test_without_a_target_only_count_encodings_are_added() -> None:
    data, _, columns = planted(n=400)
    plan = FeaturePlan(columns, "engineered").fit(data)
    tree = FeaturePlan(columns, "tree").fit(data)
    assert plan.feature_names == [*tree.feature_names, "shop__count"]


def test_when_nothing_qualifies_the_engineered_plan_is_the_tree_plan() -> None:
    rng = np.random.default_rng(0)
    data = pl.DataFrame({"x": rng.normal(size=300), "k": rng.choice(["p", "q"], 300)})
    y = rng.normal(size=300) + data["x"].to_numpy()
    # One numeric column makes no pair, and no categorical column to group by or encode.
    alone: list[Any] = [("x", "numeric")]
    plan = FeaturePlan(alone, "engineered").fit(data, y)
    assert plan.n_engineered == 0
    assert (
        plan.to_dict()["transforms"]
        == FeaturePlan(alone, "tree").fit(data, y).to_dict()["transforms"]
    )
    # Below engineer_min_rows nothing is chosen by gain; k has too few levels to encode.
    both: list[Any] = [("x", "numeric"), ("k", "categorical")]
    few = FeaturePlan(both, "engineered").fit(data.head(50), y[:50])
    tree = FeaturePlan(both, "tree").fit(data.head(50), y[:50])
    assert few.n_engineered == 0
    assert few.feature_names == tree.feature_names
    assert_bitwise_equal(few.transform(data), tree.transform(data))


def test_only_engineered_plans_save_the_engineering_settings() -> None:
    data, y, columns = planted(n=300)
    tree = FeaturePlan(columns, "tree").fit(data, y).to_dict()
    engineered = FeaturePlan(columns, "engineered").fit(data, y).to_dict()
    assert "max_interactions" not in tree["settings"]
    assert engineered["settings"]["max_interactions"] == PlanSettings().max_interactions
    # A plan saved before these settings existed loads with their defaults.
    assert FeaturePlan.from_dict(tree).settings == PlanSettings()
