"""What choosing the ensemble costs on the test rows: rules for choosing from a search's
trials, compared offline on the trials of real runs.

``capture`` runs mlwright on one dev-suite task and split (as benchmarks/tabular.py does)
and keeps, for every finished first-layer trial, its out-of-fold predictions (each fold
split), its cross-validated score, and its predictions on the test split after the refit
on every training row (what shipping it alone would score). ``analyse`` then lets each
rule choose an ensemble from the out-of-fold predictions and scores the choice on the test
rows with the refit predictions, and says how well the cross-validated score ranks the
leading trials' test scores (Spearman). Nothing here changes the run: the refits happen
after it, outside its budget.

    python benchmarks/selection.py capture --dataset modeldata/concrete:compressive_strength \
        --split-seed 0 --budget 300 --out /tmp/concrete-300-0.npz
    python benchmarks/selection.py analyse /tmp/concrete-300-0.npz --json out.json

The capture files hold every trial's predictions (megabytes); they are not kept in the
repository, the analysis's summary is.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

# The leading trials (by cross-validated score) whose test scores the Spearman reads.
LEADERS = 50
# The share of the search after which the "checkpoint" rule takes what had finished.
CHECKPOINT = 0.2
# How many of the best trials the "sorted start" rule begins its ensemble with.
SORTED_START = 5
# The rules the holdout-decided rules weigh against the search's own (``guards``).
HOLDOUT_INCUMBENTS = ("checkpoint", "repeated only", "default configurations")
# The "at most N a family" rules: at most N trials of a family (or N tuned ones, every
# default configuration kept), the pool cut to the best 20 or not.
FAMILY_CAPS = (3, 5)


def capture(dataset: str, split_seed: int, budget: float, out: Path) -> dict[str, Any]:
    """Run mlwright on ``dataset``'s split; save its first-layer trials' predictions."""
    import tabular
    from mlwright.pipeline import _search
    from mlwright.search import refit_members

    task = tabular.load_task(dataset, split_seed)
    kept: dict[str, Any] = {}
    choose = _search.choose

    def keeping(run: Any, searched: Any, make_model: Any, framed: Any) -> Any:
        # What the refits below need (in memory: the run deletes its trials' folders).
        kept.update(run=run, searched=searched, framed=framed, make_model=make_model)
        return choose(run, searched, make_model, framed)

    _search.choose = keeping  # type: ignore[assignment]
    try:
        shipped = tabular.run_mlwright(task, budget, None)
    finally:
        _search.choose = choose  # type: ignore[assignment]
    run, searched, framed = kept["run"], kept["searched"], kept["framed"]
    X = task.test.drop(columns=[task.target])
    columns = [str(c).lower() if isinstance(c, bool) else str(c) for c in task.classes]
    trials = [
        t
        for t in searched.trials
        if t.status == "ok" and t.candidate.family != "baseline" and t.candidate.layer == 1
    ]
    refit = []
    for trial in trials:
        members, plans = refit_members(
            {trial.candidate.name: 1.0},
            searched.trials,
            frame=framed.frame,
            y=framed.y,
            columns=framed.plan_columns,
            problem_type=run.spec.resolved_problem_type,
            n_classes=framed.n_classes,
            seed=run.spec.seed,
        )
        model = kept["make_model"](members, plans)
        if task.problem_type == "regression":
            refit.append(np.asarray(model.predict(X), dtype=float))
        else:
            refit.append(model.predict_proba(X)[columns].to_numpy())
    most = max(t.splits for t in trials)
    truth = task.test[task.target]
    holdout = searched.prepared.holdout
    if holdout is not None and all(t.holdout_pred is not None for t in trials):
        on_holdout = {
            "holdout": np.asarray(holdout),
            "holdout_pred": np.stack([np.asarray(t.holdout_pred) for t in trials]),
        }
    else:  # a run without a stacking holdout (or a trial without its predictions)
        on_holdout = {"holdout": np.zeros(0, dtype=int)}
    np.savez_compressed(
        out,
        **on_holdout,
        finished=np.array([t.finished_s for t in trials]),
        names=np.array([t.candidate.name for t in trials]),
        family=np.array([t.candidate.family for t in trials]),
        origin=np.array([_origin(t, searched) for t in trials]),
        cv=np.array([t.cv_score for t in trials]),
        splits=np.array([t.splits for t in trials]),
        oof=np.stack([np.stack([t.split_oof(s % t.splits) for s in range(most)]) for t in trials]),
        refit=np.stack(refit),
        y=np.asarray(searched.prepared.y),
        validated=np.asarray(searched.prepared.validated),
        y_test=truth.to_numpy(dtype=float)
        if task.problem_type == "regression"
        else truth.map({c: i for i, c in enumerate(task.classes)}).to_numpy(),
        metric=np.array(task.metric),
        shipped=np.array(json.dumps({"score": shipped.score, "note": shipped.note})),
    )
    return {"dataset": dataset, "split": split_seed, "budget": budget, "score": shipped.score}


def _origin(trial: Any, searched: Any) -> str:
    """``portfolio`` for a default configuration or a seed copy of one, else its origin."""
    from mlwright.search._select import untuned

    return "portfolio" if untuned(trial, searched) else str(trial.candidate.origin)


# -- the rules ----------------------------------------------------------------------------------

Scorer = Callable[[np.ndarray, np.ndarray], float]


def scorer(metric: str) -> tuple[Scorer, bool]:
    """The metric on predictions as the search keeps them, and whether greater is better."""
    from mlwright.evaluate import score
    from mlwright.spec import METRICS

    return (lambda truth, pred: score(metric, truth, pred)), METRICS[metric].greater_is_better


def ranked(cv: np.ndarray, greater: bool) -> list[int]:
    """Trial positions, best cross-validated score first."""
    return [int(i) for i in np.argsort(-cv if greater else cv, kind="stable")]


def greedy(
    pool: Sequence[int], oof: np.ndarray, y: np.ndarray, score: Scorer, greater: bool
) -> dict[int, float]:
    """mlwright's greedy ensemble selection over ``pool``: every fold split's out-of-fold
    predictions, one block per split (as ``split_predictions`` reads them)."""
    from mlwright.search._ensemble import greedy_ensemble

    blocks = [np.concatenate(list(oof[i])) for i in pool]
    truth = np.concatenate([y] * oof.shape[1])
    weights = greedy_ensemble(blocks, truth, score, greater=greater)
    return {pool[i]: w for i, w in weights.items()}


def greedy_rounds(
    pool: Sequence[int],
    oof: np.ndarray,
    y: np.ndarray,
    score: Scorer,
    greater: bool,
    *,
    start: Sequence[int] = (),
    stop: bool = False,
    rounds: int = 40,
) -> dict[int, float]:
    """Greedy selection with replacement as AutoGluon runs it (every round, the best
    ensemble along the way kept), or with ``stop`` ending when no addition helps; ``start``:
    the trials the ensemble begins with (Caruana et al., 2006, sorted initialisation),
    else the best single one."""
    blocks = {i: np.concatenate(list(oof[i])).astype(float) for i in pool}
    truth = np.concatenate([y] * oof.shape[1])

    def better(a: float, b: float) -> bool:
        return a > b if greater else a < b

    counts: Counter[int] = Counter(start)
    if not counts:
        counts[max(pool, key=lambda i: score(truth, blocks[i]) * (1 if greater else -1))] = 1
    total = sum(blocks[i] * c for i, c in counts.items())
    size = sum(counts.values())
    best, best_counts = score(truth, total / size), Counter(counts)
    for _ in range(rounds - size):
        value, i = min(
            ((score(truth, (total + blocks[i]) / (size + 1)), i) for i in pool),
            key=lambda vi: -vi[0] if greater else vi[0],
        )
        if stop and not better(value, best):
            break
        counts[i] += 1
        total, size = total + blocks[i], size + 1
        if better(value, best):
            best, best_counts = value, Counter(counts)
    n = sum(best_counts.values())
    return {i: c / n for i, c in sorted(best_counts.items())}


def rules(
    data: Mapping[str, np.ndarray], oof: np.ndarray, y: np.ndarray, score: Scorer, greater: bool
) -> dict[str, dict[int, float]]:
    """Each rule's ensemble (trial position -> weight) over a capture's trials (``data``:
    their cross-validated scores, families, origins, and where kept the fold splits each
    was fitted on and its seconds from the search's start); ``oof`` is (trials, splits,
    rows) on the validated rows, ``y`` their truths."""
    cv, family, origin = data["cv"], list(data["family"]), list(data["origin"])
    splits, finished = data.get("splits"), data.get("finished")
    order = ranked(cv, greater)
    firsts: list[int] = []
    seen: set[str] = set()
    for i in order:
        if family[i] not in seen:
            firsts.append(i)
            seen.add(family[i])
    defaults = [i for i in order if origin[i] == "portfolio"]
    chosen = {
        "the search's (best 20)": greedy(order[:20], oof, y, score, greater),
        "every trial": greedy(order, oof, y, score, greater),
        "best of each family": greedy(firsts, oof, y, score, greater),
        "default configurations": greedy(defaults[:20], oof, y, score, greater),
        "best single": {order[0]: 1.0},
    }
    # Ensemble selection with bagging (Caruana et al., 2006): half the pool at random, 20
    # times, the weights averaged.
    rng = np.random.default_rng(0)
    pool, bags = order[:20], 20
    mean: Counter[int] = Counter()
    for _ in range(bags):
        half = sorted(rng.choice(len(pool), max(len(pool) // 2, 1), replace=False))
        for i, w in greedy([pool[j] for j in half], oof, y, score, greater).items():
            mean[i] += w / bags
    chosen["bagged selection"] = dict(mean)
    for cap in FAMILY_CAPS:  # the best 20 with at most ``cap`` trials of one family
        seen_of: Counter[str] = Counter()
        capped: list[int] = []
        for i in order:
            if seen_of[family[i]] < cap:
                seen_of[family[i]] += 1
                capped.append(i)
        chosen[f"at most {cap} a family (best 20)"] = greedy(capped[:20], oof, y, score, greater)
        chosen[f"at most {cap} a family"] = greedy(capped, oof, y, score, greater)
        tuned_of: Counter[str] = Counter()
        tuned_capped: list[int] = []
        for i in order:  # default configurations all kept, at most ``cap`` tuned a family
            if origin[i] == "portfolio" or tuned_of[family[i]] < cap:
                tuned_of[family[i]] += origin[i] != "portfolio"
                tuned_capped.append(i)
        chosen[f"at most {cap} tuned a family"] = greedy(tuned_capped, oof, y, score, greater)
    chosen["every round, best kept"] = greedy_rounds(order[:20], oof, y, score, greater)
    chosen["sorted start (best 5)"] = greedy_rounds(
        order[:20], oof, y, score, greater, start=order[:SORTED_START], stop=True
    )
    if splits is not None and splits.max() > 1:
        # Only trials fitted on every fold split the search drew: no trial's place rests on
        # one split's luck (an unrepeated one repeats its own split's predictions).
        repeated = [i for i in order if splits[i] == splits.max()]
        chosen["repeated only"] = greedy(repeated[:20], oof, y, score, greater)
    if finished is not None and len(finished):
        # What the search had after a fifth of its time (about what a budget a fifth as
        # long would have had, less the holdout it carved).
        early = [i for i in order if finished[i] <= CHECKPOINT * finished.max()]
        if early:
            chosen["checkpoint"] = greedy(early[:20], oof, y, score, greater)
    return chosen


def guards(
    chosen: dict[str, dict[int, float]], data: Any, metric: str, score: Scorer, greater: bool
) -> dict[str, dict[int, float]]:
    """Rules that decide on the stacking holdout between two of ``chosen``'s ensembles: an
    incumbent kept unless the search's beats it there by more than one standard error of
    the paired difference; and whichever of the rules scores best there."""
    from mlwright.evaluate import paired_noise
    from mlwright.search import wins_beyond_noise

    truth = data["y"][data["holdout"]]
    preds = data["holdout_pred"]

    def on_holdout(weights: dict[int, float]) -> np.ndarray:
        return np.asarray(sum(w * preds[i] for i, w in weights.items()))

    search = chosen["the search's (best 20)"]
    out: dict[str, dict[int, float]] = {}
    incumbents = [n for n in HOLDOUT_INCUMBENTS if n in chosen]
    for incumbent in incumbents:
        first, second = on_holdout(chosen[incumbent]), on_holdout(search)
        noise = paired_noise(metric, truth, first, second, seed=0)
        wins = wins_beyond_noise(score(truth, second), score(truth, first), noise, greater=greater)
        out[f"{incumbent} unless the search's wins on the holdout"] = (
            search if wins else chosen[incumbent]
        )
    candidates = ["the search's (best 20)", *incumbents]
    scores = {n: score(truth, on_holdout(chosen[n])) for n in candidates}
    best = (max if greater else min)(scores, key=lambda n: scores[n])
    out["best of the rules on the holdout"] = chosen[best]
    return out


def analyse_one(path: Path) -> dict[str, Any]:
    """Each rule's test score on one capture, and the leaders' Spearman."""
    from scipy.stats import spearmanr

    from mlwright.evaluate import score as metric_score

    data = np.load(path)
    metric = str(data["metric"])
    score, greater = scorer(metric)
    validated = data["validated"]
    oof = data["oof"][:, :, validated]
    y = data["y"][validated]
    refit, y_test = data["refit"], data["y_test"]

    def on_test(weights: dict[int, float]) -> float:
        # Classes in sorted order, as the trials' own predictions hold them.
        pred = sum(w * refit[i] for i, w in weights.items())
        return float(metric_score(metric, y_test, pred))

    cv = data["cv"]
    chosen = rules(data, oof, y, score, greater)
    if "holdout_pred" in data:
        chosen.update(guards(chosen, data, metric, score, greater))
    order = ranked(cv, greater)[:LEADERS]
    singles = [on_test({i: 1.0}) for i in order]
    rho = spearmanr([cv[i] for i in order], singles)[0] if len(order) > 2 else float("nan")
    return {
        "capture": path.name,
        "metric": metric,
        "trials": len(cv),
        "shipped": json.loads(str(data["shipped"]))["score"],
        "best_single_on_test": max(singles) if greater else min(singles),
        "leaders_spearman": float(rho),
        "rules": {name: on_test(w) for name, w in chosen.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cap = sub.add_parser("capture", help="run mlwright once and keep its trials' predictions")
    cap.add_argument("--dataset", required=True, help="package/item:target")
    cap.add_argument("--split-seed", type=int, default=0)
    cap.add_argument("--budget", type=float, default=300.0)
    cap.add_argument("--out", type=Path, required=True)
    ana = sub.add_parser("analyse", help="score each rule's choice on the test rows")
    ana.add_argument("captures", type=Path, nargs="+")
    ana.add_argument("--json", type=Path, help="write the summary here too")
    args = parser.parse_args(argv)
    if args.command == "capture":
        print(json.dumps(capture(args.dataset, args.split_seed, args.budget, args.out)))
        return 0
    summaries = [analyse_one(p) for p in args.captures]
    for s in summaries:
        line = ", ".join(f"{k} {v:.4g}" for k, v in s["rules"].items())
        print(
            f"{s['capture']}: {s['trials']} trials, shipped {s['shipped']:.4g}, "
            f"leaders' Spearman {s['leaders_spearman']:.2f}; {line}"
        )
    if args.json:
        args.json.write_text(json.dumps(summaries, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
