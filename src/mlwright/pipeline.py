"""The main job: check -> search -> evaluate -> save -> register.

``mlwright run`` (CLI), ``mlwright.run`` and ``mlwright.fit`` all come through ``train``;
the monitoring loop retrains through it too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlwright._clock import Clock
from mlwright._progress import Progress, Silent
from mlwright.artifact import (
    Calibrator,
    ClassValue,
    InputField,
    Member,
    Model,
    class_name,
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
    Evaluation,
    Predictions,
    Step,
    better,
    complexity_ladder,
    defined,
    evaluate,
    global_importance,
    learning_curve,
    score,
)
from mlwright.features import FeatureKind, FeaturePlan
from mlwright.learners import LEARNERS, Baseline, LearnerTask, cuda_available, learner_class
from mlwright.recommend import (
    InteractionChecks,
    Recommender,
    RecommendSettings,
    check_interactions,
    recommender_card,
    save_recommender,
    train_recommender,
)
from mlwright.registry import Registration, log_and_register, open_store
from mlwright.report import Card, model_card
from mlwright.search import (
    Limits,
    Prepared,
    SearchResult,
    SearchScale,
    SearchSettings,
    Selection,
    TrialResult,
    default_workers,
    ensemble_model,
    make_executor,
    measure_trials,
    pareto_front,
    plan_scale,
    portfolio,
    prepare,
    rank_trials,
    refit_members,
    refit_seconds,
    run_search,
    sample_rows,
    select,
    stack,
)
from mlwright.spec import (
    METRICS,
    ProblemType,
    Resolution,
    TaskSpec,
    render_spec,
    safe_name,
    spec_from_dict,
    spec_from_kwargs,
)
from mlwright.spec import resolve as resolve_spec

# What follows the search (measuring every candidate, choosing, evaluating on the holdout)
# gets POST_SEARCH_SHARE of the budget plus POST_SEARCH_SECONDS, but at most
# MAX_POST_SEARCH_SHARE (so a fifth of budgets up to 60 s). Measured at 60 s on the dev
# suite: 3 to 12 s, the most for holdout predictions of 20 bagged boosting models on
# hotel_rates; a longer search has more candidates to measure, but not in proportion.
# The search also keeps free the time a refit of its leaders would take (at most
# REFIT_SHARE of the budget): a refit model is one model per member instead of one per
# fold, faster to predict and trained on every row; a refit that needs more is skipped.
POST_SEARCH_SHARE = 0.1
POST_SEARCH_SECONDS = 6.0
MAX_POST_SEARCH_SHARE = 0.2
REFIT_SHARE = 0.35
REFIT_LEADERS = 3
MEASURE_SHARE = 0.5  # of the time left after the search, at most, for measuring trials
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
    resume: bool = False,
    started: float | None = None,
) -> RunResult:
    """Check, search, choose, evaluate on the holdout, refit, and (optionally) save and
    register. ``resume`` reuses the finished trials of an interrupted run of the same spec
    on the same data. The time budget covers all of it, from ``started`` (the command's
    ``time.monotonic()`` start; default now) to the end of registration."""
    if spec.task.is_recommendation:
        raise TrainingError(
            "this spec is a recommendation task; train() fits prediction tasks",
            hint="use train_recommendation (mlwright run and mlwright.run choose it for you)",
        )
    progress = progress if progress is not None else Silent()
    clock = Clock.start(spec.constraints.time_budget, started)
    started, budget = clock.started, clock.budget
    timings: dict[str, float] = {}
    # What follows the work (card, save, registration) is kept free at the end of the budget.
    do_register = save and (spec.registry.enabled if register is None else register)
    finish = finish_seconds(save=save, register=do_register)

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
    clock = clock.keeping(finish)
    end = clock.end

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
    # On large tables the search (and the holdout) use a sample; the refit uses every row.
    classification = problem_type != "regression"
    scale = plan_scale(
        n_rows=round(frame.height * (1 - spec.validation.holdout)),
        kinds=[kind for _, kind in columns],
        search_seconds=search_seconds(budget - finish)
        if spec.search.max_trials is None
        else math.inf,
        memory_gb=spec.constraints.max_memory_gb,
        workers=spec.search.workers or default_workers(),
        folds=spec.validation.folds,
    )
    sample = frame
    y_sample = y
    if scale.reason is not None:
        keep = sample_rows(
            y,
            min(frame.height, round(scale.rows / (1 - spec.validation.holdout))),
            classification=classification,
            seed=spec.seed,
        )
        sample, y_sample = frame[keep], y[keep]
        progress.log(
            f"search on {sample.height:,} of {frame.height:,} rows with {scale.folds} folds "
            f"({scale.reason})"
        )
    splits = _splits(spec, sample, y_sample, folds=scale.folds)
    progress.log(f"validation: {splits.description}")
    train_frame, y_train = sample[splits.train], y_sample[splits.train]
    families = _families(spec)
    if spec.search.max_trials is None:
        _refuse_budget_up_front(
            clock,
            first=_first_candidate_seconds(
                families,
                LearnerTask(problem_type, n_classes),
                rows=len(splits.train),
                features=len(columns),
                folds=len(splits.folds),
            ),
            folds=len(splits.folds),
        )
    # Registering's slow part, opening a new MLflow store, starts beside the search; only
    # once the data and the budget have passed their checks (a refused run creates nothing).
    store = _StoreOpener(spec.registry.tracking_uri) if do_register else None
    styles = sorted({learner_class(f).feature_style for f in ["baseline", *families]})
    inputs = [InputField(c.name, c.kind, c.dtype) for c in schema.features]  # type: ignore[arg-type]
    records = [
        dict(r)
        for r in train_frame.select([c for c, _ in columns])
        .head(LATENCY_CALLS)
        .iter_rows(named=True)
    ]

    def make_model(members: list[Member], plans: dict[str, FeaturePlan]) -> Model:
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return Model(
            spec=spec,
            classes=classes,
            threshold=None,
            inputs=inputs,
            plans=plans,
            members=members,
            metadata={"created_at": created},
        )

    data_fingerprint = fingerprint(checked.frame)
    with _work_dir(spec, data_fingerprint, scale, persist=save, resume=resume) as work:
        progress.stage("preparing features for each fold")
        prepared = prepare(
            frame=train_frame,
            y=y_train,
            folds=splits.folds,
            columns=columns,
            styles=styles,
            n_classes=n_classes,
            seed=spec.seed,
            root=work / "data",
        )
        gpu = spec.search.gpu and cuda_available()
        if spec.search.gpu and not gpu:
            progress.log("search.gpu: no CUDA GPU here; XGBoost and CatBoost train on the CPU")
        settings = SearchSettings(
            gpu=gpu,
            families=families,
            metric=metric,
            seed=spec.seed,
            deadline=started + search_seconds(budget - finish),
            reserve=_refit_reserve(spec, prepared, frame.height, budget - finish),
            max_trials=spec.search.max_trials,
            tune=spec.search.tune,
        )
        search = run_search(
            prepared=prepared,
            problem_type=problem_type,
            settings=settings,
            scorer=lambda truth, pred: (
                score(metric, truth, pred) if defined(metric, truth) else None
            ),
            journal=work / "trials",
            executor=make_executor(_workers(spec, prepared)),
            resume=resume,
            progress=progress,
        )
        timings["search"] = time.monotonic() - started - timings["check"]
        if spec.search.max_trials is None:
            overrun = _refuse_overrun(search, started, budget, finish)
            if overrun:
                progress.log(overrun)

        if store is not None:
            # A single-row latency measured beside MLflow's import would not be the model's.
            timings["store_import_wait"] = store.wait_imported()
        progress.stage("measuring each candidate's single-row latency and size")
        step = time.monotonic()
        # At most half of what is left: choosing, the holdout and the refit follow.
        unmeasured = measure_trials(
            search, make_model, records, deadline=step + MEASURE_SHARE * max(end - step, 0.0)
        )
        timings["measure"] = time.monotonic() - step
        skipped: dict[str, str] = {}
        if unmeasured:
            total = len(search.ranked())
            skipped["measuring every candidate"] = (
                f"only the best {total - len(unmeasured)} of the {total} finished candidates "
                f"were measured in half of the time left ({max(end - step, 0):.1f} s); the "
                "others could not be chosen"
            )
            progress.log(f"not measured: {skipped['measuring every candidate']}")
        progress.stage("selecting the model")
        limits = Limits(spec.constraints.max_latency_p99_ms, spec.constraints.max_model_size_mb)
        with _timed(timings, "select"):
            selection = select(
                search,
                limits=limits,
                ensemble=spec.search.ensemble,
                score=lambda truth, pred: score(metric, truth, pred),
                make_model=make_model,
                records=records,
                seed=spec.seed,
            )
        for note in selection.rejected:
            progress.log(f"constraint: rejected {note}")

        progress.stage("evaluating on the holdout")
        evaluate_started = time.monotonic()
        holdout_frame, y_hold = sample[splits.holdout], y_sample[splits.holdout]
        holdout_inputs = holdout_frame.select([c for c, _ in columns])
        batch_started = time.perf_counter()
        holdout_pred = selection.model._raw(holdout_frame)
        batch_seconds = time.perf_counter() - batch_started
        stacking: dict[str, Any] | None = None
        if spec.search.stacking:
            selection, holdout_pred, stacking = _try_stacking(
                search=search,
                selection=selection,
                holdout_pred=holdout_pred,
                holdout_frame=holdout_frame,
                y_hold=y_hold,
                limits=limits,
                problem_type=problem_type,
                n_classes=n_classes,
                make_model=make_model,
                records=records,
                metric=metric,
            )
            progress.log(f"stacking: {stacking['summary']}")
        best_single = search.best
        single_pred = None
        if set(selection.weights) != {best_single.candidate.name}:
            single_pred = ensemble_model(
                {best_single.candidate.name: 1.0}, search, make_model
            )._raw(holdout_frame)
        evaluation = _evaluate(
            pred=holdout_pred,
            single_pred=single_pred,
            search=search,
            selection=selection,
            validated=prepared.validated,
            y_hold=y_hold,
            y_train=y_train,
            spec=spec,
            n_classes=n_classes,
            holdout_frame=holdout_inputs,
            columns=columns,
            class_names=[class_name(c) for c in classes],
        )
        metrics = evaluation.metrics
        timings["evaluate"] = time.monotonic() - evaluate_started
        holdout_pred_raw = holdout_pred
        if evaluation.calibrator is not None:
            # What the served model outputs, for the monitoring reference below.
            holdout_pred = evaluation.calibrator.apply(holdout_pred)
            progress.log(f"calibration: {metrics['calibration']['reason']}")

        model, latency, size_mb = selection.model, selection.latency, selection.size_mb
        refit = spec.validation.refit
        selected = [search.by_name(n) for n in selection.weights]
        growth = _refit_growth(frame.height, prepared)
        workers = _workers(spec, prepared)
        expected = refit_seconds(selected, growth, workers)
        left = end - time.monotonic()
        if refit and expected > left:
            # A refit cut short by the budget would be worse than the model the holdout judged.
            refit = False
            skipped["refit on every labelled row"] = (
                f"it would take about {expected:.0f} s and {max(left, 0):.0f} s of the time "
                f"budget were left (a budget of about {clock.budget_for(expected)} s would hold "
                "it); the model is the bagged fold models the holdout scored"
            )
            progress.log(
                f"refit on every labelled row skipped: {skipped['refit on every labelled row']}"
            )
        if refit:
            # The holdout has judged these configurations; now let them learn from every row.
            progress.stage("refitting the chosen model on every labelled row")
            members, plans = refit_members(
                selection.weights,
                selected,
                frame=frame,
                y=y,
                columns=columns,
                problem_type=problem_type,
                n_classes=n_classes,
                seed=spec.seed,
                gpu=gpu,
                workers=workers,
            )
            model = make_model(members, plans)
            model.set_stacker(selection.stacker)
            latency, size_mb = model.measure_latency(records), model.size_mb()

        timings["refit"] = time.monotonic() - evaluate_started - timings["evaluate"]
        progress.stage("weighing each step up in complexity")
        # After the refit, which has the time first; the linear model's holdout prediction
        # is left out when the budget is spent.
        linear = _best_linear(search)
        if linear is not None and linear.candidate.name == search.best.candidate.name:
            linear = None  # the best single model is linear: it has its own step
        linear_step = None
        if linear is not None and end - time.monotonic() > LINEAR_STEP_SECONDS:
            linear_step = (
                linear,
                ensemble_model({linear.candidate.name: 1.0}, search, make_model)._raw(
                    holdout_frame
                ),
            )
        metrics["complexity"] = _complexity(
            spec=spec,
            search=search,
            selection=selection,
            calibrator=evaluation.calibrator,
            pred=holdout_pred_raw,
            single_pred=single_pred,
            linear=linear_step,
            y_train=y_train,
            y_hold=y_hold,
            n_classes=n_classes,
        )
        if linear is not None and linear_step is None:
            metrics["complexity"]["note"] = (
                "the linear step is left out: the time budget was spent before it"
            )
            skipped["complexity ladder's linear step"] = "the time budget was spent before it"
        progress.stage("measuring how the score grows with the training rows")
        # The fold files are still there; 40% of what the budget has left, the refit first.
        metrics["learning_curve"] = learning_curve(
            prepared,
            search.best,
            metric=metric,
            problem_type=problem_type,
            seconds=max(0.0, end - time.monotonic()) * 0.4,
            seed=spec.seed,
        )

    model.threshold = evaluation.threshold
    model.set_calibrator(evaluation.calibrator)
    model.intervals = evaluation.intervals
    timings["learning_curve"] = float(metrics["learning_curve"].get("seconds", 0.0))
    progress.stage("measuring what each input contributes")
    # Half of what the budget has left; the rest is for saving and registering.
    metrics["importance"] = global_importance(
        model,
        holdout_inputs,
        y_hold,
        seconds=max(0.0, end - time.monotonic()) / 2,
        seed=spec.seed,
    )
    timings["importance"] = float(metrics["importance"].get("seconds", 0.0))
    model.metadata.update(
        chosen=selection.name,
        ensemble=selection.weights,
        rejected_by_constraints=selection.rejected,
        **({"stacking": stacking} if stacking is not None else {}),
        interrupted=search.interrupted,
        metrics=metrics,
        leaderboard=leaderboard(search, selection),
        latency={
            **latency,
            "batch_rows_per_second": len(holdout_frame) / batch_seconds
            if batch_seconds > 0
            else None,
        },
        size_mb=size_mb,
        training={
            "refit_on_all_rows": refit,
            "bagged_folds": None if refit else len(splits.folds),
            "rows": frame.height if refit else len(splits.train),
            "note": "holdout scores were measured on the fold models of the same "
            "configurations (each fitted without the holdout rows); the final model refits "
            "them on every labelled row"
            if refit
            else "the model is the bagged fold models the holdout scored"
            + (" (refit skipped: time budget)" if spec.validation.refit else ""),
        },
        data={
            "fingerprint": data_fingerprint,
            "rows": checked.frame.height,
            "labelled_rows": frame.height,
            "train_rows": len(splits.train),
            "holdout_rows": len(splits.holdout),
            "validation": splits.description,
            "search": scale.to_dict(),
            "schema": schema.to_dict(),
        },
        checks=[f.to_dict() for f in report.findings],
        notes=list(checked.resolution.notes),
        reference={
            "features": reference_statistics(frame, columns),
            "predictions": prediction_statistics(holdout_pred, problem_type, model.class_names),
        },
    )
    for name, key in (("learning curve", "learning_curve"), ("input importance", "importance")):
        if metrics[key].get("computed") is False:
            skipped[name] = str(metrics[key].get("reason", ""))
    model.metadata["budget"] = {
        "seconds": budget,
        "search_seconds": round(search_seconds(budget - finish), 3)
        if spec.search.max_trials is None
        else None,
        "kept_for_card_save_register": round(finish, 3),
        "skipped": skipped,
    }
    result = RunResult(model=model, checked=checked, search=search, timings=timings)

    if save:
        target_dir = out_dir or _default_out_dir(spec)
        progress.stage("writing the model card")
        with _timed(timings, "card"):
            documents = _card_documents(model_card(model))
        progress.stage("saving the artifact")
        _record_timings(model.metadata, timings, started)
        with _timed(timings, "save"):
            result.artifact_dir = model.save(target_dir, documents=documents)
        model.metadata["path"] = str(result.artifact_dir)
        if store is not None:
            progress.stage("registering in MLflow")
            with _timed(timings, "registration"):
                timings["store_wait"] = store.wait()
                result.registration = _register(model, result.artifact_dir, spec, search, metrics)
            model.registry = result.registration.to_dict()
    else:
        _record_timings(model.metadata, timings, started)
    model.metadata["timings"]["wall"] = round(_finish_clock(timings, started, budget, progress), 3)
    return result


# Seconds of budget that must be left for the complexity ladder's linear step.
LINEAR_STEP_SECONDS = 2.0
# The model card's files inside an artifact written by `mlwright run`.
CARD_HTML = "model_card.html"
CARD_MARKDOWN = "model_card.md"


def search_seconds(budget: float) -> float:
    """Seconds of a ``budget`` the search may use; the rest is for what follows it."""
    post = min(budget * MAX_POST_SEARCH_SHARE, budget * POST_SEARCH_SHARE + POST_SEARCH_SECONDS)
    return budget - post


def budget_for_search(seconds: float) -> float:
    """The smallest budget whose search may use ``seconds`` (the inverse of search_seconds)."""
    return min(
        (seconds + POST_SEARCH_SECONDS) / (1 - POST_SEARCH_SHARE),
        seconds / (1 - MAX_POST_SEARCH_SHARE),
    )


def _refit_growth(rows: int, prepared: Prepared) -> float:
    """How many times the rows of one fold fit a refit on ``rows`` rows sees: a fold fit
    saw (k-1)/k of the search's training rows."""
    k = len(prepared.folds)
    return rows / max(prepared.n_rows * (1 - 1 / max(k, 2)), 1)


