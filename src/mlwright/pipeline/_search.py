"""The search, measure and select stages: fit candidates on the folds within the budget,
time each finished one on single rows, and choose the model (or ensemble) to evaluate."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlwright.evaluate import defined, paired_noise, score
from mlwright.learners import cuda_available, learner_class
from mlwright.pipeline._budget import MEASURE_SHARE, refit_reserve, refuse_overrun, search_seconds
from mlwright.pipeline._prepare import Framed, ModelFactory, workers
from mlwright.pipeline._runner import Run
from mlwright.pipeline._stacking import STACK_SKIPPED, new_splits
from mlwright.search import (
    Limits,
    Noise,
    Prepared,
    SearchResult,
    SearchSettings,
    Selection,
    make_executor,
    measure_trials,
    run_search,
    select,
)


def use_gpu(run: Run) -> bool:
    """Whether XGBoost and CatBoost train on a GPU: asked for, and there is one."""
    spec = run.spec
    gpu = spec.search.gpu and cuda_available()
    if spec.search.gpu and not gpu:
        run.progress.log("search.gpu: no CUDA GPU here; XGBoost and CatBoost train on the CPU")
    return gpu


# The families' warm-up (``Learner.warm_up``: PyTorch's import and first step, about 3 s)
# runs beside a search at least this long, which it then outlasts; a shorter search leaves
# it to the refit, rather than have it share the interpreter with what is timed next.
WARM_UP_SEARCH_SECONDS = 20.0


def warm_up(families: Sequence[str], search_seconds: float) -> threading.Thread | None:
    """Start the families' warm-up in a thread when the search is long enough to hide it;
    the thread, to be joined before anything is timed, or None."""
    if search_seconds < WARM_UP_SEARCH_SECONDS:
        return None

    def warm() -> None:
        for family in families:
            with contextlib.suppress(Exception):  # the fit itself reports what is wrong
                learner_class(family).warm_up()

    thread = threading.Thread(target=warm, name="mlwright-warm-up")
    thread.start()
    return thread


def _refit_reserve(run: Run, prepared: Prepared, framed: Framed) -> Any:
    """The seconds the refit needs kept free, as a function of the trials (``refit_reserve``):
    the search stops for it, and measuring leaves it."""
    spec = run.spec
    return refit_reserve(
        spec, prepared, framed.frame.height, run.budget - run.finish, workers(spec, prepared)
    )


def search(
    run: Run, framed: Framed, prepared: Prepared, work: Path, *, resume: bool, gpu: bool
) -> SearchResult:
    """Every candidate the budget (or ``max_trials``) allows, scored on the folds; the
    finished trials are journaled under ``work`` for ``--resume``."""
    spec = run.spec
    metric = spec.task.metric
    budget, finish = run.budget, run.finish
    deadline = run.started + search_seconds(budget - finish)
    settings = SearchSettings(
        gpu=gpu,
        families=framed.families,
        metric=metric,
        seed=spec.seed,
        deadline=deadline,
        reserve=_refit_reserve(run, prepared, framed),
        max_trials=spec.search.max_trials,
        tune=spec.search.tune,
        stack=prepared.holdout is not None,
        repeats=spec.search.repeats,
        resplit=new_splits(spec, framed, work, prepared.holdout),
    )
    warming = warm_up(framed.families, deadline - time.monotonic())
    result = run_search(
        prepared=prepared,
        problem_type=spec.resolved_problem_type,
        settings=settings,
        scorer=lambda truth, pred: score(metric, truth, pred) if defined(metric, truth) else None,
        journal=work / "trials",
        executor=make_executor(workers(spec, prepared)),
        resume=resume,
        progress=run.progress,
    )
    if warming is not None:
        warming.join()
    if spec.search.max_trials is None:
        overrun = refuse_overrun(result, run.started, budget, finish)
        if overrun:
            run.progress.log(overrun)
    return result


def measure(run: Run, searched: SearchResult, make_model: ModelFactory, framed: Framed) -> None:
    """Each finished candidate's single-row latency and size, best first, in at most half of
    what is left once the refit's reserve is kept (choosing and the holdout follow too); the
    ones left unmeasured cannot be chosen, and the run says so. Without the reserve kept,
    measuring took 35 s of ames' 66 s at 300 s, and the refit (expected about 37 s) was
    skipped: the bagged fold models shipped at 6 ms a row."""
    step = time.monotonic()
    reserve = _refit_reserve(run, searched.prepared, framed)
    kept = reserve(searched.trials, (), ()) if reserve is not None else 0.0
    share = max(run.clock.end - step - kept, 0.0)
    unmeasured = measure_trials(
        searched, make_model, framed.records, deadline=step + MEASURE_SHARE * share
    )
    if unmeasured:
        total = len(searched.ranked())
        reason = (
            f"only the best {total - len(unmeasured)} of the {total} finished candidates "
            f"were measured in half of the time left once the refit's {kept:.1f} s were "
            f"kept ({share:.1f} s); the others could not be chosen"
        )
        run.skipped["measuring every candidate"] = reason
        run.progress.log(f"not measured: {reason}")


def limits(run: Run) -> Limits:
    """The spec's constraints on the served model."""
    constraints = run.spec.constraints
    return Limits(
        constraints.max_latency_p99_ms,
        constraints.max_model_size_mb,
        p50_ms=constraints.target_latency_p50_ms,
        refit=run.spec.validation.refit,
    )


