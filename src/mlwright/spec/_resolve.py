"""Resolving a spec against its data: the columns it names, the problem type, the metric."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from mlwright.errors import DataError, SpecError, did_you_mean, list_choices
from mlwright.spec._metrics import DEFAULT_METRIC, METRICS, ProblemType, metrics_for
from mlwright.spec._model import TaskSpec

_POSITIVE_NAMES = ("yes", "true", "1", "y", "t", "positive", "pos", "bad", "fraud", "churn")
# Integer targets with at most this many distinct values (and few per row) are classes.
_MAX_INTEGER_CLASSES = 20


@dataclass(frozen=True)
class Resolution:
    """A spec with every 'auto' decided, and why each was decided so: ``reasons`` maps a
    field ("task.problem_type") to the reason in words."""

    spec: TaskSpec
    reasons: dict[str, str]

    @property
    def notes(self) -> tuple[str, ...]:
        """One line per decision, e.g. "task.metric = roc_auc (default for binary)"."""
        values = self.spec.to_dict()
        lines = []
        for field, why in self.reasons.items():
            section, name = field.split(".")
            lines.append(f"{field} = {values[section][name]!r} ({why})")
        return tuple(lines)


def check_columns(spec: TaskSpec, columns: list[str]) -> None:
    """Every column the spec names must exist in the data."""
    named = {
        "task.target": [spec.task.target],
        "task.id": [spec.task.id] if spec.task.id else [],
        "task.group": [spec.task.group] if spec.task.group else [],
        "task.time": [spec.task.time] if spec.task.time else [],
        "task.ignore": spec.task.ignore,
    }
    for field, names in named.items():
        for name in names:
            if name not in columns:
                what = "target column" if field == "task.target" else f"column '{name}' ({field})"
                subject = f"target column '{name}'" if field == "task.target" else what
                raise SpecError(
                    f"{subject} not found{did_you_mean(name, columns)}; "
                    f"columns are: {list_choices(columns, limit=30)}",
                    field=field,
                    hint=f"set {field} to one of the data's columns",
                )


def infer_problem_type(target: pl.Series) -> tuple[ProblemType, str]:
    """Problem type from the target's values, with the reason in words."""
    values = target.drop_nulls()
    if target.dtype.is_float():
        values = values.filter(values.is_not_nan())
    n_unique = values.n_unique()
    dtype = target.dtype
    if n_unique < 2:
        shown = values.unique().to_list()[:1]
        raise DataError(
            f"target '{target.name}' has {n_unique} distinct value(s) {shown}: nothing to learn",
            field=target.name,
            hint="check the target column and the rows selected (a filter in data.sql?)",
        )
    if dtype == pl.Boolean or dtype in (pl.String, pl.Categorical, pl.Enum):
        if n_unique == 2:
            return "binary", f"{dtype} target with 2 distinct values"
        return "multiclass", f"{dtype} target with {n_unique} distinct values"
    if dtype.is_integer() or (dtype.is_float() and bool((values == values.round(0)).all())):
        if n_unique == 2:
            return (
                "binary",
                f"numeric target with 2 distinct values {sorted(values.unique().to_list())}",
            )
        if n_unique <= _MAX_INTEGER_CLASSES and n_unique <= max(3, len(values) // 20):
            return (
                "multiclass",
                f"integer target with {n_unique} distinct values; "
                "set task.problem_type = 'regression' if they are amounts, not classes",
            )
        return "regression", f"integer target with {n_unique} distinct values"
    if dtype.is_numeric():
        return "regression", f"numeric target with {n_unique} distinct values"
    raise DataError(
        f"target '{target.name}' has type {dtype}, which mlwright cannot predict",
        field=target.name,
        hint="use a numeric, boolean or text target column",
    )


def class_labels(target: pl.Series) -> list[str]:
    """The target's classes as strings, in sorted order (the order of probability columns)."""
    values = target.drop_nulls()
    if values.dtype == pl.Boolean:
        return [str(v).lower() for v in sorted(values.unique().to_list())]
    if values.dtype.is_float() and bool((values == values.round(0)).all()):
        values = values.cast(pl.Int64)
    if values.dtype.is_numeric():
        return [str(v) for v in sorted(values.unique().to_list())]
    return sorted(str(v) for v in values.unique().to_list())


def _default_positive(classes: list[str], target: pl.Series) -> tuple[str, str]:
    for name in _POSITIVE_NAMES:
        for cls in classes:
            if cls.lower() == name:
                return cls, f"class named '{cls}'"
    labels = target.drop_nulls()
    counts = {c: 0 for c in classes}
    for value, count in labels.cast(pl.String).value_counts().iter_rows():
        key = str(value).lower() if labels.dtype == pl.Boolean else str(value)
        if key in counts:
            counts[key] += int(count)
    rarer = min(classes, key=lambda c: (counts[c], c))
    return rarer, f"the rarer class ({counts[rarer]} of {sum(counts.values())} rows)"


def _check_value_matrix(
    matrix: dict[str, dict[str, float]], problem_type: str, target: pl.Series
) -> None:
    if problem_type != "multiclass":
        raise SpecError(
            f"value.matrix is set but the task is {problem_type} (inferred)",
            field="value.matrix",
            hint="remove value.matrix, or set task.problem_type = 'multiclass'",
        )
    classes = class_labels(target)
    for truth, row in matrix.items():
        for name, where in [(truth, f"value.matrix.{truth}")] + [
            (p, f"value.matrix.{truth}.{p}") for p in row
        ]:
            if name not in classes:
                raise SpecError(
                    f"{where}: {name!r} is not a class of '{target.name}'"
                    f"{did_you_mean(name, classes)}; classes are {classes}",
                    field=where,
                    hint="name the rows (true class) and entries (predicted class) by class",
                )


def resolve(spec: TaskSpec, data: pl.DataFrame) -> Resolution:
    """Decide every 'auto' field of ``spec`` from ``data`` and check the columns it names."""
    if spec.task.problem_type == "recommendation":
        return _resolve_recommendation(spec, data.columns)
    check_columns(spec, data.columns)
    target = data[spec.task.target]
    reasons: dict[str, str] = {}
    resolved = spec.model_copy(deep=True)
    resolved.with_base_dir(spec.base_dir)

    if spec.task.problem_type == "auto":
        problem_type, why = infer_problem_type(target)
        resolved.task.problem_type = problem_type
        reasons["task.problem_type"] = f"inferred: {why}"
    else:
        problem_type = spec.task.problem_type
        infer_problem_type(target)  # still refuses a target with a single value

    _resolve_positive_class(spec, resolved, problem_type, target, reasons)
    if spec.value.stated and problem_type != "binary":
        raise SpecError(
            f"[value] tp/fp/tn/fn are set but the task is {problem_type} (inferred)",
            field="value",
            hint="remove them (a multiclass task takes value.matrix), or set "
            "task.problem_type = 'binary'",
        )
    if spec.value.matrix is not None:
        _check_value_matrix(spec.value.matrix, problem_type, target)

    _resolve_metric(spec, resolved, problem_type, reasons)
    if spec.validation.strategy == "stratified" and problem_type == "regression":
        raise SpecError(
            "validation.strategy 'stratified' needs classes, but the task is regression",
            field="validation.strategy",
            hint="use 'kfold' or 'auto'",
        )
    if resolved.name is None:
        resolved.name = safe_name(spec.task.target)
    _name_registry_entries(resolved)
    return Resolution(spec=resolved, reasons=reasons)


def _resolve_positive_class(
    spec: TaskSpec,
    resolved: TaskSpec,
    problem_type: ProblemType,
    target: pl.Series,
    reasons: dict[str, str],
) -> None:
    """A binary target has two classes and a positive class (inferred when not given);
    any other task has no positive class."""
    if problem_type == "binary":
        classes = class_labels(target)
        if len(classes) != 2:
            raise DataError(
                f"task.problem_type is binary but target '{target.name}' has {len(classes)} "
                f"classes: {list_choices(classes)}",
                field="task.problem_type",
                hint="set task.problem_type = 'multiclass', or filter the rows",
            )
        if spec.task.positive_class is None:
            positive, why = _default_positive(classes, target)
            resolved.task.positive_class = positive
            reasons["task.positive_class"] = f"inferred: {why}"
        elif spec.task.positive_class not in classes:
            raise SpecError(
                f"task.positive_class {spec.task.positive_class!r} is not a class of "
                f"'{target.name}'{did_you_mean(spec.task.positive_class, classes)}; "
                f"classes are {classes}",
                field="task.positive_class",
                hint=f"set it to one of {classes}",
            )
    elif spec.task.positive_class is not None:
        raise SpecError(
            f"task.positive_class is set but the task is {problem_type}",
            field="task.positive_class",
            hint="remove task.positive_class",
        )


def _resolve_metric(
    spec: TaskSpec, resolved: TaskSpec, problem_type: ProblemType, reasons: dict[str, str]
) -> None:
    """The metric: the problem type's default for 'auto', else one that applies to it."""
    if spec.task.metric == "auto":
        resolved.task.metric = DEFAULT_METRIC[problem_type]
        reasons["task.metric"] = f"default for {problem_type}"
    elif problem_type not in METRICS[spec.task.metric].problem_types:
        raise SpecError(
            f"task.metric '{spec.task.metric}' does not apply to a {problem_type} task "
            "(the problem type was inferred from the target)",
            field="task.metric",
            hint=f"use one of: {', '.join(metrics_for(problem_type))}, or set task.problem_type",
        )


def _resolve_recommendation(spec: TaskSpec, columns: list[str]) -> Resolution:
    """A recommendation spec has no target to infer from: its interaction-log columns must
    exist, and the metric is NDCG (at ``recommend.k``)."""
    task = spec.task
    for role, name in (("user", task.user), ("item", task.item), ("time", task.time)):
        if name is not None and name not in columns:
            raise SpecError(
                f"{role} column '{name}' (task.{role}) not found{did_you_mean(name, columns)}; "
                f"columns are: {list_choices(columns, limit=30)}",
                field=f"task.{role}",
                hint=f"set task.{role} to one of the interaction log's columns",
            )
    if task.weight is not None and task.weight not in columns:
        raise SpecError(
            f"weight column '{task.weight}' (task.weight) not found"
            f"{did_you_mean(task.weight, columns)}; columns are: {list_choices(columns, limit=30)}",
            field="task.weight",
            hint="set task.weight to one of the interaction log's columns, or remove it",
        )
    resolved = spec.model_copy(deep=True)
    resolved.with_base_dir(spec.base_dir)
    reasons: dict[str, str] = {}
    if task.metric == "auto":
        resolved.task.metric = "ndcg"
        reasons["task.metric"] = f"default for recommendation (NDCG@{spec.recommend.k})"
    if resolved.name is None:
        resolved.name = spec.task_name
    _name_registry_entries(resolved)
    return Resolution(spec=resolved, reasons=reasons)


def _name_registry_entries(resolved: TaskSpec) -> None:
    if resolved.registry.model_name is None:
        resolved.registry.model_name = resolved.name
    if resolved.registry.experiment is None:
        resolved.registry.experiment = resolved.name


def safe_name(text: str) -> str:
    """``text`` as one file or folder name: letters, digits, '-' and '_' only, so that a name
    from a spec ("../evil", "/etc/x") never leaves the folder it is joined to."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in text.strip())
    return cleaned.strip("_") or "model"