def _refit_reserve(
    spec: TaskSpec, prepared: Prepared, rows: int, budget: float
) -> Callable[[Sequence[TrialResult], Sequence[float]], float] | None:
    """Seconds the search keeps free for refitting its current leaders on ``rows`` rows,
    counting each running trial (by the seconds per fold it may take) as a leader."""
    if not spec.validation.refit:
        return None
    growth = _refit_growth(rows, prepared)
    workers = _workers(spec, prepared)

    def reserve(trials: Sequence[TrialResult], running: Sequence[float]) -> float:
        done = [
            t for t in rank_trials(trials, spec.task.metric) if t.candidate.family != "baseline"
        ]
        # Ensembles take the leaders and, for diversity, the best of other families.
        leaders = done[:REFIT_LEADERS]
        for t in done:
            if t.candidate.family not in {m.candidate.family for m in leaders}:
                leaders.append(t)
        needed = refit_seconds(leaders, growth, workers, running=running)
        # A refit that would need more than its share is skipped anyway: keep nothing for it.
        return needed if needed <= budget * REFIT_SHARE else 0.0

    return reserve


# A run may end this share past its time budget; beyond it the budget was too small.
OVERRUN_ALLOWED = 0.10

# What follows the work is kept free at the end of the budget. Measured on the bundled
# examples (2 busy cores): the model card 0.4-1.6 s, saving under 0.1 s, registering
# 0.3-1.9 s once the MLflow store is open. Opening a new SQLite store (importing MLflow,
# Alembic's migrations) takes 2-11 s: it runs in a thread beside the search, which is
# longer on any budget that can hold a model, so it is not kept free as well.
CARD_SECONDS = 1.5
SAVE_SECONDS = 0.5
REGISTER_SECONDS = 1.5


