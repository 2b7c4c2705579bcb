"""Two-layer stacking in the artifact: a second-layer member reads its plan's columns plus
the outputs of first-layer trials; batch and one-record paths agree, it round-trips, a
damaged manifest is an ArtifactError naming the field, and explanations add up."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlwright
from hostile import edit_manifest
from mlwright.artifact import MANIFEST, Member, Model, Stacker, stack_columns, stack_columns_one
from mlwright.errors import ArtifactError
from mlwright.evaluate import global_importance
from mlwright.features import FeaturePlan
from mlwright.learners import LEARNERS, LearnerTask
from mlwright.pipeline import encode_target
from synth import WORDS, make_frame

PROBLEMS = ["binary", "multiclass", "regression"]
# Members: trial "lgbm_a" bagged in two folds, trial "lgbm_b" input-only, a stacked member.
WEIGHTS = (0.3, 0.3, 0.0, 0.4)
INPUTS = ("lgbm_a", "lgbm_b")


def _lightgbm(**params: Any) -> Any:
    return LEARNERS["lightgbm"]({"n_estimators": 25, **params}, seed=0)


def _stacked_model(base: Model) -> Model:
    """A real stacked model on ``base``'s task (spec, inputs, reference statistics)."""
    problem = base.problem_type
    data = make_frame(problem, n=400, seed=1)
    y, classes = encode_target(data["y"], problem, None)  # type: ignore[arg-type]
    n_classes = len(classes) if problem != "regression" else 0
    style = _lightgbm().feature_style
    plan = FeaturePlan([(f.name, f.kind) for f in base.inputs], style, n_classes=n_classes)
    plan.fit(data, y)
    X = plan.transform(data)
    task = LearnerTask(problem, n_classes, tuple(plan.categorical_indices))  # type: ignore[arg-type]
    half = len(X) // 2
    fold0 = _lightgbm().fit(X[:half], y[:half], task)
    fold1 = _lightgbm().fit(X[half:], y[half:], task)
    other = _lightgbm(num_leaves=4).fit(X, y, task)
    trial_a = 0.5 * fold0.predict(X) + 0.5 * fold1.predict(X)
    columns = stack_columns([trial_a, other.predict(X)], problem)
    top = _lightgbm(num_leaves=7).fit(np.hstack([X, columns]), y, task)
    learners = [fold0, fold1, other, top]
    names = ["lgbm_a/fold0", "lgbm_a/fold1", "lgbm_b", "stack"]
    members = [
        Member(name, learner, weight, style, INPUTS if name == "stack" else ())
        for name, learner, weight in zip(names, learners, WEIGHTS, strict=True)
    ]
    return _model(base, {style: plan}, members, classes)


def _model(
    base: Model,
    plans: dict[str, FeaturePlan],
    members: list[Member],
    classes: Any,
    stacker: Stacker | None = None,
) -> Model:
    return Model(
        spec=base.spec,
        classes=classes,
        threshold=None,
        inputs=base.inputs,
        plans=plans,
        members=members,
        metadata=base.metadata,
        layers=mlwright.artifact.OutputLayers(stacker=stacker),
    )


@pytest.fixture(scope="module")
def stacked(trained: dict[str, Model]) -> dict[str, Model]:
    return {problem: _stacked_model(trained[problem]) for problem in PROBLEMS}


def _data(problem: str, n: int = 40, seed: int = 5) -> pl.DataFrame:
    return make_frame(problem, n=n, seed=seed).drop("y")


# -- the columns ----------------------------------------------------------------------------


def test_stack_columns_take_a_value_the_positive_class_or_every_class() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=5)
    np.testing.assert_array_equal(
        stack_columns([values, values[:, None]], "regression"), np.column_stack([values, values])
    )
    binary = rng.dirichlet(np.ones(2), size=5)
    np.testing.assert_array_equal(stack_columns([binary], "binary"), binary[:, 1:2])
    multi = [rng.dirichlet(np.ones(3), size=5) for _ in range(2)]
    got = stack_columns(multi, "multiclass")
    assert got.shape == (5, 6)
    assert got.dtype == np.float64
    for row in range(5):
        one = stack_columns_one([list(m[row]) for m in multi], "multiclass")
        assert one == list(got[row])
        assert stack_columns_one([[values[row]]], "regression") == [values[row]]
        assert stack_columns_one([list(binary[row])], "binary") == [binary[row, 1]]
    with pytest.raises(ValueError, match="cannot be stacked"):
        stack_columns([binary[:, :1]], "binary")
    with pytest.raises(ValueError, match="cannot be stacked"):
        stack_columns([binary], "regression")


# -- predictions ----------------------------------------------------------------------------


