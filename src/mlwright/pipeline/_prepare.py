"""The prepare stage: the labelled rows as the search sees them (target codes, feature
columns, the sample on a large table, the validation splits) and the fold matrices."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlwright._progress import Progress
from mlwright.artifact import ClassValue, InputField, Member, Model
from mlwright.data import Schema, Splits, choose_strategy, labelled_rows, make_splits
from mlwright.errors import DataError, TrainingError
from mlwright.features import FeatureKind, FeaturePlan
from mlwright.learners import LEARNERS, LearnerTask, learner_class
from mlwright.pipeline._budget import (
    first_candidate_seconds,
    refuse_budget_up_front,
    search_seconds,
)
from mlwright.pipeline._check import Checked, encode_target
from mlwright.pipeline._runner import Run
from mlwright.search import (
    Prepared,
    SearchScale,
    SearchSplit,
    default_workers,
    plan_scale,
    prepare,
    sample_rows,
)
from mlwright.spec import TaskSpec, safe_name

LATENCY_CALLS = 200  # records for measuring a candidate's single-row latency

# Below this many training cells (rows x features) a search bounded by a trial count runs
# its trials inline: a few quick trials gain less from worker processes than starting them
# costs. A search bounded by time always uses every core: on small tables some families
# (CatBoost on a multiclass target, say) still take half a minute a trial.
INLINE_CELLS = 200_000


@dataclass
class Framed:
    """The labelled rows and what the search, the holdout and the refit read of them."""

    frame: pl.DataFrame  # every labelled row: the refit's
    y: np.ndarray
    classes: list[ClassValue]
    columns: list[tuple[str, FeatureKind]]
    scale: SearchScale
    sample: pl.DataFrame  # the rows searched and held out (all of them on a small table)
    y_sample: np.ndarray
    splits: Splits
    families: list[str]
    inputs: list[InputField]
    records: list[dict[str, Any]]  # rows for timing single-row predictions
    sample_rows: np.ndarray | None = None  # the sample's rows in ``frame``; None: all of them
    calendar: str | None = None  # the time column, when its calendar parts are features

    @property
    def plan_columns(self) -> list[tuple[str, FeatureKind]]:
        """``columns`` as the feature plans read them: the time column for its calendar."""
        return [(c, "calendar" if c == self.calendar else k) for c, k in self.columns]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def search_positions(self) -> np.ndarray:
        """The search set's rows (``train_frame``) as positions in ``frame``."""
        rows = np.arange(self.frame.height) if self.sample_rows is None else self.sample_rows
        return np.asarray(rows[self.splits.train])

    @property
    def train_frame(self) -> pl.DataFrame:
        return self.sample[self.splits.train]

    @property
    def y_train(self) -> np.ndarray:
        return np.asarray(self.y_sample[self.splits.train])

    @property
    def holdout_frame(self) -> pl.DataFrame:
        return self.sample[self.splits.holdout]

    @property
    def y_hold(self) -> np.ndarray:
        return np.asarray(self.y_sample[self.splits.holdout])

    @property
    def holdout_inputs(self) -> pl.DataFrame:
        return self.holdout_frame.select([c for c, _ in self.columns])


@dataclass(frozen=True)
class ModelFactory:
    """Makes a Model of the run's task from fitted members and their feature plans."""

    spec: TaskSpec
    classes: list[ClassValue]
    inputs: list[InputField]

    def __call__(self, members: list[Member], plans: dict[str, FeaturePlan]) -> Model:
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return Model(
            spec=self.spec,
            classes=self.classes,
            threshold=None,
            inputs=self.inputs,
            plans=plans,
            members=members,
            metadata={"created_at": created},
        )


def frame_for_search(run: Run, checked: Checked) -> Framed:
    """The labelled rows, coded, sampled on a large table and split; a budget too small for
    the first candidate is refused here, before any fit."""
    spec = checked.spec
    problem_type = spec.resolved_problem_type
    frame = labelled_rows(checked.frame, spec.task.target)
    y, classes = encode_target(frame[spec.task.target], problem_type, spec.task.positive_class)
    schema = checked.report.schema
    columns: list[tuple[str, FeatureKind]] = [(c.name, c.kind) for c in schema.features]  # type: ignore[misc]
    time_inputs = _calendar_inputs(spec, schema, run.progress)
    columns += [(f.name, f.kind) for f in time_inputs]
    if not columns:
        raise DataError(
            "no column can be used as a feature (all are the target, identifiers, constant, "
            "ignored or of unsupported types)",
            hint="check task.ignore and the column findings of `mlwright check`",
        )
    scale = _scale(spec, frame.height, columns, run.budget - run.finish)
    kept_rows = _sample(spec, y, scale, run.progress, frame.height)
    sample = frame if kept_rows is None else frame[kept_rows]
    y_sample = y if kept_rows is None else y[kept_rows]
    splits = _splits(spec, sample, y_sample, folds=scale.folds)
    run.progress.log(f"validation: {splits.description}")
    families = _families(spec)
    if spec.search.max_trials is None:
        refuse_budget_up_front(
            run.clock,
            first=first_candidate_seconds(
                families,
                LearnerTask(problem_type, len(classes)),
                rows=len(splits.train),
                features=len(columns),
                folds=len(splits.folds),
            ),
            folds=len(splits.folds),
        )
    train_frame = sample[splits.train]
    records = [
        dict(r)
        for r in train_frame.select([c for c, _ in columns])
        .head(LATENCY_CALLS)
        .iter_rows(named=True)
    ]
    inputs = [InputField(c.name, c.kind, c.dtype) for c in schema.features]  # type: ignore[arg-type]
    inputs += time_inputs
    return Framed(
        frame,
        y,
        classes,
        columns,
        scale,
        sample,
        y_sample,
        splits,
        families,
        inputs,
        records,
        kept_rows,
        time_inputs[0].name if time_inputs else None,
    )


