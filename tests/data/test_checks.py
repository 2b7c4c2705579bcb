"""Data checks: each check fires on data crafted to trip it, with its code, severity and
evidence; clean data passes; checks.allow lets an accepted blocking finding through."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

from mlwright.data import CHECKS, CheckReport, Finding, infer_schema, run_checks
from mlwright.data._checks import (
    HIGH_CARDINALITY,
    MIN_ROWS_BLOCK,
    MIN_ROWS_WARN,
    RARE_CLASS_BLOCK,
    CheckContext,
)
from mlwright.errors import DataCheckError, DataError
from mlwright.spec import resolve, spec_from_kwargs
from synth import make_frame

START = dt.datetime(2024, 1, 1)


def base(n: int = 300, seed: int = 0) -> pl.DataFrame:
    """A table no check objects to: noise features and a balanced yes/no target ``y``."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "x": rng.normal(size=n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "y": np.tile(["no", "yes"], n // 2 + 1)[:n],
        }
    ).sample(fraction=1.0, shuffle=True, seed=seed)


def check(frame: pl.DataFrame, **fields: Any) -> CheckReport:
    """Resolve a spec with target ``y`` (and ``fields``) against ``frame``, then run every check."""
    spec = resolve(spec_from_kwargs({"target": "y", **fields}), frame).spec
    return run_checks(frame, spec, infer_schema(frame, spec))


def found(report: CheckReport, code: str) -> list[Finding]:
    return [f for f in report.findings if f.code == code]


def one(report: CheckReport, code: str) -> Finding:
    matches = found(report, code)
    assert len(matches) == 1, f"{code}: {[f.key for f in report.findings]}"
    return matches[0]


def test_base_table_is_clean() -> None:
    assert check(base()).findings == []


# -- one test (or more) per check function ------------------------------------------------------


def test_row_count_blocks_below_the_minimum() -> None:
    finding = one(check(base(10)), "data.too_few_rows")

    assert finding.severity == "blocking"
    assert finding.evidence == {"rows": 10, "minimum": MIN_ROWS_BLOCK}


def test_row_count_counts_labelled_rows_only() -> None:
    frame = base(40).with_columns(
        pl.when(pl.int_range(40) < 25).then(None).otherwise(pl.col("y")).alias("y")
    )

    assert one(check(frame), "data.too_few_rows").evidence["rows"] == 15


def test_row_count_warns_below_the_recommended() -> None:
    finding = one(check(base(100)), "data.few_rows")

    assert finding.severity == "warning"
    assert finding.evidence == {"rows": 100, "recommended": MIN_ROWS_WARN}
    assert not found(check(base(MIN_ROWS_WARN)), "data.few_rows")


def test_target_rare_class_blocks() -> None:
    frame = base().with_columns(
        pl.when(pl.int_range(300) < 2).then(pl.lit("maybe")).otherwise(pl.col("y")).alias("y")
    )

    finding = one(check(frame), "target.rare_class")

    assert finding.severity == "blocking"
    assert finding.column == "y"
    assert finding.evidence == {"class": "maybe", "rows": 2, "minimum": RARE_CLASS_BLOCK}


def test_target_rare_class_warns() -> None:
    y = ["yes"] * 6 + ["no"] * 294
    report = check(base().with_columns(pl.Series("y", y)))

    finding = one(report, "target.rare_class")
    assert finding.severity == "warning"
    assert finding.evidence == {"class": "yes", "rows": 6}


def test_target_imbalance_warns() -> None:
    y = ["yes"] * 12 + ["no"] * 288
    report = check(base().with_columns(pl.Series("y", y)))

    finding = one(report, "target.imbalance")
    assert finding.severity == "warning"
    assert finding.evidence == {"class": "yes", "share": 0.04, "rows": 12}
    assert not found(report, "target.rare_class")  # 12 rows is enough to learn from


def test_target_missing_warns_and_those_rows_are_left_out() -> None:
    frame = base().with_columns(
        pl.when(pl.int_range(300) % 10 == 0).then(None).otherwise(pl.col("y")).alias("y")
    )

    finding = one(check(frame), "target.missing")

    assert finding.severity == "warning"
    assert finding.column == "y"
    assert finding.evidence == {"rows": 30, "share": 0.1}


