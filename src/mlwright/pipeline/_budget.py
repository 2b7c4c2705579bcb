"""How a run's time budget is shared between its stages, and what is refused for it.

The budget is the wall clock of the whole run, from the command's start to the end of
registration (see ``mlwright._clock``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from mlwright._clock import Clock
from mlwright._progress import Progress
from mlwright.errors import TrainingError
from mlwright.learners import LearnerTask, learner_class
from mlwright.search import (
    Prepared,
    SearchResult,
    TrialResult,
    family_bests,
    portfolio,
    rank_trials,
    refit_seconds,
)
from mlwright.spec import TaskSpec

# What follows the search (measuring every candidate, choosing, evaluating on the holdout;
# then the analyses, which take what is left or are skipped) gets POST_SEARCH_SHARE of the
# budget plus POST_SEARCH_SECONDS, but at most MAX_POST_SEARCH_SHARE (so a fifth of budgets
# up to 60 s). Measuring, choosing and the holdout took 3.5 to 10.3 s at 60 s on the dev
# suite (the most for holdout predictions of 20 bagged boosting models on hotel_rates) and
# 11 to 15 s at 300 s: a longer search has more candidates, but not in proportion. With a
# tenth plus 6 s, 300 s runs ended 21 to 32 s early (docs/benchmarks.md, "A long
# budget's last seconds, and its ensemble's diversity").
# The search also keeps free the time a refit of its leaders would take (at most
# REFIT_SHARE of the budget): a refit model is one model per member instead of one per
# fold, faster to predict and trained on every row; a refit that needs more is skipped.
POST_SEARCH_SHARE = 0.05
POST_SEARCH_SECONDS = 9.0
MAX_POST_SEARCH_SHARE = 0.2
REFIT_SHARE = 0.35
REFIT_LEADERS = 3
# The search keeps this many times the refit's expected seconds free. A trial's allowance
# is set when it starts, from the reserve then; a slow trial finishing later raises the
# reserve, and the trials in flight still run to their allowances. On hotel_rates at 60 s
# the search ended 3.2 s past its deadline less a 13.7 s reserve, and the refit (expected
# 13.7 s, 13 s left) was skipped: the bagged fold models shipped at 5.4 ms a row.
REFIT_RESERVE_MARGIN = 1.25
MEASURE_SHARE = 0.5  # of the time left after the search, at most, for measuring trials
# Seconds of budget that must be left for the complexity ladder's linear step.
LINEAR_STEP_SECONDS = 2.0

# A run may end this share past its time budget; beyond it the budget was too small.
OVERRUN_ALLOWED = 0.10

# What follows the work is kept free at the end of the budget. Measured on the bundled
# examples (2 busy cores): the model card 0.4-1.6 s, saving under 0.1 s, registering
# 0.3-1.9 s once the MLflow store is open. Opening a new SQLite store (importing MLflow,
# Alembic's migrations) takes 2-11 s: it runs in a thread beside the search, which is
# longer on any budget that can hold a model, so it is not kept free as well.
CARD_SECONDS = 1.5
SAVE_SECONDS = 0.5
REGISTER_SECONDS = 1.5

# The least a recommender needs once the log is checked: coding it, popularity, scoring the
# held-out users and the fit on every interaction (about a second on movielens).
MIN_RECOMMEND_SECONDS = 1.0


def search_seconds(budget: float) -> float:
    """Seconds of a ``budget`` the search may use; the rest is for what follows it."""
    post = min(budget * MAX_POST_SEARCH_SHARE, budget * POST_SEARCH_SHARE + POST_SEARCH_SECONDS)
    return budget - post


def budget_for_search(seconds: float) -> float:
    """The smallest budget whose search may use ``seconds`` (the inverse of search_seconds)."""
    return min(
        (seconds + POST_SEARCH_SECONDS) / (1 - POST_SEARCH_SHARE),
        seconds / (1 - MAX_POST_SEARCH_SHARE),
    )


def finish_seconds(*, save: bool, register: bool) -> float:
    """Seconds kept free at the end of a run for writing the card, saving and registering."""
    return (CARD_SECONDS + SAVE_SECONDS if save else 0.0) + (REGISTER_SECONDS if register else 0.0)


def refit_growth(rows: int, prepared: Prepared) -> float:
    """How many times the rows of one fold fit a refit on ``rows`` rows sees: a fold fit
    saw (k-1)/k of the search's training rows."""
    k = len(prepared.folds)
    return rows / max(prepared.n_rows * (1 - 1 / max(k, 2)), 1)