def _card_documents(card: Card) -> dict[str, str]:
    """The model card's two files, as an artifact holds them."""
    return {CARD_HTML: card.to_html(), CARD_MARKDOWN: card.to_markdown()}


@contextlib.contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    """Record in ``timings[step]`` the seconds the block took."""
    began = time.monotonic()
    yield
    timings[step] = time.monotonic() - began


def _record_timings(metadata: dict[str, Any], timings: dict[str, float], started: float) -> None:
    """The run's timings so far, into the model's metadata (and so its manifest): saving and
    registering come after them, the whole run's wall time is added at its end."""
    timings["until_save"] = time.monotonic() - started
    metadata["timings"] = {k: round(v, 3) for k, v in timings.items()}


def finish_seconds(*, save: bool, register: bool) -> float:
    """Seconds kept free at the end of a run for writing the card, saving and registering."""
    return (CARD_SECONDS + SAVE_SECONDS if save else 0.0) + (REGISTER_SECONDS if register else 0.0)


class _StoreOpener:
    """Gets the MLflow store ready in a background thread (``open_store``: MLflow imported
    here, a new store migrated in a child process), so that registering at the end of a run
    does not wait seconds for it. A store that cannot be opened is left for the
    registration itself to report."""

    def __init__(self, uri: str | None):
        self._uri = uri
        self._imported = threading.Event()
        # Not a daemon: the child's migrations are never abandoned half-way at exit.
        self._thread = threading.Thread(target=self._open, name="mlwright-open-store")
        self._thread.start()

    def _open(self) -> None:
        with contextlib.suppress(Exception):
            open_store(self._uri, imported=self._imported)
        self._imported.set()

    def wait_imported(self) -> float:
        """Seconds spent waiting for MLflow's import: Python work in that thread would share
        the GIL in 5 ms slices with anything timed in this process."""
        started = time.monotonic()
        self._imported.wait()
        return time.monotonic() - started

    def wait(self) -> float:
        """Seconds spent waiting for the store to be ready."""
        started = time.monotonic()
        self._thread.join()
        return time.monotonic() - started


