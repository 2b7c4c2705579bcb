from __future__ import annotations

import tomllib
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlwright.errors import DataError, SpecError
from mlwright.spec import (
    FLAT_FIELDS,
    RULES,
    SECTIONS,
    TaskSpec,
    infer_problem_type,
    load_spec,
    parse_duration,
    render_spec,
    resolve,
    safe_name,
    spec_from_dict,
    spec_from_kwargs,
    with_overrides,
)


def test_defaults_fill_every_field() -> None:
    spec = spec_from_kwargs({"target": "churn"})
    assert spec.task.problem_type == "auto"
    assert spec.task.metric == "auto"
    assert spec.constraints.time_budget == 300.0
    assert spec.validation.folds == 5
    assert spec.validation.holdout == 0.2
    assert spec.registry.enabled is True
    assert spec.value.stated is False


def test_every_field_has_a_description() -> None:
    for section, model in SECTIONS.items():
        for name, info in model.model_fields.items():
            assert info.description, f"{section}.{name} has no description"
        assert model.__doc__, section


def test_flat_field_names_are_unique_across_sections() -> None:
    seen: dict[str, str] = {}
    for section, model in SECTIONS.items():
        for name in model.model_fields:
            assert name not in seen, f"{name} in both [{seen[name]}] and [{section}]"
            seen[name] = section
    assert seen == FLAT_FIELDS


def test_keyword_fields_and_sections_land_in_their_sections() -> None:
    spec = spec_from_kwargs(
        {"target": "y", "time_budget": "5m", "folds": 3, "value": {"tp": 10, "fp": -2}, "seed": 7}
    )
    assert spec.constraints.time_budget == 300.0
    assert spec.validation.folds == 3
    assert (spec.value.tp, spec.value.fp, spec.value.tn) == (10.0, -2.0, 0.0)
    assert spec.seed == 7


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (60, 60.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1d6h", 108000.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "5x", "", True, "m", "d"])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_unknown_keyword_suggests_the_closest_field() -> None:
    with pytest.raises(SpecError, match="did you mean 'metric'") as info:
        spec_from_kwargs({"target": "y", "metirc": "roc_auc"})
    assert info.value.field == "metirc"


def test_unknown_toml_field_names_section_and_suggests(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text('[task]\ntarget = "y"\ntargte = "z"\n')
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "'task.targte' is not a spec field" in info.value.message
    assert "did you mean 'target'" in info.value.message
    assert info.value.hint is not None
    assert "target" in info.value.hint
    assert info.value.field == "task.targte"


def test_wrong_value_names_field_allowed_values_and_given_value() -> None:
    with pytest.raises(SpecError) as info:
        spec_from_dict({"task": {"target": "y", "problem_type": "binay"}})
    message = info.value.message
    assert "task.problem_type" in message
    assert "'binary'" in message
    assert "'binay'" in message


def test_missing_target_says_what_to_add() -> None:
    with pytest.raises(SpecError) as info:
        spec_from_dict({"task": {}})
    assert "'task.target' is required" in info.value.message
    assert info.value.hint == "add `target = ...` under [task]"


def test_invalid_toml_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text("[task\ntarget = 1\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(path)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="spec file not found") as info:
        load_spec(tmp_path / "nope.toml")
    assert info.value.hint is not None
    assert "mlwright init" in info.value.hint


def test_relative_paths_resolve_against_the_spec_folder(tmp_path: Path) -> None:
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "spec.toml").write_text('[data]\npath = "d.csv"\n[task]\ntarget = "y"\n')
    spec = load_spec(folder / "spec.toml")
    assert spec.resolve_path(spec.data.path or "") == folder.resolve() / "d.csv"


# -- each named rule fires ---------------------------------------------------------------------

VIOLATIONS = {
    "rule_target_or_interactions": {"task": {"problem_type": "recommendation", "user": "u"}},
    "rule_one_data_source": {"data": {"path": "a.csv", "sql": "select 1", "url": "sqlite://"}},
    "rule_sql_needs_url": {"data": {"sql": "select 1"}},
    "rule_metric_known": {"task": {"target": "y", "metric": "auc"}},
    "rule_metric_fits_problem_type": {
        "task": {"target": "y", "problem_type": "regression", "metric": "roc_auc"}
    },
    "rule_value_needs_binary": {
        "task": {"target": "y", "problem_type": "regression"},
        "value": {"tp": 1.0},
    },
    "rule_value_matrix_needs_multiclass": {
        "task": {"target": "y", "problem_type": "binary"},
        "value": {"matrix": {"a": {"b": -1.0}}},
    },
    "rule_roles_distinct": {"task": {"target": "y", "id": "y"}},
    "rule_validation_strategy_has_column": {
        "task": {"target": "y"},
        "validation": {"strategy": "group"},
    },
}


def test_every_rule_has_a_violation_case() -> None:
    assert {rule.__name__ for rule in RULES} == set(VIOLATIONS)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_rule_fires_on_its_violation(rule: object) -> None:
    raw = {"task": {"target": "y"}, **VIOLATIONS[rule.__name__]}  # type: ignore[attr-defined]
    raw.setdefault("task", {}).setdefault("target", "y")
    with pytest.raises(SpecError) as info:
        spec_from_dict(raw)
    assert info.value.field
    assert info.value.hint


def test_rules_pass_on_a_valid_spec() -> None:
    spec = spec_from_dict(
        {
            "data": {"sql": "select * from t", "url": "sqlite:///x.db"},
            "task": {"target": "y", "problem_type": "binary", "metric": "roc_auc", "id": "i"},
            "value": {"tp": 1, "fp": -1},
        }
    )
    for rule in RULES:
        rule(spec)


def test_with_overrides_revalidates() -> None:
    spec = spec_from_kwargs({"target": "y"})
    assert with_overrides(spec, {"time_budget": "2m"}).constraints.time_budget == 120.0
    with pytest.raises(SpecError):
        with_overrides(spec, {"folds": 1})
    with pytest.raises(SpecError, match="unknown spec field"):
        with_overrides(spec, {"budget": 3})


# -- rendering -----------------------------------------------------------------------------------


def test_render_round_trips_and_comments_every_field() -> None:
    spec = spec_from_kwargs(
        {"target": "y", "time_budget": 90, "value": {"tp": 5, "fp": -1}, "ignore": ["a", "b"]}
    )
    text = render_spec(spec, notes={"task.problem_type": "inferred: binary"})
    parsed = spec_from_dict(tomllib.loads(text))
    assert parsed.to_dict() == spec.to_dict()
    for model in SECTIONS.values():
        for info in model.model_fields.values():
            first_words = " ".join((info.description or "").split()[:3])
            assert first_words in text.replace("\n# ", " ")
    assert "# inferred: binary" in text
    assert "# id = " in text  # unset fields appear commented out


@given(
    budget=st.floats(min_value=1, max_value=1e5, allow_nan=False),
    folds=st.integers(min_value=2, max_value=20),
    holdout=st.floats(min_value=0.01, max_value=0.49),
    seed=st.integers(min_value=0, max_value=2**31),
    target=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
)
def test_render_round_trip_property(
    budget: float, folds: int, holdout: float, seed: int, target: str
) -> None:
    spec = spec_from_kwargs(
        {"target": target, "time_budget": budget, "folds": folds, "holdout": holdout, "seed": seed}
    )
    assert spec_from_dict(tomllib.loads(render_spec(spec))).to_dict() == spec.to_dict()


# -- resolution against data ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a", "b"] * 50, "binary"),
        ([True, False] * 50, "binary"),
        ([0, 1] * 50, "binary"),
        (["a", "b", "c"] * 50, "multiclass"),
        ([1, 2, 3, 4, 5] * 40, "multiclass"),
        ([float(i) / 3 for i in range(200)], "regression"),
        (list(range(200)), "regression"),
    ],
)
def test_problem_type_inference(values: list[object], expected: str) -> None:
    problem_type, why = infer_problem_type(pl.Series("y", values))
    assert problem_type == expected
    assert why