def refit_reserve(
    spec: TaskSpec, prepared: Prepared, rows: int, budget: float, workers: int
) -> Callable[[Sequence[TrialResult], Sequence[float], Sequence[TrialResult]], float] | None:
    """Seconds the search keeps free for refitting its current leaders and the members of
    its latest greedy ensemble on ``rows`` rows, counting each running trial (by the seconds
    per fold it may take) as a leader. Without the members, an ensemble of seed copies and
    tuned trials outgrew the reserve, and its refit was skipped."""
    if not spec.validation.refit:
        return None
    growth = refit_growth(rows, prepared)

    def reserve(
        trials: Sequence[TrialResult], running: Sequence[float], members: Sequence[TrialResult]
    ) -> float:
        leaders = refit_leaders(rank_trials(trials, spec.task.metric))
        names = {t.candidate.name for t in leaders}
        leaders += [t for t in members if t.candidate.name not in names]
        needed = refit_seconds(leaders, growth, workers, running=running)
        # A refit that would need more than its share is skipped anyway: keep nothing for it.
        return needed * REFIT_RESERVE_MARGIN if needed <= budget * REFIT_SHARE else 0.0

    return reserve


def refit_leaders(ranked: Sequence[TrialResult]) -> list[TrialResult]:
    """The trials a refit is expected to need, of those ranked best first: the leaders, the
    best of each other family (ensembles take them for diversity), and the first-layer
    trials that second-layer ones among them read."""
    done = [t for t in ranked if t.candidate.family != "baseline"]
    leaders = done[:REFIT_LEADERS]
    leaders += family_bests(done, besides={t.candidate.family for t in leaders})
    wanted = {name for t in leaders for name in t.candidate.inputs}
    names = {t.candidate.name for t in leaders}
    return leaders + [t for t in done if t.candidate.name in wanted - names]


def first_candidate_seconds(
    families: Sequence[str], task: LearnerTask, *, rows: int, features: int, folds: int
) -> tuple[str, float]:
    """The search's first real candidate and its expected seconds for all folds, from its
    family's cost hint (the search has timed nothing yet)."""
    candidates = portfolio(families, task, rows)
    if not candidates:
        return "baseline", 0.0
    first = candidates[0]
    return first.name, learner_class(first.family).cost_hint(rows, features, task) * folds


def refuse_budget_up_front(work: Clock, *, first: tuple[str, float], folds: int) -> None:
    """Before any search: a budget that cannot hold what has run, the first candidate's
    expected fit and what follows the search (the card, saving and registering included) is
    refused now, saying what it would need, rather than after the time is spent."""
    elapsed = work.elapsed()
    name, seconds = first
    if search_seconds(work.budget - work.reserved) >= elapsed + seconds:
        return
    needed = math.ceil((budget_for_search(elapsed + seconds) + work.reserved) * 1.5)
    raise TrainingError(
        f"the time budget of {work.budget:g} s is too small to fit anything: starting, "
        f"loading and checking the data took {elapsed:.1f} s, the quickest candidate, {name}, "
        f"would take about {seconds:.1f} s for its {folds} folds, and the search is given "
        f"{max(search_seconds(work.budget - work.reserved), 0):.1f} s of the budget (the rest "
        f"is for measuring, choosing and the holdout{_what_follows(work)})",
        field="constraints.time_budget",
        hint=f"set constraints.time_budget (or --time-budget) to at least {max(needed, 5)} s, "
        "or use search.max_trials to bound the search by a trial count instead",
    )


