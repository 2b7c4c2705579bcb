"""Time-budgeted model search over the registered learners."""

from mlwright.search._search import (
    Candidate,
    SearchResult,
    TrialResult,
    candidates_for,
    fit_final,
    run_search,
)

__all__ = [
    "Candidate",
    "SearchResult",
    "TrialResult",
    "candidates_for",
    "fit_final",
    "run_search",
]
