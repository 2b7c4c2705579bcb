"""Choosing the model: every finished trial measured on the real single-row path, the
constraints applied, and a greedy ensemble of the trials that respect them."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mlwright.artifact import Member, Model, Stacker
from mlwright.errors import TrainingError
from mlwright.features import FeaturePlan
from mlwright.search._ensemble import greedy_ensemble
from mlwright.search._models import bagged_members
from mlwright.search._search import (
    SearchResult,
    TrialResult,
    blend,
    family_bests,
    split_predictions,
)
from mlwright.spec import METRICS

# Builds a Model from members and the plans they read (the caller knows the spec, classes
# and inputs that every model of this run shares).
ModelFactory = Callable[[list[Member], dict[str, FeaturePlan]], Model]
Score = Callable[[np.ndarray, np.ndarray], float]
# One standard error of score(second) - score(first) on the rows of truth, from a paired
# bootstrap (the caller's: mlwright.evaluate.paired_noise); None when it is undefined.
Noise = Callable[[np.ndarray, np.ndarray, np.ndarray], float | None]


@dataclass(frozen=True)
class Limits:
    p99_ms: float | None = None
    size_mb: float | None = None
    # A soft bound on the shipped model's single-row p50: it caps an ensemble's members,
    # never a single model. Each member is expected to take its bagged model's time over
    # its number of fold models, times REFIT_TIME_GROWTH, once ``refit`` fits it again on
    # every row (one model).
    p50_ms: float | None = None
    refit: bool = True
    # Each trial's refit model measured alone, once it exists (``rechoose_within_target``):
    # it replaces the estimate above.
    measured_p50_us: Mapping[str, float] | None = None

    def shipped_p50_us(self, trial: TrialResult) -> float:
        """The single-row p50 ``trial`` is expected to add to the shipped model."""
        if self.measured_p50_us is not None and trial.candidate.name in self.measured_p50_us:
            return float(self.measured_p50_us[trial.candidate.name])
        assert trial.latency is not None
        if not self.refit:
            return float(trial.latency["p50_us"])
        return float(trial.latency["p50_us"]) / max(len(trial.fold_infos), 1) * REFIT_TIME_GROWTH

    def breach(self, p99_us: float, size_mb: float) -> str | None:
        """What a model with this latency and size breaks, in words, or None."""
        if self.p99_ms is not None and p99_us / 1000.0 > self.p99_ms:
            return f"p99 {p99_us / 1000.0:.3f} ms > max_latency_p99_ms {self.p99_ms}"
        if self.size_mb is not None and size_mb > self.size_mb:
            return f"{size_mb:.3f} MB > max_model_size_mb {self.size_mb}"
        return None


@dataclass
class Selection:
    weights: dict[str, float]
    model: Model
    latency: dict[str, float]
    size_mb: float
    oof: np.ndarray
    rejected: list[str] = field(default_factory=list)
    stacker: Stacker | None = None  # a second layer combines the members instead of weights
    # The second layer's check on the stacking holdout (see ``judge_second_layer``).
    layers: dict[str, Any] | None = None
    # The tuned configurations' check on the stacking holdout (see ``judge_tuning``).
    tuning: dict[str, Any] | None = None

    @property
    def inputs(self) -> list[str]:
        """The first-layer trials the chosen second-layer trials read, in order."""
        return list(dict.fromkeys(n for m in self.model.members for n in m.inputs))

    @property
    def name(self) -> str:
        if self.stacker is not None:
            return "stack(" + ", ".join(self.weights) + ")"
        if len(self.weights) == 1:
            return next(iter(self.weights))
        return "ensemble(" + ", ".join(f"{n}×{w:.2f}" for n, w in self.weights.items()) + ")"


def ensemble_model(
    weights: Mapping[str, float], search: SearchResult, make_model: ModelFactory
) -> Model:
    """The bagged model of ``weights``' trials, with the first-layer trials that its
    second-layer ones read (weight 0 where they are inputs only)."""
    members: list[Member] = []
    plans: dict[str, FeaturePlan] = {}
    for name, weight in with_inputs(weights, search).items():
        more, used = bagged_members(search.by_name(name), search.prepared, weight)
        members += more
        plans.update(used)
    return make_model(members, plans)


def with_inputs(weights: Mapping[str, float], search: SearchResult) -> dict[str, float]:
    """``weights`` and, at weight 0, the input trials of its second-layer trials not in it."""
    out = dict(weights)
    for name in weights:
        for source in search.by_name(name).candidate.inputs:
            out.setdefault(source, 0.0)
    return out


# A refit boosted member fits 10% more rounds than its folds' mean (refit_rounds_factor),
# and its time per row grows with its trees: at 300 s, hpc and hotel_rates shipped 1.11 ms
# where each member's bagged p50 over its fold models added up to at most 1 ms.
REFIT_TIME_GROWTH = 1.1

# Enough calls to rank candidates and check a bound; the chosen model is measured with more.
TRIAL_LATENCY_CALLS = 100


def measure_trials(
    search: SearchResult,
    make_model: ModelFactory,
    records: Sequence[Mapping[str, Any]],
    *,
    deadline: float | None = None,
) -> list[str]:
    """Latency of each finished trial's bagged model through ``predict_one`` (features
    included), and the size of its files, best trial first. With a ``deadline``
    (``time.monotonic()``), a trial whose measuring (as long as the slowest so far) would
    end after it is left unmeasured, once the best real trial is measured: such trials
    cannot be chosen. The names of those left out."""
    slowest = 0.0
    left_out: list[str] = []
    measured_real = False
    for trial in measuring_order(search.ranked()):
        if deadline is not None and measured_real and time.monotonic() + slowest > deadline:
            trial.message = trial.message or "not measured: time budget"
            left_out.append(trial.candidate.name)
            continue
        started = time.monotonic()
        model = ensemble_model({trial.candidate.name: 1.0}, search, make_model)
        trial.latency = model.measure_latency(records, calls=TRIAL_LATENCY_CALLS)
        trial.size_mb = ensemble_size_mb({trial.candidate.name: 1.0}, search)
        slowest = max(slowest, time.monotonic() - started)
        measured_real = measured_real or trial.candidate.family != "baseline"
    return left_out


def measuring_order(ranked: Sequence[TrialResult]) -> list[TrialResult]:
    """Within each layer the best trial of each family first, then the rest best first;
    the layers taking turns. The ensemble is chosen over the measured trials only: measured
    best first, a long search's hundreds of tuned boosting trials filled the time measuring
    has, and the linear model or forest that the 60 s ensembles leaned on (linear at weight
    0.43 on credit_data's split 1) could no longer join. And a second layer's flattering
    cross-validated scores must not push the first layer's leaders out (the choice compares
    both)."""
    layers = [_families_first([t for t in ranked if t.candidate.layer == n]) for n in (1, 2)]
    order: list[TrialResult] = []
    for i in range(max(len(layer) for layer in layers)):
        order += [layer[i] for layer in layers if i < len(layer)]
    return order


def _families_first(ranked: Sequence[TrialResult]) -> list[TrialResult]:
    """``ranked`` with each family's best trial moved ahead of the rest (order kept)."""
    firsts = family_bests(ranked)
    chosen = {id(t) for t in firsts}
    return firsts + [t for t in ranked if id(t) not in chosen]


