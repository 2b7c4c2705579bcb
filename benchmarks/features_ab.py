"""Does a family pay? Two families' default configurations cross-validated side by side
(default: LightGBM against lightgbm_fe, the engineered feature style).

For each task (default: the dev suite of benchmarks/tabular.py), the labelled rows (a
seeded sample of at most ``--max-rows``) are cross-validated (``--folds``, seeded) through
mlwright's own machinery: one FeaturePlan per fold and style (``mlwright.search.prepare``,
"tree" and "engineered") and one ``run_trial`` per configuration, the family's hand-written
default configurations, scored by the dev suite's metric (ROC AUC, log loss, RMSE). It
prints, per task, each family's best and mean cross-validated score over its defaults and
the seconds spent (plan fitting included), and the relative difference of the best.

    python benchmarks/features_ab.py
    python benchmarks/features_ab.py --tasks modeldata/ames:Sale_Price --folds 3
    python benchmarks/features_ab.py --families mlp,tabm --folds 3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from portfolio import (
    METRIC,
    Setup,
    candidates,
    fold_scores,
    folds_of,
    load_meta_task,
    trial_spec,
)
from tabular import DEV_SUITE

FAMILIES = ("lightgbm", "lightgbm_fe")


def cross_validate(item: str, setup: Setup, families: tuple[str, ...] = FAMILIES) -> dict[str, Any]:
    """Each family's default configurations' cross-validated scores on ``item``."""
    from mlwright.learners import learner_class
    from mlwright.search import prepare, run_trial
    from mlwright.search._trial import read_outcome

    task = load_meta_task(item, folds=setup.folds, max_rows=setup.max_rows, seed=setup.seed)
    folds = folds_of(task, setup)
    out: dict[str, Any] = {"task": item, "metric": METRIC[task.problem_type], "rows": len(task.y)}
    with tempfile.TemporaryDirectory(prefix="features-ab-") as tmp:
        for family in families:
            style = learner_class(family).feature_style
            started = time.perf_counter()
            prepared = prepare(
                frame=task.frame,
                y=task.y,
                split=folds,
                columns=task.columns,
                styles=[style],
                n_classes=task.n_classes,
                seed=setup.seed,
                root=Path(tmp) / family,
            )
            scores = []
            for config in candidates(family, task.problem_type, samples=0, seed=setup.seed):
                spec = trial_spec(task, config, prepared, setup)
                run_trial(spec)
                found = read_outcome(Path(spec.out_dir))
                if found is not None and found[0].status == "ok":
                    scores.append(float(np.mean(fold_scores(task, prepared, found[1]))))
            out[family] = {
                "scores": scores,
                "seconds": time.perf_counter() - started,
                "features": prepared.n_features[style],
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(DEV_SUITE), help="comma-separated")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-rows", type=int, default=20_000)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--families", default=",".join(FAMILIES), help="two families: the first is the reference"
    )
    args = parser.parse_args(argv)
    first, second = families = tuple(args.families.split(","))
    setup = Setup(folds=args.folds, seed=args.seed, seconds=600.0, max_rows=args.max_rows)
    results = []
    columns = ["task", "metric", f"{first} best / mean", f"{second} best / mean"]
    print("| " + " | ".join([*columns, f"{second} vs {first}", "s", "features"]) + " |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for item in args.tasks.split(","):
        r = cross_validate(item, setup, families)
        results.append(r)
        plain, fe = r[first], r[second]
        greater = r["metric"] == "roc_auc"
        pick = max if greater else min
        a, b = pick(plain["scores"]), pick(fe["scores"])
        change = (b - a) / abs(a) * (1 if greater else -1)
        print(
            f"| {item} | {r['metric']} | {a:.5g} / {np.mean(plain['scores']):.5g} | "
            f"{b:.5g} / {np.mean(fe['scores']):.5g} | {change:+.2%} | "
            f"{plain['seconds']:.0f} / {fe['seconds']:.0f} | "
            f"{plain['features']} / {fe['features']} |",
            flush=True,
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
