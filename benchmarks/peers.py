"""Peer AutoML systems for benchmarks/tabular.py: AutoGluon and FLAML.

They are never dependencies of mlwright. Install them in an environment of their own
(AutoGluon pins pandas < 3)::

    python -m venv .venv-peers
    .venv-peers/bin/pip install -r benchmarks/requirements-peers.txt

tabular.py then runs this file with that interpreter (``--peer-python``), handing over the
same train/test split as Parquet files; this file fits one system under the budget and
writes its test-set predictions (``.npy``) and timings (JSON). It imports nothing from
mlwright, so that it runs in the peers' environment.

    python benchmarks/peers.py SYSTEM TRAIN.parquet TEST.parquet TARGET PROBLEM BUDGET OUTDIR
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

LATENCY_CALLS = 200
SYSTEMS = ("autogluon-medium", "autogluon-best", "flaml")


def latency(call: Callable[[Any], Any], rows: list[Any]) -> tuple[float, float]:
    for row in rows[:10]:
        call(row)
    times = []
    for i in range(LATENCY_CALLS):
        started = time.perf_counter_ns()
        call(rows[i % len(rows)])
        times.append((time.perf_counter_ns() - started) / 1000.0)
    times.sort()
    return statistics.median(times), times[math.ceil(0.99 * len(times)) - 1]


def run_autogluon(
    preset: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    target: str,
    problem: str,
    budget: float,
) -> tuple[np.ndarray, dict[str, Any]]:
    from autogluon.tabular import TabularPredictor

    metric = {
        "binary": "roc_auc",
        "multiclass": "log_loss",
        "regression": "root_mean_squared_error",
    }
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        predictor = TabularPredictor(
            label=target, problem_type=problem, eval_metric=metric[problem], path=tmp, verbosity=0
        ).fit(train, presets=preset, time_limit=budget)
        fit_seconds = time.perf_counter() - started
        X = test.drop(columns=[target])
        t0 = time.perf_counter()
        if problem == "regression":
            pred = predictor.predict(X).to_numpy(dtype=float)
            one = predictor.predict
        else:
            proba = predictor.predict_proba(X)
            classes = sorted(train[target].unique().tolist())
            pred = proba[classes].to_numpy(dtype=float)
            one = predictor.predict_proba
        batch = len(X) / (time.perf_counter() - t0)
        rows = [X.iloc[[i]] for i in range(min(LATENCY_CALLS, len(X)))]
        p50, p99 = latency(one, rows)
        size_mb = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 1e6
        best = predictor.model_best
    return pred, {
        "fit_seconds": fit_seconds,
        "batch_rows_per_s": batch,
        "p50_us": p50,
        "p99_us": p99,
        "size_mb": size_mb,
        "note": f"{preset}, best {best}",
    }


def run_flaml(
    train: pd.DataFrame, test: pd.DataFrame, target: str, problem: str, budget: float
) -> tuple[np.ndarray, dict[str, Any]]:
    from flaml import AutoML

    metric = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
    task = "regression" if problem == "regression" else "classification"
    X, y = train.drop(columns=[target]), train[target]
    X_test = test.drop(columns=[target])
    for frame in (X, X_test):
        for col in frame.columns:
            if frame[col].dtype == object or str(frame[col].dtype) in ("string", "str"):
                frame[col] = frame[col].astype("category")
    automl = AutoML()
    started = time.perf_counter()
    automl.fit(X, y, task=task, metric=metric[problem], time_budget=budget, verbose=0, seed=0)
    fit_seconds = time.perf_counter() - started
    t0 = time.perf_counter()
    if problem == "regression":
        pred = np.asarray(automl.predict(X_test), dtype=float)
        one = automl.predict
    else:
        proba = np.asarray(automl.predict_proba(X_test), dtype=float)
        classes = list(automl.classes_)
        order = [classes.index(c) for c in sorted(y.unique().tolist())]
        pred = proba[:, order]
        one = automl.predict_proba
    batch = len(X_test) / (time.perf_counter() - t0)
    rows = [X_test.iloc[[i]] for i in range(min(LATENCY_CALLS, len(X_test)))]
    p50, p99 = latency(one, rows)
    return pred, {
        "fit_seconds": fit_seconds,
        "batch_rows_per_s": batch,
        "p50_us": p50,
        "p99_us": p99,
        "size_mb": None,
        "note": f"best {automl.best_estimator}",
    }


def main(argv: list[str]) -> int:
    system, train_path, test_path, target, problem, budget, out = argv
    train, test = pd.read_parquet(train_path), pd.read_parquet(test_path)
    if system == "autogluon-medium":
        pred, info = run_autogluon(
            "medium_quality", train, test, target=target, problem=problem, budget=float(budget)
        )
    elif system == "autogluon-best":
        pred, info = run_autogluon(
            "best_quality", train, test, target=target, problem=problem, budget=float(budget)
        )
    elif system == "flaml":
        pred, info = run_flaml(train, test, target, problem, float(budget))
    else:
        raise SystemExit(f"unknown system {system!r}; choose from {SYSTEMS}")
    out_dir = Path(out)
    np.save(out_dir / "pred.npy", pred)
    (out_dir / "info.json").write_text(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