def noise(run: Run) -> Noise:
    """The noise of a paired difference in the spec's metric (seeded by the spec)."""
    metric, seed = run.spec.task.metric, run.spec.seed
    return lambda truth, first, second: paired_noise(metric, truth, first, second, seed=seed)


def choose(run: Run, searched: SearchResult, make_model: ModelFactory, framed: Framed) -> Selection:
    """The best candidate or ensemble within the constraints, on the folds' predictions."""
    metric = run.spec.task.metric
    selection = select(
        searched,
        limits=limits(run),
        ensemble=run.spec.search.ensemble,
        score=lambda truth, pred: score(metric, truth, pred),
        make_model=make_model,
        records=framed.records,
        seed=run.spec.seed,
        noise=noise(run),
    )
    for note in selection.rejected:
        run.progress.log(f"constraint: rejected {note}")
    if selection.tuning is not None:
        run.progress.log(tuning_verdict(selection.tuning, metric))
    if selection.layers is not None:
        run.progress.log(second_layer_verdict(selection.layers, metric))
    over = stacks_over_latency(searched, selection, run.spec.constraints.max_latency_p99_ms)
    if over is not None:
        run.skipped[STACK_SKIPPED] = over
        run.progress.log(f"{STACK_SKIPPED} not kept: {over}")
    return selection


def stacks_over_latency(
    searched: SearchResult, selection: Selection, p99_ms: float | None
) -> str | None:
    """What a second layer would cost, when every stack the search fitted is slower than
    ``constraints.max_latency_p99_ms`` (so the model has none), or None."""
    stacks = [t for t in searched.ranked() if t.candidate.layer == 2 and t.latency is not None]
    if p99_ms is None or not stacks:
        return None
    if any(t.latency["p99_us"] / 1000.0 <= p99_ms for t in stacks):  # type: ignore[index]
        return None  # some stack met the bound: the choice weighed it on its score
    fastest = min(stacks, key=lambda t: t.latency["p99_us"])  # type: ignore[index]
    assert fastest.latency is not None
    return (
        f"{len(stacks)} second-layer model(s) were fitted, and none meets "
        f"constraints.max_latency_p99_ms = {p99_ms:g}: the fastest, {fastest.candidate.name} "
        f"over {len(fastest.candidate.inputs)} first-layer models, predicts one row in p99 "
        f"{fastest.latency['p99_us'] / 1000.0:.3g} ms; the model is the best first-layer "
        "choice within the bound"
    )


def second_layer_verdict(layers: dict[str, Any], metric: str) -> str:
    """One line on the stacking holdout's second-layer check (see ``holdout_verdict``)."""
    return holdout_verdict(
        layers,
        metric,
        "second layer",
        ("with_second_layer", "with it"),
        ("first_layer", "for the first layer alone"),
        "kept only when it wins",
    )


def tuning_verdict(tuning: dict[str, Any], metric: str) -> str:
    """One line on the stacking holdout's tuning check (see ``holdout_verdict``)."""
    return holdout_verdict(
        tuning,
        metric,
        "tuned configurations",
        ("with_tuned", "with them"),
        ("defaults", "for the default configurations alone"),
        "the defaults replace them only when they win",
    )


def holdout_verdict(
    check: dict[str, Any],
    metric: str,
    subject: str,
    challenger: tuple[str, str],
    incumbent: tuple[str, str],
    rule: str,
) -> str:
    """One line on a check of the stacking holdout: whether ``subject`` was kept, both
    ensembles' scores (``challenger`` and ``incumbent``: the check's key, then words), and
    the ``rule`` that decided."""
    won, lost = check[challenger[0]], check[incumbent[0]]
    verdict = "kept" if check["kept"] else "not kept"
    noise = check.get("noise")
    return (
        f"{subject} {verdict}: on the stacking holdout ({check['holdout_rows']} rows) "
        f"{metric} {won['score']:.4g} {challenger[1]} ({won['choice']}) against "
        f"{lost['score']:.4g} {incumbent[1]} ({lost['choice']})"
        + (
            ""
            if noise is None
            else f"; {rule} by more than ±{noise:.2g}, "
            "one standard error of that difference over the holdout's rows"
        )
    )
