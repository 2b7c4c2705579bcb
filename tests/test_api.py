from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

import mlwright
from mlwright import Model
from mlwright.artifact import Calibrator
from synth import FAST, make_frame


def test_public_api_is_pinned() -> None:
    assert sorted(mlwright.__all__) == [
        "ArtifactError",
        "DataCheckError",
        "DataError",
        "InputError",
        "MlwrightError",
        "MlwrightWarning",
        "Model",
        "NotFittedError",
        "Recommendation",
        "Recommender",
        "RegistryError",
        "SchemaMismatchError",
        "SpecError",
        "TaskSpec",
        "TrainingError",
        "__version__",
        "fit",
        "load",
        "load_spec",
        "run",
    ]
    for name in mlwright.__all__:
        assert getattr(mlwright, name) is not None
        if callable(getattr(mlwright, name)):
            assert getattr(mlwright, name).__doc__, f"{name} has no docstring"


def test_every_error_is_an_mlwright_error() -> None:
    for name in mlwright.__all__:
        obj = getattr(mlwright, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, mlwright.MlwrightError)


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_predict_one_agrees_with_batch_predict(trained: dict[str, Model], problem: str) -> None:
    model = trained[problem]
    data = make_frame(problem, n=80, seed=5).drop("y")
    batch = model.predict(data)
    singles = [model.predict_one(r) for r in data.iter_rows(named=True)]
    if problem == "regression":
        assert np.allclose(batch, singles, rtol=1e-12)
    else:
        assert list(batch) == singles
        proba = model.predict_proba(data)
        assert list(proba.columns) == model.class_names
        for i, record in enumerate(data.head(10).iter_rows(named=True)):
            one = model.predict_proba_one(record)
            assert list(one) == model.class_names
            assert np.allclose(list(one.values()), proba.iloc[i].to_numpy(), rtol=1e-12)


def test_pandas_polars_and_path_inputs_agree(trained: dict[str, Model], tmp_path: Path) -> None:
    model = trained["binary"]
    data = make_frame("binary", n=50, seed=6).drop("y")
    path = tmp_path / "d.parquet"
    data.write_parquet(path)
    by_polars = model.predict_proba(data)
    by_pandas = model.predict_proba(data.to_pandas())
    by_path = model.predict_proba(path)
    pd.testing.assert_frame_equal(by_polars, by_pandas)
    pd.testing.assert_frame_equal(by_polars, by_path)


def test_pandas_records_with_nan_for_missing(trained: dict[str, Model]) -> None:
    model = trained["binary"]
    data = make_frame("binary", n=30, seed=7).drop("y")
    records = data.to_pandas().to_dict("records")
    assert any(pd.isna(r["num"]) for r in records)
    assert [model.predict_one(r) for r in records] == list(model.predict(data))


def test_binary_labels_use_the_business_value_threshold() -> None:
    data = make_frame("binary", n=500, seed=2)
    model = mlwright.fit(data, target="y", value={"tp": 100, "fp": -5}, **FAST)
    assert model.threshold is not None
    assert model.threshold < 0.5
    proba = model.predict_proba(data)["yes"].to_numpy()
    labels = model.predict(data)
    assert list(labels) == ["yes" if p >= model.threshold else "no" for p in proba]
    decision = model.metrics["decision"]
    per_1000 = decision["holdout_value_per_1000"]
    assert per_1000["model_at_threshold"]["value"] >= per_1000["act_on_no_one"]["value"]
    for interval in [*per_1000.values(), *decision["gain_per_1000"].values()]:
        assert interval["low"] <= interval["value"] <= interval["high"]
    assert set(decision["gain_per_1000"]) == {"model_at_0.5", "act_on_everyone", "act_on_no_one"}
    gain = decision["gain_per_1000"]["act_on_no_one"]["value"]
    assert gain == pytest.approx(
        per_1000["model_at_threshold"]["value"] - per_1000["act_on_no_one"]["value"]
    )
    assert len(decision["curve"]) == 101