def trial_files_mb(trial: TrialResult) -> float:
    """Size of a trial's saved fold models, in MB: what its bagged members add to an
    artifact (the learners write the same files there), read from disk rather than written
    again, which took most of the measuring time on small tables."""
    assert trial.out_dir is not None
    folds = [Path(trial.out_dir) / f"fold{i}" for i in range(len(trial.fold_infos))]
    return sum(p.stat().st_size for d in folds for p in d.rglob("*") if p.is_file()) / 1e6


def ensemble_size_mb(weights: Mapping[str, float], search: SearchResult) -> float:
    """Size of the bagged ensemble of ``weights``' trials (their inputs included), from
    their files."""
    return sum(trial_files_mb(search.by_name(name)) for name in with_inputs(weights, search))


def pareto_front(trials: Sequence[TrialResult], greater: bool) -> set[str]:
    """Names of the trials no other trial beats on both score and p99 latency."""
    front = set()
    for t in trials:
        if t.latency is None:
            continue
        dominated = False
        for o in trials:
            if o is t or o.latency is None:
                continue
            better_or_same = o.cv_score >= t.cv_score if greater else o.cv_score <= t.cv_score
            strictly = o.cv_score != t.cv_score or o.latency["p99_us"] < t.latency["p99_us"]
            if better_or_same and o.latency["p99_us"] <= t.latency["p99_us"] and strictly:
                dominated = True
                break
        if not dominated:
            front.add(t.candidate.name)
    return front


