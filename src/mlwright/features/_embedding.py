"""Free text as a sentence embedding, offline: WordLlama's token embeddings, which ship
inside its wheel (nothing is downloaded, at training or at serving), averaged over a text's
tokens, truncated to the leading ``dims`` dimensions (its Matryoshka training keeps them
meaningful) and L2-normalised.

The artifact names the embedding and the SHA-256 of its weights file rather than copying
16 MB into every model: loading checks the installed file against that hash, so a model
never reads an embedding other than the one it was trained with.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from mlwright.errors import ArtifactError
from mlwright.features import _values as v
from mlwright.features._transforms import Transform

EMBEDDING = "wordllama/l2_supercat_256"
_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")
_TENSOR = "embedding.weight"
# The embedding is kept only where it predicts the target: a ridge regression on it, fitted
# on a seeded sample of at most CHECK_ROWS training rows, must explain at least MIN_R2 of the
# target's variance out of fold. Text that is noise to the target (whose 64 dimensions only
# gave unregularised models more to overfit) is then left to the TF-IDF.
MIN_R2 = 0.01
CHECK_ROWS = 5_000
CHECK_FOLDS = 3
RIDGE = 1.0
# A text's first tokens only: the mean of a few hundred already settles, and the time to
# embed one row stays bounded whatever a client sends.
MAX_TOKENS = 512
# Batches keep the most recent texts' embeddings (about 20 MB of vectors at 64 dimensions):
# fitting a run's plans embeds each training text once per fold and style, and once more
# for the check above, which on 4,000 reviews cost 0.3-0.6 s a plan. One record is never
# cached: a served text is rarely seen twice.
POOLED_TEXTS = 40_000
_POOLED: OrderedDict[tuple[str, int, str], np.ndarray] = OrderedDict()
_POOLED_LOCK = threading.Lock()


@functools.cache
def _files(name: str) -> tuple[Any, np.ndarray, str]:
    """The tokenizer, the token embedding table (as stored: float16) and the weights file's
    SHA-256; read once per process, whichever models ask."""
    if name != EMBEDDING:
        raise ArtifactError(
            f"unknown text embedding {name!r}",
            field="embedding",
            hint=f"this mlwright knows {EMBEDDING!r}; retrain the model with it",
        )
    try:
        from safetensors.numpy import load
        from tokenizers import Tokenizer

        package = importlib.resources.files("wordllama")
    except ImportError as exc:
        raise ArtifactError(
            f"the text embedding {name!r} needs the wordllama package, which is missing",
            field="embedding",
            hint="pip install wordllama",
        ) from exc
    data = package.joinpath(*_WEIGHTS).read_bytes()  # hashed and parsed from one read
    table = load(data)[_TENSOR]
    tokenizer = Tokenizer.from_file(str(package.joinpath(*_TOKENIZER)))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer, table, hashlib.sha256(data).hexdigest()


def _load(name: str, sha256: str) -> tuple[Any, np.ndarray]:
    """The tokenizer and table of embedding ``name``, refused when the installed weights'
    SHA-256 is not ``sha256``."""
    tokenizer, table, digest = _files(name)
    if digest != sha256:
        raise ArtifactError(
            f"the installed wordllama's weights (sha256 {digest[:12]}...) are not the ones "
            f"this model was trained with (sha256 {str(sha256)[:12]}...)",
            field="embedding",
            hint="install the wordllama version it was trained with, or retrain",
        )
    return tokenizer, table


class TextEmbedding(Transform):
    """A text column's sentence embedding (see the module's docstring); a missing or empty
    text, or one without tokens, embeds as zeros. Both paths tokenise the same way and pool
    each text with the same per-text NumPy code, so they agree exactly."""

    kind = "embedding"

    def __init__(self, column: str, *, embedding: str, dims: int, sha256: str):
        super().__init__(column)
        self.embedding = embedding
        self.dims = dims
        self.sha256 = sha256
        tokenizer, table = _load(embedding, sha256)
        if not 0 < dims <= table.shape[1]:
            raise ValueError(f"dims must be in 1..{table.shape[1]}, got {dims}")
        self._tokenizer = tokenizer
        self._table = np.ascontiguousarray(table[:, :dims])  # 32,000 tokens x dims

    @classmethod
    def fit(cls, column: str, dims: int) -> TextEmbedding:
        _, _, digest = _files(EMBEDDING)
        return cls(column, embedding=EMBEDDING, dims=dims, sha256=digest)

    @property
    def names(self) -> list[str]:
        return [f"{self.column}__emb{i}" for i in range(self.dims)]

    def _pool(self, ids: Sequence[int]) -> list[float]:
        if not ids:
            return [0.0] * self.dims
        rows = np.clip(np.asarray(ids[:MAX_TOKENS], dtype=np.int64), 0, len(self._table) - 1)
        mean = self._table[rows].astype(np.float64).sum(axis=0) / len(rows)
        norm = math.sqrt(float(mean @ mean))
        return (mean / norm).tolist() if norm > 0.0 else [0.0] * self.dims

    def _ids(self, text: str | None) -> list[int]:
        if not text:
            return []
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def batch(self, series: pl.Series) -> np.ndarray:
        # One text at a time, as ``one`` does: encode_batch would start the tokenizer's
        # thread pool, which a process forked afterwards must then disable.
        texts = v.category_column(series).to_list()
        out = np.zeros((len(texts), self.dims))
        for i, text in enumerate(texts):
            if text:
                out[i] = self._pooled(text)
        return out

    def _pooled(self, text: str) -> np.ndarray:
        """``_pool`` of ``text``'s tokens, from the batch cache when it holds them."""
        key = (self.sha256, self.dims, text)
        with _POOLED_LOCK:
            found = _POOLED.get(key)
            if found is not None:
                _POOLED.move_to_end(key)
                return found
        pooled = np.asarray(self._pool(self._ids(text)))
        pooled.flags.writeable = False  # shared by every batch that reads it
        with _POOLED_LOCK:
            _POOLED[key] = pooled
            while len(_POOLED) > POOLED_TEXTS:
                _POOLED.popitem(last=False)
        return pooled

    def one(self, value: Any, out: list[float]) -> None:
        out.extend(self._pool(self._ids(v.category(self.column, value))))

    def params(self) -> dict[str, Any]:
        return {"embedding": self.embedding, "dims": self.dims, "sha256": self.sha256}


def out_of_fold_r2(X: np.ndarray, Y: np.ndarray, *, seed: int) -> float:
    """The share of the variance of ``Y`` (n, k) that a ridge regression on ``X`` explains on
    rows it was not fitted on (CHECK_FOLDS seeded folds; each fold's baseline is the mean of
    the rows fitted). 0 for fewer than 2 rows a fold or a constant target."""
    n = len(X)
    if n < 2 * CHECK_FOLDS:
        return 0.0
    order = np.random.default_rng(seed).permutation(n)
    sse = sst = 0.0
    for part in np.array_split(order, CHECK_FOLDS):
        fitted = np.setdiff1d(order, part)
        x_mean, y_mean = X[fitted].mean(axis=0), Y[fitted].mean(axis=0)
        A, B = X[fitted] - x_mean, Y[fitted] - y_mean
        W = np.linalg.solve(A.T @ A + RIDGE * np.eye(X.shape[1]), A.T @ B)
        pred = (X[part] - x_mean) @ W + y_mean
        sse += float(((Y[part] - pred) ** 2).sum())
        sst += float(((Y[part] - y_mean) ** 2).sum())
    return 1.0 - sse / sst if sst > 0.0 else 0.0