@pytest.mark.parametrize("problem", PROBLEMS)
def test_the_batch_output_is_the_weighted_sum_over_both_layers(
    stacked: dict[str, Model], problem: str
) -> None:
    model = stacked[problem]
    data = _data(problem)
    fold0, fold1, other, top = (m.learner for m in model.members)
    X = next(iter(model.plans.values())).transform(data)
    trial_a = 0.5 * fold0.predict(X) + 0.5 * fold1.predict(X)
    second = top.predict(np.hstack([X, stack_columns([trial_a, other.predict(X)], problem)]))
    expected = 0.3 * fold0.predict(X) + 0.3 * fold1.predict(X) + 0.4 * second
    np.testing.assert_allclose(model._raw(data), expected, rtol=1e-12, atol=1e-12)
    # The second layer counts: without it the output differs.
    assert not np.allclose(expected, (fold0.predict(X) + fold1.predict(X)) / 2)


@pytest.mark.parametrize("problem", PROBLEMS)
def test_one_record_gives_the_batch_numbers(stacked: dict[str, Model], problem: str) -> None:
    model = stacked[problem]
    data = _data(problem)
    if problem == "regression":
        batch = model.predict(data)
        for i, record in enumerate(data.iter_rows(named=True)):
            assert model.predict_one(record) == pytest.approx(batch[i], rel=1e-9)
        return
    proba = model.predict_proba(data)
    labels = model.predict(data)
    for i, record in enumerate(data.iter_rows(named=True)):
        one = model.predict_proba_one(record)
        np.testing.assert_allclose(list(one.values()), proba.iloc[i].to_numpy(), rtol=1e-9)
        assert model.predict_one(record) == labels[i]


def _counting(calls: dict[str, int], name: str, real: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def counted(x: Any) -> Any:
        calls[name] = calls.get(name, 0) + 1
        return real(x)

    return counted


def test_each_first_layer_member_predicts_once_per_call(
    stacked: dict[str, Model], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = stacked["binary"]
    calls: dict[str, int] = {}
    methods = ("predict", "predict_one")
    for member in model.members:
        for method in methods:
            real = getattr(member.learner, method)
            counted = _counting(calls, f"{member.name}.{method}", real)
            monkeypatch.setattr(member.learner, method, counted, raising=False)
    data = _data("binary", n=5)
    model._raw(data)
    model._raw_one(next(data.iter_rows(named=True)))
    assert calls == {f"{m.name}.{method}": 1 for m in model.members for method in methods}


@pytest.mark.parametrize("problem", PROBLEMS)
def test_a_stacked_model_saves_and_loads_with_identical_predictions(
    stacked: dict[str, Model], tmp_path: Path, problem: str
) -> None:
    model = stacked[problem]
    path = model.save(tmp_path / problem)
    loaded = mlwright.load(path)
    data = _data(problem)
    np.testing.assert_array_equal(loaded._raw(data), model._raw(data))
    record = next(data.iter_rows(named=True))
    assert loaded._raw_one(record) == model._raw_one(record)
    assert [m.inputs for m in loaded.members] == [(), (), (), INPUTS]
    assert [m.weight for m in loaded.members] == list(WEIGHTS)
    assert loaded.trial_names == ["lgbm_a", "lgbm_b", "stack"]
    entries = json.loads((path / MANIFEST).read_text())["members"]
    # Only the stacked member's entry names inputs: other manifests keep their shape.
    assert ["inputs" in entry for entry in entries] == [False, False, False, True]
    assert entries[3]["inputs"] == list(INPUTS)
    # An older mlwright would read the stacked member without its inputs: it refuses the
    # version instead (a model without stacked members keeps version 1).
    assert json.loads((path / MANIFEST).read_text())["format_version"] == 2
    assert "lgbm_b (input only)" in repr(loaded)
    assert "stack×0.40 on lgbm_a+lgbm_b" in repr(loaded)
    assert loaded.size_mb() > 0


# -- damaged manifests and bad members ----------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set ``members[i].key`` of a manifest."""
    number, key = path.split(".")

    def change(manifest: dict[str, Any]) -> None:
        manifest["members"][int(number)][key] = value

    return change


def _both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        for one in changes:
            one(manifest)

    return change


def _version(number: int) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        manifest["format_version"] = number

    return change


def _with_stacker(manifest: dict[str, Any]) -> None:
    manifest["stacker"] = {"link": "logit", "coef": [[1.0, 1.0, 1.0]], "intercept": [0.0]}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (_set("3.inputs", ["lgbm_a", "nope"]), "members[3].inputs", "not a trial"),
        (_set("3.inputs", ["lgbm_a"]), "members[2].weight", "no stacked member reads"),
        (
            _both(_set("2.inputs", ["lgbm_a"]), _set("3.inputs", ["lgbm_b"])),
            "members[3].inputs",
            "itself stacked",
        ),
        (_set("3.inputs", ["stack"]), "members[3].inputs", "itself stacked"),
        (_set("0.weight", -0.3), "members[0].weight", "weight"),
        (_set("1.weight", 0.0), "members[1].weight", "other members of its trial"),
        (_both(*(_set(f"{i}.weight", 0.0) for i in range(4))), "members", "positive weight"),
        (_with_stacker, "members[3].inputs", "not both"),
        (_version(1), "members[3].inputs", "format version 1 does not have"),
    ],
    ids=[
        "unknown_input",
        "weight_0_unread",
        "input_itself_stacked",
        "reads_itself",
        "negative_weight",
        "half_a_trial_at_0",
        "all_0",
        "with_a_stacker",
        "inputs_in_version_1",
    ],
)
def test_a_damaged_stacked_manifest_is_an_artifact_error_naming_the_field(
    stacked: dict[str, Model],
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    field: str,
    words: str,
) -> None:
    path = stacked["binary"].save(tmp_path / "model")
    edit_manifest(path, change)
    with pytest.raises(ArtifactError, match=words) as caught:
        mlwright.load(path)
    assert caught.value.field == field