def select(
    search: SearchResult,
    *,
    limits: Limits,
    ensemble: bool,
    score: Score,
    make_model: ModelFactory,
    records: Sequence[Mapping[str, Any]],
    seed: int,
    noise: Noise,
) -> Selection:
    """The best admissible model: a greedy ensemble over the trials that each meet the
    limits, kept only while the ensemble meets them too; else the best single trial. Trials
    that ``measure_trials`` left unmeasured (the time budget) are not candidates."""
    greater = METRICS[search.metric].greater_is_better
    admissible, rejected = _admissible(search, limits)
    greedy = _Greedy(search, limits, score, greater, seed)

    def chosen(pool: Sequence[TrialResult]) -> tuple[dict[str, float], bool]:
        return greedy.choose(pool) if ensemble else ({pool[0].candidate.name: 1.0}, False)

    weights, capped, pool, layers, tuning = _layered_choice(
        search, admissible, chosen, score=score, greater=greater, noise=noise
    )
    # What the latency target cost the choice that ships (not one the holdout dropped).
    note = _capped(weights, greedy, pool, limits) if capped else None
    if note is not None:
        rejected.append(note)
    model = ensemble_model(weights, search, make_model)
    latency = model.measure_latency(records)
    size_mb = ensemble_size_mb(weights, search)
    if len(weights) > 1 and limits.breach(latency["p99_us"], size_mb) is not None:
        # Measured, the ensemble breaks a limit after all: the best admissible single trial.
        rejected.append(f"ensemble: {limits.breach(latency['p99_us'], size_mb)}")
        # The best single trial of the pool the holdout's checks kept (a second layer's
        # cross-validated score flatters it; so does tuning's, chosen on the same folds).
        weights = {pool[0].candidate.name: 1.0}
        model = ensemble_model(weights, search, make_model)
        latency, size_mb = model.measure_latency(records), ensemble_size_mb(weights, search)
    return selection_of(
        weights, search, model, latency, rejected=rejected, layers=layers, tuning=tuning
    )


Choose = Callable[[Sequence[TrialResult]], tuple[dict[str, float], bool]]


def _layered_choice(
    search: SearchResult,
    admissible: Sequence[TrialResult],
    chosen: Choose,
    *,
    score: Score,
    greater: bool,
    noise: Noise,
) -> tuple[
    dict[str, float], bool, Sequence[TrialResult], dict[str, Any] | None, dict[str, Any] | None
]:
    """The ensemble, whether the p50 target capped it, the pool it came from (best first),
    and the stacking holdout's two checks: the default configurations instead of tuned ones
    where they beat them beyond noise (``judge_tuning``), then a second layer only where it
    beats that first layer's choice beyond noise (``judge_second_layer``)."""
    first = [t for t in admissible if t.candidate.layer == 1]
    second = [t for t in admissible if t.candidate.layer == 2]
    if not first:  # only second-layer trials meet the limits
        return (*chosen(admissible), admissible, None, None)
    first_only, capped = chosen(first)
    tuning = None
    defaults = [t for t in first if untuned(t, search)]
    tuned = {n for n in first_only if not untuned(search.by_name(n), search)}
    if defaults and tuned and search.prepared.holdout is not None:
        default_only, default_capped = chosen(defaults)
        first_only, tuning = judge_tuning(
            search,
            with_tuned=first_only,
            defaults=default_only,
            score=score,
            greater=greater,
            noise=noise,
        )
        if not tuning["kept"]:
            first, capped = defaults, default_capped
    if not second:
        return first_only, capped, first, None, tuning
    kept_first = {t.candidate.name for t in first}
    pool = [t for t in admissible if t.candidate.name in kept_first or t.candidate.layer == 2]
    with_second, second_capped = chosen(pool)
    weights, layers = judge_second_layer(
        search,
        with_second=with_second,
        first_only=first_only,
        score=score,
        greater=greater,
        noise=noise,
    )
    if layers["kept"]:
        return weights, second_capped, pool, layers, tuning
    return weights, capped, first, layers, tuning


