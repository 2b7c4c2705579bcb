"""The load-and-check stage: read the data, resolve the spec against it, run the checks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlwright._progress import Progress, Silent
from mlwright.artifact import ClassValue, class_name
from mlwright.data import CheckReport, Finding, infer_schema, load_training_data, run_checks
from mlwright.learners import learner_class
from mlwright.spec import Resolution, TaskSpec
from mlwright.spec import resolve as resolve_spec


@dataclass
class Checked:
    """A spec resolved against its data, and what the checks found."""

    resolution: Resolution
    frame: pl.DataFrame
    report: CheckReport

    @property
    def spec(self) -> TaskSpec:
        return self.resolution.spec


def validate_before_work(spec: TaskSpec) -> None:
    """What can be checked without data: the learner names."""
    for family in spec.search.learners:
        learner_class(family)


def check(spec: TaskSpec, data: Any = None, progress: Progress | None = None) -> Checked:
    """Load the data, resolve the spec against it, infer the schema and run the data checks."""
    progress = progress if progress is not None else Silent()
    validate_before_work(spec)
    progress.stage("loading data")
    frame = load_training_data(spec, data)
    progress.stage("checking data")
    resolution = resolve_spec(spec, frame)
    schema = infer_schema(frame, resolution.spec)
    report = run_checks(frame, resolution.spec, schema)
    return Checked(resolution=resolution, frame=frame, report=report)


def checked_for_training(spec: TaskSpec, data: Any, progress: Progress) -> Checked:
    """``check``, saying each resolution note and warning; a blocking finding stops here."""
    checked = check(spec, data, progress)
    for note in checked.resolution.notes:
        progress.log(note)
    log_warnings(progress, checked.report.findings)
    checked.report.raise_if_blocking()
    return checked


def log_warnings(progress: Progress, findings: Iterable[Finding]) -> None:
    """Say each warning of the data checks; blocking findings are raised by the caller."""
    for finding in findings:
        if finding.severity == "warning":
            progress.log(f"warning [{finding.key}] {finding.message}")


def encode_target(
    target: pl.Series, problem_type: str, positive_class: str | None
) -> tuple[np.ndarray, list[ClassValue]]:
    """Codes 0..k-1 (binary: the positive class is 1) and the class values in code order;
    for regression the values themselves and no classes."""
    if problem_type == "regression":
        return target.cast(pl.Float64).to_numpy(), []
    series = target
    if series.dtype.is_float():
        series = series.cast(pl.Int64)
    values: list[ClassValue] = sorted(series.unique().to_list())
    if problem_type == "binary":
        values.sort(key=lambda v: class_name(v) == positive_class)
    names = [class_name(v) for v in values]
    keys = series.cast(pl.String)
    if series.dtype == pl.Boolean:
        keys = keys.str.to_lowercase()
    codes = keys.replace_strict({n: i for i, n in enumerate(names)}, return_dtype=pl.Int64)
    return codes.to_numpy(), values
