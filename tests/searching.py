"""Helpers for tests of the search: columns of ``synth.make_frame``, seeded random folds,
the ROC AUC scorer the pipeline would pass, and a bare search run over prepared data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from mlwright._progress import Silent
from mlwright.evaluate import defined, paired_noise, score
from mlwright.features import FeatureKind
from mlwright.pipeline import encode_target
from mlwright.search import (
    InlineExecutor,
    Limits,
    Prepared,
    SearchResult,
    SearchSettings,
    SearchSplit,
    prepare,
    run_search,
    select,
)
from mlwright.search._search import _Run
from mlwright.search._select import Selection
from synth import make_frame

COLUMNS: list[tuple[str, FeatureKind]] = [
    ("num", "numeric"),
    ("count", "numeric"),
    ("plan", "categorical"),
    ("vip", "boolean"),
]


def random_folds(n: int, k: int = 3, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` seeded random folds over ``n`` rows: (fitted positions, validated positions)."""
    order = np.random.default_rng(seed).permutation(n)
    return [(np.sort(np.setdiff1d(order, p)), np.sort(p)) for p in np.array_split(order, k)]


def binary_data(n: int) -> tuple[pl.DataFrame, np.ndarray]:
    """``synth.make_frame``'s binary table of ``n`` rows (seed 3) and its target codes."""
    frame = make_frame("binary", n=n, seed=3)
    y, _ = encode_target(frame["y"], "binary", "yes")
    return frame, y


def prepared_binary(
    root: Path,
    n: int,
    split: SearchSplit | Sequence[tuple[np.ndarray, np.ndarray]],
    columns: Sequence[tuple[str, FeatureKind]] = COLUMNS,
) -> Prepared:
    """``binary_data(n)`` prepared for the search in both feature styles, under ``root``."""
    frame, y = binary_data(n)
    return prepare(
        frame=frame,
        y=y,
        split=split,
        columns=columns,
        styles=["tree", "linear"],
        n_classes=2,
        seed=0,
        root=root / "data",
    )


def roc_auc(truth: np.ndarray, pred: np.ndarray) -> float | None:
    return score("roc_auc", truth, pred) if defined("roc_auc", truth) else None


def bare_run(prepared: Prepared, journal: Path, *, stack: bool = False) -> _Run:
    """A search's state over ``prepared`` with nothing run, its trials journaled under
    ``journal`` (for checking one of its steps on trials a real search finished)."""
    return _Run(
        prepared=prepared,
        problem_type="binary",
        settings=SearchSettings(
            families=["lightgbm"], metric="roc_auc", seed=0, deadline=None, stack=stack
        ),
        scorer=roc_auc,
        journal=journal,
        executor=InlineExecutor(),
        progress=Silent(),
    )


class LogLines:
    """A progress that draws nothing and keeps the search's log lines in ``lines``."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def stage(self, name: str, total: int | None = None) -> None: ...

    def advance(self, steps: int = 1, note: str = "") -> None: ...

    def log(self, message: str) -> None:
        self.lines.append(message)


def search_binary(
    prepared: Prepared, settings: SearchSettings, journal: Path, lines: list[str]
) -> SearchResult:
    """A binary search over ``prepared`` in this process, scored by ROC AUC, its log lines
    kept in ``lines``."""
    return run_search(
        prepared=prepared,
        problem_type="binary",
        settings=settings,
        scorer=roc_auc,
        journal=journal,
        executor=InlineExecutor(),
        progress=LogLines(lines),
    )


class StandInModel:
    """A model for ``select`` and ``measure_trials`` that predicts nothing: fast and small,
    whatever its members, so the choice rests on the trials' predictions and latencies."""

    def __init__(self, members: object = None, plans: object = None) -> None:
        self.members = members

    def measure_latency(self, records: object, calls: int = 200) -> dict[str, float]:
        return {"p50_us": 1.0, "p99_us": 1.0}

    def size_mb(self) -> float:
        return 0.0

    def set_stacker(self, stacker: object) -> None:
        self.stacker = stacker


def select_by_auc(
    searched: SearchResult, limits: Limits | None = None, *, ensemble: bool = True
) -> Selection:
    """``select`` on a binary search scored by ROC AUC, with stand-in models."""
    return select(
        searched,
        limits=limits or Limits(),
        ensemble=ensemble,
        score=lambda truth, pred: float(roc_auc(truth, pred) or 0.0),
        make_model=StandInModel,  # type: ignore[arg-type]
        records=[{}],
        seed=0,
        noise=lambda truth, a, b: paired_noise("roc_auc", truth, a, b, seed=0),
    )