def untuned(trial: TrialResult, search: SearchResult) -> bool:
    """Whether ``trial`` runs a default configuration: the portfolio's, or a seed copy of
    one (tuned ones were chosen by their scores on the search's own folds)."""
    base = trial.candidate.extra.get("seed_of")
    origin = search.by_name(base).candidate.origin if base else trial.candidate.origin
    return origin == "portfolio"


def judge_tuning(
    search: SearchResult,
    *,
    with_tuned: dict[str, float],
    defaults: dict[str, float],
    score: Score,
    greater: bool,
    noise: Noise,
) -> tuple[dict[str, float], dict[str, Any]]:
    """The first layer's ensemble to keep, and the check that chose it, on the stacking
    holdout: the greedy ensemble with tuned configurations is kept unless the ensemble of
    default configurations beats it there by more than one standard error of the
    difference. Tuning chooses among tens of configurations by their out-of-fold scores on
    one set of rows, so the best of them is flattered there (the winner's curse), and the
    holdout's rows decided none of them. The burden of proof is on the defaults: the
    out-of-fold scores read every training row, the holdout a ninth of them. The other way
    round (tuning kept only when it won beyond noise) shipped the defaults on four of the
    five tasks of its A/B at 300 s, and scored worse on three of them (docs/benchmarks.md)."""
    on_defaults, on_tuned, spread, rows = _on_holdout(search, defaults, with_tuned, score, noise)
    kept = not wins_beyond_noise(on_defaults, on_tuned, spread, greater=greater)
    tuning = {
        "holdout_rows": rows,
        "defaults": {"choice": _named(defaults), "score": on_defaults},
        "with_tuned": {"choice": _named(with_tuned), "score": on_tuned},
        "kept": bool(kept),
        "noise": spread,
    }
    return (with_tuned if kept else defaults), tuning


def selection_of(
    weights: dict[str, float],
    search: SearchResult,
    model: Model,
    latency: dict[str, float],
    *,
    rejected: list[str],
    layers: dict[str, Any] | None,
    tuning: dict[str, Any] | None = None,
) -> Selection:
    """The selection of ``weights``' trials as ``model`` (its measured ``latency``): their
    files' size and their blended out-of-fold predictions."""
    return Selection(
        weights=weights,
        model=model,
        latency=latency,
        size_mb=ensemble_size_mb(weights, search),
        oof=np.asarray(blend(weights, search.by_name, holdout=False)),
        rejected=rejected,
        layers=layers,
        tuning=tuning,
    )


def wins_beyond_noise(
    challenger: float, incumbent: float, noise: float | None, *, greater: bool
) -> bool:
    """The one-standard-error rule: whether ``challenger`` beats ``incumbent`` by more than
    ``noise``, one standard error of their paired difference (never when it is undefined):
    where a few hundred rows cannot tell them apart, the simpler model stays."""
    gain = (challenger - incumbent) if greater else (incumbent - challenger)
    return noise is not None and gain > noise


def _admissible(search: SearchResult, limits: Limits) -> tuple[list[TrialResult], list[str]]:
    """The measured trials that each meet the limits (the baseline never one), best first,
    and why the others do not; a TrainingError when no real trial is left."""
    ranked = [t for t in search.ranked() if t.latency is not None and t.size_mb is not None]
    rejected: list[str] = []
    admissible: list[TrialResult] = []
    for trial in ranked:
        assert trial.latency is not None
        assert trial.size_mb is not None
        why = limits.breach(trial.latency["p99_us"], trial.size_mb)
        if why is None:
            admissible.append(trial)
        else:
            rejected.append(f"{trial.candidate.name}: {why}")
    real_finished = [t for t in ranked if t.candidate.family != "baseline"]
    if not real_finished:
        raise TrainingError(
            "no model beyond the baseline finished within the time budget",
            field="constraints.time_budget",
            hint=_more_time(search),
        )
    # The baseline is the yardstick, never a member: blended in, it only shifts each fold's
    # predictions by that fold's prior, which can flatter a pooled out-of-fold score.
    admissible = [t for t in admissible if t.candidate.family != "baseline"]
    if not admissible:
        # Only the baseline fits: never hand that back as if it were a model.
        raise TrainingError(
            "no candidate meets the constraints: " + "; ".join(rejected),
            field="constraints",
            hint=_closest(real_finished, limits),
        )
    return admissible, rejected