def test_regression_target_nan_is_missing_and_has_no_class_findings() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(50, 10, 300)
    y[:45] = np.nan
    report = check(base().with_columns(pl.Series("y", y)))

    assert one(report, "target.missing").evidence == {"rows": 45, "share": 0.15}
    assert not found(report, "target.rare_class")
    assert not found(report, "target.imbalance")


def test_duplicate_rows_warn() -> None:
    frame = base()
    frame = pl.concat([frame, frame.head(10)])

    finding = one(check(frame), "rows.duplicate")

    assert finding.severity == "warning"
    assert finding.evidence == {
        "duplicate_rows": 10,
        "share": round(10 / 310, 4),
        "rows_in_groups": 20,
    }


def test_a_few_duplicate_rows_are_info() -> None:
    frame = base()
    frame = pl.concat([frame, frame.head(1)])

    finding = one(check(frame), "rows.duplicate")

    assert finding.severity == "info"
    assert finding.evidence["duplicate_rows"] == 1


@pytest.mark.parametrize("named", [True, False], ids=["task.id", "identifier column"])
def test_duplicate_rows_are_found_past_unique_ids(named: bool) -> None:
    # A record loaded twice gets a second row number; the copies differ only there.
    frame = pl.concat([base(), base().head(10)]).with_columns(pl.int_range(310).alias("row_id"))

    report = check(frame, **({"id": "row_id"} if named else {}))

    finding = one(report, "rows.duplicate")
    assert finding.severity == "warning"
    assert finding.evidence["duplicate_rows"] == 10
    assert finding.evidence["ignored_columns"] == ["row_id"]
    assert "'row_id' not compared" in finding.message


def test_rows_of_different_groups_are_not_duplicates() -> None:
    frame = pl.concat([base(), base().head(10)]).with_columns(
        pl.Series("customer", [f"c{i % 150}" for i in range(300)] + ["new"] * 10)
    )

    assert not found(check(frame, group="customer"), "rows.duplicate")


def test_conflicting_rows_are_info() -> None:
    frame = base()
    flipped = frame.head(2).with_columns(
        pl.when(pl.col("y") == "yes").then(pl.lit("no")).otherwise(pl.lit("yes")).alias("y")
    )
    report = check(pl.concat([frame, flipped]))

    finding = one(report, "rows.conflicting")
    assert finding.severity == "info"
    assert finding.evidence == {"conflicting_groups": 2}
    assert not found(report, "rows.duplicate")  # same features, different target


def test_duplicate_columns_warn() -> None:
    frame = base().with_columns(
        pl.col("x").alias("x_again"),
        pl.when(pl.int_range(300) % 7 == 0).then(None).otherwise(pl.col("plan")).alias("p1"),
    )
    frame = frame.with_columns(pl.col("p1").alias("p2"), pl.col("y").alias("y_copy"))

    report = check(frame, checks={"allow": ["leakage.single_feature"]})

    duplicates = {f.column: f for f in found(report, "columns.duplicate")}
    assert set(duplicates) == {"x_again", "p2"}  # the copy of the target is leakage instead
    assert duplicates["x_again"].severity == "warning"
    assert duplicates["x_again"].evidence == {"copy_of": "x"}
    assert duplicates["p2"].evidence == {"copy_of": "p1"}


def test_column_kind_findings() -> None:
    frame = base().with_columns(
        pl.lit("NL").alias("country"),
        pl.lit(None, dtype=pl.Float64).alias("blank"),
        pl.Series("code", [f"C{i:05d}" for i in range(300)]),
        pl.Series("tags", [[i % 3] for i in range(300)]),
        pl.Series("review", [f"parcel {i} arrived late and broken, again" for i in range(300)]),
        pl.Series("memo", [f"call back on day {i} about the refund" for i in range(300)]),
    )

    report = check(frame, ignore=["memo"])

    constant = {f.column: f for f in found(report, "column.constant")}
    assert set(constant) == {"country", "blank"}
    assert constant["country"].severity == "info"
    assert constant["country"].evidence == {"distinct": 1, "missing_rate": 0.0}
    assert constant["blank"].evidence == {"distinct": 0, "missing_rate": 1.0}
    identifier = one(report, "column.identifier")
    assert (identifier.column, identifier.severity) == ("code", "info")
    assert identifier.evidence == {"distinct": 300, "rows": 300}
    unsupported = one(report, "column.unsupported")
    assert (unsupported.column, unsupported.severity) == ("tags", "warning")
    text = one(report, "column.text")  # not the ignored memo
    assert (text.column, text.severity) == ("review", "info")
    assert text.evidence == {"distinct": 300}


