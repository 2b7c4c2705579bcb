"""Model search under a wall-clock budget (or a trial count).

1. The baseline, always, and first.
2. A portfolio of strong default configurations, each family's best-expected first, in an
   order of expected gain per second (families that usually win and fit fast go first):
   the first PORTFOLIO_FIRST of each family; a longer (learned) list keeps the rest for 6.
3. Optuna's TPE on the families that lead, group by group while they improve.
4. Repeated k-fold bagging: the greedy ensemble's members fitted again on new fold splits
   (up to ``repeats`` splits in all); ensembles are then scored on every split.
5. With ``stack``: second-layer trials, each a family's configuration fitted on the original
   features plus the out-of-fold predictions of the leading first-layer trials (the greedy
   ensemble's members and each family's best); then Optuna on the best second-layer family.
6. Until the budget is spent: rounds of steps (more portfolio configurations, each layer's
   tuning, seed bagging), the one that gained most per second next, each after a round of
   repeated bagging.

Every trial is k-fold bagged: one model per cross-validation fold, each stopping early on
rows carved from its fold's training rows, giving out-of-fold predictions for every training
row; the holdout, never seen here, is what reports the final score. Trials run through an
``Executor`` (worker processes by default). Finished trials are journaled on disk, so a
killed search resumes from them; Ctrl-C ends the search with what has finished.

With ``max_trials`` the search is reproducible: no wall-clock limits inside trials, trials
processed in submission order, so the same seed and count give the same models.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlwright._interrupt import (
    first_interrupt_requests_stop,
    raise_if_stop_requested,
    raise_if_terminated,
)
from mlwright._progress import Progress, Silent
from mlwright.errors import TrainingError
from mlwright.learners import LearnerTask, learner_class
from mlwright.search._executor import Executor, InlineExecutor
from mlwright.search._prepare import Prepared, fold_rounds
from mlwright.search._trial import (
    OUTCOME,
    TrialOutcome,
    TrialSpec,
    read_holdout,
    read_outcome,
    run_trial,
)
from mlwright.spec import METRICS, ProblemType

# Scores one fold's predictions against its truths; None where the metric is undefined on
# those rows (ROC AUC of a single class). The pipeline passes evaluate's metric in, so that
# search does not depend on evaluate (a stage to its right).
FoldScorer = Callable[[np.ndarray, np.ndarray], float | None]

# Families in the order they usually rank on tabular data; the portfolio interleaves them.
FAMILY_PRIORITY = (
    "lightgbm",
    "catboost",
    "xgboost",
    "extra_trees",
    "random_forest",
    "mlp",
    "linear",
    "knn",
)
# How many leading families Optuna tunes at a time once the portfolio is done, and how many
# tuning trials in a row may fail to improve the best score before those families give way
# to the next leading ones (their trials still add diversity to the ensemble); after the
# last, the first again, while a whole turn still improves.
TUNED_FAMILIES = 2
TUNING_PATIENCE = 20
# Do not start a trial expected to take more than this many times the time left.
OVERRUN_TOLERANCE = 2.0
# With a second layer: the share of the search window (or of max_trials) after which the
# first layer's tuning gives way to it, and the most first-layer trials it reads.
STACK_START = 0.5
STACK_INPUTS = 6
# Second-layer families, in order: the fast, strong tree learners.
STACK_FAMILIES = ("lightgbm", "catboost", "xgboost", "extra_trees")
STACK_PREFIX = "l2_"
# Seed bagging: copies of at most this many ensemble members a round, and seeds a trial.
SEED_MEMBERS = 4
MAX_SEEDS = 4
# Repeated bagging: a member is fitted again on a new fold split only while its own fit took
# at most this share of the time left (what it buys is a truer score, not a new model).
REPEAT_SHARE = 0.25
# The portfolio's rounds run up front (a round: each family's next configuration); a
# longer learned list's later rounds are an anytime step, one round at a time, weighed
# against tuning by what each round gains per second.
PORTFOLIO_FIRST = 3
PORTFOLIO_STEP = "more portfolio configurations"


@dataclass(frozen=True)
class Candidate:
    name: str
    family: str
    params: dict[str, Any]
    origin: str = "portfolio"
    extra: dict[str, Any] = field(default_factory=dict)
    # A second-layer candidate: the first-layer trials whose predictions it reads, in order.
    inputs: tuple[str, ...] = ()
    # A seed-bagged copy of a trial (origin "seed"): its configuration, another seed.
    seed_offset: int = 0
    # The fold split it is fitted on: 0, the search's own; r > 0, a trial's configuration
    # fitted again on the r-th new split (origin "repeat", see ``repeat_round``).
    split: int = 0

    @property
    def layer(self) -> int:
        return 2 if self.inputs else 1


@dataclass
class TrialResult:
    candidate: Candidate
    status: Literal["ok", "failed", "skipped"]
    style: str = "tree"
    fold_scores: list[float] = field(default_factory=list)
    oof: np.ndarray | None = None
    fit_seconds: float = 0.0
    best_iterations: list[int] = field(default_factory=list)
    # A refit's work over one fold fit's, before the rows grow (see ``Search.refit_effort``).
    refit_effort: float = 1.0
    fold_infos: list[dict[str, Any]] = field(default_factory=list)
    out_dir: Path | None = None
    message: str = ""
    resumed: bool = False
    holdout_pred: np.ndarray | None = None  # the stacking holdout's rows, when there is one
    finished_s: float = 0.0  # seconds from the search's start to this trial's result
    # Fold splits it was fitted on (more after repeated bagging), and the out-of-fold
    # predictions of each split after the first (``oof`` is the first's).
    splits: int = 1
    oof_splits: list[np.ndarray] = field(default_factory=list)
    # Filled in by the caller after the search: the real predict_one path, and the files.
    latency: dict[str, float] | None = None
    size_mb: float | None = None

    @property
    def cv_score(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else float("nan")

    @property
    def cv_std(self) -> float:
        return float(np.std(self.fold_scores)) if len(self.fold_scores) > 1 else 0.0

    def absorb(self, repeat: TrialResult) -> None:
        """Take in ``repeat``, this configuration fitted on another fold split: its fold
        scores and early-stopping rounds join this trial's, and its out-of-fold predictions
        are kept beside the first split's (``split_oof``). They are not averaged: a mean
        over splits scores better than any one model does, and the refit ships one model.
        The fold models bagged, and the stacking holdout's predictions, stay the first
        split's."""
        assert repeat.oof is not None
        self.oof_splits = [*self.oof_splits, repeat.oof]
        self.fold_scores = [*self.fold_scores, *repeat.fold_scores]
        self.best_iterations = [*self.best_iterations, *repeat.best_iterations]
        self.splits += 1

    def split_oof(self, split: int) -> np.ndarray:
        """The out-of-fold predictions of fold split ``split`` (0: the search's own)."""
        return np.asarray(self.oof if split == 0 else self.oof_splits[split - 1])


