"""The retrain-and-promote loop: a challenger trained on fresh data, compared with the
champion on the same recent labelled rows neither was trained on, and promoted only when
it wins by the spec's margin (or by force, recorded).

``retrain`` trains through ``pipeline.train`` (the same main job as ``mlwright run``) on
the spec's data plus the labelled answers in the prediction log, keeping the most recent
share of those answers (the spec's ``validation.holdout``) out of training: the challenger
is registered with the time that share starts (tag ``mlwright.compare_from``), and
``compare`` judges both models on labelled answers from then on. The champion was trained
before any of that traffic existed, so neither model has seen the rows it is judged on.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlwright.artifact import (
    InputField,
    Model,
    class_name,
    is_recommender,
    same_task,
)
from mlwright.errors import DataError, SchemaMismatchError, SpecError
from mlwright.evaluate import bootstrap_interval, greater_is_better, paired_difference, score
from mlwright.monitor._feedback import Labelled, as_utc, labelled_answers, utc
from mlwright.monitor._live import LiveTest, live_test
from mlwright.monitor._monitor import run_metrics
from mlwright.registry import (
    CHALLENGER,
    CHAMPION,
    Registration,
    aliases,
    champion_and_challenger,
    load,
    log_event,
    move_alias,
    registered_manifest,
    tag_version,
    version_tags,
)
from mlwright.serve import Records
from mlwright.spec import TaskSpec

COMPARE_FROM_TAG = "mlwright.compare_from"
RETRAIN_HINT = (
    "train a challenger with `mlwright retrain SPEC` (or `mlwright run SPEC` once a champion "
    "exists)"
)
# A recommender's challenger comes from a second `mlwright run` (it has no retrain).
RECOMMENDER_CHALLENGER_HINT = (
    "register a challenger with `mlwright run SPEC` on the grown interaction log (a run "
    "while a champion exists registers it as `challenger`)"
)
PROMOTION_TAG = "mlwright.promotion"


# -- fresh training data ---------------------------------------------------------------------


def traffic_frame(
    answers: Sequence[Labelled],
    fields: Sequence[InputField],
    target: str,
    classes: Sequence[Any] | None,
    *,
    id_column: str | None = None,
    time_column: str | None = None,
) -> pl.DataFrame:
    """Labelled answers as a training table: the inputs as the model reads them, the label
    as the target (classes restored to their own type), the prediction id as the id column
    and the answer's time as the time column when the spec has them and the inputs do not."""
    frame = Records([a.inputs for a in answers], single=False).frame(fields)
    if classes is None:
        labels = pl.Series(target, [float(a.label) for a in answers], dtype=pl.Float64)
    else:
        by_name = {class_name(c): c for c in classes}
        labels = pl.Series(target, [by_name[a.label] for a in answers])
    frame = frame.with_columns(labels)
    names = {f.name for f in fields}
    if id_column and id_column not in names:
        frame = frame.with_columns(pl.Series(id_column, [a.prediction_id for a in answers]))
    if time_column and time_column not in names:
        times = [a.created_at.astimezone(dt.UTC).replace(tzinfo=None) for a in answers]
        frame = frame.with_columns(pl.Series(time_column, times, dtype=pl.Datetime("us")))
    return frame


@dataclass
class RetrainResult:
    """What ``retrain`` trained on and what it registered."""

    model: Model
    registration: Registration | None
    artifact_dir: Path | None
    rows_from_files: int
    rows_from_log: int
    reserved: int  # labelled answers kept out of training, for the comparison
    compare_from: dt.datetime
    compare_from_id: str | None  # the first kept answer (None: none kept, compare on later ones)

    def to_dict(self) -> dict[str, Any]:
        return {
            "registration": None if self.registration is None else self.registration.to_dict(),
            "artifact_dir": None if self.artifact_dir is None else str(self.artifact_dir),
            "rows_from_files": self.rows_from_files,
            "rows_from_log": self.rows_from_log,
            "reserved_for_comparison": self.reserved,
            "compare_from": self.compare_from.isoformat(),
            "compare_from_id": self.compare_from_id,
        }