def _first_candidate_seconds(
    families: Sequence[str], task: LearnerTask, *, rows: int, features: int, folds: int
) -> tuple[str, float]:
    """The search's first real candidate and its expected seconds for all folds, from its
    family's cost hint (the search has timed nothing yet)."""
    candidates = portfolio(families, task, rows)
    if not candidates:
        return "baseline", 0.0
    first = candidates[0]
    return first.name, learner_class(first.family).cost_hint(rows, features, task) * folds


def _refuse_budget_up_front(work: Clock, *, first: tuple[str, float], folds: int) -> None:
    """Before any search: a budget that cannot hold what has run, the first candidate's
    expected fit and what follows the search (the card, saving and registering included) is
    refused now, saying what it would need, rather than after the time is spent."""
    elapsed = work.elapsed()
    name, seconds = first
    if search_seconds(work.budget - work.reserved) >= elapsed + seconds:
        return
    needed = math.ceil((budget_for_search(elapsed + seconds) + work.reserved) * 1.5)
    after = (
        f", and writing the card, saving and registering need about {work.reserved:.1f} s"
        if work.reserved > 0
        else ""
    )
    raise TrainingError(
        f"the time budget of {work.budget:g} s is too small to fit anything: starting, "
        f"loading and checking the data took {elapsed:.1f} s, the quickest candidate, {name}, "
        f"would take about {seconds:.1f} s for its {folds} folds, and the search is given "
        f"{max(search_seconds(work.budget - work.reserved), 0):.1f} s of the budget (the rest "
        f"is for measuring, choosing and the holdout{after})",
        field="constraints.time_budget",
        hint=f"set constraints.time_budget (or --time-budget) to at least {max(needed, 5)} s, "
        "or use search.max_trials to bound the search by a trial count instead",
    )


def _finish_clock(
    timings: dict[str, float], started: float, budget: float, progress: Progress
) -> float:
    """Record the run's wall time (registration included) and say if it overran."""
    wall = timings["wall"] = time.monotonic() - started
    overrun = overrun_note(wall, budget)
    if overrun is not None:
        progress.log(overrun)
    return wall


def overrun_note(wall: float, budget: float) -> str | None:
    """A line saying by how much a run of ``wall`` seconds went past its budget, if it did."""
    if wall <= budget:
        return None
    return (
        f"the run took {wall:.1f} s: {wall - budget:.1f} s ({(wall - budget) / budget:.0%}) past "
        f"its time budget of {budget:g} s"
    )