def test_a_named_id_column_is_no_finding() -> None:
    frame = base().with_columns(pl.Series("code", [f"C{i:05d}" for i in range(300)]))

    assert not found(check(frame, id="code"), "column.identifier")


def test_mostly_missing_column_warns() -> None:
    frame = base().with_columns(
        pl.when(pl.int_range(300) < 180).then(None).otherwise(pl.col("x")).alias("sparse"),
        pl.when(pl.int_range(300) < 30).then(None).otherwise(pl.col("plan")).alias("gappy"),
        pl.when(pl.int_range(300) < 150).then(None).otherwise(pl.col("x")).alias("half"),
    )

    report = check(frame)

    finding = one(report, "column.mostly_missing")
    assert (finding.column, finding.severity) == ("sparse", "warning")
    assert finding.evidence == {"missing": 180, "missing_rate": 0.6}
    summary = one(report, "columns.missing")
    assert summary.severity == "info"
    assert summary.evidence == {"gappy": 0.1, "half": 0.5}


def test_high_cardinality_categorical_warns() -> None:
    n = 600
    frame = base(n).with_columns(
        pl.Series("city", [f"city{i % 150:03d}" for i in range(n)]),
        pl.Series("shop", [f"shop{i % HIGH_CARDINALITY:03d}" for i in range(n)]),
    )

    finding = one(check(frame), "column.high_cardinality")

    assert (finding.column, finding.severity) == ("city", "warning")
    assert finding.evidence == {"distinct": 150, "threshold": HIGH_CARDINALITY}


def test_copy_of_the_target_blocks() -> None:
    frame = base().with_columns(pl.col("y").alias("outcome_code"))

    finding = one(check(frame), "leakage.single_feature")

    assert (finding.column, finding.severity) == ("outcome_code", "blocking")
    assert finding.evidence == {"score": 1.0, "measure": "ROC AUC", "rows": 300}
    assert "leakage.single_feature:outcome_code" in finding.action


def test_near_copy_of_the_target_warns() -> None:
    frame = base()
    agrees = (frame["y"] == "yes").to_numpy().astype(float)
    agrees[:9] = 1.0 - agrees[:9]  # 3% of rows disagree
    report = check(frame.with_columns(pl.Series("refund", agrees)))

    finding = one(report, "leakage.single_feature")
    assert (finding.column, finding.severity) == ("refund", "warning")
    assert 0.95 <= finding.evidence["score"] < 0.99
    assert finding.evidence["score"] == pytest.approx(0.97, abs=0.01)


def test_copy_of_a_multiclass_target_blocks() -> None:
    rng = np.random.default_rng(5)
    frame = base().with_columns(pl.Series("y", rng.choice(["low", "mid", "high"], 300)))

    report = check(frame.with_columns((pl.col("y") + "!").alias("label")))

    finding = one(report, "leakage.single_feature")
    assert (finding.column, finding.severity) == ("label", "blocking")
    assert finding.evidence == {"score": 1.0, "measure": "balanced accuracy", "rows": 300}


@pytest.mark.parametrize(
    "draw",
    [
        pytest.param(lambda rng, n: rng.normal(50.0, 10.0, n), id="normal"),
        pytest.param(lambda rng, n: rng.lognormal(3.0, 2.0, n), id="long-tailed"),
    ],
)
def test_copy_of_a_regression_target_blocks(draw: Any) -> None:
    # Prices and amounts have long tails; a copy (or its log) must still be caught.
    y = draw(np.random.default_rng(5), 300)
    frame = base().with_columns(pl.Series("y", y), pl.Series("log_y", np.log1p(y)))

    report = check(frame.with_columns((pl.col("y") * 3.0 - 1.0).alias("y_scaled")))

    leaks = {f.column: f for f in found(report, "leakage.single_feature")}
    assert set(leaks) == {"log_y", "y_scaled"}
    for finding in leaks.values():
        assert finding.severity == "blocking"
        assert finding.evidence["measure"] == "R² of ranks"
        assert finding.evidence["score"] >= 0.99