def retrain(
    spec: TaskSpec,
    log_url: str,
    *,
    since: dt.datetime | None = None,
    include_files: bool = True,
    out_dir: Path | None = None,
    progress: Any = None,
) -> RetrainResult:
    """Train a challenger on the spec's data and the labelled answers of the log, and
    register it (``challenger`` while a champion exists)."""
    from mlwright.data import load_training_data
    from mlwright.pipeline import train

    name = spec.registry.model_name or spec.task_name
    champion = _champion_or_none(name, spec.registry.tracking_uri)
    answers: list[Labelled] = []
    if champion is not None:
        answers = labelled_answers(log_url, name, since=utc(since))
    if not answers and not include_files:
        raise DataError(
            f"the prediction log holds no labelled answers of {name}"
            + (f" since {since.isoformat()}" if since else ""),
            field="log",
            hint="store labels with `mlwright feedback`, or leave out --no-files to train on "
            "the spec's data",
        )
    # The most recent share of the labelled answers is kept for the comparison.
    reserved = math.ceil(len(answers) * spec.validation.holdout) if answers else 0
    fresh, kept = answers[: len(answers) - reserved], answers[len(answers) - reserved :]
    compare_from = kept[0].created_at if kept else dt.datetime.now(dt.UTC)
    first_kept = kept[0].prediction_id if kept else None
    parts: list[pl.DataFrame] = []
    files = 0
    if include_files:
        from_files = load_training_data(spec)
        files = from_files.height
        parts.append(from_files)
    if fresh:
        assert champion is not None
        parts.append(
            traffic_frame(
                fresh,
                champion.inputs,
                spec.task.target,
                None if champion.problem_type == "regression" else champion.classes,
                id_column=spec.task.id,
                time_column=spec.task.time,
            )
        )
    data = pl.concat(parts, how="diagonal_relaxed") if len(parts) > 1 else parts[0]
    result = train(spec, data, progress=progress, out_dir=out_dir, register=True)
    registration = result.registration
    if registration is not None:
        tag_version(
            registration.model_name,
            registration.version,
            {
                COMPARE_FROM_TAG: _start_tag(compare_from, first_kept),
                "mlwright.rows_from_log": str(len(fresh)),
                "mlwright.rows_from_files": str(files),
            },
            uri=registration.tracking_uri,
        )
    return RetrainResult(
        model=result.model,
        registration=registration,
        artifact_dir=result.artifact_dir,
        rows_from_files=files,
        rows_from_log=len(fresh),
        reserved=reserved,
        compare_from=compare_from,
        compare_from_id=first_kept,
    )


# -- champion against challenger --------------------------------------------------------------


@dataclass
class Comparison:
    """Champion and challenger scored on the same rows, with the paired difference."""

    model_name: str
    metric: str
    champion_version: str
    challenger_version: str
    rows: int
    source: str  # where the rows came from
    champion: dict[str, float]  # value, low, high
    challenger: dict[str, float]
    difference: dict[str, float]  # challenger - champion: value, low, high, a_better_share
    margin: float
    wins: bool

    @property
    def verdict(self) -> str:
        better = "higher" if greater_is_better(self.metric) else "lower"
        d = self.difference
        diff = f"{d['value']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
        if self.wins:
            return (
                f"the challenger (version {self.challenger_version}) wins: {self.metric} "
                f"{diff} ({better} is better), clear of the margin {self.margin:g}"
            )
        return (
            f"the challenger (version {self.challenger_version}) does not clearly win: "
            f"{self.metric} {diff} ({better} is better); the paired 95% interval must clear "
            f"the margin {self.margin:g}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "metric": self.metric,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "rows": self.rows,
            "source": self.source,
            "champion": self.champion,
            "challenger": self.challenger,
            "difference": self.difference,
            "margin": self.margin,
            "wins": self.wins,
            "verdict": self.verdict,
        }