def _refuse_overrun(
    search: SearchResult, started: float, budget: float, finish: float = 0.0
) -> str | None:
    """The first real candidate always runs to the end; if that alone took the run past its
    budget (``finish`` seconds are still to come after the work), the budget was too small
    to fit anything: say so rather than hand back a model that broke the spec's time limit.
    A run that went over for other reasons (a busy machine slowing the work around a quick
    candidate) keeps its model; the line returned says by how much it will go over."""
    elapsed = time.monotonic() - started
    if elapsed + finish <= budget * (1 + OVERRUN_ALLOWED):
        return None
    real = [t for t in search.trials if t.candidate.family != "baseline" and t.status != "skipped"]
    first = real[0] if real else search.baseline
    window = search_seconds(budget - finish)
    # The budget whose search window would have held what ran before the search ends and
    # the first candidate again, with half as much to spare.
    wanted = elapsed - window + first.fit_seconds
    needed = math.ceil((budget_for_search(wanted) + finish) * 1.5)
    if first.fit_seconds <= window and needed <= budget:
        return (
            f"the run will end about {elapsed + finish - budget:.1f} s past the {budget:g} s "
            f"budget, though its quickest candidate took {first.fit_seconds:.1f} s: the "
            "machine may be busy"
        )
    raise TrainingError(
        f"the time budget of {budget:g} s is too small to fit anything: the quickest candidate, "
        f"{first.candidate.name}, took {first.fit_seconds:.1f} s for its "
        f"{len(search.prepared.folds)} folds, and the run had used {elapsed:.1f} s",
        field="constraints.time_budget",
        hint=f"set constraints.time_budget (or --time-budget) to at least {max(needed, 5)} s, "
        "or use search.max_trials to bound the search by a trial count instead",
    )


def _default_out_dir(spec: TaskSpec) -> Path:
    if spec.output.dir:
        return spec.resolve_path(spec.output.dir)
    return Path.cwd() / "models" / safe_name(spec.task_name)  # "../x" stays under models/


def _splits(spec: TaskSpec, frame: pl.DataFrame, y: np.ndarray, *, folds: int) -> Splits:
    problem_type = spec.resolved_problem_type
    strategy = choose_strategy(
        spec.validation.strategy,
        classification=problem_type != "regression",
        has_group=spec.task.group is not None,
        has_time=spec.task.time is not None,
    )
    return make_splits(
        strategy=strategy,
        y=y,
        classification=problem_type != "regression",
        folds=folds,
        holdout=spec.validation.holdout,
        seed=spec.seed,
        groups=frame[spec.task.group].cast(pl.String).fill_null("").to_numpy()
        if spec.task.group
        else None,
        times=frame[spec.task.time].to_physical().cast(pl.Float64).to_numpy()
        if spec.task.time
        else None,
    )


def _families(spec: TaskSpec) -> list[str]:
    """The spec's learners, or every installed family; the baseline runs regardless."""
    if spec.search.learners:
        return [f for f in spec.search.learners if f != "baseline"]
    return [f for f, cls in LEARNERS.items() if f != "baseline" and cls.available]


# Below this many training cells (rows x features) a search bounded by a trial count runs
# its trials inline: a few quick trials gain less from worker processes than starting them
# costs. A search bounded by time always uses every core: on small tables some families
# (CatBoost on a multiclass target, say) still take half a minute a trial.
INLINE_CELLS = 200_000


def _workers(spec: TaskSpec, prepared: Prepared) -> int:
    if spec.search.workers > 0:
        return spec.search.workers
    cells = prepared.n_rows * max(prepared.n_features.values())
    if spec.search.max_trials is not None and cells < INLINE_CELLS:
        return 1
    return default_workers()


@contextlib.contextmanager
def _work_dir(
    spec: TaskSpec, data_fingerprint: str, scale: SearchScale, *, persist: bool, resume: bool
) -> Iterator[Path]:
    """Where the search keeps its fold matrices and trials. ``mlwright run`` keeps it under
    ``.mlwright/runs/`` until the run succeeds, so that a killed run can ``--resume``. The key
    covers what decides the trials (the data, the task, the folds, the learners, the seed,
    the rows searched) and not what only bounds the search (the time budget, max_trials,
    workers), so a resume may change those but never mixes different tasks."""
    if not persist:
        with tempfile.TemporaryDirectory(prefix="mlwright-") as tmp:
            yield Path(tmp)
        return
    decides = {
        "task": spec.task.model_dump(mode="json"),
        "validation": spec.validation.model_dump(mode="json"),
        "learners": spec.search.learners,
        "gpu": spec.search.gpu,
        "seed": spec.seed,
        "scale": [scale.rows, scale.folds],
        "data": data_fingerprint,
    }
    key = hashlib.sha256(json.dumps(decides, sort_keys=True).encode()).hexdigest()[:12]
    root = Path.cwd() / ".mlwright" / "runs" / f"{safe_name(spec.task_name)}-{key}"
    if resume and not (root / "trials").is_dir():
        raise TrainingError(
            f"nothing to resume: no interrupted run of this spec on this data under {root.parent}",
            field="--resume",
            hint="run without --resume (the spec or the data may have changed since)",
        )
    root.mkdir(parents=True, exist_ok=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)  # only after success: a failed run stays resumable


def leaderboard(search: SearchResult, selection: Selection) -> list[dict[str, Any]]:
    """Every trial: score, spread, fit seconds, single-row latency, size, Pareto front,
    ensemble weight; finished ones best first."""
    greater = METRICS[search.metric].greater_is_better
    ranked = search.ranked()
    front = pareto_front(ranked, greater)
    rest = [t for t in search.trials if t.status != "ok"]
    rows = []
    for rank, trial in enumerate([*ranked, *rest], start=1):
        ok = trial.status == "ok"
        latency = trial.latency or {}
        rows.append(
            {
                "rank": rank if ok else None,
                "model": trial.candidate.name,
                "family": trial.candidate.family,
                "origin": trial.candidate.origin,
                f"cv_{search.metric}": trial.cv_score if ok else None,
                "cv_std": trial.cv_std if ok else None,
                "fit_seconds": round(trial.fit_seconds, 3),
                "p50_us": latency.get("p50_us"),
                "p99_us": latency.get("p99_us"),
                "size_mb": trial.size_mb,
                "pareto": trial.candidate.name in front,
                "weight": selection.weights.get(trial.candidate.name, 0.0),
                "chosen": trial.candidate.name in selection.weights,
                "status": trial.status,
                "params": trial.candidate.params,
                "note": "; ".join(
                    n for n in (trial.message, "resumed" if trial.resumed else "") if n
                ),
            }
        )
    return rows