def refuse_recommend_budget_up_front(clock: Clock) -> None:
    """A budget that cannot hold even a popularity recommender is refused before any fit."""
    if clock.left() >= MIN_RECOMMEND_SECONDS:
        return
    raise TrainingError(
        f"the time budget of {clock.budget:g} s is too small to fit a recommender: starting, "
        f"loading and checking the log took {clock.elapsed():.1f} s, the least recommender "
        f"(popularity alone) needs about {MIN_RECOMMEND_SECONDS:g} s more{_what_follows(clock)}",
        field="constraints.time_budget",
        hint="set constraints.time_budget (or --time-budget) to at least "
        f"{max(clock.budget_for(MIN_RECOMMEND_SECONDS * 2), 5)} s",
    )


def _what_follows(clock: Clock) -> str:
    if clock.reserved <= 0:
        return ""
    return f", and writing the card, saving and registering need about {clock.reserved:.1f} s"


def overrun_note(wall: float, budget: float) -> str | None:
    """A line saying by how much a run of ``wall`` seconds went past its budget, if it did."""
    if wall <= budget:
        return None
    return (
        f"the run took {wall:.1f} s: {wall - budget:.1f} s ({(wall - budget) / budget:.0%}) past "
        f"its time budget of {budget:g} s"
    )


def finish_clock(
    timings: dict[str, float], started: float, budget: float, progress: Progress
) -> float:
    """Record the run's wall time (registration included) and say if it overran."""
    wall = timings["wall"] = time.monotonic() - started
    overrun = overrun_note(wall, budget)
    if overrun is not None:
        progress.log(overrun)
    return wall


def refuse_overrun(
    search: SearchResult, started: float, budget: float, finish: float = 0.0
) -> str | None:
    """The first real candidate always runs to the end; if it took longer than the search's
    window of the budget (``finish`` seconds are still to come after the work), the budget
    was too small to fit anything: say so rather than hand back a model that broke the
    spec's time limit. A run that went over for other reasons (a busy machine slowing the
    work around a candidate that fitted its window) keeps its model; the line returned says
    by how much it will go over. The work before the search is not held against it here:
    ``refuse_budget_up_front`` refused the budgets it leaves no window in, and on a busy
    machine it is what grows (CI refused a 15 s run whose first candidate took 0.6 s of a
    9 s window, because starting and checking had taken twice as long as alone)."""
    elapsed = time.monotonic() - started
    if elapsed + finish <= budget * (1 + OVERRUN_ALLOWED):
        return None
    real = [t for t in search.trials if t.candidate.family != "baseline" and t.status != "skipped"]
    first = real[0] if real else search.baseline
    window = search_seconds(budget - finish)
    if first.fit_seconds <= window:
        return (
            f"the run will end about {elapsed + finish - budget:.1f} s past the {budget:g} s "
            f"budget, though its quickest candidate took {first.fit_seconds:.1f} s of the "
            f"search's {window:.1f} s: the machine may be busy"
        )
    # The budget whose search window would have held what ran before the search ends and
    # the first candidate again, with half as much to spare.
    wanted = elapsed - window + first.fit_seconds
    needed = math.ceil((budget_for_search(wanted) + finish) * 1.5)
    raise TrainingError(
        f"the time budget of {budget:g} s is too small to fit anything: the quickest candidate, "
        f"{first.candidate.name}, took {first.fit_seconds:.1f} s for its "
        f"{len(search.prepared.folds)} folds, more than the {max(window, 0):.1f} s the search "
        f"had of the budget, and the run had used {elapsed:.1f} s",
        field="constraints.time_budget",
        hint=f"set constraints.time_budget (or --time-budget) to at least {max(needed, 5)} s, "
        "or use search.max_trials to bound the search by a trial count instead",
    )
