"""Reading, validating and resolving task specs."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from mlwright.errors import SpecError, did_you_mean, list_choices
from mlwright.spec._metrics import METRICS, metrics_for
from mlwright.spec._model import FLAT_FIELDS, SECTIONS, TOP_LEVEL_FIELDS, TaskSpec


def load_spec(path: str | Path) -> TaskSpec:
    """Read a TOML spec file; relative paths inside it resolve against its folder."""
    file = Path(path)
    if not file.exists():
        raise SpecError(
            f"spec file not found: {file}",
            field=str(file),
            hint="check the path, or write one with `mlwright init DATA --target COLUMN`",
        )
    if file.is_dir():
        raise SpecError(
            f"spec file {file} is a directory",
            field=str(file),
            hint="name the TOML file inside it, e.g. " + str(file / "spec.toml"),
        )
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(
            f"spec file {file} is not valid TOML: {exc}",
            field=str(file),
            hint="fix the TOML syntax at the line and column given",
        ) from exc
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"spec file {file} is not UTF-8 text",
            field=str(file),
            hint="save the spec as UTF-8 (it is a TOML text file)",
        ) from exc
    except OSError as exc:  # unreadable: permissions, a FIFO that fails, a vanished file
        raise SpecError(
            f"spec file {file} cannot be read: {exc.strerror or exc}",
            field=str(file),
            hint="check the file's permissions",
        ) from exc
    return spec_from_dict(raw, base_dir=file.resolve().parent, origin=str(file))


def spec_from_kwargs(fields: Mapping[str, Any], *, base_dir: Path | None = None) -> TaskSpec:
    """Build a spec from keyword arguments: leaf names (``time_budget=60``) or whole sections
    (``value={"tp": 10}``), as ``mlwright.fit`` accepts them."""
    nested: dict[str, Any] = {}
    for key, value in fields.items():
        if key in TOP_LEVEL_FIELDS:
            nested[key] = value
        elif key in SECTIONS:
            if not isinstance(value, Mapping):
                raise SpecError(
                    f"spec section '{key}' must be a mapping of fields, got {type(value).__name__}",
                    field=key,
                    hint=f"pass {key}={{...}} with fields "
                    f"{list_choices(SECTIONS[key].model_fields)}",
                )
            nested.setdefault(key, {}).update(value)
        elif key in FLAT_FIELDS:
            nested.setdefault(FLAT_FIELDS[key], {})[key] = value
        else:
            known = [*TOP_LEVEL_FIELDS, *SECTIONS, *FLAT_FIELDS]
            raise SpecError(
                f"unknown spec field '{key}'{did_you_mean(key, known)}",
                field=key,
                hint=f"known fields: {list_choices(sorted(known), limit=40)}",
            )
    return spec_from_dict(nested, base_dir=base_dir, origin="keyword arguments")


def with_overrides(spec: TaskSpec, fields: Mapping[str, Any]) -> TaskSpec:
    """A copy of ``spec`` with leaf fields replaced (``{"time_budget": "5m"}``), re-validated."""
    data = spec.to_dict()
    for key, value in fields.items():
        if key in TOP_LEVEL_FIELDS:
            data[key] = value
        elif key in FLAT_FIELDS:
            data[FLAT_FIELDS[key]][key] = value
        else:
            raise SpecError(
                f"unknown spec field '{key}'{did_you_mean(key, FLAT_FIELDS)}", field=key
            )
    return spec_from_dict(data, base_dir=spec.base_dir, origin="spec with overrides")


def spec_from_dict(
    raw: Mapping[str, Any], *, base_dir: Path | None = None, origin: str = "spec"
) -> TaskSpec:
    """Validate a nested mapping into a TaskSpec, or raise SpecError naming the field."""
    try:
        spec = TaskSpec.model_validate(dict(raw))
    except ValidationError as exc:
        raise _spec_error(exc, origin, _missing_target(raw)) from None
    spec.with_base_dir(base_dir if base_dir is not None else Path.cwd())
    for rule in RULES:
        rule(spec)
    return spec


def _missing_target(raw: Mapping[str, Any]) -> bool:
    """A [task] without a target, for a task that needs one (the type cannot say so: a
    recommendation task has none); reported beside the other errors of the same spec."""
    task = raw.get("task")
    return (
        isinstance(task, Mapping)
        and "target" not in task
        and task.get("problem_type") != "recommendation"
    )


def _spec_error(exc: ValidationError, origin: str, missing_target: bool = False) -> SpecError:
    errors = exc.errors()
    messages = [_describe(err) for err in errors]
    if missing_target:
        messages.insert(0, ("'task.target' is required", "add `target = ...` under [task]"))
    first = errors[0]
    field = "task.target" if missing_target else ".".join(str(p) for p in first["loc"])
    message = f"invalid spec ({origin}): " + "; ".join(m for m, _ in messages)
    hints = [h for _, h in messages if h]
    return SpecError(message, field=field, hint=hints[0] if hints else None)


def _describe(err: ErrorDetails) -> tuple[str, str | None]:
    loc = [str(p) for p in err["loc"]]
    field = ".".join(loc)
    kind = err["type"]
    given = err.get("input")
    if kind == "extra_forbidden":
        *parents, leaf = loc
        if parents and parents[0] in SECTIONS:
            siblings = list(SECTIONS[parents[0]].model_fields)
            where = f"[{parents[0]}]"
        else:
            siblings = [*TOP_LEVEL_FIELDS, *SECTIONS]
            where = "the top level"
        return (
            f"'{field}' is not a spec field{did_you_mean(leaf, siblings)}",
            f"fields allowed in {where}: {list_choices(siblings, limit=20)}",
        )
    if kind == "missing":
        if len(loc) == 1 and loc[0] in SECTIONS:
            required = [n for n, f in SECTIONS[loc[0]].model_fields.items() if f.is_required()]
            if loc[0] == "task":
                required = ["target"]  # not required by type: a recommendation has none
            return (
                f"the [{loc[0]}] section is required",
                f"add a [{loc[0]}] section with " + ", ".join(f"{n} = ..." for n in required),
            )
        section = loc[0] if len(loc) > 1 else None
        where = f" under [{section}]" if section else ""
        return (
            f"'{field}' is required",
            f"add `{loc[-1]} = ...`{where}",
        )
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        return (f"'{field}' must be one of {expected}; got {given!r}", None)
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return (f"'{field}': {msg}; got {given!r}", None)


# ---------------------------------------------------------------------------------------
# Validation rules: each a named function that raises SpecError; a test proves each fires.


def rule_one_data_source(spec: TaskSpec) -> None:
    """data.path and data.sql are alternatives."""
    if spec.data.path and spec.data.sql:
        raise SpecError(
            "the spec gives both data.path and data.sql",
            field="data",
            hint="keep one: a file (path) or a query (sql + url)",
        )


def rule_sql_needs_url(spec: TaskSpec) -> None:
    """A SQL query needs the database URL to run against."""
    if spec.data.sql and not spec.data.url:
        raise SpecError(
            "data.sql is set but data.url is not",
            field="data.url",
            hint="set data.url to a SQLAlchemy URL, e.g. 'sqlite:///shop.db'",
        )
    if spec.data.url and not spec.data.sql:
        raise SpecError(
            "data.url is set but data.sql is not",
            field="data.sql",
            hint="set data.sql to the query that returns the training table",
        )


RECOMMEND_METRICS = ("auto", "ndcg")


def rule_target_or_interactions(spec: TaskSpec) -> None:
    """A prediction task names its target; a recommendation task names its user and item
    columns instead, and takes no target, decision values or other metric than NDCG."""
    task = spec.task
    if not task.is_recommendation:
        if not task.target:
            raise SpecError(
                "'task.target' is required: the column to predict (or task.problem_type = "
                "'recommendation' with task.user and task.item, for an interaction log)",
                field="task.target",
                hint="add `target = ...` under [task]",
            )
        for name in ("user", "item", "weight"):
            if getattr(task, name) is not None:
                raise SpecError(
                    f"task.{name} is for recommendation tasks, but the task predicts "
                    f"'{task.target}'",
                    field=f"task.{name}",
                    hint=f"remove task.{name}, or set task.problem_type = 'recommendation'",
                )
        return
    if task.target:
        raise SpecError(
            f"a recommendation task has no target, but task.target is '{task.target}'",
            field="task.target",
            hint="remove task.target; a recommendation task learns from task.user and task.item",
        )
    for name in ("user", "item"):
        if not getattr(task, name):
            raise SpecError(
                f"a recommendation task needs task.{name}, the {name} id column",
                field=f"task.{name}",
                hint=f"set task.{name} to the column holding the {name} ids",
            )
    columns = {"task.user": task.user, "task.item": task.item, "task.time": task.time}
    columns["task.weight"] = task.weight
    named = [c for c in columns.values() if c is not None]
    if len(named) != len(set(named)):
        raise SpecError(
            "task.user, task.item, task.time and task.weight must be different columns",
            field="task.item",
            hint="give each role its own column",
        )
    if task.metric not in RECOMMEND_METRICS:
        raise SpecError(
            f"task.metric '{task.metric}' does not apply to a recommendation task",
            field="task.metric",
            hint="use 'auto' or 'ndcg' (NDCG at recommend.k); recall, MAP and MRR are "
            "reported beside it",
        )
    if spec.value.stated or spec.value.matrix is not None:
        raise SpecError(
            "[value] is set but the task is recommendation",
            field="value",
            hint="remove [value]; decision values apply to classification tasks",
        )


def rule_metric_known(spec: TaskSpec) -> None:
    """The model-choosing metric must be one mlwright computes."""
    metric = spec.task.metric
    if spec.task.is_recommendation:
        return  # rule_target_or_interactions checks it
    if metric != "auto" and metric not in METRICS:
        raise SpecError(
            f"task.metric '{metric}' is not a known metric{did_you_mean(metric, METRICS)}",
            field="task.metric",
            hint=f"use 'auto' or one of: {list_choices(METRICS, limit=20)}",
        )


def rule_metric_fits_problem_type(spec: TaskSpec) -> None:
    """A stated problem type and a stated metric must go together."""
    pt, metric = spec.task.problem_type, spec.task.metric
    if pt == "auto" or metric == "auto" or metric not in METRICS:
        return
    if pt == "recommendation":
        return  # rule_target_or_interactions checks its metric
    if pt not in METRICS[metric].problem_types:
        raise SpecError(
            f"task.metric '{metric}' does not apply to a {pt} task",
            field="task.metric",
            hint=f"for {pt} use one of: {', '.join(metrics_for(pt))}",
        )


def rule_value_needs_binary(spec: TaskSpec) -> None:
    """Decision values (tp, fp, tn, fn) only mean something for a binary task."""
    if spec.value.stated and spec.task.problem_type in ("multiclass", "regression"):
        raise SpecError(
            f"[value] tp/fp/tn/fn are set but the task is {spec.task.problem_type}",
            field="value",
            hint="remove them (a multiclass task takes value.matrix), or set "
            "task.problem_type = 'binary'",
        )


def rule_value_matrix_needs_multiclass(spec: TaskSpec) -> None:
    """A value matrix is for a multiclass task, and not beside binary tp/fp/tn/fn."""
    if spec.value.matrix is None:
        return
    if spec.value.stated:
        raise SpecError(
            "[value] has both tp/fp/tn/fn (binary) and a matrix (multiclass)",
            field="value.matrix",
            hint="keep the one that fits the task",
        )
    if spec.task.problem_type in ("binary", "regression"):
        raise SpecError(
            f"value.matrix is set but the task is {spec.task.problem_type}",
            field="value.matrix",
            hint="use tp/fp/tn/fn for a binary task; a regression task takes no [value]",
        )


def rule_roles_distinct(spec: TaskSpec) -> None:
    """The target, id, group and time columns are different columns, and none is ignored."""
    roles = {
        "task.target": spec.task.target,
        "task.id": spec.task.id,
        "task.group": spec.task.group,
        "task.time": spec.task.time,
    }
    seen: dict[str, str] = {}
    for role, column in roles.items():
        if column is None:
            continue
        if column in seen:
            raise SpecError(
                f"column '{column}' is both {seen[column]} and {role}",
                field=role,
                hint="give each role its own column",
            )
        seen[column] = role
    if spec.task.target in spec.task.ignore:
        raise SpecError(
            f"the target '{spec.task.target}' is listed in task.ignore",
            field="task.ignore",
            hint="remove the target from task.ignore",
        )


def rule_validation_strategy_has_column(spec: TaskSpec) -> None:
    """Group and time validation need their column."""
    strategy = spec.validation.strategy
    if strategy == "group" and not spec.task.group:
        raise SpecError(
            "validation.strategy is 'group' but task.group is not set",
            field="validation.strategy",
            hint="set task.group to the column that groups rows, or use strategy 'auto'",
        )
    if strategy == "time" and not spec.task.time:
        raise SpecError(
            "validation.strategy is 'time' but task.time is not set",
            field="validation.strategy",
            hint="set task.time to the timestamp column, or use strategy 'auto'",
        )
    if strategy == "stratified" and spec.task.problem_type == "regression":
        raise SpecError(
            "validation.strategy 'stratified' needs classes, but the task is regression",
            field="validation.strategy",
            hint="use 'kfold' or 'auto'",
        )


RULES: tuple[Callable[[TaskSpec], None], ...] = (
    rule_target_or_interactions,
    rule_one_data_source,
    rule_sql_needs_url,
    rule_metric_known,
    rule_metric_fits_problem_type,
    rule_value_needs_binary,
    rule_value_matrix_needs_multiclass,
    rule_roles_distinct,
    rule_validation_strategy_has_column,
)


def require_data_source(spec: TaskSpec) -> None:
    """A spec run on its own (not through mlwright.fit with a table) must name its data."""
    if not spec.data.path and not spec.data.sql:
        raise SpecError(
            "the spec names no data",
            field="data",
            hint="set data.path to a CSV or Parquet file, or data.sql with data.url",
        )