def _recommender_manifest(model_name: str, tracking_uri: str | None) -> dict[str, Any] | None:
    """The champion's manifest when it is a recommender's, else None (also when there is no
    champion: the caller says what is missing)."""
    if CHAMPION not in aliases(model_name, uri=tracking_uri):
        return None
    manifest = registered_manifest(f"models:/{model_name}@{CHAMPION}", tracking_uri=tracking_uri)
    return manifest if is_recommender(manifest) else None


def _no_comparison(model_name: str, what: str) -> SpecError:
    """Champion and challenger are judged here on the same labelled rows, which a
    recommender does not answer: what to do instead."""
    return SpecError(
        f"{model_name} is a recommender: {what} judges table models on the same labelled "
        "rows, and has no paired comparison for recommenders yet",
        field=model_name,
        hint=f"read each version's held-out NDCG beside popularity (`mlwright report "
        f"models:/{model_name}@challenger`; a second `mlwright run SPEC` registers the "
        f"challenger), then `mlwright promote {model_name} --force "
        '--reason "..."` records the move',
    )


def compare(
    model_name: str,
    log_url: str | None,
    *,
    tracking_uri: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    data: pl.DataFrame | None = None,
    record: bool = True,
) -> Comparison:
    """Score champion and challenger on the same labelled rows: ``data`` (a table with the
    target), else the labelled answers of the log from ``since`` (default: the time the
    challenger's retrain kept out of training)."""
    if _recommender_manifest(model_name, tracking_uri) is not None:
        raise _no_comparison(model_name, "compare")
    champion_version, challenger_version = champion_and_challenger(
        model_name, what="to compare", hint=RETRAIN_HINT, uri=tracking_uri
    )
    champion = load(f"models:/{model_name}@{CHAMPION}", tracking_uri=tracking_uri)
    challenger = load(f"models:/{model_name}@{CHALLENGER}", tracking_uri=tracking_uri)
    same_task(champion, challenger)
    target = champion.spec.task.target
    if data is not None:
        frame, source = _given_rows(data, target)
    elif log_url is None:
        raise DataError("compare needs --log or --data", field="log")
    else:
        tags = version_tags(model_name, challenger_version, uri=tracking_uri)
        frame, source = _logged_rows(
            champion,
            log_url,
            model_name,
            compare_from=tags.get(COMPARE_FROM_TAG),
            since=since,
            until=until,
        )
    needed = challenger.spec.monitor.min_labels
    if frame.height < needed:
        raise DataError(
            f"only {frame.height} labelled rows to compare on ({source}); at least {needed} "
            "are needed",
            field="labels",
            hint="wait for more labels (mlwright feedback), or lower [monitor] min_labels",
        )
    metric = run_metrics(champion).metric
    y, pred_champion = _scored(champion, frame, target)
    _, pred_challenger = _scored(challenger, frame, target)
    difference = paired_difference(metric, y, pred_challenger, pred_champion)
    margin = challenger.spec.monitor.promotion_margin
    wins = difference.low > margin if greater_is_better(metric) else difference.high < -margin
    comparison = Comparison(
        model_name=model_name,
        metric=metric,
        champion_version=champion_version,
        challenger_version=challenger_version,
        rows=frame.height,
        source=source,
        champion=_scored_interval(metric, y, pred_champion),
        challenger=_scored_interval(metric, y, pred_challenger),
        difference=difference.to_dict(),
        margin=margin,
        wins=wins,
    )
    if record:
        _record_comparison(comparison, challenger, tracking_uri)
    return comparison


def _given_rows(data: pl.DataFrame, target: str) -> tuple[pl.DataFrame, str]:
    """The labelled rows of a given table, and where they came from."""
    if target not in data.columns:
        raise DataError(
            f"the comparison data has no target column '{target}'",
            field=target,
            hint="pass a labelled table, or compare on the log's labelled answers",
        )
    return data.filter(pl.col(target).is_not_null()), "the given data"