@dataclass
class SearchResult:
    metric: str
    trials: list[TrialResult]
    baseline: TrialResult
    prepared: Prepared
    interrupted: bool = False
    # Repeated bagging's own trials, each taken into the trial it repeats (``absorb``).
    repeats: list[TrialResult] = field(default_factory=list)
    resumed_from: Path | None = None  # the journal of the interrupted run, with --resume
    stack_inputs: tuple[str, ...] = ()  # the first-layer trials the second layer reads

    @property
    def resume_note(self) -> str | None:
        """What a resumed search reused ("resumed: 5 trials reused from ..., 3 run now")."""
        if self.resumed_from is None:
            return None
        reused = sum(t.resumed for t in self.trials)
        ran = sum(not t.resumed and t.status != "skipped" for t in self.trials)
        return f"resumed: {reused} trials reused from {_shown(self.resumed_from)}, {ran} run now"

    def ranked(self) -> list[TrialResult]:
        """The candidates that finished, best cross-validated score first."""
        return rank_trials(self.trials, self.metric)

    @property
    def best(self) -> TrialResult:
        """The best single first-layer trial (a second-layer trial is not a single model,
        and its cross-validated score flatters it: its inputs came from the same folds)."""
        return next(t for t in self.ranked() if t.candidate.layer == 1)

    def by_name(self, name: str) -> TrialResult:
        return next(t for t in self.trials if t.candidate.name == name)


def family_bests(
    ranked: Iterable[TrialResult], *, besides: Iterable[str] = ()
) -> list[TrialResult]:
    """The first trial of each family in ``ranked`` (its best, when ranked best first), in
    ``ranked``'s order, leaving out the families in ``besides``: the trials an ensemble
    takes for diversity."""
    seen = set(besides)
    firsts = []
    for trial in ranked:
        if trial.candidate.family not in seen:
            seen.add(trial.candidate.family)
            firsts.append(trial)
    return firsts


def rank_trials(trials: Sequence[TrialResult], metric: str) -> list[TrialResult]:
    """The trials that finished, best cross-validated ``metric`` first."""
    ok = [t for t in trials if t.status == "ok"]
    greater = METRICS[metric].greater_is_better
    return sorted(ok, key=lambda t: -t.cv_score if greater else t.cv_score)


@dataclass(frozen=True)
class SearchSettings:
    families: Sequence[str]
    metric: str
    seed: int
    deadline: float | None  # time.monotonic() at which no new trial starts
    # Seconds to keep free before the deadline for what follows the search (refitting the
    # leaders on every row), given the trials finished so far, the seconds per fold that
    # each trial still running may take, and the members of the search's latest greedy
    # ensemble (what the choice is likely to take).
    reserve: (
        Callable[[Sequence[TrialResult], Sequence[float], Sequence[TrialResult]], float] | None
    ) = None
    max_trials: int | None = None
    tune: bool = True
    gpu: bool = False  # train families with a GPU path on the GPU (when one is present)
    min_fold_seconds: float = 0.5
    stack: bool = False  # fit second-layer trials (the prepared data has a stacking holdout)
    # Repeated k-fold bagging: the most fold splits a first-layer member of the ensemble is
    # fitted on, and the data of new split r (1, 2, ...): new random folds over the same
    # rows, the same stacking holdout. None: the folds have no other draw (a time split).
    repeats: int = 1
    resplit: Callable[[int], Prepared] | None = None


def portfolio_rounds(
    families: Sequence[str], task: LearnerTask, n_rows: int
) -> list[list[Candidate]]:
    """Every family's default configurations in rounds: the first configuration of every
    family (in priority order), then the second ones, and so on."""
    ordered = sorted(
        (f for f in families if f != "baseline"),
        key=lambda f: FAMILY_PRIORITY.index(f) if f in FAMILY_PRIORITY else len(FAMILY_PRIORITY),
    )
    rounds: list[list[Candidate]] = []
    for family in ordered:
        cls = learner_class(family)
        if not cls.available:
            continue
        configs = cls.default_configs(task, n_rows)
        for i, params in enumerate(configs):
            name = family if len(configs) == 1 else f"{family}_{i + 1}"
            while len(rounds) <= i:
                rounds.append([])
            rounds[i].append(Candidate(name, family, dict(params)))
    return rounds


def portfolio(families: Sequence[str], task: LearnerTask, n_rows: int) -> list[Candidate]:
    """The portfolio's configurations that run up front: its first PORTFOLIO_FIRST rounds."""
    rounds = portfolio_rounds(families, task, n_rows)
    return [c for batch in rounds[:PORTFOLIO_FIRST] for c in batch]


