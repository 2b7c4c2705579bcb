"""The recommender's time plan: a step it does not take says what budget would hold it."""

from __future__ import annotations

import re
import time
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mlwright._clock import Clock
from mlwright.recommend._fit import Budget


def _reserving(after: float) -> Any:
    return lambda params, trees: after


@given(
    budget=st.floats(5, 600),
    elapsed=st.floats(0, 1),
    seconds=st.floats(0.1, 300),
    after=st.floats(0, 300),
)
def test_the_budget_a_skipped_step_names_would_hold_it(
    budget: float, elapsed: float, seconds: float, after: float
) -> None:
    """With the named budget, the same plan leaves the step its seconds (the plan's margin
    for a busy machine included): the sentence never names a budget that would skip it too."""
    started = time.monotonic() - elapsed * budget
    plan = Budget(Clock(started, budget), reserve=_reserving(after))
    why = plan.too_long("the step", seconds, {}, None)
    named = int(re.search(r"a budget of about (\d+) s would hold them", why).group(1))  # type: ignore[union-attr]
    held = Budget(Clock(started, named), reserve=_reserving(after))
    assert held.left({}, None) >= seconds - 1e-3
