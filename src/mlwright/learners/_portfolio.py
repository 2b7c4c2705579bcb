"""The learned portfolio: each family's first configurations, chosen offline.

``benchmarks/portfolio.py`` fits every family's candidate configurations on a meta-suite of
public tasks (``benchmarks/meta_suite.txt``) and writes ``portfolio.json`` next to this
module: per family, an ordered list of configurations per problem type (``binary``,
``multiclass``, ``regression``), or one list for all of them (``any``). A family's
``default_configs`` uses that list when the file has one for the family and the problem
type, and its own hand-written configurations otherwise (and always without the file). An
empty list keeps the hand-written configurations for that type, where a shared list would
otherwise stand in: the script writes one when the learned list did not beat them on
held-out tasks. By default the script's lists start with the hand-written configurations
and the learned ones follow (the search runs three rounds up front and keeps the rest for
its anytime phase), so the file changes what a long run tries after them, not what a short
run starts with.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from mlwright.errors import ArtifactError

PORTFOLIO_FILE = Path(__file__).with_name("portfolio.json")
SHARED = "any"  # the key of a list that serves every problem type

# The portfolio ``learned_configs`` reads: a file, a ``families`` mapping, or None (the
# hand-written configurations). A context variable, so that ``use_portfolio`` changes it for
# one block of code only.
Source = Path | Mapping[str, Any] | None
_ACTIVE: ContextVar[Source] = ContextVar("portfolio", default=PORTFOLIO_FILE)


@contextmanager
def use_portfolio(source: Source) -> Iterator[None]:
    """Inside the block, read the learned portfolio from ``source``: a portfolio file, the
    ``families`` section itself, or None for none (``benchmarks/portfolio.py`` measures the
    hand-written configurations so, and each candidate through its family's adaptations)."""
    token = _ACTIVE.set(source)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def learned_configs(family: str, problem_type: str) -> list[dict[str, Any]] | None:
    """The learned configurations of ``family`` for ``problem_type``, best first; None when
    there is no portfolio file or it has no list for them."""
    source = _ACTIVE.get()
    if isinstance(source, Path):
        if not source.is_file():
            return None
        source = _read(str(source), source.stat().st_mtime_ns)
    if source is None:
        return None
    lists = source.get(family, {})
    configs = lists.get(problem_type, lists.get(SHARED))
    return [dict(c) for c in configs] if configs else None


@functools.lru_cache(maxsize=4)
def _read(path: str, mtime_ns: int) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The file's ``families`` section, checked (cached per path and modification time)."""
    try:
        families = json.loads(Path(path).read_text())["families"]
        for family, lists in families.items():
            for key, configs in lists.items():
                if not all(isinstance(c, dict) for c in configs):
                    raise TypeError(f"{family}.{key} is not a list of objects")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArtifactError(
            f"the learned portfolio {path} cannot be read: {exc}",
            field="portfolio.json",
            hint="recompute it with benchmarks/portfolio.py, or delete it to use the "
            "hand-written default configurations",
        ) from None
    return dict(families)