class _Tuner:
    """Optuna TPE studies for the leading families; the ``active`` ones are asked in turn."""

    def __init__(
        self,
        families: Sequence[str],
        task: LearnerTask,
        n_rows: int,
        greater: bool,
        seed: int,
        inputs: tuple[str, ...] = (),
    ):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.task, self.n_rows = task, n_rows
        self.studies = {
            family: optuna.create_study(
                direction="maximize" if greater else "minimize",
                sampler=optuna.samplers.TPESampler(seed=seed + i, n_startup_trials=4),
            )
            for i, family in enumerate(families)
        }
        self.active = list(families)
        self.pending: dict[str, tuple[Any, Any]] = {}  # a retired family's trials still report
        self.counts = dict.fromkeys(families, 0)
        self._turn = 0
        self.inputs = inputs  # a second-layer tuner's candidates read these trials
        self.prefix = STACK_PREFIX if inputs else ""
        self.origin = "stack_tpe" if inputs else "tpe"

    def ask(self) -> Candidate:
        families = self.active
        family = families[self._turn % len(families)]
        self._turn += 1
        study = self.studies[family]
        trial = study.ask()
        params = learner_class(family).search_space(trial, self.task, self.n_rows)
        self.counts[family] += 1
        name = f"{self.prefix}{family}_tpe{self.counts[family]}"
        self.pending[name] = (study, trial)
        return Candidate(name, family, params, origin=self.origin, inputs=self.inputs)

    def tell(self, name: str, value: float | None) -> None:
        import optuna

        study, trial = self.pending.pop(name)
        if value is None or not np.isfinite(value):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)