def test_sequential_ids_that_follow_the_target_warn() -> None:
    n = 300
    by_outcome = base(n).sort("y").with_columns(pl.Series("row", np.arange(1, n + 1)))
    shuffled = base(n).with_columns(pl.Series("row", np.arange(1, n + 1)))

    finding = one(check(by_outcome), "leakage.identifier")

    assert (finding.column, finding.severity) == ("row", "warning")
    assert finding.evidence["chance"] == 0.5
    assert finding.evidence["score"] >= 0.95
    assert not found(check(by_outcome), "leakage.single_feature")  # not a feature
    assert not found(check(shuffled), "leakage.identifier")


def test_named_id_column_that_follows_the_target_warns() -> None:
    frame = base().sort("y").with_columns(pl.Series("account", 1000 + 7 * np.arange(300)))

    finding = one(check(frame, id="account"), "leakage.identifier")

    assert finding.column == "account"
    assert finding.evidence["score"] >= 0.95


def timed(n: int = 300) -> pl.DataFrame:
    """The base table with a sorted, complete timestamp column ``t``."""
    return base(n).with_columns(
        pl.Series("t", [START + dt.timedelta(hours=6 * i) for i in range(n)])
    )


def test_clean_time_column_is_no_finding() -> None:
    assert check(timed(), time="t").findings == []


def test_unsorted_time_is_info() -> None:
    frame = timed().sample(fraction=1.0, shuffle=True, seed=1)
    expected = int((np.diff(frame["t"].dt.epoch("us").to_numpy()) < 0).sum())

    finding = one(check(frame, time="t"), "time.unsorted")

    assert (finding.column, finding.severity) == ("t", "info")
    assert finding.evidence == {"backward_steps": expected}
    assert expected > 100


def test_missing_times_block() -> None:
    frame = timed().with_columns(
        pl.when(pl.int_range(300) % 50 == 7).then(None).otherwise(pl.col("t")).alias("t")
    )

    finding = one(check(frame, time="t"), "time.missing")

    assert (finding.column, finding.severity) == ("t", "blocking")
    assert finding.evidence == {"rows": 6}
    assert not found(check(frame, time="t"), "time.unsorted")


def test_nan_in_a_numeric_time_column_is_missing() -> None:
    t = np.arange(300, dtype=np.float64)
    t[[5, 50, 250]] = np.nan
    frame = base().with_columns(pl.Series("t", t, nan_to_null=False))

    report = check(frame, time="t")

    assert one(report, "time.missing").evidence == {"rows": 3}
    assert not found(report, "time.unsorted")


def test_time_column_that_is_not_temporal_blocks() -> None:
    frame = base().with_columns(pl.Series("t", [f"week {i // 7}" for i in range(300)]))

    finding = one(check(frame, time="t"), "time.not_temporal")

    assert (finding.column, finding.severity) == ("t", "blocking")


def test_datetime_feature_after_the_time_column_warns() -> None:
    frame = timed()
    later = pl.int_range(300) % 5 != 0  # 240 of 300 rows: closed after the event
    frame = frame.with_columns(
        pl.when(later)
        .then(pl.col("t") + pl.duration(days=2))
        .otherwise(pl.col("t") - pl.duration(days=1))
        .alias("closed_at"),
        pl.when(~later)
        .then(pl.col("t") + pl.duration(days=2))
        .otherwise(pl.col("t") - pl.duration(days=1))
        .dt.date()
        .alias("opened_on"),
    )

    report = check(frame, time="t")

    finding = one(report, "leakage.after_time")
    assert (finding.column, finding.severity) == ("closed_at", "warning")
    assert finding.evidence == {"rows_later": 240, "rows_compared": 300, "share": 0.8}


def test_date_time_column_against_datetime_feature() -> None:
    frame = timed().with_columns(
        pl.col("t").dt.date().alias("day"),
        (pl.col("t") + pl.duration(hours=1)).alias("logged_at"),
    )

    finding = one(check(frame.drop("t"), time="day"), "leakage.after_time")

    assert finding.column == "logged_at"
    assert finding.evidence["share"] == 1.0


