"""How much of a dev-suite verdict is the split: the noise of one 80/20 test split.

For each dev-suite task, default LightGBM (as in benchmarks/tabular.py) is scored on the
test split, with the bootstrap standard error of that score (test rows resampled, 1,000
times), and by 5-fold cross-validation on the training split (the spread of the fold
scores). Two systems whose scores differ by less than about two standard errors are not
told apart by this protocol.

    python benchmarks/split_noise.py --update-docs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from tabular import (  # noqa: E402
    DEV_SUITE,
    Task,
    _lgbm_frame,
    fmt,
    load_task,
    results_named,
    run_meta,
    save_results,
    score_against,
    update_docs,
    with_results,
)

SECTION = "split-noise"
RESAMPLES = 1000


def fit_predict(task: Task, train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    import lightgbm as lgb

    X = _lgbm_frame(train.drop(columns=[task.target]))
    X_test = _lgbm_frame(test.drop(columns=[task.target]))
    for col in X.columns:
        if isinstance(X[col].dtype, pd.CategoricalDtype):
            X_test[col] = pd.Categorical(X_test[col], categories=X[col].cat.categories)
    y = train[task.target]
    if task.problem_type == "regression":
        return np.asarray(lgb.LGBMRegressor(verbose=-1, random_state=0).fit(X, y).predict(X_test))
    codes = y.map({c: i for i, c in enumerate(task.classes)})
    model = lgb.LGBMClassifier(verbose=-1, random_state=0).fit(X, codes)
    return np.asarray(model.predict_proba(X_test))


def noise(task: Task, seed: int = 0) -> dict[str, float]:
    from sklearn.model_selection import KFold, StratifiedKFold

    truth = task.test[task.target].reset_index(drop=True)
    pred = fit_predict(task, task.train, task.test)
    full = score_against(task, truth, pred)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(RESAMPLES):
        rows = rng.integers(0, len(truth), len(truth))
        sample = truth.iloc[rows].reset_index(drop=True)
        if task.problem_type != "regression" and sample.nunique() < len(task.classes):
            continue  # a resample missing a class has no score
        draws.append(score_against(task, sample, pred[rows]))
    se = float(np.std(draws, ddof=1))
    classification = task.problem_type != "regression"
    splitter = (StratifiedKFold if classification else KFold)(5, shuffle=True, random_state=0)
    y = task.train[task.target]
    folds = []
    for fit_rows, valid_rows in splitter.split(task.train, y if classification else None):
        fit, valid = task.train.iloc[fit_rows], task.train.iloc[valid_rows]
        folds.append(score_against(task, valid[task.target], fit_predict(task, fit, valid)))
    return {
        "test_rows": float(len(truth)),
        "score": full,
        "se": se,
        "fold_min": float(min(folds)),
        "fold_max": float(max(folds)),
    }


def row_line(n: dict[str, Any]) -> str:
    return (
        f"| {n['dataset']} | {n['metric']} | {int(n['test_rows']):,} | {fmt(n['score'])} | "
        f"{fmt(n['se'])} | {100 * n['se'] / abs(n['score']):.1f}% | "
        f"{fmt(n['fold_min'])} to {fmt(n['fold_max'])} |"
    )


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Run {meta['date']} on {meta['machine']}, {meta['cores']} cores, Python "
        f"{meta['python']}; command: `{meta['command']}`; {results_named(meta)}.",
        "",
        "| dataset | metric | test rows | default LightGBM | bootstrap SE | SE % | "
        "5-fold CV range on the training split |",
        "|---|---|---:|---:|---:|---:|---|",
        *(row_line(n) for n in rows),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", help="comma-separated package/item:target")
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args(argv)
    items = args.datasets.split(",") if args.datasets else list(DEV_SUITE)
    rows = []
    for item in items:
        task = load_task(item)
        rows.append({"dataset": item, "metric": task.metric, **noise(task)})
        print(row_line(rows[-1]), flush=True)
    meta = run_meta("split_noise.py", argv)
    saved = save_results("split-noise", {"meta": meta, "results": rows})
    body = markdown(rows, with_results(meta, saved))
    if args.update_docs:
        update_docs(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