class _Run:
    """The state of one search."""

    def __init__(
        self,
        *,
        prepared: Prepared,
        problem_type: ProblemType,
        settings: SearchSettings,
        scorer: FoldScorer,
        journal: Path,
        executor: Executor,
        progress: Progress,
    ):
        self.prepared, self.problem_type, self.settings = prepared, problem_type, settings
        self.scorer, self.journal, self.executor, self.progress = (
            scorer,
            journal,
            executor,
            progress,
        )
        self.task = LearnerTask(problem_type, prepared.n_classes)
        self.greater = METRICS[settings.metric].greater_is_better
        self.trials: list[TrialResult] = []
        self.seconds_per_trial: dict[str, float] = {}
        self.allowances: dict[str, float] = {}  # running trial -> its wall-clock allowance
        self.started = time.monotonic()
        self.asked: dict[str, _Tuner] = {}  # a tuning candidate's name -> the tuner that asked
        self.stack_inputs: tuple[str, ...] = ()
        self.seed_copies: dict[str, int] = {}  # a trial's name -> seed copies asked of it
        self.members: list[str] = []  # the latest greedy ensemble over both layers
        self.split_data: dict[int, Prepared] = {0: prepared}  # fold split -> its data
        self.repeats: list[TrialResult] = []  # repeated bagging's trials, absorbed
        self.splits_asked: dict[str, int] = {}  # a trial's name -> splits asked of it
        self.reserve: list[list[Candidate]] = []  # the portfolio's rounds not yet run

    @property
    def done(self) -> int:
        """Trials finished, repeats included (what ``max_trials`` counts)."""
        return len(self.trials) + len(self.repeats)

    def split(self, index: int) -> Prepared:
        """The data of fold split ``index``, prepared the first time it is asked for."""
        if index not in self.split_data:
            assert self.settings.resplit is not None
            started = time.monotonic()
            self.split_data[index] = self.settings.resplit(index)
            self.progress.log(
                f"repeated bagging: new fold split {index + 1} prepared in "
                f"{time.monotonic() - started:.1f} s"
            )
        return self.split_data[index]

    # -- one trial ------------------------------------------------------------------------------

    def trial_params(self, candidate: Candidate) -> dict[str, Any]:
        """The candidate's parameters, on the GPU when the search uses one."""
        if not self.settings.gpu:
            return candidate.params
        return {**candidate.params, **learner_class(candidate.family).gpu_params()}

    def spec(self, candidate: Candidate) -> TrialSpec:
        style = learner_class(candidate.family).feature_style
        seconds = None
        if self.settings.deadline is not None and self.settings.max_trials is None:
            seconds = self.allowance()
        data = self.split(candidate.split)
        return TrialSpec(
            trial_id=candidate.name,
            family=candidate.family,
            params=self.trial_params(candidate),
            seed=self.settings.seed + candidate.seed_offset,
            style=style,
            folds=data.files[style],
            valid_positions=[v.tolist() for _, v in data.folds],
            n_rows=self.prepared.n_rows,
            problem_type=self.problem_type,
            n_classes=self.prepared.n_classes,
            categorical=data.categorical[style],
            out_dir=str(self.journal / candidate.name),
            seconds=seconds,
            min_fold_seconds=self.settings.min_fold_seconds,
            threads=1,
            origin=candidate.origin,
            extra=_extra(candidate),
            stack_inputs=[str(self.journal / name) for name in candidate.inputs],
            fit_positions=(
                [f.tolist() for f, _ in self.prepared.folds] if candidate.inputs else None
            ),
        )

    def record(
        self, candidate: Candidate, outcome: TrialOutcome, oof: np.ndarray, resumed: bool
    ) -> TrialResult:
        result = self.result(candidate, outcome, oof, resumed)
        if candidate.split:
            self.repeats.append(result)
            repeated = self.by_name(str(candidate.extra["repeat_of"]))
            if result.status == "ok":
                repeated.absorb(result)
        else:
            self.trials.append(result)
        if result.status == "ok":
            seen = self.seconds_per_trial.get(candidate.family, 0.0)
            self.seconds_per_trial[candidate.family] = max(seen, outcome.fit_seconds)
        best = [
            t.cv_score for t in self.trials if t.status == "ok" and t.candidate.family != "baseline"
        ]
        note = (
            f"{candidate.name}: {result.cv_score:.4f}"
            if result.status == "ok"
            else f"{candidate.name}: {result.status}"
        )
        if candidate.split and result.status == "ok":
            note += f", {repeated.cv_score:.4f} over {repeated.splits} splits"
        if best:
            top = max(best) if self.greater else min(best)
            note += f"  (best {top:.4f})"
        self.progress.advance(1, note=note)
        if result.status == "failed":
            self.progress.log(f"{candidate.name}: failed ({result.message})")
        return result

    def result(
        self, candidate: Candidate, outcome: TrialOutcome, oof: np.ndarray, resumed: bool
    ) -> TrialResult:
        """The trial's result, scored on each fold of the split it was fitted on."""
        style = learner_class(candidate.family).feature_style
        result = TrialResult(
            candidate=candidate,
            status=outcome.status,
            style=style,
            fit_seconds=outcome.fit_seconds,
            best_iterations=self.refit_rounds(candidate, outcome.best_iterations),
            fold_infos=outcome.fold_infos,
            out_dir=self.journal / candidate.name,
            message=outcome.message,
            resumed=resumed,
            finished_s=time.monotonic() - self.started,
        )
        result.refit_effort = self.refit_effort(candidate, outcome, result.best_iterations)
        if outcome.status == "ok":
            y = self.prepared.y
            for _, valid in self.split(candidate.split).folds:
                value = self.scorer(y[valid], oof[valid])
                if value is not None:
                    result.fold_scores.append(value)
            if result.fold_scores:
                result.oof = oof
                result.holdout_pred = read_holdout(self.journal / candidate.name)
            else:
                result.status, result.message = (
                    "failed",
                    f"{self.settings.metric} undefined on every fold",
                )
        return result

    def refit_rounds(self, candidate: Candidate, reached: Sequence[int]) -> list[int]:
        """Each fold's early-stopping round, scaled to the fold's training rows (see
        ``fold_rounds``): what the refit's round count is made from."""
        cls = learner_class(candidate.family)
        data = self.split(candidate.split)
        if not cls.stops_early() or len(reached) != len(data.folds):
            return list(reached)
        style = cls.feature_style
        return [fold_rounds(best, *data.fitted_rows(style, i)) for i, best in enumerate(reached)]

    def refit_effort(
        self, candidate: Candidate, outcome: TrialOutcome, rounds: Sequence[int]
    ) -> float:
        """How much more one refit works than one fold fit, on the same rows: a fold fit
        of a learner that stops early fitted only its fold's rows less the stopping rows,
        and ran its early-stopping rounds plus patience (or up to its deadline), where the
        refit runs ``rounds`` (scaled, as ``refit_rounds`` gives them) times the family's
        refit factor. Without them the refit of a deadline-cut MLP on diamonds took 1.7
        times the fold time scaled by rows alone, and the run overran its budget."""
        cls = learner_class(candidate.family)
        data = self.split(candidate.split)
        if not cls.stops_early() or outcome.status != "ok":
            return 1.0
        sizes = [data.fitted_rows(cls.feature_style, i) for i in range(len(data.folds))]
        effort = float(np.mean([fold / max(fitted, 1) for fitted, fold in sizes]))
        param = cls.refit_rounds_param
        if param is not None and rounds and outcome.rounds_run:
            refit_rounds = cls.refit_params(candidate.params, rounds)[param]
            effort *= refit_rounds / max(float(np.mean(outcome.rounds_run)), 1.0)
        return effort

    def resumed(self, candidate: Candidate) -> tuple[TrialOutcome, np.ndarray] | None:
        found = read_outcome(self.journal / candidate.name)
        if found is None or found[0].params != self.trial_params(candidate):
            return None
        if found[0].extra.get("inputs", []) != list(candidate.inputs):
            return None  # a second-layer trial that read other first-layer trials
        if found[0].extra.get("seed_offset", 0) != candidate.seed_offset:
            return None
        if found[0].extra.get("split", 0) != candidate.split:
            return None
        return found

    # -- scheduling -----------------------------------------------------------------------------

    def time_left(self, starting: float | None = None) -> float:
        """Seconds until the deadline, less what the caller reserves for the trials finished
        and running (and one ``starting`` with that allowance)."""
        if self.settings.deadline is None or self.settings.max_trials is not None:
            return float("inf")
        reserve = 0.0
        if self.settings.reserve is not None:
            k = max(len(self.prepared.folds), 1)
            running = [*self.allowances.values(), *([] if starting is None else [starting])]
            members = [self.by_name(n) for n in self.members]
            reserve = self.settings.reserve(self.trials, [s / k for s in running], members)
        return self.settings.deadline - reserve - time.monotonic()

    def allowance(self) -> float:
        """Wall-clock seconds for a trial starting now: the time left once what follows the
        search is reserved for it too. Without this, a slow family started first takes the
        whole search and leaves nothing for the refit its own result would need."""
        low, high = 0.0, max(self.time_left(), 0.0)
        if high <= self.time_left(starting=high):
            return high
        for _ in range(20):  # the largest allowance that still fits beside its own reserve
            middle = (low + high) / 2
            if middle <= self.time_left(starting=middle):
                low = middle
            else:
                high = middle
        return low

    def has_real_trial(self) -> bool:
        return any(t.status == "ok" and t.candidate.family != "baseline" for t in self.trials)

    def worth_starting(self, candidate: Candidate, in_flight: int) -> bool:
        if self.settings.max_trials is not None:
            return self.done + in_flight < self.settings.max_trials + 1  # + baseline
        if not self.has_real_trial() and in_flight == 0:
            return True  # the first real candidate always runs
        left = self.time_left()
        if left <= 0:
            return False
        expected = self.seconds_per_trial.get(candidate.family)
        if expected is None:
            cls = learner_class(candidate.family)
            n = self.prepared.n_rows
            expected = cls.cost_hint(
                n, self.prepared.n_features.get(cls.feature_style, 1), self.task
            )
            expected *= len(self.prepared.folds)
        return expected <= left * OVERRUN_TOLERANCE

    def candidates(self) -> Iterator[Candidate]:
        """Portfolio, tuning of the first layer, the second layer (with ``stack``), then
        rounds of anytime steps until the budget (or the count) is spent: without tuning
        too, so that ``tune = false`` still spends a budget on the portfolio's reserve,
        repeated and seed bagging. Without a bound (nothing would end the anytime steps but
        running out of them) the portfolio's later rounds follow in order."""
        rounds = portfolio_rounds(self.settings.families, self.task, self.prepared.n_rows)
        self.reserve = rounds[PORTFOLIO_FIRST:]
        yield from (c for batch in rounds[:PORTFOLIO_FIRST] for c in batch)
        bounded = self.settings.deadline is not None or self.settings.max_trials is not None
        if not bounded and not self.settings.tune and not self.settings.stack:
            yield from self.rest_of_portfolio()
            return
        tuners: list[_Tuner] = []
        leaders = self.leading_families(layer=1)
        if self.settings.tune and leaders:
            tuners.append(self.make_tuner(leaders))
            due = self.stack_due if self.settings.stack else None
            yield from self.tuning_turn(tuners[0], stop=due)
        self.ensemble_score()  # the members that repeated bagging fits again
        yield from self.repeated()  # before the second layer picks the members it reads
        if self.settings.stack:
            yield from self.second_layer(tuners)
        if not bounded:
            yield from self.rest_of_portfolio()
            return
        yield from self.anytime(tuners)

    def anytime(self, tuners: Sequence[_Tuner]) -> Iterator[Candidate]:
        """The rest of the budget, spent to its end in rounds of steps: the portfolio's next
        round (while a longer list has one), each layer's tuning and seed bagging of the
        ensemble's members. Each step is tried once; then the step whose last round gained
        most ensemble score per second (per trial under ``max_trials``, so that a counted
        search stays deterministic) goes next, the least recently run first when none
        gained. Before each round, repeated bagging fits the
        ensemble's members on new fold splits (``repeat_round``), so that a step's gain is
        read from scores that one split's luck flatters less."""
        steps: dict[str, Callable[[], Iterator[Candidate]]] = {}
        if self.reserve:  # a learned list longer than the rounds run up front
            steps[PORTFOLIO_STEP] = self.portfolio_round
        for t in tuners:
            steps[f"tuning {'the second layer' if t.inputs else 'the first layer'}"] = partial(
                self.tuning_turn, t
            )
        steps["seed bagging"] = self.seed_round
        rates: dict[str, float] = {}
        last_run: dict[str, int] = {}  # a step -> the round it last ran
        idle = 0  # steps in a row that had nothing to run (seed bagging, say)
        score = self.ensemble_score()  # stands until a step yields (trials finish meanwhile)
        while idle < len(steps):
            if PORTFOLIO_STEP in steps and not self.reserve:  # spent: it would start nothing
                del steps[PORTFOLIO_STEP]
                rates.pop(PORTFOLIO_STEP, None)
                last_run.pop(PORTFOLIO_STEP, None)
            if (yield from self.repeated()):
                score = self.ensemble_score()
            name = _next_step(steps, rates, last_run)
            before, started, count = score, time.monotonic(), self.done
            produced = 0
            for candidate in steps[name]():
                produced += 1
                yield candidate
            rounds = max(last_run.values(), default=0) + 1
            if not produced:
                idle += 1
                rates[name], last_run[name] = 0.0, rounds
                continue
            idle = 0
            score = self.ensemble_score()
            gain = 0.0 if before is None or score is None else score - before
            gain = gain if self.greater else -gain
            spent = (
                max(self.done - count, 1)
                if self.settings.max_trials is not None
                else max(time.monotonic() - started, 1e-3)
            )
            rates[name], last_run[name] = gain / spent, rounds
            self.progress.log(f"{name}: {produced} trials, ensemble score gained {gain:+.4g}")

    def ensemble_score(self) -> float | None:
        """The greedy ensemble's score over both layers' trials (see ``pool_score``); its
        members are kept in ``members``, for the refit reserve."""
        pool = self.usable(1) + self.usable(2)
        weights = self.greedy(pool) if pool else {}
        self.members = list(weights)
        return self.weights_score(weights) if weights else None

    def pool_score(self, pool: Sequence[TrialResult]) -> float | None:
        """The score of the greedy ensemble of ``pool`` (see ``weights_score``)."""
        return self.weights_score(self.greedy(pool)) if pool else None

    def weights_score(self, weights: Mapping[str, float]) -> float | None:
        """The score of the ensemble of ``weights`` on rows none of its members saw: the
        stacking holdout when there is one, else the rows the folds validated."""
        holdout = self.prepared.holdout
        pred = blend(weights, self.by_name, holdout=holdout is not None)
        rows = holdout if holdout is not None else self.prepared.validated
        return self.scorer(self.prepared.y[rows], pred if holdout is not None else pred[rows])

    def portfolio_round(self) -> Iterator[Candidate]:
        """The portfolio's next round not yet run: each family's next configuration."""
        if self.reserve:
            yield from self.reserve.pop(0)

    def rest_of_portfolio(self) -> Iterator[Candidate]:
        """Every round of the portfolio not yet run, in order (a search without anytime
        steps)."""
        while self.reserve:
            yield from self.portfolio_round()

    def seed_round(self) -> Iterator[Candidate]:
        """A copy with the next seed of each member of the first layer's greedy ensemble
        (at most SEED_MEMBERS, families whose fit depends on the seed): in the ensemble
        beside the original, the average over seeds that the refit ships as members."""
        first = self.usable(1)
        members = list(self.greedy(first)) if first else []
        yielded = 0
        for name in members:
            trial = self.by_name(name)
            base = trial.candidate.extra.get("seed_of", name)
            if not learner_class(trial.candidate.family).seed_varies:
                continue
            offset = self.seed_copies.get(base, 0) + 1
            if offset >= MAX_SEEDS:
                continue
            self.seed_copies[base] = offset
            origin = self.by_name(base).candidate
            yield Candidate(
                f"{base}_seed{offset + 1}",
                origin.family,
                dict(origin.params),
                origin="seed",
                extra={"seed_of": base},
                seed_offset=offset,
            )
            yielded += 1
            if yielded >= SEED_MEMBERS:
                return

    def repeated(self) -> Generator[Candidate, None, int]:
        """A round of repeated bagging (``repeat_round``), logged; how many it asked for."""
        repeats = list(self.repeat_round())
        if repeats:
            self.progress.log(
                f"repeated bagging: {', '.join(c.extra['repeat_of'] for c in repeats)} "
                "on new fold splits"
            )
            yield from repeats
        return len(repeats)

    def repeat_round(self) -> Iterator[Candidate]:
        """Repeated k-fold bagging: each first-layer member of the latest greedy ensemble over
        both layers (``members``, as the callers' last ``ensemble_score`` left them) that has
        been fitted on fewer than ``repeats`` fold splits, fitted again on its next new split
        (see ``TrialResult.absorb``). A member may owe its place to one split's luck;
        averaged over more splits its score is truer, and the ensemble chosen next reads the
        truer one. A member whose fit takes more than REPEAT_SHARE of the time left is not
        repeated."""
        if self.settings.repeats <= 1 or self.settings.resplit is None:
            return
        for name in self.members:
            trial = self.by_name(name)
            if trial.candidate.layer != 1:
                continue
            split = self.splits_asked.get(name, trial.splits)
            if split >= self.settings.repeats:
                continue
            if trial.fit_seconds > REPEAT_SHARE * self.time_left():
                continue
            self.splits_asked[name] = split + 1
            origin = trial.candidate
            yield Candidate(
                f"{name}_split{split + 1}",
                origin.family,
                dict(origin.params),
                origin="repeat",
                extra={"repeat_of": name},
                seed_offset=origin.seed_offset,
                split=split,
            )

    def leading_families(self, layer: int) -> list[str]:
        """Tunable families of ``layer``, best trial first."""
        leaders: list[str] = []
        for trial in rank_trials(self.trials, self.settings.metric):
            family = trial.candidate.family
            if trial.candidate.layer != layer or family == "baseline":
                continue
            if family not in leaders and learner_class(family).tunable():
                leaders.append(family)
        return leaders

    def make_tuner(self, families: Sequence[str], inputs: tuple[str, ...] = ()) -> _Tuner:
        seed = self.settings.seed + (1000 if inputs else 0)
        return _Tuner(families, self.task, self.prepared.n_rows, self.greater, seed, inputs)

    def tuning_turn(
        self, tuner: _Tuner, stop: Callable[[], bool] | None = None
    ) -> Iterator[Candidate]:
        """The tuner's groups of families take turns, each until TUNING_PATIENCE of its trials
        in a row have not improved its layer's best score; the turns repeat while a whole
        turn improves (without ``stop``: once), or until ``stop`` says so."""
        families = list(tuner.studies)
        groups = [families[i : i + TUNED_FAMILIES] for i in range(0, len(families), TUNED_FAMILIES)]
        layer = 2 if tuner.inputs else 1
        while True:
            turn = len(self.trials)
            for group in groups:
                tuner.active = group
                since = len(self.trials)
                while self.tuning_stalled(since, layer) < TUNING_PATIENCE:
                    if stop is not None and stop():
                        return
                    candidate = tuner.ask()
                    self.asked[candidate.name] = tuner
                    yield candidate
                self.progress.log(
                    f"tuning {' and '.join(tuner.prefix + f for f in group)}: "
                    f"{TUNING_PATIENCE} trials in a row without improvement"
                )
            if stop is None or not self.improved_since(turn, layer):
                return

    def stack_due(self) -> bool:
        """Whether the first layer's tuning has had its share of the search."""
        if self.settings.max_trials is not None:
            return self.done >= STACK_START * (self.settings.max_trials + 1)
        if self.settings.deadline is None:
            return False
        window = self.settings.deadline - self.started
        return time.monotonic() - self.started >= STACK_START * window

    def second_layer(self, tuners: list[_Tuner]) -> Iterator[Candidate]:
        """Second-layer trials over the leading first-layer trials: each stack family's first
        configuration, then a tuner for the best of them (added to ``tuners``)."""
        self.stack_inputs = self.choose_stack_inputs()
        if len(self.stack_inputs) < 2:
            self.progress.log("second layer: fewer than two first-layer trials to read")
            return
        self.progress.log(f"second layer over {', '.join(self.stack_inputs)}")
        families = [f for f in STACK_FAMILIES if f in self.settings.families]
        for family in families:
            cls = learner_class(family)
            if not cls.available:
                continue
            params = dict(cls.default_configs(self.task, self.prepared.n_rows)[0])
            yield Candidate(
                f"{STACK_PREFIX}{family}", family, params, origin="stack", inputs=self.stack_inputs
            )
        leaders = self.leading_families(layer=2)
        if not self.settings.tune or not leaders:
            return
        pays, note = self.second_layer_pays()
        self.progress.log(note)
        if pays:  # else the rest of the search is the first layer's
            tuners.insert(0, self.make_tuner(leaders[:TUNED_FAMILIES], self.stack_inputs))
            yield from self.tuning_turn(tuners[0])

    def usable(self, layer: int) -> list[TrialResult]:
        """The finished trials of ``layer`` with out-of-fold predictions (and the stacking
        holdout's, when there is one), best first (at most 20: the greedy ensemble rarely
        reaches further)."""
        return [
            t
            for t in rank_trials(self.trials, self.settings.metric)
            if t.candidate.layer == layer
            and t.candidate.family != "baseline"
            and t.oof is not None
            and (t.holdout_pred is not None or self.prepared.holdout is None)
        ][:20]

    def greedy(self, trials: Sequence[TrialResult]) -> dict[str, float]:
        """The greedy ensemble of ``trials`` on the out-of-fold predictions (name -> weight)."""
        from mlwright.search._ensemble import greedy_ensemble

        worst = -np.inf if self.greater else np.inf

        def score(truth: np.ndarray, pred: np.ndarray) -> float:
            value = self.scorer(truth, pred)
            return worst if value is None else value

        predictions, truth = split_predictions(trials, self.prepared)
        weights = greedy_ensemble(
            predictions,
            truth,
            score,
            greater=self.greater,
            seed=self.settings.seed,
        )
        return {
            trials[i].candidate.name: weights[i] for i in sorted(weights, key=lambda i: -weights[i])
        }

    def second_layer_pays(self) -> tuple[bool, str]:
        """Whether the greedy ensemble with the finished second-layer trials scores at least
        as well on the stacking holdout as the first layer's alone (the check the choice
        will make), and a line saying so; if not, tuning the second layer would spend the
        rest of the search on what the choice would not keep."""
        first, second = self.usable(1), self.usable(2)
        if not first or not second:
            return True, "second layer: nothing to compare on the stacking holdout yet"
        assert self.prepared.holdout is not None
        alone, both = self.pool_score(first), self.pool_score(first + second)
        if alone is None or both is None:
            return True, "second layer: the metric is undefined on the stacking holdout"
        pays = both >= alone if self.greater else both <= alone
        verdict = "tuned next" if pays else "not tuned: the rest of the search is the first layer's"
        return pays, (
            f"second layer {verdict} (on the stacking holdout {both:.4g} with its default "
            f"configurations, {alone:.4g} without)"
        )

    def choose_stack_inputs(self) -> tuple[str, ...]:
        """The greedy ensemble's members over the finished first-layer trials, then each
        other family's best, up to STACK_INPUTS: what the second layer reads."""
        ranked = self.usable(1)
        if not ranked:
            return ()
        chosen = list(self.greedy(ranked))
        families = {self.by_name(n).candidate.family for n in chosen}
        chosen += [t.candidate.name for t in family_bests(ranked, besides=families)]
        return tuple(chosen[:STACK_INPUTS])

    def by_name(self, name: str) -> TrialResult:
        return next(t for t in self.trials if t.candidate.name == name)

    def new_bests(self, layer: int = 1) -> list[int]:
        """Positions in ``trials`` of the finished real trials of ``layer`` that each set a
        new best score of that layer (a second layer's scores are not comparable with the
        first's: its inputs are out-of-fold predictions of the same folds)."""
        best = None
        positions = []
        for i, trial in enumerate(self.trials):
            if trial.status != "ok" or trial.candidate.family == "baseline":
                continue
            if trial.candidate.layer != layer:
                continue
            if best is None or (trial.cv_score > best if self.greater else trial.cv_score < best):
                best = trial.cv_score
                positions.append(i)
        return positions

    def improved_since(self, since: int, layer: int = 1) -> bool:
        """Whether a trial after the first ``since`` trials set a new best score."""
        return any(i >= since for i in self.new_bests(layer))

    def tuning_stalled(self, since: int = 0, layer: int = 1) -> int:
        """How many of ``layer``'s tuning trials finished after the first ``since`` trials did
        not improve its best score, counted from the latest that did."""
        bests = self.new_bests(layer)
        start = max(since, bests[-1] + 1 if bests else 0)
        return sum(
            1
            for t in self.trials[start:]
            if t.status == "ok"
            and t.candidate.layer == layer
            and t.candidate.origin in ("tpe", "stack_tpe")
        )

    def next_candidate(self, queue: Iterator[Candidate], in_flight: int) -> Candidate | None:
        """The next candidate worth starting now, or None to start nothing more for now."""
        misfits = 0
        for candidate in queue:
            if self.worth_starting(candidate, in_flight):
                return candidate
            tuner = self.asked.pop(candidate.name, None)
            if tuner is not None:
                tuner.tell(candidate.name, None)
                misfits += 1
                # Tuning is open-ended: stop asking once no tuned family fits the time left
                # (a quicker family may still fit when the slowest no longer does).
                if misfits >= len(tuner.active) or self.time_left() <= 0:
                    return None
                continue
            if self.settings.max_trials is not None or self.time_left() <= 0:
                return None
            # Too slow for the time left; a cheaper family further on may still fit.
        return None

    def finish(
        self, candidate: Candidate, outcome: TrialOutcome, oof: np.ndarray, resumed: bool = False
    ) -> None:
        result = self.record(candidate, outcome, oof, resumed)
        tuner = self.asked.pop(candidate.name, None)
        if tuner is not None:
            tuner.tell(candidate.name, result.cv_score if result.status == "ok" else None)

    def collect(self, future: Future[TrialOutcome], candidate: Candidate) -> None:
        self.allowances.pop(candidate.name, None)
        try:
            outcome = future.result()
        except BrokenProcessPool as exc:  # killed from outside: the OOM killer, kill -9
            raise TrainingError(
                f"a worker process running {candidate.name} died: {exc}",
                hint="it may have run out of memory: lower --workers (search.workers) or "
                "constraints.max_memory_gb; `mlwright run --resume` reuses the trials that "
                "finished",
            ) from exc
        found = read_outcome(self.journal / candidate.name)
        oof = found[1] if found else np.full(self.prepared.n_rows, np.nan)
        self.finish(candidate, outcome, oof)

    def run(self) -> bool:
        """Run trials until the budget or the count is spent; True if interrupted."""
        baseline = Candidate("baseline", "baseline", {})
        found = self.resumed(baseline)
        if found is None:
            run_trial(self.spec(baseline))
            found = read_outcome(self.journal / baseline.name)
            assert found is not None
            self.finish(baseline, *found)
        else:
            self.finish(baseline, *found, resumed=True)
        deterministic = self.settings.max_trials is not None
        queue = self.candidates()
        in_flight: dict[Future[TrialOutcome], Candidate] = {}
        try:
            while True:
                while len(in_flight) < self.executor.workers:
                    raise_if_stop_requested()
                    candidate = self.next_candidate(queue, len(in_flight))
                    if candidate is None:
                        break
                    found = self.resumed(candidate)
                    if found is not None:
                        self.finish(candidate, *found, resumed=True)
                        continue
                    spec = self.spec(candidate)
                    if spec.seconds is not None:
                        self.allowances[candidate.name] = spec.seconds
                    in_flight[self.executor.submit(spec)] = candidate
                if not in_flight:
                    return False
                finished = _wait(in_flight, every=deterministic)
                # In submission order, so that results tell Optuna alike on every run.
                done = [f for f in in_flight if f in finished]
                for future in done:
                    self.collect(future, in_flight.pop(future))
        except KeyboardInterrupt:
            self.executor.shutdown(cancel=True)
            self.progress.log("interrupted: finishing with the trials that completed")
            return True


