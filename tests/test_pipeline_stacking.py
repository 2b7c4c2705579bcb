"""A run with a second layer (``search.stack_levels``): when it stacks and why not, the
model it ships (refit over out-of-sample first-layer outputs), and what its evidence says."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import polars as pl
import pytest

import mlwright
from mlwright.pipeline import _stacking
from mlwright.pipeline._prepare import Framed
from mlwright.search import _select
from mlwright.spec import spec_from_kwargs
from summarised import summary_of
from synth import make_frame

STACKED = {
    "time_budget": 600,
    "folds": 3,
    "max_trials": 9,
    "learners": ["lightgbm", "linear"],
    "stack_levels": 1,
}


def framed(strategy: str, train_rows: int) -> Framed:
    splits = SimpleNamespace(strategy=strategy, train=np.arange(train_rows))
    return cast(Framed, SimpleNamespace(splits=splits))


def plan(rows: int = 2000, strategy: str = "stratified", **fields: Any) -> str | None:
    spec = spec_from_kwargs({"target": "y", **fields})
    return _stacking.stacking_plan(spec, framed(strategy, rows), work_seconds=600)


def test_when_a_run_stacks_and_why_not() -> None:
    assert plan() is None  # 'auto', a budget of minutes, random folds
    assert plan(stack_levels=1, max_trials=5) is None
    assert plan(max_trials=5) == ""  # 'auto' under a trial count: nothing to say
    assert plan(stack_levels=0) == "search.stack_levels = 0"
    assert plan(strategy="time", stack_levels=1) is None  # its holdout: the latest rows
    assert plan(strategy="group") is None  # whole groups
    why = plan(rows=300)
    assert why is not None
    assert "stacking holdout of 33 rows" in why
    spec = spec_from_kwargs({"target": "y"})
    why = _stacking.stacking_plan(spec, framed("stratified", 2000), work_seconds=60)
    assert why is not None
    assert "the time budget leaves the search" in why
    # The budget it names is one that stacks, and a second less is not.
    named = re.search(r"a time budget of about (\d+) s before saving", why)
    assert named is not None
    enough = int(named.group(1))
    assert _stacking.stacking_plan(spec, framed("stratified", 2000), work_seconds=enough) is None
    assert _stacking.stacking_plan(spec, framed("stratified", 2000), work_seconds=enough - 1)


def test_a_short_budget_says_it_did_not_stack() -> None:
    data = make_frame("binary", n=1200, seed=4)
    model = mlwright.fit(data, target="y", time_budget=8, folds=3, learners=["lightgbm"])
    skipped = model.metadata["budget"]["skipped"]
    assert "the time budget leaves the search" in skipped[_stacking.STACK_SKIPPED]
    assert "layers" not in model.metadata
    assert {row["layer"] for row in model.metadata["leaderboard"]} == {1}


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> mlwright.Model:
    """A regression run whose second layer the check keeps (forced: on 1,500 rows either
    verdict is possible, and the shipped stack is what this tests)."""
    patch = pytest.MonkeyPatch()
    patch.setattr(_select, "judge_second_layer", keep_the_second_layer)
    try:
        return mlwright.fit(make_frame("regression", n=1500, seed=5), target="y", **STACKED)
    finally:
        patch.undo()


def keep_the_second_layer(search: Any, **kw: Any) -> tuple[dict[str, float], dict[str, Any]]:
    """The check, made to keep an ensemble of the best second-layer trial and the first
    layer's choice, whatever the scores."""
    second = next(t for t in search.ranked() if t.candidate.layer == 2).candidate.name
    weights = {second: 0.5, **{n: 0.5 / len(kw["first_only"]) for n in kw["first_only"]}}
    _, layers = JUDGE(search, **{**kw, "with_second": weights})
    return weights, {**layers, "kept": True}


JUDGE = _select.judge_second_layer


def test_a_kept_second_layer_ships_refit_over_its_inputs(kept: mlwright.Model) -> None:
    layers = kept.metadata["layers"]
    assert layers["kept"] is True
    assert layers["holdout_rows"] == round(1500 * (1 - 0.2) / 9)
    stacked = [m for m in kept.members if m.inputs]
    assert stacked, kept
    assert all("/" not in m.name for m in kept.members)  # refit: one model per trial
    for member in stacked:
        assert member.name.startswith("l2_")
        assert set(member.inputs) <= set(layers["inputs"])
        assert {m.name for m in kept.members} >= set(member.inputs)
    board = kept.metadata["leaderboard"]
    assert {row["layer"] for row in board} == {1, 2}
    assert all(row["stack_holdout"] is not None for row in board if row["status"] == "ok")
    assert "second layer" not in kept.metadata["budget"]["skipped"]