def _try_stacking(
    *,
    search: SearchResult,
    selection: Selection,
    holdout_pred: np.ndarray,
    holdout_frame: pl.DataFrame,
    y_hold: np.ndarray,
    limits: Limits,
    problem_type: ProblemType,
    n_classes: int,
    make_model: Callable[[list[Member], dict[str, FeaturePlan]], Model],
    records: list[dict[str, Any]],
    metric: str,
) -> tuple[Selection, np.ndarray, dict[str, Any]]:
    """The stacked candidate replaces the selection only if it scores better on the holdout,
    which neither layer saw: a stacker that merely fits the out-of-fold noise is dropped."""
    stacked, why = stack(
        search,
        limits=limits,
        problem_type=problem_type,
        n_classes=n_classes,
        make_model=make_model,
        records=records,
    )
    if stacked is None:
        return selection, holdout_pred, {"kept": False, "summary": f"not tried: {why}"}
    stack_pred = stacked.model._raw(holdout_frame)
    on_stack, on_selection = score(metric, y_hold, stack_pred), score(metric, y_hold, holdout_pred)
    kept = better(metric, on_stack, on_selection)
    note = {
        "kept": kept,
        "members": list(stacked.weights),
        "holdout_stack": on_stack,
        "holdout_without": on_selection,
        "summary": (
            f"{stacked.name} {'kept' if kept else 'dropped'}: holdout {metric} {on_stack:.4g} "
            f"vs {on_selection:.4g} for {selection.name}"
        ),
    }
    if kept:
        stacked.rejected = selection.rejected
        return stacked, stack_pred, note
    return selection, holdout_pred, note


def _evaluate(
    *,
    pred: np.ndarray,
    single_pred: np.ndarray | None,
    search: SearchResult,
    selection: Selection,
    validated: np.ndarray,
    y_hold: np.ndarray,
    y_train: np.ndarray,
    spec: TaskSpec,
    n_classes: int,
    holdout_frame: pl.DataFrame,
    columns: Sequence[tuple[str, str]],
    class_names: Sequence[str],
) -> Evaluation:
    """Cross-validated scores of the choice beside the baseline's, then the holdout
    evaluation (calibration, intervals, threshold: see ``mlwright.evaluate.evaluate``)."""
    problem_type = spec.resolved_problem_type
    metric = spec.task.metric
    base_pred = _baseline_holdout(problem_type, n_classes, y_train, len(y_hold))
    fold_scores = [
        score(metric, y_train[valid], selection.oof[valid])
        for _, valid in search.prepared.folds
        if defined(metric, y_train[valid])
    ]
    best = search.best
    evaluation = evaluate(
        spec,
        Predictions(
            y_oof=y_train[validated], oof=selection.oof[validated], y_hold=y_hold, hold=pred
        ),
        baseline_hold=base_pred,
        single=(best.candidate.name, single_pred) if single_pred is not None else None,
        holdout_frame=holdout_frame,
        columns=columns,
        class_names=class_names,
    )
    evaluation.metrics = {
        "metric": metric,
        "cv": {
            "model": selection.name,
            "score": float(np.mean(fold_scores)),
            "std": float(np.std(fold_scores)),
            "folds": fold_scores,
            "best_single": {"model": best.candidate.name, "score": best.cv_score},
            "baseline": search.baseline.cv_score,
        },
        **evaluation.metrics,
    }
    return evaluation


def _baseline_holdout(
    problem_type: ProblemType, n_classes: int, y_train: np.ndarray, rows: int
) -> np.ndarray:
    """The baseline's holdout predictions: the training rows' prior or mean."""
    baseline = Baseline().fit(
        np.zeros((len(y_train), 0)), y_train, LearnerTask(problem_type, n_classes)
    )
    return np.asarray(baseline.predict(np.zeros((rows, 0))))


def _complexity(
    *,
    spec: TaskSpec,
    search: SearchResult,
    selection: Selection,
    calibrator: Calibrator | None,
    pred: np.ndarray,
    single_pred: np.ndarray | None,
    linear: tuple[TrialResult, np.ndarray] | None,
    y_train: np.ndarray,
    y_hold: np.ndarray,
    n_classes: int,
) -> dict[str, Any]:
    """The complexity ladder: baseline -> linear -> best single -> ensemble, as shipped.
    ``linear``: the best linear trial and its holdout predictions, when it is not already
    the best single model."""
    validated = search.prepared.validated
    best = search.best
    base_pred = _baseline_holdout(spec.resolved_problem_type, n_classes, y_train, len(y_hold))
    chosen_hold = pred if calibrator is None else calibrator.apply(pred)
    chosen_oof = selection.oof[validated]
    if calibrator is not None:
        chosen_oof = calibrator.apply(chosen_oof)

    def rung(name: str, trial: TrialResult, hold: np.ndarray) -> Step:
        latency = trial.latency or {}
        return Step(
            name,
            trial.candidate.name,
            hold,
            np.asarray(trial.oof)[validated],
            latency.get("p99_us"),
            trial.size_mb,
        )

    steps = [rung("baseline", search.baseline, base_pred)]
    if linear is not None:
        steps.append(rung("linear", *linear))
    steps.append(rung("best single", best, pred if single_pred is None else single_pred))
    if single_pred is not None:
        steps.append(
            Step(
                "stacked ensemble" if selection.stacker is not None else "ensemble",
                selection.name,
                chosen_hold,
                chosen_oof,
                selection.latency.get("p99_us"),
                selection.size_mb,
            )
        )
    else:  # the best single model is the choice: as shipped, calibrated if it is
        steps[-1] = Step(
            "best single",
            best.candidate.name,
            chosen_hold,
            chosen_oof,
            selection.latency.get("p99_us"),
            selection.size_mb,
        )
    return complexity_ladder(spec, steps, y_oof=y_train[validated], y_hold=y_hold)


def _best_linear(search: SearchResult) -> TrialResult | None:
    """The best finished linear trial, for the complexity ladder."""
    linear = [t for t in search.ranked() if t.candidate.family == "linear"]
    return linear[0] if linear else None