def blend(
    weights: Mapping[str, float], by_name: Callable[[str], TrialResult], *, holdout: bool
) -> np.ndarray:
    """The weighted sum of the named trials' predictions: on the stacking holdout's rows
    (``holdout``), else their out-of-fold predictions on every row."""

    def predictions(name: str) -> np.ndarray:
        trial = by_name(name)
        return np.asarray(trial.holdout_pred if holdout else trial.oof)

    return np.asarray(sum(w * predictions(n) for n, w in weights.items()))


def split_predictions(
    trials: Sequence[TrialResult], prepared: Prepared
) -> tuple[list[np.ndarray], np.ndarray]:
    """What greedy ensemble selection reads: each trial's out-of-fold predictions on the
    validated rows, one block per fold split, as many blocks as the most-repeated trial has
    splits (a trial fitted on fewer repeats its own), and the truths to match. An ensemble
    is then scored on every split, one model's predictions per member each time, so that
    one split's luck weighs less, and a repeated trial gets no credit for an average over
    splits that the model it ships would not have."""
    validated = prepared.validated
    most = max((t.splits for t in trials), default=1)
    predictions = [
        np.concatenate([t.split_oof(s % t.splits)[validated] for s in range(most)]) for t in trials
    ]
    truth = np.asarray(prepared.y)[validated]
    return predictions, np.concatenate([truth] * most)


