"""k nearest neighbours on the linear feature style (imputed, standardised inputs).

The model is its training rows: at most ``max_rows`` of them (a seeded subsample beyond
that), saved with their targets in one ``.npz`` (float32 inputs; no pickle). Neighbours are
found by brute force, which in tens of dimensions beats scikit-learn's KD and ball trees
(measured: 20,000 rows x 30 features, one row: ~0.6 ms for a KD tree, ~0.1 ms here).

Finding them in two steps keeps it fast and exact:

1. A matrix product gives every stored row's squared distance up to a constant,
   ``|r|^2 - 2 r.x``, within a rounding error bounded by ``MARGIN * (p + 3) * eps * (R + |x|)^2``
   (``R`` the largest stored row norm, ``eps`` that of the dtype). Rows within that bound of
   the k-th smallest are the candidates: no row outside can be among the k nearest. A batch
   uses one float64 product; one row uses float32 blocks that BLAS keeps on the calling
   thread. A strided sample first gives a threshold that keeps ~3k rows, so the exact
   selection runs on few values.
2. The candidates' distances are computed directly, ``sum((r - x)^2)`` in float64, and the k
   smallest win, ties to the earlier stored row.

Step 2's per-pair arithmetic is the same for one row and for a batch, and both candidate sets
hold every row that can win, so ``predict_one`` and ``predict`` pick the same neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from mlwright.errors import (
    ArtifactError,
    InputError,
    SchemaMismatchError,
    SpecError,
    did_you_mean,
    list_choices,
)
from mlwright.learners._base import Learner, LearnerTask, probabilities_from_binary
from mlwright.learners._portfolio import learned_configs

DEFAULTS: dict[str, Any] = {
    "n_neighbors": 10,
    "weights": "distance",  # "uniform", or "distance": 1 / distance (exact matches only)
    "max_rows": 20_000,  # stored rows; more are subsampled (seeded)
}
WEIGHTS = ("uniform", "distance")
FILE = "knn.npz"
FORMAT_VERSION = 1
# Rounding error of the matrix-product distances, in units of eps * (R + |x|)^2, with room
# to spare (the bound is about 6p + 14 for p features; see the module docstring).
MARGIN = 16.0
SAMPLE_FROM_ROWS = 4_096  # from this many stored rows, one row's selection samples first
SAMPLE_SIZE = 512
BLOCK_CELLS = 8_192  # OpenBLAS runs a matrix-vector product under 9,216 cells on one thread
BATCH_CELLS = 1 << 22  # query rows x stored rows per matrix product (32 MB of float64)


class _Index:
    """The stored rows prepared for search."""

    def __init__(self, X: np.ndarray, n_neighbors: int):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        m, p = self.X.shape
        sq = np.einsum("ij,ij->i", self.X, self.X)
        # [-2 r, |r|^2] . [x, 1] = |r|^2 - 2 r.x: one product gives the ranking distances.
        self.augmented = np.ascontiguousarray(np.column_stack([-2.0 * self.X, sq]))
        # For one row, the same in float32 blocks small enough that BLAS runs each on the
        # calling thread: a threaded matrix-vector product waits for a second core, which on
        # a busy machine costs milliseconds.
        per_block = max(1, BLOCK_CELLS // (p + 1))
        n_blocks = -(-m // per_block)
        blocks = np.zeros((n_blocks * per_block, p + 1), dtype=np.float32)
        blocks[:m] = self.augmented
        self.blocks = blocks.reshape(n_blocks, per_block, p + 1)
        self.m = m
        self.radius = float(np.sqrt(sq.max()))
        self.margin64 = MARGIN * (p + 3) * float(np.finfo(np.float64).eps)
        self.margin32 = MARGIN * (p + 3) * float(np.finfo(np.float32).eps)
        self.k = min(n_neighbors, m)
        self.stride = max(1, m // SAMPLE_SIZE)
        n_sample = len(range(0, m, self.stride))
        self.sample_rank = min(n_sample - 1, -(-3 * self.k // self.stride) + 2)
        self.sampled = m >= SAMPLE_FROM_ROWS and self.sample_rank * self.stride < m // 4

    def neighbours_one(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices, squared distances) of the k nearest stored rows, nearest first."""
        xa = np.empty(x.shape[0] + 1, dtype=np.float32)
        xa[:-1] = x
        xa[-1] = 1.0
        a = np.matmul(self.blocks, xa).reshape(-1)[: self.m]
        k = self.k
        margin = np.float32(self.margin32 * (self.radius + math.sqrt(float(x @ x))) ** 2)
        cand: np.ndarray | None = None
        if self.sampled:
            tau = np.partition(a[:: self.stride], self.sample_rank)[self.sample_rank]
            cand = np.flatnonzero(a <= tau)
            if cand.size >= k:
                near = a[cand]
                limit = np.partition(near, k - 1)[k - 1] + margin
                cand = cand[near <= limit] if limit <= tau else np.flatnonzero(a <= limit)
            else:
                cand = None
        if cand is None:
            cand = np.flatnonzero(a <= np.partition(a, k - 1)[k - 1] + margin)
        if cand.size < k:  # float32 overflow on an extreme input: rank every row exactly
            cand = np.arange(self.m)
        diff = self.X[cand] - x
        d2 = (diff * diff).sum(axis=1)
        order = np.argsort(d2, kind="stable")[:k]
        return cand[order], d2[order]

    def neighbours(self, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices, squared distances), each (n, k), for every row of ``Q``."""
        b = Q.shape[0]
        k = self.k
        scores = np.column_stack([Q, np.ones(b)]) @ self.augmented.T
        margin = self.margin64 * (self.radius + np.sqrt(np.einsum("ij,ij->i", Q, Q))) ** 2
        if self.sampled:
            tau = np.partition(scores[:, :: self.stride], self.sample_rank, axis=1)[
                :, self.sample_rank
            ]
            rows, cols = np.nonzero(scores <= tau[:, None])
            vals = scores[rows, cols]
            counts = np.bincount(rows, minlength=b)
            starts = np.cumsum(counts) - counts
            kth = np.empty(b)
            ok = counts >= k
            by_value = np.lexsort((vals, rows))
            kth[ok] = vals[by_value[starts[ok] + k - 1]]
            kth[~ok] = np.partition(scores[~ok], k - 1, axis=1)[:, k - 1]
            limit = kth + margin
            # Rows whose limit lies within the first cut keep a subset of its candidates;
            # the others (rare) look at every stored row again.
            inside = ok & (limit <= tau)
            keep = inside[rows] & (vals <= limit[rows])
            redo = np.flatnonzero(~inside)
            more_rows, more_cols = np.nonzero(scores[redo] <= limit[redo, None])
            rows = np.concatenate([rows[keep], redo[more_rows]])
            cols = np.concatenate([cols[keep], more_cols])
        else:
            limit = np.partition(scores, k - 1, axis=1)[:, k - 1] + margin
            rows, cols = np.nonzero(scores <= limit[:, None])
        diff = self.X[cols] - Q[rows]
        d2 = (diff * diff).sum(axis=1)
        order = np.lexsort((cols, d2, rows))  # by row, then distance, then stored index
        counts = np.bincount(rows, minlength=b)
        take = order[(np.cumsum(counts) - counts)[:, None] + np.arange(k)]
        return cols[take], d2[take]


def _weights(d2: np.ndarray, kind: str) -> np.ndarray:
    """Neighbour weights along the last axis; with distance weights, exact matches (distance
    0) take all the weight when there are any, as in scikit-learn."""
    if kind == "uniform":
        return np.ones_like(d2)
    zero = d2 == 0.0
    exact = zero.any(axis=-1, keepdims=True)
    inverse = 1.0 / np.sqrt(np.where(zero, 1.0, d2))
    out: np.ndarray = np.where(exact, zero.astype(np.float64), inverse)
    return out


def _weights_one(d2: np.ndarray, kind: str) -> np.ndarray:
    """``_weights`` for one row's neighbours, in fewer steps and with the same values."""
    if kind == "uniform":
        return np.ones_like(d2)
    zero = d2 == 0.0
    out: np.ndarray = zero.astype(np.float64) if zero.any() else 1.0 / np.sqrt(d2)
    return out