def test_a_stacked_model_predicts_one_record_as_in_a_batch_and_survives_saving(
    kept: mlwright.Model, tmp_path: Path
) -> None:
    data = make_frame("regression", n=60, seed=9).drop("y")
    batch = kept.predict(data)
    one = [kept.predict_one(r) for r in data.iter_rows(named=True)]
    np.testing.assert_allclose(batch, one, rtol=1e-9)
    loaded = mlwright.load(kept.save(tmp_path / "model"))
    np.testing.assert_allclose(loaded.predict(data), batch, rtol=1e-12)
    assert loaded.metadata["layers"] == kept.metadata["layers"]


def test_the_second_layer_learns_from_out_of_sample_first_layer_outputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The refit's inputs: out-of-fold predictions where the folds validated, holdout
    predictions on the stacking holdout, and the bagged models' elsewhere; never a first
    layer model's prediction of a row it was trained on."""
    seen: dict[str, dict[str, np.ndarray]] = {}
    original = _stacking.first_layer_outputs

    def spy(names: list[str], searched: Any, framed: Any, make_model: Any) -> Any:
        out = original(names, searched, framed, make_model)
        seen["out"] = out
        seen["searched"] = searched
        seen["positions"] = framed.search_positions
        seen["rows"] = framed.frame.height
        return out

    monkeypatch.setattr(_stacking, "first_layer_outputs", spy)
    from mlwright.pipeline import _refit

    monkeypatch.setattr(_refit, "first_layer_outputs", spy)
    monkeypatch.setattr(_select, "judge_second_layer", keep_the_second_layer)
    mlwright.fit(make_frame("binary", n=1500, seed=6), target="y", **STACKED)
    searched = seen["searched"]
    positions = seen["positions"]
    prepared = searched.prepared
    assert seen["out"], "the refit read first-layer outputs"
    for name, out in seen["out"].items():
        trial = searched.by_name(name)
        assert out.shape[0] == seen["rows"]
        validated = prepared.validated
        np.testing.assert_array_equal(out[positions[validated]], trial.oof[validated])
        np.testing.assert_array_equal(out[positions[prepared.holdout]], trial.holdout_pred)
        assert not np.isnan(out).any()


def test_a_second_layer_on_a_time_split_is_judged_on_the_latest_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}
    carve = _stacking.carve_holdout

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen["times"] = kwargs["times"]
        seen["split"] = carve(*args, **kwargs)
        return seen["split"]

    monkeypatch.setattr(_stacking, "carve_holdout", spy)
    carve_stopping = _stacking.carve_stopping

    def stopping_spy(*args: Any, **kwargs: Any) -> Any:
        seen["stopping"] = carve_stopping(*args, **kwargs)
        return seen["stopping"]

    monkeypatch.setattr(_stacking, "carve_stopping", stopping_spy)
    data = make_frame("binary", n=900, seed=7).with_columns(pl.col("signup").alias("when"))
    # Two families: the second layer reads at least two first-layer trials whatever the
    # greedy ensemble's size (one LightGBM alone may fill it).
    model = mlwright.fit(data, target="y", time="when", **STACKED)
    assert _stacking.STACK_SKIPPED not in model.metadata["budget"].get("skipped", {})
    split, times = seen["split"], seen["times"]
    assert model.metadata["layers"]["holdout_rows"] == len(split.holdout)
    latest_fitted = max(times[fit].max() for fit, _ in split.folds)
    assert times[split.holdout].min() >= latest_fitted  # after every fold's training rows
    # Early stopping reads each fold's latest training rows, after the holdout is carved.
    stopping = seen["stopping"]
    assert [len(f) for f, _ in stopping.folds] == [len(f) for f, _ in split.folds]
    for (fit, _), stop in zip(stopping.folds, stopping.stopping, strict=True):
        rest = np.setdiff1d(fit, stop)
        assert len(stop)
        assert times[stop].min() >= times[rest].max()


def test_the_card_shows_what_the_time_bought_and_the_second_layers_check(
    kept: mlwright.Model,
) -> None:
    from mlwright.report import model_card

    markdown = model_card(kept).to_markdown()
    assert "What the search's time bought, step by step" in markdown
    assert "| default configurations |" in markdown
    assert "| second layer: default configurations |" in markdown
    layers = kept.metadata["layers"]
    assert f"on the stacking holdout ({layers['holdout_rows']} rows no model saw)" in markdown
    assert "The second layer was kept" in markdown