def _extra(candidate: Candidate) -> dict[str, Any]:
    """What a trial's journal keeps of its candidate beyond the parameters."""
    extra = dict(candidate.extra)
    if candidate.inputs:
        extra["inputs"] = list(candidate.inputs)
    if candidate.seed_offset:
        extra["seed_offset"] = candidate.seed_offset
    if candidate.split:
        extra["split"] = candidate.split
    return extra


def _next_step(
    steps: Mapping[str, object], rates: Mapping[str, float], last_run: Mapping[str, int]
) -> str:
    """The step not yet run, else the one of best gain per unit spent (when one gained),
    else the least recently run."""
    fresh = [s for s in steps if s not in rates]
    if fresh:
        return fresh[0]
    best = max(steps, key=lambda s: rates[s])
    if rates[best] > 0:
        return best
    return min(steps, key=lambda s: last_run[s])


def _wait(futures: Iterable[Future[TrialOutcome]], *, every: bool) -> set[Future[TrialOutcome]]:
    """The futures that finished: all of them with ``every``, else at least one. Waits in
    short steps so that a stop request (Ctrl-C) is seen while trials run elsewhere."""
    while True:
        finished, pending = wait(
            futures, timeout=0.2, return_when=ALL_COMPLETED if every else FIRST_COMPLETED
        )
        raise_if_terminated()  # before results: a SIGTERM to the group also ended the workers
        if finished and (not every or not pending):
            return finished
        raise_if_stop_requested()


