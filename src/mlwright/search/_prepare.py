"""Per-fold feature matrices, fitted and written once, read by every trial.

For each feature style the search needs and each cross-validation fold, a FeaturePlan is
fitted on the fold's training rows only and the fold's matrices are written as ``.npy``
files. Trials (in worker processes) memory-map them, so the data is computed once and
shared without copying it through pipes; a distributed executor could read them from
shared storage the same way.

With a stacking holdout (``holdout``: rows of the search set in no fold), each fold's plan
also transforms those rows, so that every trial predicts them with each fold model: the rows
on which a second layer is judged against the first (none of their models saw them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from mlwright.features import FeatureKind, FeaturePlan, FeatureStyle


def plan_key(style: str, fold: int | None) -> str:
    """The name of a fitted plan: ``tree/fold0`` ... or ``tree/full``."""
    return f"{style}/full" if fold is None else f"{style}/fold{fold}"


@dataclass(frozen=True)
class FoldFiles:
    """Where one fold's matrices are, as plain strings (they cross process boundaries)."""

    X_fit: str
    y_fit: str
    X_valid: str
    y_valid: str
    X_holdout: str = ""  # the stacking holdout's rows through this fold's plan; "" if none

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.load(self.X_fit, mmap_mode="r"),
            np.load(self.y_fit),
            np.load(self.X_valid, mmap_mode="r"),
            np.load(self.y_valid),
        )

    def load_holdout(self) -> np.ndarray | None:
        return np.load(self.X_holdout, mmap_mode="r") if self.X_holdout else None


@dataclass
class Prepared:
    """The search's data: targets, folds, and per (style, fold) plans and files."""

    root: Path
    y: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    columns: list[tuple[str, FeatureKind]]
    n_classes: int
    plans: dict[str, FeaturePlan]
    files: dict[str, list[FoldFiles]]
    categorical: dict[str, tuple[int, ...]]
    n_features: dict[str, int]
    # Rows of the search set that no fold fits or validates: the stacking holdout.
    holdout: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return len(self.y)

    @property
    def validated(self) -> np.ndarray:
        """Rows that some fold validates (a time split never validates its first block)."""
        mask = np.zeros(self.n_rows, dtype=bool)
        for _, valid in self.folds:
            mask[valid] = True
        return mask


@dataclass(frozen=True)
class SearchSplit:
    """How the search set's rows are used: the cross-validation folds (positions fitted,
    positions validated), and the stacking holdout's positions (in no fold), if any."""

    folds: Sequence[tuple[np.ndarray, np.ndarray]]
    holdout: np.ndarray | None = None


def prepare(
    *,
    frame: pl.DataFrame,
    y: np.ndarray,
    split: SearchSplit | Sequence[tuple[np.ndarray, np.ndarray]],
    columns: Sequence[tuple[str, FeatureKind]],
    styles: Sequence[FeatureStyle],
    n_classes: int,
    seed: int,
    root: Path,
) -> Prepared:
    """Fit one plan per (style, fold) on the fold's training rows and write its matrices
    (and the stacking holdout's rows through the same plan: see ``carve_holdout``)."""
    if not isinstance(split, SearchSplit):
        split = SearchSplit(split)
    folds, holdout = split.folds, split.holdout
    root.mkdir(parents=True, exist_ok=True)
    prepared = Prepared(
        root=root,
        y=np.asarray(y),
        folds=[(np.asarray(f), np.asarray(v)) for f, v in folds],
        columns=list(columns),
        n_classes=n_classes,
        plans={},
        files={},
        categorical={},
        n_features={},
        holdout=None if holdout is None else np.asarray(holdout),
    )
    np.save(root / "y.npy", prepared.y)
    for style in dict.fromkeys(styles):
        prepared.files[style] = []
        for i, (fit_rows, valid_rows) in enumerate(prepared.folds):
            plan = FeaturePlan(columns, style, n_classes=n_classes, seed=seed)
            X_fit = plan.fit_transform(frame[fit_rows], prepared.y[fit_rows])
            X_valid = plan.transform(frame[valid_rows])
            folder = root / style / f"fold{i}"
            folder.mkdir(parents=True, exist_ok=True)
            files = FoldFiles(
                X_fit=str(folder / "X_fit.npy"),
                y_fit=str(folder / "y_fit.npy"),
                X_valid=str(folder / "X_valid.npy"),
                y_valid=str(folder / "y_valid.npy"),
                X_holdout="" if holdout is None else str(folder / "X_holdout.npy"),
            )
            if holdout is not None:
                np.save(files.X_holdout, plan.transform(frame[holdout]))
            np.save(files.X_fit, X_fit)
            np.save(files.y_fit, prepared.y[fit_rows])
            np.save(files.X_valid, X_valid)
            np.save(files.y_valid, prepared.y[valid_rows])
            (folder / "plan.json").write_text(json.dumps(plan.to_dict()))
            prepared.plans[plan_key(style, i)] = plan
            prepared.files[style].append(files)
            prepared.categorical[style] = tuple(plan.categorical_indices)
            prepared.n_features[style] = X_fit.shape[1]
    return prepared


def carve_holdout(
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    y: np.ndarray,
    *,
    fraction: float,
    classification: bool,
    seed: int,
    groups: np.ndarray | None = None,
    times: np.ndarray | None = None,
) -> SearchSplit:
    """A share of the rows taken out of every fold, as the stacking holdout, the way the
    folds split: a seeded sample (stratified by class) for random folds, whole groups drawn
    at random for a group split (``groups``: each row's group), the latest rows for a time
    split (``times``: each row's time; the holdout lies after every fold's training rows).
    A fold left with nothing to validate is dropped."""
    rows = np.unique(np.concatenate([v for _, v in folds]))
    size = max(1, round(len(rows) * fraction))
    if times is not None:
        order = rows[np.argsort(np.asarray(times)[rows], kind="stable")]
        holdout = np.sort(order[-size:])
    elif groups is not None:
        holdout = _whole_groups(rows, np.asarray(groups), size, seed)
    else:
        from mlwright.search._scale import sample_rows

        picked = sample_rows(
            np.asarray(y)[rows],
            size,
            classification=classification,
            seed=seed + 7919,  # not the sample's own draw
        )
        holdout = np.sort(rows[picked])
    kept = [(f[~np.isin(f, holdout)], v[~np.isin(v, holdout)]) for f, v in folds]
    return SearchSplit([(f, v) for f, v in kept if len(v) and len(f)], holdout)


def _whole_groups(rows: np.ndarray, groups: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Rows of groups drawn in a seeded order until they hold at least ``size`` rows."""
    names, inverse = np.unique(groups[rows], return_inverse=True)
    counts = np.bincount(inverse, minlength=len(names))
    order = np.random.default_rng(seed + 7919).permutation(len(names))
    taken = order[: int(np.searchsorted(np.cumsum(counts[order]), size)) + 1]
    return np.sort(rows[np.isin(inverse, taken)])
