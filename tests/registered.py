"""A registered champion in a working directory's MLflow store, its spec and data, and
labelled traffic in a prediction log: what the retrain-and-promote tests stand on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from logged import days, log_traffic
from mlwright.monitor import add_feedback
from mlwright.pipeline import train
from mlwright.registry import CHAMPION, load
from mlwright.spec import load_spec
from synth import make_frame

NAME = "loop"
SPEC = """
name = "loop"
seed = 0
[data]
path = "train.csv"
[task]
target = "y"
positive_class = "yes"
[constraints]
time_budget = 120
[validation]
folds = 3
[search]
max_trials = 3
learners = ["lightgbm", "linear"]
{extra}
"""


def write_spec(root: Path, extra: str = "") -> Path:
    path = root / "spec.toml"
    path.write_text(SPEC.format(extra=extra))
    return path


def register_champion(root: Path, extra: str = "") -> Path:
    """A registered champion (version 1), trained on 600 rows; ``root`` (the working
    directory) holds its spec (with ``extra`` TOML), data and MLflow store."""
    make_frame("binary", n=600, seed=1).write_csv(root / "train.csv")
    spec = load_spec(write_spec(root, extra))
    result = train(spec, register=True)
    assert result.registration is not None
    assert result.registration.alias == CHAMPION
    return root


def new_concept(frame: pl.DataFrame) -> pl.DataFrame:
    """The same inputs, a new rule for the outcome: the champion's lesson no longer holds."""
    y = np.where(
        (frame["plan"] == "basic").to_numpy() | (frame["count"] > 15).to_numpy(), "yes", "no"
    )
    return frame.with_columns(pl.Series("y", y))


def serve_and_label(
    root: Path, frame: pl.DataFrame, per_day: int, n_days: int, alias: str = CHAMPION
) -> str:
    """``frame``'s rows answered by the model under ``alias`` over ``n_days`` days, logged
    under its version, and labelled with ``frame``'s y."""
    log = f"sqlite:///{root / 'log.db'}"
    model = load(f"models:/{NAME}@{alias}")
    version = model.registry["version"]
    ids = log_traffic(
        log, model, frame.drop("y"), days(per_day, n_days), name=NAME, version=version
    )
    add_feedback(model, log, pl.DataFrame({"prediction_id": ids, "y": frame["y"]}), model_name=NAME)
    return log