def run_search(
    *,
    prepared: Prepared,
    problem_type: ProblemType,
    settings: SearchSettings,
    scorer: FoldScorer,
    journal: Path,
    executor: Executor | None = None,
    resume: bool = False,
    progress: Progress | None = None,
) -> SearchResult:
    """Search; finished trials are journaled under ``journal`` (cleared unless ``resume``)."""
    progress = progress if progress is not None else Silent()
    if not resume and journal.exists():
        shutil.rmtree(journal)
    journal.mkdir(parents=True, exist_ok=True)
    executor = executor if executor is not None else InlineExecutor()
    progress.stage(
        "searching models", total=settings.max_trials + 1 if settings.max_trials else None
    )
    if resume:
        progress.log(_resume_plan(journal, settings.max_trials))
    run = _Run(
        prepared=prepared,
        problem_type=problem_type,
        settings=settings,
        scorer=scorer,
        journal=journal,
        executor=executor,
        progress=progress,
    )
    try:
        with first_interrupt_requests_stop():
            interrupted = run.run()
    except BaseException:  # SIGTERM, a second Ctrl-C, an error: nothing waits for the trials
        executor.shutdown(cancel=True)
        raise
    executor.shutdown(cancel=False)
    tried = {t.candidate.name for t in run.trials}
    for candidate in portfolio(settings.families, run.task, prepared.n_rows):
        if candidate.name not in tried:
            why = "interrupted" if interrupted else "not reached: time budget or max_trials spent"
            run.trials.append(TrialResult(candidate, "skipped", message=why))
    baseline = run.trials[0]
    if baseline.status != "ok":
        raise TrainingError(
            f"even the baseline could not be cross-validated: {baseline.message}",
            hint="check the data-check findings; the target may be degenerate in some folds",
        )
    result = SearchResult(
        metric=settings.metric,
        trials=run.trials,
        baseline=baseline,
        prepared=prepared,
        interrupted=interrupted,
        resumed_from=journal if resume else None,
        stack_inputs=run.stack_inputs,
        repeats=run.repeats,
    )
    if result.resume_note is not None:
        progress.log(result.resume_note)
    return result


def _resume_plan(journal: Path, max_trials: int | None) -> str:
    """What a resumed search starts from: the trials the killed run finished (each reused
    when the search reaches it again), and what is left to run."""
    found = sum((d / OUTCOME).is_file() for d in journal.iterdir() if d.is_dir())
    left = (
        f"{max(max_trials + 1 - found, 0)} to go"
        if max_trials is not None
        else "the rest under the time budget"
    )
    return f"resumed: {found} trials reused from {_shown(journal)}, {left}"


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it (.mlwright/runs/...)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