class KNN(Learner):
    family = "knn"
    seed_varies = False
    feature_style = "linear"
    description = "k nearest neighbours (Euclidean, brute force) on standardised features"

    @classmethod
    def default_configs(cls, task: LearnerTask, n_rows: int) -> list[dict[str, Any]]:
        return learned_configs(cls.family, task.problem_type) or [
            {"n_neighbors": 10, "weights": "distance"},
            {"n_neighbors": 30, "weights": "distance"},
            {"n_neighbors": 5, "weights": "uniform"},
        ]

    @classmethod
    def search_space(cls, trial: Any, task: LearnerTask, n_rows: int) -> dict[str, Any]:
        return {
            "n_neighbors": trial.suggest_int("n_neighbors", 3, 60, log=True),
            "weights": trial.suggest_categorical("weights", list(WEIGHTS)),
        }

    @classmethod
    def cost_hint(cls, n_rows: int, n_features: int, task: LearnerTask) -> float:
        # Fitting only stores rows; the cost is predicting a validation fold (a fifth of the
        # rows) against the stored ones: a matrix product at ~5 GFLOP/s and a selection of
        # ~3 ns a stored row, per validation row.
        stored = min(max(n_rows, 1), int(DEFAULTS["max_rows"]))
        queries = max(n_rows, 1) / 5
        return queries * stored * (2.0 * (max(n_features, 1) + 1) / 5e9 + 3e-9)

    def _settings(self) -> dict[str, Any]:
        for key in self.params:
            if key not in DEFAULTS:
                raise SpecError(
                    f"unknown knn parameter '{key}'{did_you_mean(key, DEFAULTS)}",
                    field=f"knn.{key}",
                    hint=f"choose from: {list_choices(DEFAULTS)}",
                )
        merged = {**DEFAULTS, **self.params}
        if merged["weights"] not in WEIGHTS:
            raise SpecError(
                f"knn weights {merged['weights']!r} is not supported",
                field="knn.weights",
                hint=f"choose from: {list_choices(WEIGHTS)}",
            )
        for key in ("n_neighbors", "max_rows"):
            value = merged[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(
                    f"knn {key} must be a positive integer, got {value!r}",
                    field=f"knn.{key}",
                    hint=f"use for example {DEFAULTS[key]}",
                )
        return merged

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        task: LearnerTask,
        *,
        X_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
        deadline: float | None = None,
    ) -> Self:
        settings = self._settings()
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[0] != len(y):
            raise InputError(
                f"knn needs a non-empty 2-d X with one row per target, got X of shape "
                f"{X.shape} and {len(y)} targets"
            )
        if not np.isfinite(X).all():
            raise InputError(
                "knn needs finite inputs; X has missing or infinite values",
                hint="give knn the 'linear' feature style, which imputes",
            )
        n_seen = X.shape[0]
        keep = np.arange(n_seen)
        if n_seen > settings["max_rows"]:
            rng = np.random.default_rng(self.seed)
            keep = np.sort(rng.choice(n_seen, size=settings["max_rows"], replace=False))
        stored_y = (
            y[keep].astype(np.float64)
            if task.problem_type == "regression"
            else y[keep].astype(np.int64)
        )
        self.n_rows_seen_ = int(n_seen)
        self._use(X[keep].astype(np.float32), stored_y, settings)
        self.task_ = task
        return self

    def _use(self, X: np.ndarray, y: np.ndarray, settings: Mapping[str, Any]) -> None:
        self.X_ = X  # float32, as saved: predictions use the stored values in both cases
        self.y_ = y
        self.n_features_ = int(X.shape[1])
        self.weights_ = str(settings["weights"])
        self._index = _Index(X, int(settings["n_neighbors"]))

    def _aggregate(self, labels: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Weighted means (regression) or class probabilities of (n, k) neighbour arrays."""
        if self.task_.problem_type == "regression":
            out: np.ndarray = (w * labels).sum(axis=1) / w.sum(axis=1)
            return out
        votes = np.zeros((labels.shape[0], self.task_.n_classes))
        # Summed in neighbour order, as np.bincount does for one row.
        rows = np.repeat(np.arange(labels.shape[0]), labels.shape[1])
        np.add.at(votes, (rows, labels.ravel()), w.ravel())
        # Dividing by the votes' own sum keeps every probability within [0, 1].
        votes /= votes.sum(axis=1, keepdims=True)
        return votes

    def _aggregate_one(self, labels: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The same for one row's k neighbours, with the same arithmetic."""
        if self.task_.problem_type == "regression":
            return np.array([(w * labels).sum() / w.sum()])
        votes = np.bincount(labels, weights=w, minlength=self.task_.n_classes)
        out: np.ndarray = votes / votes.sum()
        return out

    def _check_input(self, X: np.ndarray) -> None:
        if X.shape[-1] != self.n_features_:
            raise SchemaMismatchError(
                f"knn learner expects {self.n_features_} features, got shape {X.shape}",
                hint="pass the features that the model's feature plan produces",
            )
        if not np.isfinite(X).all():
            raise InputError(
                "knn needs finite inputs; a row has missing or infinite values",
                hint="score through the model's feature plan, which imputes",
            )

    def _predict(self, X: np.ndarray) -> np.ndarray:
        if X.ndim != 2:
            raise SchemaMismatchError(
                f"knn learner expects a 2-d feature matrix, got shape {X.shape}",
                hint="pass the feature matrix that the model's feature plan produces",
            )
        self._check_input(X)
        index = self._index
        step = max(1, BATCH_CELLS // index.m)
        k = self.task_.n_classes
        out = np.empty((X.shape[0], k) if self.task_.problem_type != "regression" else X.shape[0])
        for start in range(0, X.shape[0], step):
            nb, d2 = index.neighbours(X[start : start + step])
            out[start : start + len(nb)] = self._aggregate(self.y_[nb], _weights(d2, self.weights_))
        if self.task_.problem_type == "binary":
            return probabilities_from_binary(out[:, 1])
        return out

    def _predict_one(self, x: Sequence[float]) -> list[float]:
        row = np.asarray(x, dtype=np.float64)
        if row.ndim != 1:
            raise SchemaMismatchError(
                f"knn learner expects one row of {self.n_features_} features, got shape "
                f"{row.shape}",
                hint="pass the feature vector that the model's feature plan produces",
            )
        self._check_input(row)
        nb, d2 = self._index.neighbours_one(row)
        out = self._aggregate_one(self.y_[nb], _weights_one(d2, self.weights_))
        if self.task_.problem_type == "regression":
            return [float(out[0])]
        if self.task_.problem_type == "binary":
            p = float(out[1])
            return [1.0 - p, p]
        values: list[float] = out.tolist()
        return values

    def _save(self, directory: Path) -> dict[str, Any]:
        np.savez(directory / FILE, X=self.X_, y=self.y_)
        return {
            "files": [FILE],
            "format": FORMAT_VERSION,
            "n_rows_seen": self.n_rows_seen_,
            "n_stored": int(self.X_.shape[0]),
            "n_features": self.n_features_,
            "n_neighbors": self._index.k,
            "weights": self.weights_,
        }

    @classmethod
    def _load(cls, directory: Path, meta: Mapping[str, Any], task: LearnerTask) -> Self:
        if int(meta.get("format", -1)) != FORMAT_VERSION:
            raise ArtifactError(
                f"{FILE}: unknown knn format {meta.get('format')!r}",
                field=FILE,
                hint=f"this version of mlwright reads format {FORMAT_VERSION}",
            )
        with np.load(directory / FILE, allow_pickle=False) as data:
            X, y = data["X"], data["y"]
        y_type = np.float64 if task.problem_type == "regression" else np.int64
        n_stored, n_features = int(meta["n_stored"]), int(meta["n_features"])
        if (
            X.dtype != np.float32
            or X.shape != (n_stored, n_features)
            or y.dtype != y_type
            or y.shape != (n_stored,)
            or (task.problem_type != "regression" and not ((y >= 0) & (y < task.n_classes)).all())
        ):
            raise ArtifactError(
                f"{FILE}: stored rows do not match the metadata",
                field=FILE,
                hint="re-save the model; the file is damaged",
            )
        learner = cls()
        learner.n_rows_seen_ = int(meta["n_rows_seen"])
        n_neighbors, weights = int(meta["n_neighbors"]), str(meta["weights"])
        if weights not in WEIGHTS or n_neighbors < 1:
            raise ArtifactError(
                f"{FILE}: bad neighbour settings k={n_neighbors}, weights={weights!r}",
                field=FILE,
                hint="re-save the model; the metadata is damaged",
            )
        learner._use(X, y, {"n_neighbors": n_neighbors, "weights": weights})
        return learner