def test_the_refit_reserve_counts_the_inputs_a_second_layer_leader_reads() -> None:
    from mlwright.pipeline._budget import refit_leaders
    from mlwright.search import Candidate, TrialResult

    def trial(name: str, family: str, inputs: tuple[str, ...] = ()) -> TrialResult:
        return TrialResult(Candidate(name, family, {}, inputs=inputs), "ok", fold_scores=[0.5])

    ranked = [
        trial("l2_lightgbm", "lightgbm", inputs=("lightgbm_4", "linear")),
        trial("lightgbm_1", "lightgbm"),
        trial("lightgbm_2", "lightgbm"),
        trial("lightgbm_3", "lightgbm"),
        trial("lightgbm_4", "lightgbm"),
        trial("linear", "linear"),
    ]
    names = [t.candidate.name for t in refit_leaders(ranked)]
    # The three best, the best linear one, and lightgbm_4 only because the stack reads it.
    assert names == ["l2_lightgbm", "lightgbm_1", "lightgbm_2", "linear", "lightgbm_4"]
    plain = [t.candidate.name for t in refit_leaders(ranked[1:])]
    assert plain == ["lightgbm_1", "lightgbm_2", "lightgbm_3", "linear"]


def test_a_resumed_run_keeps_the_interrupted_runs_stacking_decision(tmp_path: Path) -> None:
    # The interrupted run stacked (a budget of minutes); the resume bounds it by max_trials,
    # where "auto" would not stack: its journaled trials were fitted on folds without the
    # stacking holdout's rows, so it must stack too.
    assert _stacking.kept_decision(tmp_path, True, resume=False) == (True, None)
    stack, note = _stacking.kept_decision(tmp_path, False, resume=True)
    assert stack is True
    assert note == (
        "resumed: the interrupted run stacked, and so does this one (its trials were fitted "
        "on its folds)"
    )
    assert _stacking.kept_decision(tmp_path, True, resume=True) == (True, None)
    assert _stacking.kept_decision(tmp_path, False, resume=False) == (False, None)  # a new run
    stack, note = _stacking.kept_decision(tmp_path, True, resume=True)
    assert stack is False
    assert note is not None
    assert "did not stack, nor does this one" in note


def test_the_summary_says_whether_the_second_layer_was_kept(kept: mlwright.Model) -> None:
    layers = kept.metadata["layers"]
    assert (
        f"second layer kept: on the stacking holdout ({layers['holdout_rows']} rows no model "
        "saw) rmse" in summary_of(kept)
    )


def test_a_latency_bound_no_stack_meets_gets_the_first_layer_and_what_a_stack_costs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def measured(self: mlwright.Model, records: Any, calls: int = 200) -> dict[str, float]:
        # A model with a second layer takes 2 ms a row, any other 0.1 ms.
        us = 2000.0 if any(m.inputs for m in self.members) else 100.0
        return {"p50_us": us, "p99_us": us}

    monkeypatch.setattr(mlwright.Model, "measure_latency", measured)
    model = mlwright.fit(
        make_frame("binary", n=1200, seed=8),
        target="y",
        max_latency_p99_ms=0.5,
        **STACKED,
    )
    why = model.metadata["budget"]["skipped"][_stacking.STACK_SKIPPED]
    assert "none meets constraints.max_latency_p99_ms = 0.5" in why
    assert "first-layer models, predicts one row in p99 2 ms" in why
    assert "the model is the best first-layer choice within the bound" in why
    assert not any(m.inputs for m in model.members)


def test_a_kept_second_layer_over_the_p50_target_after_the_refit_gives_way_to_the_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refit ensemble with a second-layer member that reads over the p50 target is chosen
    again over its first layer's refit members (credit at 300 s shipped 1.09 ms a row
    with one), rather than shipped over the target."""
    from mlwright.pipeline._refit import LATENCY_TARGET_MISSED

    def measured(self: mlwright.Model, records: Any, calls: int = 200) -> dict[str, float]:
        # A model whose second layer has a weight: 5 ms a row; else 0.1 ms a weighted trial.
        if any(m.inputs and m.weight > 0 for m in self.members):
            us = 5000.0
        else:
            us = 100.0 * len({m.name.split("/")[0] for m in self.members if m.weight > 0})
        return {"p50_us": us, "p99_us": us, "calls": calls}

    monkeypatch.setattr(mlwright.Model, "measure_latency", measured)
    monkeypatch.setattr(_select, "judge_second_layer", keep_the_second_layer)
    model = mlwright.fit(
        make_frame("regression", n=1500, seed=5),
        target="y",
        target_latency_p50_ms=1.0,
        **STACKED,
    )
    assert model.metadata["layers"]["kept"] is True  # the check kept it; the refit read 5 ms
    notes = model.metadata["rejected_by_constraints"]
    again = [n for n in notes if "measured after the refit at 5.00 ms" in n]
    assert len(again) == 1, notes
    assert "chosen again with the in-turn times over the first layer" in again[0]
    assert not any(m.inputs for m in model.members)
    assert model.metadata["latency"]["p50_us"] <= 800.0
    assert LATENCY_TARGET_MISSED not in model.metadata["budget"]["skipped"]
