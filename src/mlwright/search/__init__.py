"""Time-budgeted model search: portfolio, Optuna, k-fold bagging, ensembles, constraints."""

from mlwright.search._ensemble import greedy_ensemble
from mlwright.search._executor import (
    Executor,
    InlineExecutor,
    ProcessExecutor,
    default_workers,
    make_executor,
)
from mlwright.search._models import bagged_members, refit_members, refit_seconds
from mlwright.search._prepare import (
    FoldFiles,
    Prepared,
    SearchSplit,
    carve_holdout,
    plan_key,
    prepare,
)
from mlwright.search._scale import SearchScale, plan_scale, sample_rows
from mlwright.search._search import (
    Candidate,
    FoldScorer,
    SearchResult,
    SearchSettings,
    TrialResult,
    blend,
    portfolio,
    rank_trials,
    run_search,
)
from mlwright.search._select import (
    TRIAL_LATENCY_CALLS,
    Limits,
    Noise,
    Selection,
    ensemble_model,
    ensemble_size_mb,
    measure_trials,
    pareto_front,
    rechoose_within_target,
    select,
    with_inputs,
)
from mlwright.search._stack import fit_stacker, stack
from mlwright.search._trial import TrialOutcome, TrialSpec, read_outcome, run_trial

__all__ = [
    "TRIAL_LATENCY_CALLS",
    "Candidate",
    "Executor",
    "FoldFiles",
    "FoldScorer",
    "InlineExecutor",
    "Limits",
    "Noise",
    "Prepared",
    "ProcessExecutor",
    "SearchResult",
    "SearchScale",
    "SearchSettings",
    "SearchSplit",
    "Selection",
    "TrialOutcome",
    "TrialResult",
    "TrialSpec",
    "bagged_members",
    "blend",
    "carve_holdout",
    "default_workers",
    "ensemble_model",
    "ensemble_size_mb",
    "fit_stacker",
    "greedy_ensemble",
    "make_executor",
    "measure_trials",
    "pareto_front",
    "plan_key",
    "plan_scale",
    "portfolio",
    "prepare",
    "rank_trials",
    "read_outcome",
    "rechoose_within_target",
    "refit_members",
    "refit_seconds",
    "run_search",
    "run_trial",
    "sample_rows",
    "select",
    "stack",
    "with_inputs",
]