def test_single_class_target_is_refused() -> None:
    with pytest.raises(DataError, match="nothing to learn"):
        infer_problem_type(pl.Series("y", ["yes"] * 10 + [None]))


def test_resolve_fills_auto_fields_with_reasons() -> None:
    frame = pl.DataFrame({"x": range(100), "churn": ["Yes", "No"] * 50})
    resolution = resolve(spec_from_kwargs({"target": "churn"}), frame)
    spec = resolution.spec
    assert spec.task.problem_type == "binary"
    assert spec.task.positive_class == "Yes"
    assert spec.task.metric == "roc_auc"
    assert spec.name == "churn"
    assert spec.registry.model_name == "churn"
    assert resolution.reasons["task.problem_type"].startswith("inferred: ")
    assert "task.problem_type = 'binary' (inferred: " in resolution.notes[0]
    assert set(resolution.reasons) == {"task.problem_type", "task.positive_class", "task.metric"}


def test_positive_class_defaults_to_the_rarer_class() -> None:
    frame = pl.DataFrame({"x": range(100), "status": ["good"] * 80 + ["bad_debt"] * 20})
    spec = resolve(spec_from_kwargs({"target": "status"}), frame).spec
    assert spec.task.positive_class == "bad_debt"


def test_resolve_suggests_close_target_names() -> None:
    frame = pl.DataFrame({"churn": ["a", "b"], "tenure": [1, 2]})
    with pytest.raises(SpecError, match="did you mean 'churn'") as info:
        resolve(spec_from_kwargs({"target": "Churn"}), frame)
    assert "columns are: churn, tenure" in info.value.message