# Missing a 'high' case is expensive; a false alarm is cheap.
MATRIX = {
    "low": {"mid": -1.0, "high": -2.0},
    "mid": {"low": -1.0, "high": -1.0},
    "high": {"low": -20.0, "mid": -10.0, "high": 5.0},
}


def test_multiclass_labels_follow_the_value_matrix(tmp_path: Path) -> None:
    data = make_frame("multiclass", n=600, seed=2)
    model = mlwright.fit(data, target="y", value={"matrix": MATRIX}, **FAST)
    rows = make_frame("multiclass", n=200, seed=5).drop("y")
    proba = model.predict_proba(rows)
    # MATRIX in class order (high, low, mid), truth by row, prediction by column.
    assert list(proba.columns) == ["high", "low", "mid"]
    matrix = np.array([[5.0, -20.0, -10.0], [-2.0, 0.0, -1.0], [-1.0, -1.0, 0.0]])
    expected = np.array(["high", "low", "mid"])[(proba.to_numpy() @ matrix).argmax(axis=1)]
    labels = model.predict(rows)
    assert list(labels) == list(expected)
    assert (labels == "high").mean() > (proba.to_numpy().argmax(axis=1) == 0).mean()
    loaded = mlwright.load(model.save(tmp_path / "model"))
    assert [loaded.predict_one(r) for r in rows.iter_rows(named=True)] == list(labels)
    decision = model.metrics["decision"]
    policies = set(decision["holdout_value_per_1000"])
    assert {"highest_expected_value", "most_probable_class"} < policies
    assert len(policies) == 3
    assert any(name.startswith("always_") for name in policies)
    assert decision["matrix"]["values"] == matrix.tolist()
    for interval in decision["gain_per_1000"].values():
        assert interval["low"] <= interval["value"] <= interval["high"]


@pytest.mark.parametrize(
    ("problem", "matrix", "field"),
    [
        ("multiclass", {"low": {"huge": -1.0}}, "value.matrix.low.huge"),
        ("multiclass", {"lo": {"mid": -1.0}}, "value.matrix.lo"),
        ("binary", {"yes": {"no": -1.0}}, "value.matrix"),
    ],
)
def test_a_value_matrix_that_does_not_fit_the_classes_is_refused(
    problem: str, matrix: dict[str, dict[str, float]], field: str
) -> None:
    with pytest.raises(mlwright.SpecError) as raised:
        mlwright.fit(make_frame(problem, n=200), target="y", value={"matrix": matrix}, **FAST)
    assert raised.value.field == field


def test_integer_and_boolean_targets_come_back_in_their_type() -> None:
    data = make_frame("binary", n=300, seed=3)
    as_int = data.with_columns((pl.col("y") == "yes").cast(pl.Int64))
    as_bool = data.with_columns(pl.col("y") == "yes")
    int_model = mlwright.fit(as_int, target="y", **FAST)
    bool_model = mlwright.fit(as_bool, target="y", **FAST)
    assert int_model.classes == [0, 1]
    assert bool_model.classes == [False, True]
    assert int_model.predict(as_int).dtype == np.int64
    assert bool_model.predict(as_bool).dtype == bool
    record = as_int.drop("y").row(0, named=True)
    assert int_model.predict_one(record) in (0, 1)
    assert bool_model.predict_proba_one(record).keys() == {"false", "true"}


def test_regression_has_no_probabilities(trained: dict[str, Model]) -> None:
    model = trained["regression"]
    with pytest.raises(mlwright.InputError, match="regression"):
        model.predict_proba(make_frame("regression", n=5).drop("y"))
    assert isinstance(
        model.predict_one(make_frame("regression", n=1).drop("y").row(0, named=True)), float
    )