def _calendar_inputs(spec: TaskSpec, schema: Schema, progress: Progress) -> list[InputField]:
    """The time column as an input read for its calendar parts (month, day, weekday, hour):
    they recur, so they hold for rows later than the training ones. Its position in time
    (year, days elapsed) is never a feature: every row the model scores comes after those it
    was fitted on, and a tree cannot extrapolate a trend past its last split."""
    name = spec.task.time
    column = next((c for c in schema.columns if c.name == name), None) if name else None
    if name is None or column is None:
        return []
    if column.kind != "datetime":
        progress.log(f"time column '{name}' holds {column.reason}, not dates: not a feature")
        return []
    progress.log(f"time column '{name}': its month, day, weekday and hour are features")
    return [InputField(name, "datetime", column.dtype)]


def _scale(
    spec: TaskSpec, rows: int, columns: list[tuple[str, FeatureKind]], work_seconds: float
) -> SearchScale:
    """How many rows and folds the search can afford (all of them on a small table)."""
    return plan_scale(
        n_rows=round(rows * (1 - spec.validation.holdout)),
        kinds=[kind for _, kind in columns],
        search_seconds=search_seconds(work_seconds) if spec.search.max_trials is None else math.inf,
        memory_gb=spec.constraints.max_memory_gb,
        workers=spec.search.workers or default_workers(),
        folds=spec.validation.folds,
    )


def _sample(
    spec: TaskSpec, y: np.ndarray, scale: SearchScale, progress: Progress, rows: int
) -> np.ndarray | None:
    """On a large table the search (and the holdout) use a sample, these rows of it; the
    refit uses every row. None: every row."""
    if scale.reason is None:
        return None
    keep = sample_rows(
        y,
        min(rows, round(scale.rows / (1 - spec.validation.holdout))),
        classification=spec.resolved_problem_type != "regression",
        seed=spec.seed,
    )
    progress.log(
        f"search on {len(keep):,} of {rows:,} rows with {scale.folds} folds ({scale.reason})"
    )
    return keep


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
        groups=group_labels(spec, frame),
        times=time_values(spec, frame),
    )


def group_labels(spec: TaskSpec, frame: pl.DataFrame) -> np.ndarray | None:
    """Each row's group (``task.group``) as text, as the splits read it; None without one."""
    if not spec.task.group:
        return None
    return frame[spec.task.group].cast(pl.String).fill_null("").to_numpy()


def time_values(spec: TaskSpec, frame: pl.DataFrame) -> np.ndarray | None:
    """Each row's time (``task.time``) as a number, as the splits order it; None without."""
    if not spec.task.time:
        return None
    return frame[spec.task.time].to_physical().cast(pl.Float64).to_numpy()


def _families(spec: TaskSpec) -> list[str]:
    """The spec's learners, or every installed family of the default search; the baseline
    runs regardless."""
    if spec.search.learners:
        return [f for f in spec.search.learners if f != "baseline"]
    return [
        f
        for f, cls in LEARNERS.items()
        if f != "baseline" and cls.available and cls.in_default_search
    ]


def workers(spec: TaskSpec, prepared: Prepared) -> int:
    """Worker processes for the search and the refit."""
    if spec.search.workers > 0:
        return spec.search.workers
    cells = prepared.n_rows * max(prepared.n_features.values())
    if spec.search.max_trials is not None and cells < INLINE_CELLS:
        return 1
    return default_workers()


def prepare_features(
    framed: Framed, spec: TaskSpec, work: Path, split: SearchSplit, *, folder: str = "data"
) -> Prepared:
    """Each fold's feature matrices, in every style the searched families read (and the
    stacking holdout's rows through each fold's plans, when ``split`` has one), under
    ``work / folder``."""
    styles = sorted({learner_class(f).feature_style for f in ["baseline", *framed.families]})
    return prepare(
        frame=framed.train_frame,
        y=framed.y_train,
        split=split,
        columns=framed.plan_columns,
        styles=styles,
        n_classes=framed.n_classes,
        seed=spec.seed,
        root=work / folder,
    )


@contextlib.contextmanager
def work_dir(
    spec: TaskSpec,
    data_fingerprint: str,
    scale: SearchScale,
    *,
    persist: bool,
    resume: bool,
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