def _register(
    model: Model, artifact_dir: Path, spec: TaskSpec, search: SearchResult, metrics: dict[str, Any]
) -> Registration:
    params = _flatten(spec.to_dict())
    params["chosen_model"] = model.metadata.get("chosen", "")
    for name, weight in model.metadata.get("ensemble", {}).items():
        params[f"model.{name}.weight"] = round(weight, 4)
        for key, value in search.by_name(name).candidate.params.items():
            params[f"model.{name}.{key}"] = value
    logged: dict[str, float] = {
        f"cv_{metrics['metric']}": metrics["cv"]["score"],
        f"cv_{metrics['metric']}_std": metrics["cv"]["std"],
        f"cv_baseline_{metrics['metric']}": metrics["cv"]["baseline"],
        f"holdout_{metrics['metric']}": metrics["holdout"]["model"]["value"],
        f"holdout_baseline_{metrics['metric']}": metrics["holdout"]["baseline"]["value"],
    }
    for name, value in metrics["holdout"]["all"].items():
        logged[f"holdout_{name}"] = value
    decision = metrics.get("decision")
    if decision is not None and "threshold" in decision:
        logged["decision_threshold"] = decision["threshold"]
        logged["holdout_value_per_1000"] = decision["holdout_value_per_1000"]["model_at_threshold"][
            "value"
        ]
    elif decision is not None:
        logged["holdout_value_per_1000"] = decision["holdout_value_per_1000"][
            "highest_expected_value"
        ]["value"]
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


# -- recommendation ----------------------------------------------------------------------------


@dataclass
class RecommendRunResult:
    """A recommendation run: the model (evaluated, then fitted on every interaction), what
    the data checks found, and where it was saved and registered."""

    model: Recommender
    checks: InteractionChecks
    artifact_dir: Path | None = None
    registration: Registration | None = None
    timings: dict[str, float] = field(default_factory=dict)


def check_recommendation(
    spec: TaskSpec, data: Any = None, progress: Progress | None = None
) -> tuple[pl.DataFrame, InteractionChecks]:
    """Load an interaction log and run its data checks."""
    progress = progress if progress is not None else Silent()
    progress.stage("loading data")
    frame = load_training_data(spec, data)
    progress.stage("checking data")
    task = spec.task
    assert task.user is not None
    assert task.item is not None
    checks = check_interactions(
        frame,
        user=task.user,
        item=task.item,
        time=task.time,
        weight=task.weight,
        allow=spec.checks.allow,
    )
    return frame, checks


def train_recommendation(
    spec: TaskSpec,
    data: Any = None,
    *,
    progress: Progress | None = None,
    items: Any = None,
    users: Any = None,
    save: bool = True,
    register: bool | None = None,
    out_dir: Path | None = None,
    started: float | None = None,
) -> RecommendRunResult:
    """The main job for a recommendation spec: check the log, evaluate by the spec's
    protocol, fit on every interaction, write the card, save and register. ``items`` and
    ``users`` (tables or paths) replace the spec's ``recommend.items`` and ``.users``. The
    time budget covers all of it, from ``started`` (default now) to the end of
    registration: the fit plans its steps within what is left (see docs/recommend.md)."""
    progress = progress if progress is not None else Silent()
    clock = Clock.start(spec.constraints.time_budget, started)
    started, budget = clock.started, clock.budget
    do_register = save and (spec.registry.enabled if register is None else register)
    finish = finish_seconds(save=save, register=do_register)
    frame, checks = check_recommendation(spec, data, progress)
    for finding in checks.findings:
        if finding.severity == "warning":
            progress.log(f"warning [{finding.key}] {finding.message}")
    checks.raise_if_blocking()
    timings = {"check": time.monotonic() - started}
    rec = spec.recommend
    if items is not None:
        items = to_polars(items, base_dir=spec.base_dir)
    elif rec.items:
        items = read_file(spec.resolve_path(rec.items))
    if users is not None:
        users = to_polars(users, base_dir=spec.base_dir)
    elif rec.users:
        users = read_file(spec.resolve_path(rec.users))
    clock = clock.keeping(finish)
    _refuse_recommend_budget_up_front(clock)
    # Once the log and the budget have passed their checks: a refused run creates nothing.
    store = _StoreOpener(spec.registry.tracking_uri) if do_register else None
    settings = RecommendSettings(
        k=rec.k,
        depth=rec.candidates,
        folds=spec.validation.folds,
        history_share=rec.history_share,
        ranker=rec.ranker,
        seed=spec.seed,
    )
    assert spec.task.user is not None
    assert spec.task.item is not None
    with _timed(timings, "train"):
        model = train_recommender(
            frame,
            user=spec.task.user,
            item=spec.task.item,
            time_column=spec.task.time,
            weight=spec.task.weight,
            item_features=tuple(rec.item_features),
            items=items,
            user_features=tuple(rec.user_features),
            users=users,
            protocol=rec.protocol,
            test_share=spec.validation.holdout,
            settings=settings,
            clock=clock,
            progress=progress,
        )
    model.metadata["name"] = spec.task_name
    model.metadata["spec"] = spec.to_dict()
    model.metadata["checks"] = checks.to_dict()
    model.metadata["data"]["fingerprint"] = fingerprint(frame)
    model.metadata["budget"] = {
        "seconds": budget,
        "kept_for_card_save_register": round(finish, 3),
        "skipped": dict(model.metadata["choice"].get("skipped", {})),
    }
    result = RecommendRunResult(model, checks, timings=timings)
    if save:
        progress.stage("saving")
        with _timed(timings, "card"):
            documents = _card_documents(recommender_model_card(model))
        _record_timings(model.metadata, timings, started)
        directory = out_dir if out_dir is not None else _default_out_dir(spec)
        with _timed(timings, "save"):
            result.artifact_dir = save_recommender(model, directory, documents=documents)
    if store is not None and result.artifact_dir is not None:
        progress.stage("registering")
        with _timed(timings, "registration"):
            timings["store_wait"] = store.wait()
            result.registration = _register_recommender(model, result.artifact_dir, spec)
    if not save:
        _record_timings(model.metadata, timings, started)
    model.metadata["timings"]["wall"] = round(_finish_clock(timings, started, budget, progress), 3)
    return result


# The least a recommender needs once the log is checked: coding it, popularity, scoring the
# held-out users and the fit on every interaction (about a second on movielens).
MIN_RECOMMEND_SECONDS = 1.0


