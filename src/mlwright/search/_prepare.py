"""Per-fold feature matrices, fitted and written once, read by every trial.

For each feature style the search needs and each cross-validation fold, a FeaturePlan is
fitted on the fold's training rows only and the fold's matrices are written as ``.npy``
files. Trials (in worker processes) memory-map them, so the data is computed once and
shared without copying it through pipes; a distributed executor could read them from
shared storage the same way.

With a stacking holdout (``holdout``: rows of the search set in no fold), each fold's plan
also transforms those rows, so that every trial predicts them with each fold model: the rows
on which a second layer is judged against the first (none of their models saw them).

With early-stopping rows (``stopping``: per fold, some of its training rows), a learner that
stops early (boosting rounds, network epochs) fits the fold's other training rows and stops
on these: its out-of-fold predictions then come from a model whose stopping point no
validated row chose. Stopping on the validated rows themselves made every such score
optimistic (a best iteration picked on the rows it is scored on), and tuning chased it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from mlwright.features import FeatureKind, FeaturePlan, FeatureStyle

# Below this many early-stopping rows a fold keeps stopping on its validated rows.
MIN_STOPPING_ROWS = 20


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
    stop: str = ""  # a boolean mask over X_fit's rows: those early stopping reads; "" if none

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.load(self.X_fit, mmap_mode="r"),
            np.load(self.y_fit),
            np.load(self.X_valid, mmap_mode="r"),
            np.load(self.y_valid),
        )

    def load_holdout(self) -> np.ndarray | None:
        return np.load(self.X_holdout, mmap_mode="r") if self.X_holdout else None

    def load_stop(self) -> np.ndarray | None:
        return np.load(self.stop) if self.stop else None


def fold_rounds(best: int, fitted_rows: int, fold_rows: int) -> int:
    """The rounds a fold model that stopped at ``best`` after fitting ``fitted_rows`` of its
    fold's ``fold_rows`` training rows stands for: ``best * fold_rows / fitted_rows``. The
    refit's factor from fold to all rows (``refit_rounds_factor``) was set when fold models
    fitted every training row; leaving out the stopping rows must not shorten the refit."""
    return max(1, round(best * fold_rows / max(fitted_rows, 1)))


def stopping_split(
    files: FoldFiles, X_fit: np.ndarray, y_fit: np.ndarray, X_valid: np.ndarray, y_valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For a learner that stops early: the rows it fits and the rows it stops on (the
    fold's early-stopping rows, else, for a fold too small to spare them, its validated
    rows)."""
    stop = files.load_stop()
    if stop is None:
        return np.asarray(X_fit), y_fit, np.asarray(X_valid), y_valid
    return np.asarray(X_fit[~stop]), y_fit[~stop], np.asarray(X_fit[stop]), y_fit[stop]


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
    # fitted_rows' answers: every finished trial asks them, and each reads a stop mask.
    _fitted: dict[tuple[str, int], tuple[int, int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def n_rows(self) -> int:
        return len(self.y)

    def fitted_rows(self, style: str, fold: int) -> tuple[int, int]:
        """How many of ``fold``'s training rows a learner that stops early fits, and how
        many the fold has (the difference: its early-stopping rows)."""
        if (style, fold) not in self._fitted:
            fold_rows = len(self.folds[fold][0])
            stop = self.files[style][fold].load_stop()
            fitted = fold_rows - (0 if stop is None else int(stop.sum()))
            self._fitted[style, fold] = fitted, fold_rows
        return self._fitted[style, fold]

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
    # Per fold, the positions of its training rows that early stopping reads (see the
    # module's docstring); None: learners stop on the validated rows.
    stopping: Sequence[np.ndarray] | None = None


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
                stop=_write_stop(folder, fit_rows, split.stopping, i),
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
    folds split (see ``_carve``; the holdout of a time split lies after every fold's
    training rows). A fold left with nothing to validate is dropped."""
    rows = np.unique(np.concatenate([v for _, v in folds]))
    size = max(1, round(len(rows) * fraction))
    # not the sample's own draw
    holdout = _carve(
        rows, size, y, classification=classification, seed=seed + 7919, groups=groups, times=times
    )
    kept = [(f[~np.isin(f, holdout)], v[~np.isin(v, holdout)]) for f, v in folds]
    return SearchSplit([(f, v) for f, v in kept if len(v) and len(f)], holdout)


def stopping_rows(n_fit: int) -> int:
    """How many of a fold's training rows early stopping reads: a fifth of them up to 500,
    then a tenth or 500, whichever is more; none below MIN_STOPPING_ROWS (the fold's
    validated rows stop it then)."""
    size = round(min(0.2 * n_fit, max(0.1 * n_fit, 500)))
    return size if size >= MIN_STOPPING_ROWS else 0


def carve_stopping(
    split: SearchSplit,
    y: np.ndarray,
    *,
    classification: bool,
    seed: int,
    groups: np.ndarray | None = None,
    times: np.ndarray | None = None,
) -> SearchSplit:
    """``split`` with early-stopping rows carved from each fold's training rows the way the
    folds split (see ``_carve``: for a time split, the latest training rows)."""
    stopping = []
    for i, (fit, _) in enumerate(split.folds):
        size = stopping_rows(len(fit))
        stop = np.array([], dtype=np.int64)
        if size:
            stop = _carve(
                fit,
                size,
                y,
                classification=classification,
                seed=seed + 104_729 + i,
                groups=groups,
                times=times,
            )
        if classification:  # a class left only in the stopping rows would go unfitted
            labels = np.asarray(y)
            rest = labels[np.setdiff1d(fit, stop)]
            stop = stop[np.isin(labels[stop], rest)]
        stopping.append(stop)
    return SearchSplit(split.folds, split.holdout, stopping)


def _carve(
    rows: np.ndarray,
    size: int,
    y: np.ndarray,
    *,
    classification: bool,
    seed: int,
    groups: np.ndarray | None,
    times: np.ndarray | None,
) -> np.ndarray:
    """Sorted positions of ``size`` of ``rows``, the way the folds split: the latest rows
    for a time split (``times``: each row's time), whole groups drawn at random for a group
    split (``groups``: each row's group), else a seeded sample (stratified by class)."""
    if times is not None:
        order = rows[np.argsort(np.asarray(times)[rows], kind="stable")]
        return np.sort(order[-size:])
    if groups is not None:
        return _whole_groups(rows, np.asarray(groups), size, seed)
    from mlwright.search._scale import sample_rows

    picked = sample_rows(np.asarray(y)[rows], size, classification=classification, seed=seed)
    return np.sort(rows[picked])


def _write_stop(
    folder: Path, fit_rows: np.ndarray, stopping: Sequence[np.ndarray] | None, fold: int
) -> str:
    """Write the fold's early-stopping mask over its training rows; "" when it has none."""
    if stopping is None or not len(stopping[fold]):
        return ""
    path = folder / "stop.npy"
    np.save(path, np.isin(fit_rows, stopping[fold]))
    return str(path)


def _whole_groups(rows: np.ndarray, groups: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Rows of groups drawn in a seeded order until they hold at least ``size`` rows."""
    names, inverse = np.unique(groups[rows], return_inverse=True)
    counts = np.bincount(inverse, minlength=len(names))
    order = np.random.default_rng(seed).permutation(len(names))
    taken = order[: int(np.searchsorted(np.cumsum(counts[order]), size)) + 1]
    return np.sort(rows[np.isin(inverse, taken)])
