"""Monitoring a model's logged traffic window by window: quiet traffic stays quiet, real
shifts alert in their own windows, small windows are said to be too small, and late labels
give the realised metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from logged import DAY0, NAME, VERSION, days, log_traffic
from mlwright.artifact import Model
from mlwright.errors import DataError
from mlwright.monitor import add_feedback, expected_auc, monitor, read_labels
from synth import make_frame

ROWS = 400


@pytest.fixture
def log(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'log.db'}"


def watch(model: Model, log: str, **kwargs: object) -> object:
    return monitor(model, log, model_name=NAME, model_version=VERSION, **kwargs)  # type: ignore[arg-type]


def traffic(n_days: int, seed: int = 7) -> pl.DataFrame:
    return make_frame("binary", n=ROWS * n_days, seed=seed).drop("y")


def test_quiet_traffic_raises_no_alert(trained: dict[str, Model], log: str) -> None:
    model = trained["binary"]
    log_traffic(log, model, traffic(4), days(ROWS, 4))
    report = watch(model, log)
    assert report.status == "ok", [w.alerts for w in report.windows]
    assert report.exit_code == 0
    assert [w.rows for w in report.windows] == [ROWS] * 4
    assert report.windows[0].start == DAY0
    window = report.windows[0]
    assert set(window.drift) == {"num", "count", "plan", "vip"}  # text and dates: no bins
    assert all(d["level"] == "stable" for d in window.drift.values())
    assert window.predictions is not None
    assert window.predictions["level"] == "stable"
    estimate = window.estimated["metrics"]["roc_auc"]
    assert estimate["low"] <= estimate["value"] <= estimate["high"]
    assert window.realised is None  # no labels yet
    report.to_json()  # JSON-safe


def test_a_shifted_numeric_input_alerts_in_the_windows_it_happens(
    trained: dict[str, Model], log: str
) -> None:
    model = trained["binary"]
    frame = traffic(4)
    shifted = frame.with_columns(
        pl.when(pl.int_range(pl.len()) >= 2 * ROWS)
        .then(pl.col("num") + 1.0)
        .otherwise(pl.col("num"))
        .alias("num")
    )
    log_traffic(log, model, shifted, days(ROWS, 4))
    report = watch(model, log)
    assert [w.status for w in report.windows] == ["ok", "ok", "alert", "alert"]
    assert report.exit_code == 1
    late = report.windows[2]
    assert late.drift["num"]["level"] == "drift"
    assert late.drift["num"]["wasserstein"] == pytest.approx(1.0, abs=0.35)
    assert any("'num' drifted" in a for a in late.alerts)
    assert late.drift["plan"]["level"] == "stable"


def test_new_categories_and_missing_values_are_quality_alerts(
    trained: dict[str, Model], log: str
) -> None:
    model = trained["binary"]
    frame = traffic(2)
    rows = pl.int_range(pl.len())
    broken = frame.with_columns(
        pl.when((rows >= ROWS) & (rows % 5 == 0))
        .then(pl.lit("enterprise"))
        .otherwise(pl.col("plan"))
        .alias("plan"),
        pl.when((rows >= ROWS) & (rows % 3 == 0))
        .then(None)
        .otherwise(pl.col("count"))
        .alias("count"),
    )
    log_traffic(log, model, broken, days(ROWS, 2))
    first, second = watch(model, log).windows
    assert first.status == "ok"
    assert second.status == "alert"
    assert second.quality["plan"]["new_categories"] == {"enterprise": ROWS // 5}
    assert second.quality["count"]["missing_rate"] == pytest.approx(1 / 3, abs=0.01)
    text = " ".join(second.alerts)
    assert "unseen in training ('enterprise')" in text
    assert "'count' is missing in 33" in text


def test_a_small_window_is_too_small_to_judge_not_quiet(
    trained: dict[str, Model], log: str
) -> None:
    model = trained["binary"]
    frame = traffic(2)
    times = days(ROWS, 1) + days(50, 1, DAY0 + (days(1, 2)[1] - DAY0))
    log_traffic(log, model, frame.head(ROWS + 50), times)
    report = watch(model, log)
    assert [w.rows for w in report.windows] == [ROWS, 50]
    assert report.windows[1].status == "too few rows"
    assert report.windows[1].drift == {}
    assert report.status == "ok"


def test_since_and_until_pick_the_windows(trained: dict[str, Model], log: str) -> None:
    model = trained["binary"]
    log_traffic(log, model, traffic(3), days(ROWS, 3))
    report = watch(model, log, since=days(1, 2)[1], until=days(1, 3)[2])
    assert [w.start for w in report.windows] == [days(1, 2)[1]]
    with pytest.raises(DataError, match="no answers of synth version 1 since"):
        watch(model, log, since=days(1, 5)[4])


def test_an_empty_or_foreign_log_is_an_error(
    trained: dict[str, Model], log: str, tmp_path: Path
) -> None:
    model = trained["binary"]
    with pytest.raises(DataError, match="holds no answers") as caught:
        watch(model, f"sqlite:///{tmp_path / 'empty.db'}")
    assert caught.value.field == "log"
    log_traffic(log, model, traffic(1), days(ROWS, 1), version="2")
    with pytest.raises(DataError, match="version 1"):
        watch(model, log)


def test_late_labels_give_the_realised_metric_and_a_flipped_segment_alerts(
    trained: dict[str, Model], log: str
) -> None:
    model = trained["binary"]
    data = make_frame("binary", n=ROWS * 2, seed=11)
    ids = log_traffic(log, model, data.drop("y"), days(ROWS, 2))
    truth = data["y"].to_list()
    # Day two's labels are flipped: what the model learned no longer holds there.
    flipped = truth[:ROWS] + ["no" if t == "yes" else "yes" for t in truth[ROWS:]]
    result = add_feedback(
        model, log, pl.DataFrame({"prediction_id": ids, "y": flipped}), model_name=NAME
    )
    assert (result.stored, result.unmatched, result.replaced) == (2 * ROWS, 0, 0)
    first, second = watch(model, log).windows
    assert first.realised["status"] == "judged"
    assert first.realised["labelled"] == ROWS
    assert first.realised["metric"] == "roc_auc"
    assert first.realised["low"] <= first.realised["value"] <= first.realised["high"]
    assert first.realised["value"] > 0.75
    assert first.status == "ok"
    assert second.realised["value"] < 0.3
    assert second.status == "alert"
    assert any(a.startswith("realised roc_auc") for a in second.alerts)
    # Covariates did not move: the label-free estimate cannot see a concept shift.
    assert not any("drifted" in a for a in second.alerts)


def test_feedback_reports_unmatched_ids_and_replaces_corrections(
    trained: dict[str, Model], log: str
) -> None:
    model = trained["binary"]
    ids = log_traffic(log, model, traffic(1).head(20), days(20, 1))
    labels = pl.DataFrame(
        {"prediction_id": [*ids[:10], "nope1", "nope2", ids[0]], "y": ["no"] * 12 + ["yes"]}
    )
    result = add_feedback(model, log, labels, model_name=NAME)
    assert (result.received, result.stored, result.unmatched, result.duplicates) == (13, 10, 2, 1)
    assert result.unmatched_examples == ["nope1", "nope2"]
    assert read_labels(log, ids[:2]) == {ids[0]: "yes", ids[1]: "no"}
    again = add_feedback(
        model, log, pl.DataFrame({"prediction_id": [ids[1]], "y": ["yes"]}), model_name=NAME
    )
    assert again.replaced == 1
    assert read_labels(log, [ids[1]]) == {ids[1]: "yes"}


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (pl.DataFrame({"prediction_id": ["ID"], "y": ["maybe"]}), "not one of the model's classes"),
        (pl.DataFrame({"id": ["x"], "y": ["no"]}), "no id column 'prediction_id'"),
        (pl.DataFrame({"prediction_id": ["x"], "label": ["no"], "other": [1]}), None),
        (pl.DataFrame({"prediction_id": [None, "ID"], "y": ["no", "no"]}), "have no prediction id"),
    ],
)
def test_bad_labels_fail_before_anything_is_written(
    trained: dict[str, Model], log: str, labels: pl.DataFrame, match: str | None
) -> None:
    model = trained["binary"]
    ids = log_traffic(log, model, traffic(1).head(5), days(5, 1))
    first = labels.columns[0]  # "ID" stands for a logged prediction's id
    labels = labels.with_columns(pl.col(first).replace("ID", ids[0]))
    with pytest.raises(DataError, match=match or "matches a logged prediction"):
        add_feedback(model, log, labels, model_name=NAME)
    assert read_labels(log, ids) == {}


def test_regression_labels_must_be_numbers(trained: dict[str, Model], log: str) -> None:
    model = trained["regression"]
    frame = make_frame("regression", n=5, seed=2)
    ids = log_traffic(log, model, frame.drop("y"), days(5, 1))
    with pytest.raises(DataError, match="is not a number"):
        add_feedback(
            model, log, pl.DataFrame({"prediction_id": ids, "y": ["a"] * 5}), model_name=NAME
        )
    stored = add_feedback(
        model, log, frame.select(pl.Series("prediction_id", ids), "y"), model_name=NAME
    )
    assert stored.stored == 5


def test_expected_auc_is_the_mean_auc_over_labels_drawn_from_the_probabilities() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    p = np.round(rng.beta(2, 3, 400), 2)  # ties included
    draws = [roc_auc_score(y, p) for y in (rng.random((2000, 400)) < p)]
    assert expected_auc(p) == pytest.approx(float(np.mean(draws)), abs=0.005)


def test_answers_of_one_request_share_a_time_and_the_id_orders_them(
    trained: dict[str, Model], log: str
) -> None:
    from mlwright.monitor import labelled_answers

    model = trained["binary"]
    frame = traffic(1).head(100)
    ids = log_traffic(log, model, frame, [DAY0] * 100)  # one list request: one timestamp
    add_feedback(
        model, log, pl.DataFrame({"prediction_id": ids, "y": ["no"] * 100}), model_name=NAME
    )
    ordered = [a.prediction_id for a in labelled_answers(log, NAME)]
    assert ordered == sorted(ids)
    later = labelled_answers(log, NAME, start=(DAY0, ordered[60]))
    assert [a.prediction_id for a in later] == ordered[60:]


def test_a_model_without_binned_reference_statistics_says_to_retrain(
    trained: dict[str, Model], log: str
) -> None:
    import copy

    model = copy.copy(trained["binary"])
    model.metadata = {**model.metadata, "reference": {"features": {"num": {"kind": "numeric"}}}}
    log_traffic(log, trained["binary"], traffic(1), days(ROWS, 1))
    with pytest.raises(DataError, match="no binned reference statistics") as caught:
        watch(model, log)
    assert caught.value.hint is not None
    assert "retrain" in caught.value.hint