def test_model_reports_scores_with_baseline_and_intervals(trained: dict[str, Model]) -> None:
    for model in trained.values():
        holdout = model.metrics["holdout"]
        for who in ("model", "baseline"):
            interval = holdout[who]
            assert interval["low"] <= interval["value"] <= interval["high"]
        board = model.leaderboard
        assert {"model", "family", "fit_seconds", "status", "chosen"} <= set(board.columns)
        chosen = board[board["chosen"]]
        assert len(chosen) >= 1
        assert chosen["weight"].sum() == pytest.approx(1.0)
        assert set(chosen["model"]) == set(model.metadata["ensemble"])
        assert "baseline" in set(board["family"])
        assert model.metadata["latency"]["p50_us"] > 0
    binary = trained["binary"].metrics
    assert binary["holdout"]["model"]["value"] > binary["holdout"]["baseline"]["value"] + 0.1


def test_regression_models_give_conformal_intervals(
    trained: dict[str, Model], tmp_path: Path
) -> None:
    model = trained["regression"]
    data = make_frame("regression", n=40, seed=9).drop("y")
    frame = model.predict_interval(data, level=0.9)
    assert list(frame.columns) == ["prediction", "lower", "upper"]
    assert np.array_equal(frame["prediction"].to_numpy(), model.predict(data))
    assert (frame["lower"] < frame["prediction"]).all()
    assert (frame["prediction"] < frame["upper"]).all()
    wider = model.predict_interval(data, level=0.95)
    assert (wider["upper"] >= frame["upper"]).all()
    loaded = mlwright.load(model.save(tmp_path / "model"))
    for record, row in zip(data.iter_rows(named=True), frame.itertuples(), strict=True):
        one = loaded.predict_interval_one(record, level=0.9)
        assert one == pytest.approx({"prediction": row[1], "lower": row[2], "upper": row[3]})
    report = model.metrics["intervals"]["levels"]["0.9"]
    assert 0.0 <= report["holdout_coverage"]["low"] <= report["holdout_coverage"]["high"] <= 1.0
    with pytest.raises(mlwright.InputError, match=r"level 0\.5") as raised:
        model.predict_interval(data, level=0.5)
    assert raised.value.field == "level"
    with pytest.raises(mlwright.InputError, match="no prediction intervals"):
        trained["binary"].predict_interval(make_frame("binary", n=5).drop("y"))


def test_classifiers_report_their_calibration(trained: dict[str, Model]) -> None:
    for problem in ("binary", "multiclass"):
        model = trained[problem]
        calibration = model.metrics["calibration"]
        assert calibration["chosen"] == (
            "none" if model.calibrator is None else model.calibrator.kind
        )
        assert "none" in calibration["cv_log_loss"]
        rows = sum(b["rows"] for b in calibration["holdout"]["reliability_after"])
        assert rows == model.metrics["holdout"]["rows"]


def test_a_calibrated_model_survives_save_and_load(
    trained: dict[str, Model], tmp_path: Path
) -> None:
    model = mlwright.load(trained["binary"].save(tmp_path / "plain"))
    data = make_frame("binary", n=30, seed=4).drop("y")
    before = model.predict_proba(data)["yes"].to_numpy()
    model.set_calibrator(Calibrator("platt", {"a": 0.5, "b": 0.3}))
    loaded = mlwright.load(model.save(tmp_path / "calibrated"))
    assert loaded.calibrator is not None
    assert loaded.calibrator.to_dict() == {
        "kind": "platt",
        "params": {"a": 0.5, "b": 0.3},
    }
    after = loaded.predict_proba(data)["yes"].to_numpy()
    logit = np.log(before / (1 - before))
    assert after == pytest.approx(1 / (1 + np.exp(-(0.5 * logit + 0.3))))
    for record, p in zip(data.iter_rows(named=True), after, strict=True):
        assert loaded.predict_proba_one(record)["yes"] == pytest.approx(p, rel=1e-12)
    with pytest.raises(ValueError, match="platt calibration is for binary"):
        mlwright.load(trained["multiclass"].save(tmp_path / "multi")).set_calibrator(
            Calibrator("platt", {"a": 1.0, "b": 0.0})
        )