def test_resolve_refuses_a_metric_for_the_inferred_type() -> None:
    frame = pl.DataFrame({"x": range(100), "y": [float(i) for i in range(100)]})
    with pytest.raises(SpecError, match="does not apply to a regression task"):
        resolve(spec_from_kwargs({"target": "y", "metric": "roc_auc"}), frame)


def test_resolve_refuses_an_unknown_positive_class() -> None:
    frame = pl.DataFrame({"x": range(10), "y": ["a", "b"] * 5})
    with pytest.raises(SpecError, match="positive_class 'c'"):
        resolve(spec_from_kwargs({"target": "y", "positive_class": "c"}), frame)


def test_resolved_spec_survives_json_round_trip() -> None:
    frame = pl.DataFrame({"x": range(100), "y": ["a", "b"] * 50})
    spec = resolve(spec_from_kwargs({"target": "y"}), frame).spec
    again = TaskSpec.model_validate(spec.to_dict())
    assert again.to_dict() == spec.to_dict()


def test_missing_task_section_says_what_to_add() -> None:
    with pytest.raises(SpecError) as info:
        spec_from_dict({"seed": 1})
    assert "the [task] section is required" in info.value.message
    assert info.value.hint == "add a [task] section with target = ..."


# -- recommendation specs ----------------------------------------------------------------------


def test_a_recommendation_spec_names_user_and_item_and_reads_its_section() -> None:
    spec = spec_from_dict(
        {
            "task": {"problem_type": "recommendation", "user": "u", "item": "i", "time": "t"},
            "recommend": {"item_features": ["genres"], "protocol": "time", "k": 20},
        }
    )
    assert spec.task.is_recommendation
    assert spec.recommend.k == 20
    assert spec.recommend.protocol == "time"
    assert spec.task_name == "recommender"


@pytest.mark.parametrize(
    ("task", "extra", "field", "needle"),
    [
        ({"user": "u", "item": "i", "target": "y"}, {}, "task.target", "has no target"),
        ({"item": "i"}, {}, "task.user", "needs task.user"),
        ({"user": "u", "item": "u"}, {}, "task.item", "different columns"),
        ({"user": "u", "item": "i", "metric": "roc_auc"}, {}, "task.metric", "'ndcg'"),
        ({"user": "u", "item": "i"}, {"value": {"tp": 1.0}}, "value", "[value]"),
    ],
)
def test_recommendation_spec_errors_name_the_field(
    task: dict[str, str], extra: dict[str, object], field: str, needle: str
) -> None:
    with pytest.raises(SpecError) as info:
        spec_from_dict({"task": {"problem_type": "recommendation", **task}, **extra})
    assert info.value.field == field
    assert needle in info.value.message + (info.value.hint or "")


def test_user_and_item_are_refused_on_a_prediction_task() -> None:
    with pytest.raises(SpecError) as info:
        spec_from_dict({"task": {"target": "y", "user": "u"}})
    assert info.value.field == "task.user"
    assert "recommendation" in (info.value.hint or "")


def test_resolve_a_recommendation_spec_checks_its_log_columns() -> None:
    frame = pl.DataFrame({"user": [1, 2], "item": ["a", "b"], "when": [1, 2]})
    fields = {"problem_type": "recommendation", "user": "user", "item": "item", "time": "when"}
    resolution = resolve(spec_from_kwargs(fields), frame)
    spec = resolution.spec
    assert spec.task.metric == "ndcg"
    assert resolution.reasons == {"task.metric": "default for recommendation (NDCG@10)"}
    assert (spec.name, spec.registry.model_name) == ("recommender", "recommender")
    with pytest.raises(SpecError, match="did you mean 'when'") as info:
        resolve(spec_from_kwargs({**fields, "time": "When"}), frame)
    assert info.value.field == "task.time"
    with pytest.raises(SpecError, match="weight column 'rating'"):
        resolve(spec_from_kwargs({**fields, "weight": "rating"}), frame)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("../evil", "evil"),
        ("../../x/y", "x_y"),
        ("/etc/passwd", "etc_passwd"),
        ("C:\\temp\\x", "C__temp_x"),
        ("..", "model"),
        ("churn-v2_final", "churn-v2_final"),
    ],
)
def test_safe_name_is_one_path_component(text: str, name: str) -> None:
    assert safe_name(text) == name
    assert Path(safe_name(text)).name == safe_name(text)
    assert not safe_name(text).startswith(".")


@given(st.text(max_size=40))
def test_safe_name_never_leaves_its_folder(text: str) -> None:
    name = safe_name(text)
    root = Path("/srv/models")
    assert (root / name).resolve().parent == root
    assert name not in ("", ".", "..")


def test_a_spec_path_that_is_a_directory_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a directory") as info:
        load_spec(tmp_path)
    assert "spec.toml" in (info.value.hint or "")
