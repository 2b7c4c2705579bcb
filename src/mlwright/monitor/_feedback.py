"""Late labels: the truth about logged predictions, joined to them by prediction id.

``add_feedback`` checks a table of (prediction id, label) against the model and the
prediction log, then stores the labels that match a logged prediction in the log's
database (table ``mlwright_labels``), replacing an earlier label of the same id (a
correction). Ids that match no prediction are counted and reported, not stored. A label
of the wrong type (a class the model does not know, text for a regression) fails the
whole file before anything is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl
import sqlalchemy as sa

from mlwright.artifact import Model, class_name
from mlwright.errors import DataError
from mlwright.serve import PREDICTIONS, log_engine

LABELS_TABLE = "mlwright_labels"
_META = sa.MetaData()
LABELS = sa.Table(
    LABELS_TABLE,
    _META,
    sa.Column("prediction_id", sa.String(32), primary_key=True),
    sa.Column(
        "label", sa.Text, nullable=False
    ),  # JSON: the class as the model names it, or a number
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)
_CHUNK = 500  # ids per IN (...) query


@dataclass
class FeedbackResult:
    """What one ``add_feedback`` call did with the labels it was given."""

    received: int
    stored: int
    replaced: int  # of those stored, ids that already had a label
    unmatched: int  # ids that match no logged prediction of the model
    missing_labels: int  # rows with an id but no label (skipped)
    duplicates: int  # ids given more than once (the last one kept)
    unmatched_examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "stored": self.stored,
            "replaced": self.replaced,
            "unmatched": self.unmatched,
            "missing_labels": self.missing_labels,
            "duplicates": self.duplicates,
            "unmatched_examples": self.unmatched_examples,
        }


@dataclass
class _Given:
    """A labels table read as (prediction id, label value) pairs, each id once."""

    ids: list[str]
    values: list[Any]  # as the log stores them: the class's name, or a number
    received: int
    missing_labels: int
    duplicates: int


def add_feedback(
    model: Model,
    log_url: str,
    labels: pl.DataFrame,
    *,
    model_name: str,
    id_column: str = "prediction_id",
    label_column: str | None = None,
) -> FeedbackResult:
    """Store the labels of ``labels`` whose ids match a logged prediction of ``model_name``."""
    given = _given_labels(model, labels, id_column, label_column)
    ids = given.ids
    engine = log_engine(log_url)
    try:
        with engine.begin() as connection:
            if not sa.inspect(connection).has_table(PREDICTIONS.name):
                raise DataError(
                    f"the database at --log has no prediction log ({PREDICTIONS.name})",
                    field="log",
                    hint="pass the --log URL the service writes to",
                )
            logged = _existing(
                connection,
                PREDICTIONS.c.prediction_id,
                ids,
                PREDICTIONS.c.model_name == model_name,
            )
            matched = [(i, v) for i, v in zip(ids, given.values, strict=True) if i in logged]
            unmatched = [i for i in ids if i not in logged]
            if not matched:
                raise DataError(
                    f"none of the {len(ids)} labelled prediction ids matches a logged "
                    f"prediction of {model_name}",
                    field=id_column,
                    hint="check the ids (the prediction_id of each answer), --log and the model",
                )
            LABELS.create(connection, checkfirst=True)
            had = _existing(connection, LABELS.c.prediction_id, [i for i, _ in matched])
            _replace_labels(connection, matched)
    finally:
        engine.dispose()
    return FeedbackResult(
        received=given.received,
        stored=len(matched),
        replaced=len(had),
        unmatched=len(unmatched),
        missing_labels=given.missing_labels,
        duplicates=given.duplicates,
        unmatched_examples=unmatched[:5],
    )


def _given_labels(
    model: Model, labels: pl.DataFrame, id_column: str, label_column: str | None
) -> _Given:
    """The labels table checked against the model (columns, ids, label types) before anything
    is written; the last row of an id wins (a file of corrections appended to the first)."""
    label_column = label_column or _default_label_column(model, labels)
    for role, name in (("id", id_column), ("label", label_column)):
        if name not in labels.columns:
            raise DataError(
                f"the labels have no {role} column '{name}'; columns are: "
                + ", ".join(labels.columns),
                field=name,
                hint=f"name it with --{role}-column",
            )
    ids_raw = labels[id_column]
    if ids_raw.null_count():
        raise DataError(
            f"{ids_raw.null_count()} rows of the labels have no prediction id",
            field=id_column,
            hint="every row needs the prediction_id the service answered with",
        )
    frame = pl.DataFrame(
        {"id": ids_raw.cast(pl.String), "label": labels[label_column]}
    ).with_row_index("row")
    present = frame.filter(pl.col("label").is_not_null())
    last = present.unique(subset="id", keep="last", maintain_order=True)
    return _Given(
        ids=last["id"].to_list(),
        values=[_label_value(model, v, label_column) for v in last["label"].to_list()],
        received=frame.height,
        missing_labels=frame.height - present.height,
        duplicates=present.height - last.height,
    )


def _replace_labels(connection: sa.Connection, matched: list[tuple[str, Any]]) -> None:
    """Store each (id, label), replacing an earlier label of the same id."""
    now = dt.datetime.now(dt.UTC)
    for start in range(0, len(matched), _CHUNK):
        part = matched[start : start + _CHUNK]
        connection.execute(LABELS.delete().where(LABELS.c.prediction_id.in_([i for i, _ in part])))
        connection.execute(
            LABELS.insert(),
            [
                {"prediction_id": i, "label": orjson.dumps(v).decode(), "received_at": now}
                for i, v in part
            ],
        )


def as_utc(moment: dt.datetime) -> dt.datetime:
    """An aware UTC datetime; naive ones (SQLite's) are UTC, as the service writes them."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def utc(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else as_utc(moment)


def read_labels(log_url: str, ids: Iterable[str]) -> dict[str, Any]:
    """The stored label of each of ``ids`` that has one."""
    wanted = list(ids)
    engine = log_engine(log_url)
    out: dict[str, Any] = {}
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(LABELS_TABLE):
                return out
            for start in range(0, len(wanted), _CHUNK):
                part = wanted[start : start + _CHUNK]
                query = sa.select(LABELS.c.prediction_id, LABELS.c.label).where(
                    LABELS.c.prediction_id.in_(part)
                )
                for pid, label in connection.execute(query):
                    out[pid] = orjson.loads(label)
    finally:
        engine.dispose()
    return out


def _existing(connection: sa.Connection, column: Any, ids: list[str], *where: Any) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        query = sa.select(column).where(column.in_(ids[start : start + _CHUNK]), *where)
        found.update(r[0] for r in connection.execute(query))
    return found


def _default_label_column(model: Model, labels: pl.DataFrame) -> str:
    target = model.spec.task.target
    return target if target in labels.columns else "label"


def _label_value(model: Model, value: Any, column: str) -> Any:
    """The label as stored: the class's name, or a float; a wrong type fails the file."""
    if model.problem_type == "regression":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataError(
                f"label {value!r} in column '{column}' is not a number; this model predicts "
                "a number",
                field=column,
                hint="give the observed value of the target for each prediction id",
            )
        return float(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 1.0 read from a file is the class 1
    name = class_name(value)
    if name not in model.class_names:
        raise DataError(
            f"label {value!r} in column '{column}' is not one of the model's classes: "
            + ", ".join(model.class_names),
            field=column,
            hint="give each prediction's true class, spelled as the model's classes",
        )
    return name


@dataclass(frozen=True)
class Labelled:
    """A logged answer whose label has arrived."""

    prediction_id: str
    created_at: dt.datetime
    model_version: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    label: Any


def labelled_answers(
    log_url: str,
    model_name: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    start: tuple[dt.datetime, str] | None = None,
) -> list[Labelled]:
    """Every logged answer of ``model_name`` (any version, /predict only) that has a label,
    in (created_at, prediction_id) order, created in [since, until) and from the answer
    ``start`` (its time and id) on. Answers to one request share their time, so a time
    alone cannot split them; the id makes the order total."""
    engine = log_engine(log_url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            if not (inspector.has_table(PREDICTIONS.name) and inspector.has_table(LABELS_TABLE)):
                return []
            p = PREDICTIONS.c
            query = (
                sa.select(
                    p.prediction_id,
                    p.created_at,
                    p.model_version,
                    p.inputs,
                    p.outputs,
                    LABELS.c.label,
                )
                .join(LABELS, LABELS.c.prediction_id == p.prediction_id)
                .where(p.model_name == model_name, p.endpoint == "predict")
                .order_by(p.created_at, p.prediction_id)
            )
            if start is not None:
                at, pid = start
                query = query.where(
                    sa.or_(p.created_at > at, sa.and_(p.created_at == at, p.prediction_id >= pid))
                )
            if since is not None:
                query = query.where(p.created_at >= since)
            if until is not None:
                query = query.where(p.created_at < until)
            return [
                Labelled(
                    prediction_id=pid,
                    created_at=as_utc(created),
                    model_version=version,
                    inputs=orjson.loads(inputs),
                    outputs=orjson.loads(outputs),
                    label=orjson.loads(label),
                )
                for pid, created, version, inputs, outputs, label in connection.execute(query)
            ]
    finally:
        engine.dispose()