def test_every_model_climbs_the_complexity_ladder_from_the_baseline(
    trained: dict[str, Model],
) -> None:
    names = {"baseline", "linear", "best single", "ensemble", "stacked ensemble"}
    for model in trained.values():
        ladder = model.metrics["complexity"]
        steps = ladder["steps"]
        assert steps[0]["name"] == "baseline"
        assert {s["name"] for s in steps} <= names
        assert [s["name"] for s in steps if s["recommended"]] == [ladder["recommended"]]
        chosen = model.metadata["chosen"]
        assert steps[-1]["model"] == chosen
        holdout = model.metrics["holdout"]["model"]["value"]
        assert steps[-1]["score"]["value"] == pytest.approx(holdout)


def test_fit_refuses_unknown_fields() -> None:
    with pytest.raises(mlwright.SpecError, match="did you mean 'time_budget'"):
        mlwright.fit(make_frame(n=50), target="y", time_budgit=5)


def test_run_saves_registers_and_loads(workdir: Path) -> None:
    data = make_frame("binary", n=300, seed=4)
    data.write_csv(workdir / "train.csv")
    (workdir / "spec.toml").write_text(
        '[data]\npath = "train.csv"\n[task]\ntarget = "y"\n'
        '[constraints]\ntime_budget = "60s"\n[validation]\nfolds = 3\n'
        '[search]\nmax_trials = 2\nlearners = ["lightgbm", "linear"]\n'
    )
    model = mlwright.run(workdir / "spec.toml")
    assert model.registry["alias"] == "champion"
    assert (workdir / "models" / "y" / "manifest.json").exists()
    assert (workdir / "mlflow.db").exists()
    again = mlwright.load("models:/y@champion")
    records = list(data.drop("y").head(5).iter_rows(named=True))
    assert [again.predict_one(r) for r in records] == [model.predict_one(r) for r in records]
    second = mlwright.run(workdir / "spec.toml", out=workdir / "other", max_trials=1)
    assert second.registry["alias"] == "challenger"
    assert (workdir / "other" / "manifest.json").exists()


# -- progress and warnings in Python ------------------------------------------------------------

QUICK = {**FAST, "max_trials": 1, "learners": ["linear"]}


def closed_after_the_event() -> pl.DataFrame:
    """``closed_at`` is two days after the time column ``t`` on every row: a column
    recorded after the outcome (the data check ``leakage.after_time`` warns)."""
    return make_frame("binary", n=300, seed=1).with_columns(
        pl.col("signup").alias("t"), (pl.col("signup") + pl.duration(days=2)).alias("closed_at")
    )


def test_fit_issues_the_data_checks_warnings_and_the_model_keeps_them(tmp_path: Path) -> None:
    with pytest.warns(mlwright.MlwrightWarning, match=r"\[leakage\.after_time:closed_at\]") as seen:
        model = mlwright.fit(
            closed_after_the_event(), target="y", time="t", progress=False, **QUICK
        )
    assert seen[0].filename == __file__, "the warning points at the caller's line"
    assert issubclass(mlwright.MlwrightWarning, UserWarning)
    (line,) = [w for w in model.warnings if "leakage.after_time" in w]
    assert "add it to task.ignore" in line
    model.save(tmp_path / "model")
    assert mlwright.load(tmp_path / "model").warnings == model.warnings


def test_fit_draws_progress_when_stderr_is_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # Rich takes stderr for a terminal
    frame = make_frame("binary", n=300, seed=1)
    mlwright.fit(frame, target="y", **QUICK)
    shown = capsys.readouterr().err
    assert "searching models" in shown
    assert "validation:" in shown
    mlwright.fit(frame, target="y", progress=False, **QUICK)
    assert capsys.readouterr().err == ""
