"""The main job: check -> search -> evaluate -> save -> register.

``mlwright run`` (CLI), ``mlwright.run`` and ``mlwright.fit`` all come through ``train``;
the monitoring loop retrains through it too.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlwright._progress import Progress, Silent
from mlwright.artifact import (
    ClassValue,
    InputField,
    Member,
    Model,
    class_name,
    load_model,
    manifest_digest,
)
from mlwright.data import (
    CheckReport,
    Splits,
    choose_strategy,
    fingerprint,
    infer_schema,
    labelled_rows,
    load_training_data,
    make_splits,
    prediction_statistics,
    read_file,
    reference_statistics,
    run_checks,
    to_polars,
)
from mlwright.errors import DataError, TrainingError
from mlwright.evaluate import (
    ThresholdChoice,
    all_metrics,
    best_threshold,
    bootstrap_interval,
    decision_value,
    defined,
    score,
)
from mlwright.features import FeatureKind
from mlwright.learners import LEARNERS, Baseline, LearnerTask, learner_class
from mlwright.registry import (
    Registration,
    check_manifest,
    is_registry_uri,
    log_and_register,
    resolve,
)
from mlwright.search import SearchResult, TrialResult, fit_final, run_search
from mlwright.spec import Resolution, TaskSpec, render_spec, spec_from_kwargs
from mlwright.spec import resolve as resolve_spec

# Share of the time budget the search may use; the rest is for the final fits and evaluation.
SEARCH_SHARE = 0.7
LATENCY_CALLS = 200


@dataclass
class Checked:
    """A spec resolved against its data, and what the checks found."""

    resolution: Resolution
    frame: pl.DataFrame
    report: CheckReport

    @property
    def spec(self) -> TaskSpec:
        return self.resolution.spec


@dataclass
class RunResult:
    model: Model
    checked: Checked
    search: SearchResult
    artifact_dir: Path | None = None
    registration: Registration | None = None
    timings: dict[str, float] = field(default_factory=dict)


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


# -- target encoding --------------------------------------------------------------------------


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


# -- the main job -----------------------------------------------------------------------------


def train(
    spec: TaskSpec,
    data: Any = None,
    *,
    progress: Progress | None = None,
    save: bool = True,
    register: bool | None = None,
    out_dir: Path | None = None,
) -> RunResult:
    """Check, search, evaluate on the holdout, and (optionally) save and register."""
    progress = progress if progress is not None else Silent()
    started = time.monotonic()
    budget = spec.constraints.time_budget
    timings: dict[str, float] = {}

    checked = check(spec, data, progress)
    report = checked.report
    for note in checked.resolution.notes:
        progress.log(note)
    for finding in report.findings:
        if finding.severity == "warning":
            progress.log(f"warning [{finding.key}] {finding.message}")
    report.raise_if_blocking()
    spec = checked.spec
    problem_type = spec.resolved_problem_type
    metric = spec.task.metric
    timings["check"] = time.monotonic() - started

    frame = labelled_rows(checked.frame, spec.task.target)
    y, classes = encode_target(frame[spec.task.target], problem_type, spec.task.positive_class)
    n_classes = len(classes)
    schema = report.schema
    columns: list[tuple[str, FeatureKind]] = [(c.name, c.kind) for c in schema.features]  # type: ignore[misc]
    if not columns:
        raise DataError(
            "no column can be used as a feature (all are the target, identifiers, constant, "
            "ignored or of unsupported types)",
            hint="check task.ignore and the column findings of `mlwright check`",
        )

    strategy = choose_strategy(
        spec.validation.strategy,
        classification=problem_type != "regression",
        has_group=spec.task.group is not None,
        has_time=spec.task.time is not None,
    )
    splits = make_splits(
        strategy=strategy,
        y=y,
        classification=problem_type != "regression",
        folds=spec.validation.folds,
        holdout=spec.validation.holdout,
        seed=spec.seed,
        groups=frame[spec.task.group].cast(pl.String).fill_null("").to_numpy()
        if spec.task.group
        else None,
        times=frame[spec.task.time].to_physical().cast(pl.Float64).to_numpy()
        if spec.task.time
        else None,
    )
    progress.log(f"validation: {splits.description}")

    families = spec.search.learners or [f for f in LEARNERS if f != "baseline"]
    deadline = started + budget * SEARCH_SHARE
    train_frame = frame[splits.train]
    search = run_search(
        frame=frame,
        y=y,
        splits=splits,
        columns=columns,
        problem_type=problem_type,
        n_classes=n_classes,
        metric=metric,
        scorer=lambda truth, pred: score(metric, truth, pred) if defined(metric, truth) else None,
        families=families,
        seed=spec.seed,
        deadline=deadline,
        progress=progress,
    )
    timings["search"] = time.monotonic() - started - timings["check"]

    progress.stage("fitting the chosen model on the training rows")
    y_train = y[splits.train]
    inputs = [InputField(c.name, c.kind, c.dtype) for c in schema.features]  # type: ignore[arg-type]
    sample = [
        dict(r)
        for r in train_frame.select([c for c, _ in columns])
        .head(LATENCY_CALLS)
        .iter_rows(named=True)
    ]
    fitting = _Fitting(
        spec=spec, columns=columns, classes=classes, inputs=inputs, latency_sample=sample
    )
    end = started + budget
    evaluated, rejected = _fit_within_constraints(
        search, fitting, train_frame, y_train, progress=progress, deadline=end
    )

    progress.stage("evaluating on the holdout")
    holdout_frame = frame[splits.holdout]
    y_hold = y[splits.holdout]
    batch_started = time.perf_counter()
    holdout_pred = evaluated.model._raw(holdout_frame)
    batch_seconds = time.perf_counter() - batch_started
    metrics = _evaluate(
        pred=holdout_pred,
        search=search,
        chosen=evaluated.trial,
        splits=splits,
        y_hold=y_hold,
        y_train=y_train,
        spec=spec,
        n_classes=n_classes,
    )
    threshold = metrics.get("decision", {}).get("threshold")

    final = evaluated
    refit = spec.validation.refit
    expected = evaluated.fit_seconds * frame.height / max(len(splits.train), 1)
    if refit and time.monotonic() + expected > end:
        # A refit cut short by the budget would be worse than the model the holdout judged.
        refit = False
        progress.log("refit on every labelled row skipped: not enough time budget left")
    if refit:
        # The holdout has judged this configuration; now let it learn from those rows too.
        progress.stage("refitting the chosen model on every labelled row")
        final = fitting.fit(evaluated.trial, frame, y, deadline=None)
    model = final.model
    model.threshold = threshold
    model.metadata.update(
        chosen=final.trial.candidate.name,
        rejected_by_constraints=rejected,
        metrics=metrics,
        leaderboard=search.leaderboard(),
        latency={
            **final.latency,
            "batch_rows_per_second": len(holdout_frame) / batch_seconds
            if batch_seconds > 0
            else None,
        },
        size_mb=final.size_mb,
        training={
            "refit_on_all_rows": refit,
            "rows": frame.height if refit else len(splits.train),
            "note": "holdout scores were measured on the same configuration fitted without the "
            "holdout rows"
            if refit
            else "the model was fitted on the training rows only; the holdout never touched it"
            + ("" if not spec.validation.refit else " (refit skipped: time budget)"),
        },
        data={
            "fingerprint": fingerprint(checked.frame),
            "rows": checked.frame.height,
            "labelled_rows": frame.height,
            "train_rows": len(splits.train),
            "holdout_rows": len(splits.holdout),
            "validation": splits.description,
            "schema": schema.to_dict(),
        },
        checks=[f.to_dict() for f in report.findings],
        notes=list(checked.resolution.notes),
        reference={
            "features": reference_statistics(frame, columns),
            "predictions": prediction_statistics(holdout_pred, problem_type, model.class_names),
        },
    )
    timings["total"] = time.monotonic() - started
    model.metadata["timings"] = {k: round(v, 3) for k, v in timings.items()}
    result = RunResult(model=model, checked=checked, search=search, timings=timings)

    if save:
        target_dir = out_dir or _default_out_dir(spec)
        progress.stage("saving the artifact")
        result.artifact_dir = model.save(target_dir)
        model.metadata["path"] = str(result.artifact_dir)
        do_register = spec.registry.enabled if register is None else register
        if do_register:
            progress.stage("registering in MLflow")
            result.registration = _register(model, result.artifact_dir, spec, search, metrics)
            model.registry = result.registration.to_dict()
    return result


def _default_out_dir(spec: TaskSpec) -> Path:
    if spec.output.dir:
        return spec.resolve_path(spec.output.dir)
    return Path.cwd() / "models" / spec.task_name


@dataclass
class _Fitted:
    model: Model
    trial: TrialResult
    size_mb: float
    latency: dict[str, float]
    fit_seconds: float


@dataclass
class _Fitting:
    """What every final fit of a candidate shares."""

    spec: TaskSpec
    columns: list[tuple[str, FeatureKind]]
    classes: list[ClassValue]
    inputs: list[InputField]
    latency_sample: list[dict[str, Any]]

    def fit(
        self, trial: TrialResult, frame: pl.DataFrame, y: np.ndarray, deadline: float | None
    ) -> _Fitted:
        started = time.monotonic()
        learner, plan = fit_final(
            trial,
            frame=frame,
            y=y,
            columns=self.columns,
            problem_type=self.spec.resolved_problem_type,
            n_classes=len(self.classes),
            seed=self.spec.seed,
            deadline=deadline,
        )
        fit_seconds = time.monotonic() - started
        model = Model(
            spec=self.spec,
            classes=self.classes,
            threshold=None,
            inputs=self.inputs,
            plans={plan.style: plan},
            members=[Member(trial.candidate.name, learner, 1.0)],
            metadata={"created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")},
        )
        latency = measure_latency(model, self.latency_sample)
        return _Fitted(model, trial, _size_mb(model), latency, fit_seconds)

    def violation(self, fitted: _Fitted) -> str | None:
        """Why ``fitted`` breaks a constraint of the spec, or None."""
        limit_ms = self.spec.constraints.max_latency_p99_ms
        limit_mb = self.spec.constraints.max_model_size_mb
        name = fitted.trial.candidate.name
        p99_ms = fitted.latency["p99_us"] / 1000.0
        if limit_ms is not None and p99_ms > limit_ms:
            return f"{name}: p99 {p99_ms:.3f} ms > {limit_ms} ms"
        if limit_mb is not None and fitted.size_mb > limit_mb:
            return f"{name}: {fitted.size_mb:.4f} MB > {limit_mb} MB"
        return None


def _fit_within_constraints(
    search: SearchResult,
    fitting: _Fitting,
    frame: pl.DataFrame,
    y: np.ndarray,
    *,
    progress: Progress,
    deadline: float,
) -> tuple[_Fitted, list[str]]:
    """Fit the best candidate; if it breaks a latency or size constraint, the next best."""
    rejected: list[str] = []
    for trial in search.ranked():
        # However late, a final fit may take about as long as its cross-validation folds did
        # (they were fitted on fewer rows): a model cut to a few trees would be useless.
        per_fold = trial.fit_seconds / max(len(trial.fold_scores), 1)
        fitted = fitting.fit(trial, frame, y, max(deadline, time.monotonic() + 2 * per_fold))
        why = fitting.violation(fitted)
        if why is None:
            for note in rejected:
                progress.log(f"constraint: rejected {note}")
            return fitted, rejected
        rejected.append(why)
    raise TrainingError(
        "no candidate meets the constraints: " + "; ".join(rejected),
        field="constraints",
        hint="relax constraints.max_latency_p99_ms / max_model_size_mb",
    )


def _size_mb(model: Model) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        total = 0
        for member in model.members:
            member.learner.to_files(Path(tmp) / member.name)
        for path in Path(tmp).rglob("*"):
            if path.is_file():
                total += path.stat().st_size
    return total / 1e6


def measure_latency(
    model: Model, records: Sequence[dict[str, Any]], calls: int = LATENCY_CALLS
) -> dict[str, float]:
    """p50/p99 of ``Model.predict_one`` over ``calls`` calls (features included), in µs."""
    if not records:
        return {"p50_us": float("nan"), "p99_us": float("nan"), "calls": 0}
    for record in records[:20]:
        model.predict_one(record)  # warm up caches and the learners' fast paths
    times = []
    for i in range(calls):
        record = records[i % len(records)]
        t0 = time.perf_counter_ns()
        model.predict_one(record)
        times.append((time.perf_counter_ns() - t0) / 1000.0)
    times.sort()
    return {
        "p50_us": statistics.median(times),
        "p99_us": times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)],
        "calls": calls,
    }


def _evaluate(
    *,
    pred: np.ndarray,
    search: SearchResult,
    chosen: TrialResult,
    splits: Splits,
    y_hold: np.ndarray,
    y_train: np.ndarray,
    spec: TaskSpec,
    n_classes: int,
) -> dict[str, Any]:
    """Holdout scores with 95% intervals, the baseline beside, and business value."""
    problem_type = spec.resolved_problem_type
    metric = spec.task.metric
    baseline = Baseline().fit(
        np.zeros((len(y_train), 0)), y_train, LearnerTask(problem_type, n_classes)
    )
    base_pred = baseline.predict(np.zeros((len(y_hold), 0)))
    out: dict[str, Any] = {
        "metric": metric,
        "cv": {
            "model": chosen.candidate.name,
            "score": chosen.cv_score,
            "std": chosen.cv_std,
            "folds": chosen.fold_scores,
            "baseline": search.baseline.cv_score,
        },
        "holdout": {
            "rows": len(y_hold),
            "model": bootstrap_interval(metric, y_hold, pred, seed=spec.seed).to_dict(),
            "baseline": bootstrap_interval(metric, y_hold, base_pred, seed=spec.seed).to_dict(),
            "all": all_metrics(problem_type, y_hold, pred),
            "baseline_all": all_metrics(problem_type, y_hold, base_pred),
        },
    }
    if problem_type == "binary" and spec.value.stated and chosen.oof is not None:
        validated = splits.validated
        choice: ThresholdChoice = best_threshold(
            y_train[validated], chosen.oof[validated][:, 1], spec.value
        )
        p = pred[:, 1]
        per_1000 = 1000.0 / len(y_hold)
        out["decision"] = {
            "threshold": choice.threshold,
            "chosen_on": "out-of-fold predictions of the training rows",
            "oof_value_per_1000": choice.value_per_1000,
            "holdout_value_per_1000": {
                "model_at_threshold": decision_value(y_hold, p, choice.threshold, spec.value)
                * per_1000,
                "model_at_0.5": decision_value(y_hold, p, 0.5, spec.value) * per_1000,
                "act_on_everyone": decision_value(y_hold, p, -math.inf, spec.value) * per_1000,
                "act_on_no_one": decision_value(y_hold, p, math.inf, spec.value) * per_1000,
            },
            "values": spec.value.model_dump(),
        }
    return out


def _register(
    model: Model, artifact_dir: Path, spec: TaskSpec, search: SearchResult, metrics: dict[str, Any]
) -> Registration:
    params = _flatten(spec.to_dict())
    params["chosen_model"] = model.metadata.get("chosen", "")
    chosen = next(t for t in search.trials if t.candidate.name == params["chosen_model"])
    for key, value in chosen.candidate.params.items():
        params[f"model.{key}"] = value
    logged: dict[str, float] = {
        f"cv_{metrics['metric']}": metrics["cv"]["score"],
        f"cv_{metrics['metric']}_std": metrics["cv"]["std"],
        f"cv_baseline_{metrics['metric']}": metrics["cv"]["baseline"],
        f"holdout_{metrics['metric']}": metrics["holdout"]["model"]["value"],
        f"holdout_baseline_{metrics['metric']}": metrics["holdout"]["baseline"]["value"],
    }
    for name, value in metrics["holdout"]["all"].items():
        logged[f"holdout_{name}"] = value
    if "decision" in metrics:
        logged["decision_threshold"] = metrics["decision"]["threshold"]
        logged["holdout_value_per_1000"] = metrics["decision"]["holdout_value_per_1000"][
            "model_at_threshold"
        ]
    latency = model.metadata.get("latency", {})
    for key in ("p50_us", "p99_us"):
        if key in latency:
            logged[f"predict_one_{key}"] = latency[key]
    logged = {k: float(v) for k, v in logged.items() if v is not None and math.isfinite(float(v))}
    import mlwright

    tags = {
        "mlwright.version": mlwright.__version__,
        "mlwright.problem_type": spec.resolved_problem_type,
        "mlwright.data_fingerprint": model.metadata["data"]["fingerprint"],
        "mlwright.chosen_model": str(params["chosen_model"]),
    }
    assert spec.registry.experiment is not None
    assert spec.registry.model_name is not None
    return log_and_register(
        artifact_dir=artifact_dir,
        manifest_sha256=manifest_digest(artifact_dir),
        experiment=spec.registry.experiment,
        model_name=spec.registry.model_name,
        params=params,
        metrics=logged,
        tags=tags,
        uri=spec.registry.tracking_uri,
    )


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


# -- loading and batch scoring -------------------------------------------------------------------


def load(reference: str | Path, *, tracking_uri: str | None = None) -> Model:
    """A model from an artifact directory or a registry URI (models:/NAME@ALIAS)."""
    text = str(reference)
    if is_registry_uri(text):
        resolved = resolve(text, uri=tracking_uri)
        check_manifest(resolved, manifest_digest(resolved.path))
        model = load_model(resolved.path)
        model.registry = {
            "model_name": resolved.model_name,
            "version": resolved.version,
            "alias": resolved.alias or "",
            "uri": text,
        }
        return model
    return load_model(Path(text))


def predict_table(model: Model, data: Any, *, keep_columns: bool = False) -> pl.DataFrame:
    """Predictions for a table: the id column (when the spec has one), the prediction and,
    for classification, one probability column per class."""
    frame = to_polars(data)
    raw = model._raw(frame)
    out: dict[str, Any] = {}
    id_col = model.spec.task.id
    if keep_columns:
        out.update({name: frame[name] for name in frame.columns})
    elif id_col and id_col in frame.columns:
        out[id_col] = frame[id_col]
    if model.problem_type == "regression":
        out["prediction"] = raw
    else:
        labels = model._labels(raw)
        out["prediction"] = pl.Series("prediction", labels.tolist())
        for j, name in enumerate(model.class_names):
            out[f"proba_{name}"] = raw[:, j]
    return pl.DataFrame(out)


def predict_file(
    model: Model, data_path: Path, out_path: Path, *, keep_columns: bool = False
) -> int:
    """Score a CSV or Parquet file into ``out_path`` (.csv or .parquet); the row count."""
    frame = read_file(data_path)
    result = predict_table(model, frame, keep_columns=keep_columns)
    suffix = out_path.suffix.lower()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".parquet", ".pq"):
        result.write_parquet(out_path)
    elif suffix in (".csv", ""):
        result.write_csv(out_path)
    else:
        raise DataError(
            f"cannot write predictions as '{suffix}'",
            field=str(out_path),
            hint="name the output file .csv or .parquet",
        )
    return result.height


# -- drafting a spec -----------------------------------------------------------------------------


def draft_spec(data_path: Path, target: str, spec_path: Path) -> str:
    """A commented spec for ``data_path`` with every inferred decision explained."""
    frame = read_file(data_path)
    try:
        relative = data_path.resolve().relative_to(spec_path.resolve().parent)
        shown_path = relative.as_posix()
    except ValueError:
        shown_path = str(data_path.resolve())
    spec = spec_from_kwargs({"target": target, "path": shown_path}, base_dir=spec_path.parent)
    resolution = resolve_spec(spec, frame)
    resolved = resolution.spec
    schema = infer_schema(frame, resolved)
    notes: dict[str, str] = {}
    ids = [c.name for c in schema.columns if c.kind == "identifier"]
    times = [c.name for c in schema.columns if c.kind == "datetime" and c.role == "feature"]
    draft = spec.model_copy(deep=True)
    draft.task.problem_type = resolved.task.problem_type
    draft.task.positive_class = resolved.task.positive_class
    draft.task.metric = resolved.task.metric
    draft.name = resolved.name
    if ids:
        draft.task.id = ids[0]
        notes["task.id"] = f"inferred: '{ids[0]}' looks like a row identifier"
    if times:
        notes["task.time"] = (
            f"datetime column(s) {', '.join(times)}: set time to one of them if rows should be "
            "validated past -> future"
        )
    notes.update(resolution.reasons)
    if resolved.task.problem_type == "binary":
        notes["value.tp"] = (
            "state what each decision is worth to set the decision threshold, e.g. tp = 100, "
            "fp = -20"
        )
    header = (
        f"mlwright task spec for {data_path.name} ({frame.height} rows, {frame.width} columns), "
        f"written by `mlwright init`. Every field is shown with its default; check the ones "
        f"marked inferred."
    )
    return render_spec(draft, notes=notes, header=header)
