"""Candidate generators: each scores every catalogue item for a user from the user's
history alone, so a user the model never trained on is served without retraining
(fold-in).

- ``Popularity``: how many users met each item, recent interactions weighted up.
- ``ItemKNN``: item-item cosine (or BM25) neighbours from the ``implicit`` library; a
  user's score for an item sums its similarity to the user's items.
- ``EASE``: Steck's shallow autoencoder, B = I - P / diag(P) with P = (X'X + lambda I)^-1;
  the score is the history times B. Kept sparse: each item's strongest weights.
- ``ALS``: implicit-feedback matrix factorisation from ``implicit``; a new user's factors
  are solved from the item factors and the history (the same least squares as a training
  step), then scored against every item.

Each one's learned state is arrays (saved as .npz, never pickled) and JSON parameters.
"""

from __future__ import annotations

import mmap
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from mlwright.errors import NotFittedError


def history_matrix(histories: list[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Rows of 1s at each history's (distinct, known) item codes."""
    indptr = [0]
    indices: list[np.ndarray] = []
    for history in histories:
        items = np.unique(history[(history >= 0) & (history < n_items)])
        indices.append(items)
        indptr.append(indptr[-1] + len(items))
    cols = np.concatenate(indices) if indices else np.zeros(0, np.int64)
    return sp.csr_matrix(
        (np.ones(len(cols), np.float32), cols, np.asarray(indptr)),
        shape=(len(histories), n_items),
    )


def ragged(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in a CSR matrix's data of ``rows``' entries, and the row (0..len(rows)-1)
    each belongs to: CSR row slicing without scipy's per-call overhead."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + offsets, owner


def row_sums(m: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """The sum of ``m``'s ``rows`` (distinct row indices) as a dense float32 vector."""
    positions, _ = ragged(m.indptr, rows)
    summed = np.bincount(m.indices[positions], weights=m.data[positions], minlength=m.shape[1])
    return summed.astype(np.float32)


def _sparse_arrays(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    m = m.tocsr()
    return {
        f"{prefix}.data": m.data.astype(np.float32),
        f"{prefix}.indices": m.indices.astype(np.int32),
        f"{prefix}.indptr": m.indptr.astype(np.int64),
        f"{prefix}.shape": np.asarray(m.shape, dtype=np.int64),
    }


def _sparse_from(prefix: str, arrays: Mapping[str, np.ndarray]) -> sp.csr_matrix:
    shape = tuple(int(v) for v in arrays[f"{prefix}.shape"])
    return sp.csr_matrix(
        (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]),
        shape=shape,
    )


# Dense n x n work goes this many rows at a time: each step's scratch arrays stay small,
# where whole-matrix temporaries (six of them, 92 MB each at 3,400 items) cost more in
# fresh memory pages than EASE's inverse itself on a 2-core virtual machine.
BLOCK_ROWS = 256


def plain_zeros(shape: tuple[int, int], dtype: Any) -> np.ndarray:
    """A zeroed array in ordinary memory pages. NumPy asks Linux for huge pages for large
    arrays; where the kernel compacts memory to find them on first touch (transparent huge
    pages' defrag = madvise), a fresh 144 MB array took 1.3 s, against 0.08 s in ordinary
    pages (2-core virtual machine, 2026-12-07). The pages are freed with the array."""
    count = shape[0] * shape[1]
    buffer = mmap.mmap(-1, max(count * np.dtype(dtype).itemsize, 1))  # zero-filled
    return np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape)


def top_per_row(m: np.ndarray, keep: int, *, block: int = BLOCK_ROWS) -> sp.csr_matrix:
    """The ``keep`` largest-magnitude entries of each row of a dense matrix, as CSR."""
    n_rows, n_cols = m.shape
    keep = min(keep, n_cols)
    cols = np.empty((n_rows, keep), dtype=np.int64)
    values = np.empty((n_rows, keep), dtype=np.float32)
    for start in range(0, n_rows, block):
        part = m[start : start + block]
        top = np.argpartition(-np.abs(part), keep - 1, axis=1)[:, :keep]
        cols[start : start + block] = top
        values[start : start + block] = np.take_along_axis(part, top, axis=1)
    rows = np.repeat(np.arange(n_rows), keep)
    out = sp.csr_matrix((values.ravel(), (rows, cols.ravel())), shape=m.shape)
    out.eliminate_zeros()
    return out


def spd_inverse(P: np.ndarray, *, block: int = BLOCK_ROWS) -> np.ndarray:
    """The inverse of a symmetric positive definite ``P``, written over ``P``: Cholesky
    (half the arithmetic of the LU inverse, and no second n x n array), then the triangle
    LAPACK leaves is mirrored ``block`` rows at a time."""
    from scipy.linalg import lapack

    # P.T is Fortran-ordered and, P being symmetric, equal to P: LAPACK works in place.
    factor, info = lapack.dpotrf(P.T, lower=False, clean=False, overwrite_a=True)
    if info == 0:
        inverse, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"the matrix is not positive definite (LAPACK info {info})")
    out: np.ndarray = inverse.T  # C-ordered; its lower triangle holds the inverse
    n = len(out)
    for start in range(0, n, block):
        end = min(start + block, n)
        out[start:end, end:] = out[end:, start:end].T
        square = out[start:end, start:end]
        upper = np.triu_indices(end - start, 1)
        square[upper] = square.T[upper]
    return out


class Generator(ABC):
    """Scores every item for each row of a history matrix (users x items, 1 = met)."""

    kind: ClassVar[str]

    def __init__(self, params: Mapping[str, Any] | None = None):
        self.params = dict(params or {})

    @abstractmethod
    def fit(self, X: sp.csr_matrix, times: np.ndarray | None = None) -> Generator:
        """Learn from ``X`` (training users x items). ``times[u, i]`` is not needed by all;
        ``Popularity`` takes each row's last interaction time through ``fit_times``."""

    @abstractmethod
    def scores(self, H: sp.csr_matrix) -> np.ndarray:
        """Dense float32 scores, one row per history."""

    def score_one(self, items: np.ndarray) -> np.ndarray:
        """One history's scores (``items``: distinct item codes), a row of ``scores`` up to
        float32 rounding; subclasses answer it without building a matrix (the serving
        path)."""
        n_items = self._n_items()
        return np.asarray(self.scores(history_matrix([items], n_items))[0])

    @abstractmethod
    def _n_items(self) -> int: ...

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None: ...

    @classmethod
    def from_arrays(cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Generator:
        generator = cls(params)
        generator._restore(arrays)
        return generator

    def _require(self, value: Any) -> Any:
        if value is None:
            raise NotFittedError(f"the {self.kind} generator is not fitted; call fit first")
        return value

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.kind}({shown})"


class Popularity(Generator):
    """Item counts over training users, each interaction weighted by 0.5 ** (age / half
    life) when ``half_life_days`` is set (age from the newest interaction)."""

    kind = "popularity"

    def __init__(self, params: Mapping[str, Any] | None = None):
        super().__init__(params)
        self.counts_: np.ndarray | None = None

    def fit(self, X: sp.csr_matrix, times: np.ndarray | None = None) -> Popularity:
        half_life = self.params.get("half_life_days")
        if half_life is None or times is None:
            self.counts_ = np.asarray(X.sum(axis=0)).ravel().astype(np.float32)
            return self
        raise ValueError("use fit_times for time-weighted popularity")

    def fit_times(self, items: np.ndarray, times: np.ndarray, n_items: int) -> Popularity:
        """Time-weighted counts from the training rows (item code and time per row)."""
        half_life = self.params.get("half_life_days")
        if half_life is None:
            weights = np.ones(len(items))
        else:
            age_days = (times.max() - times) / 86400.0
            weights = 0.5 ** (age_days / float(half_life))
        self.counts_ = np.bincount(items, weights=weights, minlength=n_items).astype(np.float32)
        return self

    def scores(self, H: sp.csr_matrix) -> np.ndarray:
        counts = self._require(self.counts_)
        return np.broadcast_to(counts, (H.shape[0], len(counts))).copy()

    def score_one(self, items: np.ndarray) -> np.ndarray:
        return np.asarray(self._require(self.counts_))  # read only: callers copy to mask

    def _n_items(self) -> int:
        return len(self._require(self.counts_))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self._require(self.counts_)}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.counts_ = np.asarray(arrays["counts"], dtype=np.float32)


class ItemKNN(Generator):
    """``neighbours`` most similar items per item, cosine or BM25-weighted (implicit)."""

    kind = "item_knn"

    def __init__(self, params: Mapping[str, Any] | None = None):
        super().__init__({"neighbours": 100, "weighting": "cosine", **(params or {})})
        self.similarity_: sp.csr_matrix | None = None

    def fit(self, X: sp.csr_matrix, times: np.ndarray | None = None) -> ItemKNN:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

        k = int(self.params["neighbours"])
        model = (
            BM25Recommender(K=k, num_threads=1)
            if self.params["weighting"] == "bm25"
            else CosineRecommender(K=k, num_threads=1)
        )
        with warnings.catch_warnings():
            # implicit transposes the matrix itself and then warns that it is not CSR.
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            model.fit(X.astype(np.float32), show_progress=False)
        self.similarity_ = model.similarity.tocsr().astype(np.float32)
        return self

    def scores(self, H: sp.csr_matrix) -> np.ndarray:
        similarity = self._require(self.similarity_)
        return np.asarray((H @ similarity).toarray(), dtype=np.float32)

    def score_one(self, items: np.ndarray) -> np.ndarray:
        return row_sums(self._require(self.similarity_), items)

    def _n_items(self) -> int:
        return int(self._require(self.similarity_).shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        return _sparse_arrays("similarity", self._require(self.similarity_))

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.similarity_ = _sparse_from("similarity", arrays)


class EASE(Generator):
    """Steck (2019). ``l2`` is lambda; ``keep`` weights per item are kept (sparse B, as
    accurate as the dense one on movielens); items met by fewer than ``min_users`` training
    users are left out of B (their weights are noise, and the inverse costs the cube of the
    items kept)."""

    kind = "ease"

    def __init__(self, params: Mapping[str, Any] | None = None):
        super().__init__({"l2": 500.0, "keep": 256, "min_users": 2, **(params or {})})
        self.weights_: sp.csr_matrix | None = None

    def gram(self, X: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """The kept items' codes and their X'X (in ``X``'s precision: float32 counts are
        exact, and half the fresh memory), shared by fits with other lambdas."""
        counts = np.asarray(X.sum(axis=0)).ravel()
        kept = np.flatnonzero(counts >= int(self.params["min_users"]))
        Xk = X[:, kept]
        product = Xk.T @ Xk
        return kept, product.toarray(out=plain_zeros(product.shape, product.dtype))

    def fit(self, X: sp.csr_matrix, times: np.ndarray | None = None) -> EASE:
        return self.fit_gram(*self.gram(X), n_items=X.shape[1])

    def fit_gram(self, kept: np.ndarray, G: np.ndarray, *, n_items: int) -> EASE:
        """Fit from ``gram``'s output (not modified)."""
        P = plain_zeros(G.shape, np.float64)  # a copy, which the inverse is written over
        np.copyto(P, G)
        P[np.diag_indices_from(P)] += float(self.params["l2"])
        B = spd_inverse(P)
        B *= -1.0 / np.diag(B)  # B = P / -diag(P), column by column, in place
        B[np.diag_indices_from(B)] = 0.0
        small = top_per_row(B, int(self.params["keep"])).tocoo()
        self.weights_ = sp.csr_matrix(
            (small.data, (kept[small.row], kept[small.col])), shape=(n_items, n_items)
        )
        return self

    def scores(self, H: sp.csr_matrix) -> np.ndarray:
        weights = self._require(self.weights_)
        return np.asarray((H @ weights).toarray(), dtype=np.float32)

    def score_one(self, items: np.ndarray) -> np.ndarray:
        return row_sums(self._require(self.weights_), items)

    def _n_items(self) -> int:
        return int(self._require(self.weights_).shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        return _sparse_arrays("weights", self._require(self.weights_))

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.weights_ = _sparse_from("weights", arrays)


class ALS(Generator):
    """Implicit ALS (Hu, Koren and Volinsky 2008) fitted by ``implicit``; confidence
    ``alpha`` per interaction, ``l2`` regularisation, ``factors`` dimensions."""

    kind = "als"

    def __init__(self, params: Mapping[str, Any] | None = None):
        super().__init__(
            {"factors": 64, "l2": 0.05, "alpha": 2.0, "iterations": 15, "seed": 0, **(params or {})}
        )
        self.item_factors_: np.ndarray | None = None
        self._gram: np.ndarray | None = None  # Y'Y + l2 I
        self._y64: np.ndarray | None = None

    def fit(self, X: sp.csr_matrix, times: np.ndarray | None = None) -> ALS:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        # implicit asks for single-threaded BLAS (its own threads do the work).
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=int(self.params["factors"]),
                regularization=float(self.params["l2"]),
                alpha=float(self.params["alpha"]),
                iterations=int(self.params["iterations"]),
                random_state=int(self.params["seed"]),
                num_threads=1,
            )
            model.fit(X.astype(np.float32), show_progress=False)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self._gram = self._y64 = None
        return self

    def _solver(self) -> tuple[np.ndarray, np.ndarray]:
        """The item factors in float64 and Y'Y + l2 I, computed once per model (not per
        request: converting all of Y per call cost a served request a quarter ms)."""
        if self._gram is None or self._y64 is None:
            Y = self._require(self.item_factors_).astype(np.float64)
            self._gram = Y.T @ Y + float(self.params["l2"]) * np.eye(Y.shape[1])
            self._y64 = Y
        return self._y64, self._gram

    def _solve(self, items: np.ndarray) -> np.ndarray:
        Y, base = self._solver()
        alpha = float(self.params["alpha"])
        Yu = Y[items]
        A = base + (alpha - 1.0) * (Yu.T @ Yu)
        return np.asarray(np.linalg.solve(A, alpha * Yu.sum(axis=0)))

    def user_factors(self, H: sp.csr_matrix) -> np.ndarray:
        """Each history's factors: argmin sum_i c_i (p_i - x'y_i)^2 + l2 |x|^2 over all
        items, with c_i = alpha for met items (p_i = 1) and 1 elsewhere, as implicit
        weighs them."""
        out = np.zeros((H.shape[0], self._require(self.item_factors_).shape[1]))
        for u in range(H.shape[0]):
            items = H.indices[H.indptr[u] : H.indptr[u + 1]]
            if len(items):
                out[u] = self._solve(items)
        return out

    def scores(self, H: sp.csr_matrix) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        # A small solve per history: BLAS threads only stall them on a busy machine
        # (movielens, 537 users at 128 factors: 14-16 s against 0.4 s on one thread).
        with threadpool_limits(1, "blas"):
            return self._project(self.user_factors(H))

    def score_one(self, items: np.ndarray) -> np.ndarray:
        factors = self._solve(items) if len(items) else np.zeros(self._factors())
        return np.asarray(self._project(factors[None, :])[0])

    def _project(self, factors: np.ndarray) -> np.ndarray:
        Y = self._require(self.item_factors_)
        # Y @ factors' keeps Y's row-major layout (a matrix-vector product for one user).
        return np.ascontiguousarray((Y @ factors.astype(np.float32).T).T, dtype=np.float32)

    def _factors(self) -> int:
        return int(self._require(self.item_factors_).shape[1])

    def _n_items(self) -> int:
        return len(self._require(self.item_factors_))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"item_factors": self._require(self.item_factors_)}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.item_factors_ = np.asarray(arrays["item_factors"], dtype=np.float32)
        self._gram = self._y64 = None


GENERATORS: dict[str, type[Generator]] = {g.kind: g for g in (Popularity, ItemKNN, EASE, ALS)}