@dataclass
class _Greedy:
    """Greedy ensemble selection over trials' out-of-fold predictions, within the limits."""

    search: SearchResult
    limits: Limits
    score: Score
    greater: bool
    seed: int

    def __call__(
        self, admissible: Sequence[TrialResult], *, target: bool = True
    ) -> dict[str, float]:
        return self.choose(admissible, target=target)[0]

    def choose(
        self, admissible: Sequence[TrialResult], *, target: bool = True
    ) -> tuple[dict[str, float], bool]:
        """The ensemble, and whether the p50 target refused a combination that the other
        limits allowed (only then can the target have changed the choice)."""
        if len(admissible) == 1:
            return {admissible[0].candidate.name: 1.0}, False
        p99 = [t.latency["p99_us"] for t in admissible]  # type: ignore[index]
        size = [t.size_mb or 0.0 for t in admissible]
        p50 = [self.limits.shipped_p50_us(t) for t in admissible]
        bound = self.limits.p50_ms if target else None
        refused = False

        def fits(counts: Counter[int]) -> bool:
            nonlocal refused
            # Members' single-row times add up (an overestimate: shared plans run once).
            if self.limits.breach(sum(p99[i] for i in counts), sum(size[i] for i in counts)):
                return False
            if bound is None or len(counts) == 1 or sum(p50[i] for i in counts) <= bound * 1e3:
                return True
            refused = True
            return False

        predictions, truth = split_predictions(admissible, self.search.prepared)
        chosen = greedy_ensemble(
            predictions,
            truth,
            self.score,
            greater=self.greater,
            admissible=fits,
            seed=self.seed,
        )
        return {admissible[i].candidate.name: w for i, w in chosen.items()}, refused


def rechoose_within_target(
    search: SearchResult,
    limits: Limits,
    *,
    weights: Mapping[str, float],
    measured_p50_us: Mapping[str, float],
    score: Score,
    seed: int,
) -> dict[str, float]:
    """The greedy ensemble chosen again over ``weights``' trials only, each taking the
    single-row time ``measured_p50_us`` gives its refit model: what the p50 target admits
    when the estimate before the refit fell short. Members' times add up; the caller scales
    them for members run in turn (each evicts the others' trees from the CPU caches)."""
    greater = METRICS[search.metric].greater_is_better
    measured = replace(limits, measured_p50_us=dict(measured_p50_us))
    pool = [t for t in search.ranked() if t.candidate.name in weights]
    return _Greedy(search, measured, score, greater, seed).choose(pool)[0]


def _capped(
    weights: Mapping[str, float],
    greedy: _Greedy,
    admissible: Sequence[TrialResult],
    limits: Limits,
) -> str | None:
    """What the p50 target cost: the ensemble chosen within it beside the one without it,
    by their out-of-fold scores on the first fold split (the rows the greedy selection
    scored); None when the target changed nothing, or when the ensemble without it would
    fit it too (the target refused a step on the way, not that ensemble: a note would
    misstate it)."""
    free = greedy(admissible, target=False)
    if free == dict(weights):
        return None
    search = greedy.search
    validated = search.prepared.validated
    y = search.prepared.y[validated]

    def oof(w: Mapping[str, float]) -> float:
        return greedy.score(y, blend(w, search.by_name, holdout=False)[validated])

    def expected_ms(w: Mapping[str, float]) -> float:
        return sum(limits.shipped_p50_us(search.by_name(n)) for n in w) / 1e3

    if limits.p50_ms is None or expected_ms(free) <= limits.p50_ms:
        return None
    return (
        f"a larger ensemble: {len(free)} members, expected single-row p50 "
        f"{expected_ms(free):.2f} ms after the refit > target_latency_p50_ms {limits.p50_ms:g} "
        f"(out-of-fold {search.metric} {oof(free):.4g}, against {oof(weights):.4g} for the "
        f"{len(weights)} member(s) within the target); raise constraints.target_latency_p50_ms "
        "to allow it"
    )