def trending(n: int = 400, seed: int = 0) -> pl.DataFrame:
    """Monthly rows, shuffled: a target that wanders upward (a random walk with drift, like
    unemployment), a population that only trends with time, a row number that follows time,
    and a copy of the target with a little noise."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0.3, 1.0, n))
    return pl.DataFrame(
        {
            "row": np.arange(1, n + 1),
            "month": [dt.date(1980 + i // 12, i % 12 + 1, 1) for i in range(n)],
            "population": 1000.0 + 2.0 * np.arange(n) + rng.normal(0, 0.5, n),
            "noise": rng.normal(size=n),
            "y": walk,
            "y_noisy": walk + rng.normal(0, 0.03 * walk.std(), n),
        }
    ).sample(fraction=1.0, shuffle=True, seed=seed)


@pytest.mark.parametrize("seed", range(3))
def test_time_order_keeps_trends_apart_from_leaks(seed: int) -> None:
    frame = trending(seed=seed)

    report = check(frame, time="month", id="row")

    leak = one(report, "leakage.single_feature")
    assert leak.column == "y_noisy"
    assert leak.evidence["split"].startswith("time order")
    assert "earlier half by 'month'" in leak.message
    assert not found(report, "leakage.identifier")  # row numbers follow time, not outcome
    # Compared as random halves, the trend alone passes for a leak: neighbours in time
    # on both sides. That is what the time order prevents.
    shuffled = {f.column for f in found(check(frame, id="row"), "leakage.single_feature")}
    assert {"population", "month", "y_noisy"} <= shuffled


def test_a_target_copy_beyond_the_earlier_range_is_still_caught() -> None:
    # The target keeps rising: its later half lies beyond anything a tree saw in the earlier
    # half, so only a straight line follows the copy there.
    n = 300
    rng = np.random.default_rng(7)
    y = np.exp(np.linspace(0, 3, n)) + rng.normal(0, 0.3, n)
    frame = pl.DataFrame(
        {
            "day": np.arange(n),
            "y": y,
            "y_scaled": 2.0 * y + rng.normal(0, 0.05, n),
            "trend": np.arange(n) + rng.normal(0, 0.5, n),
        }
    )

    report = check(frame, time="day")

    assert [f.column for f in found(report, "leakage.single_feature")] == ["y_scaled"]
    assert one(report, "leakage.single_feature").severity == "blocking"


def test_time_order_in_classification() -> None:
    n = 400
    rng = np.random.default_rng(3)
    day = np.arange(n)
    # The share of 'yes' grows over time; a counter of days predicts random halves a little,
    # the label's copy predicts the later half exactly.
    y = np.where(rng.random(n) < 0.2 + 0.6 * day / n, "yes", "no")
    frame = pl.DataFrame({"day": day, "days_open": day + 3, "y": y, "label": y})

    report = check(frame, time="day")

    leak = one(report, "leakage.single_feature")
    assert (leak.column, leak.severity) == ("label", "blocking")
    assert leak.evidence["rows"] == n


# -- every check function is proved to run ------------------------------------------------------

FIRES: dict[str, tuple[pl.DataFrame, dict[str, Any], str]] = {
    "check_row_count": (base(10), {}, "data.too_few_rows"),
    "check_target": (
        base().with_columns(pl.Series("y", ["a"] * 2 + ["b"] * 298)),
        {},
        "target.rare_class",
    ),
    "check_duplicate_rows": (pl.concat([base(), base().head(5)]), {}, "rows.duplicate"),
    "check_duplicate_columns": (
        base().with_columns(pl.col("x").alias("x2")),
        {},
        "columns.duplicate",
    ),
    "check_column_kinds": (base().with_columns(pl.lit(1).alias("one")), {}, "column.constant"),
    "check_missing": (
        base().with_columns(
            pl.when(pl.int_range(300) < 200).then(None).otherwise(pl.col("x")).alias("gap")
        ),
        {},
        "column.mostly_missing",
    ),
    "check_high_cardinality": (
        base(600).with_columns(pl.Series("c", [f"c{i % 101}" for i in range(600)])),
        {},
        "column.high_cardinality",
    ),
    "check_single_feature_leakage": (
        base().with_columns(pl.col("y").alias("leak")),
        {},
        "leakage.single_feature",
    ),
    "check_identifier_leakage": (
        base().sort("y").with_columns(pl.int_range(300).alias("row")),
        {},
        "leakage.identifier",
    ),
    "check_time": (timed().reverse(), {"time": "t"}, "time.unsorted"),
}


def test_every_check_is_covered() -> None:
    assert sorted(c.__name__ for c in CHECKS) == sorted(FIRES)


@pytest.mark.parametrize("check_function", CHECKS, ids=lambda c: c.__name__)
def test_each_check_function_emits_its_code(check_function: Any) -> None:
    frame, fields, code = FIRES[check_function.__name__]
    spec = resolve(spec_from_kwargs({"target": "y", **fields}), frame).spec
    labelled = frame.filter(pl.col("y").is_not_null())
    ctx = CheckContext(
        frame=frame,
        spec=spec,
        schema=infer_schema(frame, spec),
        problem_type=spec.resolved_problem_type,
        target=labelled["y"],
        labelled=labelled,
    )

    codes = [f.code for f in check_function(ctx)]

    assert code in codes
    for other in CHECKS:
        if other is not check_function:
            assert code not in [f.code for f in other(ctx)], other.__name__


# -- clean data, order, allow -------------------------------------------------------------------


@pytest.mark.parametrize("problem_type", ["binary", "multiclass", "regression"])
def test_clean_synthetic_data_has_no_blocking_or_warning(problem_type: str) -> None:
    report = check(make_frame(problem_type, n=400, seed=1))

    assert report.blocking == []
    report.raise_if_blocking()
    assert {f.severity for f in report.findings} <= {"info"}
    assert one(report, "column.text").column == "note"


def test_findings_are_most_severe_first() -> None:
    frame = pl.concat([base(), base().head(1)]).with_columns(
        pl.Series("y", ["a"] * 6 + ["b"] * 295), pl.lit(0).alias("zero")
    )
    report = check(frame.with_columns(pl.col("y").alias("leak")))

    order = {"blocking": 0, "warning": 1, "info": 2}
    ranks = [order[f.severity] for f in report.findings]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == 3


@pytest.fixture
def leaky() -> pl.DataFrame:
    return base().with_columns(pl.col("y").alias("leak"))


@pytest.mark.parametrize("allow", ["leakage.single_feature", "leakage.single_feature:leak"])
def test_allow_lets_a_blocking_finding_through(leaky: pl.DataFrame, allow: str) -> None:
    report = check(leaky, checks={"allow": [allow]})

    assert one(report, "leakage.single_feature").severity == "blocking"  # still reported
    assert report.blocking == []
    report.raise_if_blocking()
    assert report.to_dict()["blocking"] == []


def test_blocking_finding_stops_training_with_key_and_action(leaky: pl.DataFrame) -> None:
    report = check(leaky, checks={"allow": ["leakage.single_feature:other", "target.imbalance"]})
    finding = one(report, "leakage.single_feature")

    with pytest.raises(DataCheckError) as info:
        report.raise_if_blocking()

    error = info.value
    assert isinstance(error, DataError)
    assert error.exit_code == 4
    assert error.findings == [finding]
    assert error.field == "leak"
    assert "1 blocking data-check finding" in error.message
    assert "[leakage.single_feature:leak]" in error.message
    assert f"action: {finding.action}" in error.message
    assert "checks.allow = ['leakage.single_feature:leak']" in (error.hint or "")
    assert report.to_dict()["blocking"] == ["leakage.single_feature:leak"]


def test_every_blocking_finding_is_listed() -> None:
    frame = base(12).with_columns(pl.col("y").alias("leak"))

    with pytest.raises(DataCheckError) as info:
        check(frame, checks={"allow": ["leakage"]}).raise_if_blocking()

    keys = [f.key for f in info.value.findings]  # type: ignore[attr-defined]
    assert "data.too_few_rows" in keys
    assert "leakage.single_feature:leak" in keys
    for key in keys:
        assert f"[{key}]" in info.value.message
    assert f"{len(keys)} blocking data-check finding(s)" in info.value.message


def test_finding_key_and_allowed_by() -> None:
    table_level = Finding("data.too_few_rows", "blocking", "m", "a")
    column_level = Finding("leakage.single_feature", "blocking", "m", "a", column="leak")

    assert table_level.key == "data.too_few_rows"
    assert column_level.key == "leakage.single_feature:leak"
    assert column_level.allowed_by(["leakage.single_feature"])
    assert column_level.allowed_by(["leakage.single_feature:leak"])
    assert not column_level.allowed_by(["leakage.single_feature:other", "leakage"])
    assert column_level.to_dict()["column"] == "leak"