def test_inputs_of_the_wrong_type_are_an_artifact_error(
    stacked: dict[str, Model], tmp_path: Path
) -> None:
    path = stacked["binary"].save(tmp_path / "model")
    edit_manifest(path, _set("3.inputs", "lgbm_a"))
    with pytest.raises(ArtifactError) as caught:
        mlwright.load(path)
    assert "inputs" in str(caught.value.field) + str(caught.value)


def test_a_model_refuses_members_that_break_the_layer_rules(
    stacked: dict[str, Model], trained: dict[str, Model]
) -> None:
    model = stacked["binary"]
    fold0, fold1, other, top = model.members

    def build(members: list[Member], stacker: Stacker | None = None) -> Model:
        return _model(trained["binary"], model.plans, members, model.classes, stacker)

    unread = Member(other.name, other.learner, 0.0, other.plan)
    with pytest.raises(ValueError, match="no stacked member reads"):
        build([fold0, fold1, unread])
    unknown = Member(top.name, top.learner, 0.4, top.plan, ("lgbm_c",))
    with pytest.raises(ValueError, match="not a trial"):
        build([fold0, fold1, other, unknown])
    with pytest.raises(ValueError, match="not both"):
        build(model.members, Stacker("logit", np.ones((1, 3)), np.zeros(1)))
    with pytest.raises(ValueError, match="cannot take a linear stacker"):
        model.set_stacker(Stacker("logit", np.ones((1, 3)), np.zeros(1)))
    assert model.stacker is None


# -- explanations -----------------------------------------------------------------------------


@pytest.mark.parametrize("problem", PROBLEMS)
def test_contributions_of_a_stacked_model_add_up(stacked: dict[str, Model], problem: str) -> None:
    model = stacked[problem]
    data = _data(problem, n=30, seed=8)
    table = model.explain(data)
    inputs = [f.name for f in model.inputs]
    gap = table["base"] + table[inputs].sum(axis=1) - table["prediction"]
    scale = 100.0 if problem == "regression" else 1.0
    assert float(gap.abs().max()) < 1e-9 * scale
    raw = model._raw(data)
    expected = raw if problem == "regression" else raw[:, 1] if problem == "binary" else raw.max(1)
    np.testing.assert_allclose(table["prediction"], expected, rtol=1e-12)
    # The signal's strongest input leads.
    strongest = table[inputs].abs().mean().idxmax()
    assert strongest == "num"


def test_a_stacked_model_takes_permutation_importance(stacked: dict[str, Model]) -> None:
    model = stacked["binary"]
    data = make_frame("binary", n=120, seed=3)
    y, _ = encode_target(data["y"], "binary", None)  # type: ignore[arg-type]
    result = global_importance(model, data.drop("y"), y, seconds=30.0)
    assert result["computed"]
    assert result["method"].startswith("permutation importance")


# -- property: one record gives the batch numbers ---------------------------------------------

_SCHEMA = make_frame("binary", n=5).drop("y").schema


@st.composite
def _records(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "num": draw(st.none() | st.floats(-5, 5, allow_nan=False)),
        "count": draw(st.none() | st.integers(0, 40)),
        "plan": draw(st.none() | st.sampled_from(["basic", "plus", "pro", "team", "unseen"])),
        "vip": draw(st.none() | st.booleans()),
        "signup": draw(
            st.none() | st.datetimes(dt.datetime(2019, 1, 1), dt.datetime(2024, 12, 31))
        ),
        "note": draw(st.none() | st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join)),
    }


@settings(max_examples=40, deadline=None)
@given(problem=st.sampled_from(PROBLEMS), records=st.lists(_records(), min_size=1, max_size=4))
def test_any_records_give_the_same_numbers_one_by_one(
    stacked: dict[str, Model], problem: str, records: list[dict[str, Any]]
) -> None:
    model = stacked[problem]
    batch = model._raw(pl.DataFrame(records, schema=_SCHEMA))
    for i, record in enumerate(records):
        np.testing.assert_allclose(
            model._raw_one(record), np.atleast_1d(batch[i]), rtol=1e-9, atol=1e-12
        )
