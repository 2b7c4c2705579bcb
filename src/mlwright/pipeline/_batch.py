"""Batch scoring: a saved model or recommender over a whole table or file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlwright.artifact import Model
from mlwright.data import read_file, to_polars
from mlwright.errors import DataError, MlwrightError
from mlwright.recommend import Recommender


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
    check_output(out_path, "recommendations")
    result = recommend_table(model, read_file(data_path), k=k)
    write_table(result, out_path)
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
    check_output(out_path, "predictions")
    frame = read_file(data_path)
    result = predict_table(model, frame, keep_columns=keep_columns)
    write_table(result, out_path)
    return result.height


def check_output(out_path: Path, what: str) -> None:
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


def write_table(table: pl.DataFrame, out_path: Path) -> None:
    if out_path.suffix.lower() in (".parquet", ".pq"):
        write_output(out_path, lambda: table.write_parquet(out_path))
    else:
        write_output(out_path, lambda: table.write_csv(out_path))


def write_output(
    path: Path,
    write: Callable[[], object],
    *,
    option: str | None = None,
    error: type[MlwrightError] = DataError,
) -> None:
    """``write()`` after creating ``path``'s folder. A folder or file that cannot be written
    (permissions, a full disk, a file where a folder should be) is the user's to fix: an
    ``error`` naming the path and the command-line ``option`` that gave it, if one did."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write()
    except OSError as exc:
        named = str(path) if option is None else f"{option} {path}"
        raise error(
            f"cannot write {named}: {exc.strerror or exc}",
            field=str(path) if option is None else option,
            hint="choose a path in a folder you can write to",
        ) from exc
