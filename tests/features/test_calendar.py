"""The time column read for its calendar parts only (the plan kind "calendar")."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from mlwright.features import FeaturePlan


def test_calendar_parts_recur_and_batch_agrees_with_one_record() -> None:
    times = [dt.datetime(2023, 12, 30, 23, 15) + dt.timedelta(hours=13 * i) for i in range(50)]
    frame = pl.DataFrame({"t": [*times, None]})
    for style in ("tree", "linear"):
        plan = FeaturePlan([("t", "calendar")], style).fit(frame)  # type: ignore[arg-type]
        parts = {n.split("__")[1] for n in plan.feature_names}  # linear: missing flags too
        assert parts == {"month", "day", "weekday", "hour"}
        X = plan.transform(frame)
        for i, row in enumerate(frame.iter_rows(named=True)):
            np.testing.assert_array_equal(X[i], plan.transform_one(row))
        again = FeaturePlan.from_dict(plan.to_dict())
        np.testing.assert_array_equal(again.transform(frame), X)
    raw = FeaturePlan([("t", "calendar")], "tree").fit(frame).transform_one({"t": times[1]})
    assert raw == [12.0, 31.0, 7.0, 12.0]  # 2023-12-31 12:15, a Sunday


def test_dates_without_times_have_no_hour() -> None:
    frame = pl.DataFrame({"d": [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(9)]})
    plan = FeaturePlan([("d", "calendar")], "tree").fit(frame)
    assert plan.feature_names == ["d__month", "d__day", "d__weekday"]
