"""Traffic in a prediction log as the service writes it, with chosen timestamps (to fill
days of windows in a test)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import orjson
import polars as pl

from mlwright.artifact import Model
from mlwright.serve import LogEntry, PredictionLog

NAME, VERSION = "synth", "1"
DAY0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def log_traffic(
    url: str,
    model: Model,
    frame: pl.DataFrame,
    times: Sequence[dt.datetime],
    *,
    name: str = NAME,
    version: str = VERSION,
) -> list[str]:
    """Score each row of ``frame`` (inputs only) and log it at its time; the ids, in order."""
    names = [f.name for f in model.inputs]
    log = PredictionLog(url, flush_seconds=0.01)
    log.start()
    ids = []
    try:
        for record, moment in zip(frame.select(names).to_dicts(), times, strict=True):
            answer = {"prediction_id": uuid.uuid4().hex, **model.predict_record(record)}
            log.append(
                LogEntry(
                    prediction_id=answer["prediction_id"],
                    created_at=moment,
                    model_name=name,
                    model_version=version,
                    endpoint="predict",
                    latency_ms=0.1,
                    inputs=orjson.dumps(record).decode(),
                    outputs=orjson.dumps(answer).decode(),
                )
            )
            ids.append(answer["prediction_id"])
    finally:
        assert log.close()
    return ids


def days(rows_per_day: int, n_days: int, start: dt.datetime = DAY0) -> list[dt.datetime]:
    """Timestamps spread over each day in turn."""
    step = dt.timedelta(seconds=86400 / rows_per_day)
    return [
        start + dt.timedelta(days=d) + step * i for d in range(n_days) for i in range(rows_per_day)
    ]