def _logged_rows(
    champion: Model,
    log_url: str,
    model_name: str,
    *,
    compare_from: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> tuple[pl.DataFrame, str]:
    """The labelled answers of the log as a table, and where they came from: from ``since``,
    else from the first answer the challenger's retrain kept out of training (its tag
    ``compare_from``), else all of them."""
    target = champion.spec.task.target
    first = None if since is not None else _parse_start(compare_from)
    start = utc(since) if since is not None else (None if first is None else first[0])
    answers = labelled_answers(
        log_url,
        model_name,
        since=start if first is None else None,
        until=utc(until),
        start=first if first is not None and first[1] else None,
    )
    if first is not None and not first[1]:  # nothing was kept out: later answers only
        answers = [a for a in answers if a.created_at > first[0]]
    frame = traffic_frame(
        answers,
        champion.inputs,
        target,
        None if champion.problem_type == "regression" else champion.classes,
    )
    return frame, "labelled answers in the log" + (f" since {start.isoformat()}" if start else "")


def _scored(model: Model, frame: pl.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Truths as the metrics read them (class codes, or values) and the model's predictions
    (probability matrix, or values)."""
    inputs = frame.select([f.name for f in model.inputs])
    if model.problem_type == "regression":
        return frame[target].cast(pl.Float64).to_numpy(), np.asarray(model.predict(inputs))
    names = model.class_names
    codes = {n: i for i, n in enumerate(names)}
    truths = [class_name(v) for v in frame[target].to_list()]
    unknown = sorted({t for t in truths if t not in codes})
    if unknown:
        raise DataError(
            f"labels {unknown[:5]} are not among the model's classes: {', '.join(names)}",
            field=target,
        )
    y = np.asarray([codes[t] for t in truths])
    return y, model.predict_proba(inputs)[names].to_numpy()


def _scored_interval(metric: str, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    interval = bootstrap_interval(metric, y, pred)
    return {"value": score(metric, y, pred), "low": interval.low, "high": interval.high}


def _record_comparison(comparison: Comparison, challenger: Model, uri: str | None) -> None:
    name = comparison.model_name
    metrics = {
        f"champion_{comparison.metric}": comparison.champion["value"],
        f"challenger_{comparison.metric}": comparison.challenger["value"],
        "difference": comparison.difference["value"],
        "difference_low": comparison.difference["low"],
        "difference_high": comparison.difference["high"],
        "rows": float(comparison.rows),
    }
    tags = {
        "mlwright.event": "compare",
        "mlwright.model_name": name,
        "mlwright.champion_version": comparison.champion_version,
        "mlwright.challenger_version": comparison.challenger_version,
        "mlwright.verdict": "wins" if comparison.wins else "does not win",
    }
    experiment = challenger.spec.registry.experiment or name
    log_event(
        experiment,
        run_name=f"compare {name} v{comparison.challenger_version} vs "
        f"v{comparison.champion_version}",
        metrics=metrics,
        tags=tags,
        uri=uri,
    )
    tag_version(
        name,
        comparison.challenger_version,
        {"mlwright.comparison": json.dumps(comparison.to_dict())[:5000]},
        uri=uri,
    )


# -- promotion -------------------------------------------------------------------------------


@dataclass
class Promotion:
    model_name: str
    promoted: bool
    forced: bool
    champion_version: str  # the champion after the call
    previous_version: str | None
    comparison: Comparison | None
    reason: str
    live: LiveTest | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "live": None if self.live is None else self.live.to_dict(),
            "model_name": self.model_name,
            "promoted": self.promoted,
            "forced": self.forced,
            "champion_version": self.champion_version,
            "previous_version": self.previous_version,
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "reason": self.reason,
        }


def promote(
    model_name: str,
    log_url: str | None,
    *,
    tracking_uri: str | None = None,
    force: bool = False,
    reason: str | None = None,
    since: dt.datetime | None = None,
    data: pl.DataFrame | None = None,
    live: bool = False,
) -> Promotion:
    """Move ``champion`` to the challenger when it wins the comparison (or, with ``live``,
    the sequential test of a traffic split; or with ``force``, recorded with its reason);
    otherwise change nothing. A challenger on another schema is refused even with
    ``force``."""
    comparison: Comparison | None = None
    test: LiveTest | None = None
    recommender = _recommender_manifest(model_name, tracking_uri)
    if recommender is not None and not force:
        raise _no_comparison(model_name, "promote")
    previous, challenger = champion_and_challenger(
        model_name,
        what="to promote",
        hint=RETRAIN_HINT if recommender is None else RECOMMENDER_CHALLENGER_HINT,
        uri=tracking_uri,
    )
    try:
        if recommender is not None:
            pass  # forced: there is no comparison to run
        elif live:
            champion_and_challenger(
                model_name, what="for a live test", hint=RETRAIN_HINT, uri=tracking_uri
            )
            same_task(
                load(f"models:/{model_name}@{CHAMPION}", tracking_uri=tracking_uri),
                load(f"models:/{model_name}@{CHALLENGER}", tracking_uri=tracking_uri),
            )
            if log_url is None:
                raise DataError("a live test needs --log", field="log")
            test = live_test(model_name, log_url, tracking_uri=tracking_uri, since=since)
        else:
            comparison = compare(
                model_name, log_url, tracking_uri=tracking_uri, since=since, data=data
            )
    except SchemaMismatchError:
        raise  # never, not even by force: clients and the service would break
    except DataError:
        if not force:
            raise
        # A forced promotion without enough labels is still recorded, as forced.
    evidence = test if test is not None else comparison
    if evidence is not None and not evidence.wins and not force:
        return Promotion(
            model_name, False, False, previous, previous, comparison, evidence.verdict, test
        )
    why = reason or ("forced" if force else evidence.verdict if evidence else "")
    move_alias(model_name, CHAMPION, challenger, uri=tracking_uri)
    move_alias(model_name, CHALLENGER, None, uri=tracking_uri)
    promotion = Promotion(model_name, True, force, challenger, previous, comparison, why, test)
    _record_promotion(promotion, recommender=recommender is not None, tracking_uri=tracking_uri)
    return promotion


def _record_promotion(promotion: Promotion, *, recommender: bool, tracking_uri: str | None) -> None:
    """The promotion as a tag of the new champion and an event in the model's experiment."""
    name, champion_version = promotion.model_name, promotion.champion_version
    test, comparison = promotion.live, promotion.comparison
    evidence = test if test is not None else comparison
    record = {
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "from_version": promotion.previous_version,
        "forced": promotion.forced,
        "reason": promotion.reason,
        "won": None if evidence is None else evidence.wins,
        "evidence": "live test" if test else "comparison" if comparison else "none",
    }
    tag_version(name, champion_version, {PROMOTION_TAG: json.dumps(record)}, uri=tracking_uri)
    if recommender:  # the promoted challenger is the champion now
        moved = registered_manifest(f"models:/{name}@{CHAMPION}", tracking_uri=tracking_uri)
        experiment = moved.get("spec", {}).get("registry", {}).get("experiment")
    else:
        champion = load(f"models:/{name}@{CHAMPION}", tracking_uri=tracking_uri)
        experiment = champion.spec.registry.experiment
    log_event(
        experiment or name,
        run_name=f"promote {name} v{champion_version} (was v{promotion.previous_version})",
        metrics={} if comparison is None else {"difference": comparison.difference["value"]},
        tags={
            "mlwright.event": "promote",
            "mlwright.model_name": name,
            "mlwright.champion_version": champion_version,
            "mlwright.previous_version": str(promotion.previous_version),
            "mlwright.forced": str(promotion.forced).lower(),
            "mlwright.reason": promotion.reason[:500],
        },
        uri=tracking_uri,
    )


def _champion_or_none(name: str, tracking_uri: str | None) -> Model | None:
    if CHAMPION not in aliases(name, uri=tracking_uri):
        return None
    return load(f"models:/{name}@{CHAMPION}", tracking_uri=tracking_uri)


def _start_tag(moment: dt.datetime, prediction_id: str | None) -> str:
    """``TIME ID`` of the first answer kept out of training, or ``TIME`` when none was."""
    return moment.isoformat() + ("" if prediction_id is None else f" {prediction_id}")


def _parse_start(text: str | None) -> tuple[dt.datetime, str] | None:
    if not text:
        return None
    moment, _, prediction_id = text.partition(" ")
    return as_utc(dt.datetime.fromisoformat(moment)), prediction_id