def _refuse_recommend_budget_up_front(clock: Clock) -> None:
    """A budget that cannot hold even a popularity recommender is refused before any fit."""
    if clock.left() >= MIN_RECOMMEND_SECONDS:
        return
    after = (
        f", and writing the card, saving and registering need about {clock.reserved:.1f} s"
        if clock.reserved > 0
        else ""
    )
    raise TrainingError(
        f"the time budget of {clock.budget:g} s is too small to fit a recommender: starting, "
        f"loading and checking the log took {clock.elapsed():.1f} s, the least recommender "
        f"(popularity alone) needs about {MIN_RECOMMEND_SECONDS:g} s more{after}",
        field="constraints.time_budget",
        hint="set constraints.time_budget (or --time-budget) to at least "
        f"{max(clock.budget_for(MIN_RECOMMEND_SECONDS * 2), 5)} s",
    )


def _register_recommender(model: Recommender, artifact_dir: Path, spec: TaskSpec) -> Registration:
    import mlwright

    evaluation = model.metadata["evaluation"]
    k = evaluation["k"]
    metrics: dict[str, float] = {}
    for system, scores in evaluation["scores"].items():
        prefix = "holdout" if system == "model" else f"holdout_{system}"
        for name, entry in scores.items():
            value = entry.get("value")
            if value is not None and math.isfinite(float(value)):
                metrics[f"{prefix}_{name.replace('@', '_at_')}"] = float(value)
    params = _flatten(spec.to_dict())
    params["chosen_model"] = model.chosen
    for name, generator in model.generators.items():
        for key, value in generator.params.items():
            params[f"generator.{name}.{key}"] = value
    name = spec.registry.model_name or spec.task_name
    return log_and_register(
        artifact_dir=artifact_dir,
        manifest_sha256=manifest_digest(artifact_dir),
        experiment=spec.registry.experiment or spec.task_name,
        model_name=name,
        params=params,
        metrics=metrics,
        tags={
            "mlwright.version": mlwright.__version__,
            "mlwright.problem_type": "recommendation",
            "mlwright.data_fingerprint": model.metadata["data"]["fingerprint"],
            "mlwright.chosen_model": model.chosen,
            "mlwright.protocol": str(evaluation["protocol"]),
            "mlwright.k": str(k),
        },
        uri=spec.registry.tracking_uri,
    )


# -- loading and batch scoring -------------------------------------------------------------------


def recommender_model_card(model: Recommender) -> Card:
    """A recommender's model card, from the evidence and the spec its artifact carries."""
    spec = spec_from_dict(model.metadata["spec"])
    return recommender_card(
        model,
        title=spec.task_name,
        question=spec.card.question,
        intended_use=spec.card.intended_use,
        out_of_scope=spec.card.out_of_scope,
        owner=spec.card.owner,
    )


def recommend_table(model: Recommender, data: Any, *, k: int = 10) -> pl.DataFrame:
    """Top-``k`` recommendations for every user in ``data``, one row per (user, rank).

    ``data`` needs the training log's user column. When it also has the item column, each
    user's rows there are that user's recent items (in the time column's order when
    present, else file order): added to a known user's history, or the whole history of a
    user the model never saw (fold-in). Output columns: the user column, ``rank`` (1 is
    best), the item column, ``score``, ``source`` and ``cold_start``."""
    task = model.metadata["spec"]["task"]
    user, item, when = task["user"], task["item"], task.get("time")
    frame = to_polars(data)
    if user not in frame.columns:
        raise DataError(
            f"the data has no '{user}' column, the users this recommender was trained on",
            field=user,
            hint=f"give one row per user to recommend for, with a '{user}' column",
        )
    # Users answered in the order the file first names them; their items in time order.
    histories: dict[Any, list[Any]] = {who: [] for who in frame[user].to_list() if who is not None}
    if item in frame.columns and when in frame.columns:
        frame = frame.sort(when, maintain_order=True, nulls_last=True)
    users = frame[user].to_list()
    items = frame[item].to_list() if item in frame.columns else [None] * len(users)
    for who, what in zip(users, items, strict=True):
        if who is None:
            continue  # a row without a user names nobody to recommend for
        if what is not None:
            histories[who].append(what)
    rows: dict[str, list[Any]] = {
        c: [] for c in (user, "rank", item, "score", "source", "cold_start")
    }
    for who, history in histories.items():
        answer = model.recommend_detail(who, history or None, k)
        for rank, (chosen, value) in enumerate(zip(answer.items, answer.scores, strict=True)):
            rows[user].append(who)
            rows["rank"].append(rank + 1)
            rows[item].append(chosen)
            rows["score"].append(value)
            rows["source"].append(answer.source)
            rows["cold_start"].append(answer.cold_start)
    schema: dict[str, pl.DataType] = {
        user: frame.schema[user],
        "rank": pl.Int32(),
        item: pl.Int64() if np.issubdtype(model.item_ids.dtype, np.integer) else pl.String(),
        "score": pl.Float64(),
        "source": pl.String(),
        "cold_start": pl.Boolean(),
    }
    return pl.DataFrame(rows, schema=schema)


def recommend_file(model: Recommender, data_path: Path, out_path: Path, *, k: int = 10) -> int:
    """``recommend_table`` from a CSV or Parquet file into ``out_path``; the row count."""
    _check_output(out_path, "recommendations")
    result = recommend_table(model, read_file(data_path), k=k)
    _write_table(result, out_path)
    return result.height


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
    _check_output(out_path, "predictions")
    frame = read_file(data_path)
    result = predict_table(model, frame, keep_columns=keep_columns)
    _write_table(result, out_path)
    return result.height


def _check_output(out_path: Path, what: str) -> None:
    """Refuse an output path and format before the work, not after it."""
    if out_path.is_dir():
        raise DataError(
            f"cannot write {what} to {out_path}: it is a directory",
            field=str(out_path),
            hint=f"name a file, e.g. -o {out_path / (what + '.csv')}",
        )
    suffix = out_path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ""):
        raise DataError(
            f"cannot write {what} as '{suffix}'",
            field=str(out_path),
            hint="name the output file .csv or .parquet",
        )


def _write_table(table: pl.DataFrame, out_path: Path) -> None:
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if out_path.suffix.lower() in (".parquet", ".pq"):
            table.write_parquet(out_path)
        else:
            table.write_csv(out_path)
    except OSError as exc:  # permissions, a full disk, a file where a folder should be
        raise DataError(
            f"cannot write {out_path}: {exc.strerror or exc}",
            field=str(out_path),
            hint="choose an output path in a folder you can write to",
        ) from exc


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