def judge_second_layer(
    search: SearchResult,
    *,
    with_second: dict[str, float],
    first_only: dict[str, float],
    score: Score,
    greater: bool,
    noise: Noise,
) -> tuple[dict[str, float], dict[str, Any]]:
    """The ensemble to keep, and the check that chose it, on the stacking holdout, whose rows
    no model of either layer saw (their cross-validated scores cannot decide: the second
    layer's inputs came from the same folds). The ensemble with second-layer trials is kept
    only if it beats the first layer's alone by more than the noise of that difference (one
    standard error, by a paired bootstrap of the holdout's rows): the one-standard-error
    rule prefers the simpler model where a few hundred rows cannot tell them apart. On 169
    rows at 300 s, HMDA kept a second layer that won by 0.005 AUC there and lost 0.018 on
    the test rows."""
    uses_second = any(search.by_name(n).candidate.layer == 2 for n in with_second)
    first, second, spread, rows = _on_holdout(
        search, first_only, with_second, score, noise if uses_second else None
    )
    kept = wins_beyond_noise(second, first, spread, greater=greater)
    layers = {
        "holdout_rows": rows,
        "first_layer": {"choice": _named(first_only), "score": first},
        "with_second_layer": {"choice": _named(with_second), "score": second},
        "inputs": list(search.stack_inputs),
        "kept": bool(kept),
        "noise": spread,
    }
    return (with_second if kept else first_only), layers


def _on_holdout(
    search: SearchResult,
    incumbent: Mapping[str, float],
    challenger: Mapping[str, float],
    score: Score,
    noise: Noise | None,
) -> tuple[float, float, float | None, int]:
    """Both ensembles' scores on the stacking holdout, one standard error of their paired
    difference there (None without ``noise``), and the holdout's rows."""
    holdout = search.prepared.holdout
    assert holdout is not None
    truth = search.prepared.y[holdout]
    incumbent_pred = np.asarray(blend(incumbent, search.by_name, holdout=True))
    challenger_pred = np.asarray(blend(challenger, search.by_name, holdout=True))
    spread = noise(truth, incumbent_pred, challenger_pred) if noise is not None else None
    return score(truth, incumbent_pred), score(truth, challenger_pred), spread, len(holdout)


def _named(weights: Mapping[str, float]) -> str:
    if len(weights) == 1:
        return next(iter(weights))
    return "ensemble(" + ", ".join(f"{n}×{w:.2f}" for n, w in weights.items()) + ")"


def _closest(ranked: Sequence[TrialResult], limits: Limits) -> str:
    """Which candidate comes closest to the limits, and what it would need."""

    def excess(t: TrialResult) -> float:
        assert t.latency is not None
        assert t.size_mb is not None
        over = 0.0
        if limits.p99_ms is not None:
            over = max(over, t.latency["p99_us"] / 1000.0 / limits.p99_ms)
        if limits.size_mb is not None:
            over = max(over, t.size_mb / limits.size_mb)
        return over

    best = min(ranked, key=excess)
    assert best.latency is not None
    assert best.size_mb is not None
    needs = []
    if limits.p99_ms is not None and best.latency["p99_us"] / 1000.0 > limits.p99_ms:
        needs.append(f"max_latency_p99_ms >= {math.ceil(best.latency['p99_us']) / 1000.0:g}")
    if limits.size_mb is not None and best.size_mb > limits.size_mb:
        needs.append(f"max_model_size_mb >= {best.size_mb:.3g}")
    return (
        f"the closest candidate is {best.candidate.name} (cv score {best.cv_score:.4f}); it "
        f"would need {' and '.join(needs)}"
    )


def _more_time(search: SearchResult) -> str:
    tried = [t for t in search.trials if t.candidate.family != "baseline"]
    if not tried:
        return "give the search more time (constraints.time_budget or --time-budget)"
    first = tried[0]
    return (
        f"the first candidate, {first.candidate.name}, {first.status} after "
        f"{first.fit_seconds:.1f} s ({first.message or 'no message'}); raise the time budget "
        f"to at least {max(2 * first.fit_seconds, 10):.0f} s, or check the data findings"
    )
