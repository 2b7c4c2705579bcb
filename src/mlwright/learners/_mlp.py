"""A feed-forward neural network (multi-layer perceptron), trained with PyTorch on the CPU.

Training needs the optional ``mlp`` extra (PyTorch). A trained model is its weights in
safetensors plus its architecture in JSON, and prediction is a NumPy forward pass in float64
with batch norm folded into the linear layers (and the regression target's scaling into the
output layer), so loading and serving need neither PyTorch nor pickle, and one row takes
microseconds.

Each hidden layer is Linear -> BatchNorm (optional) -> ReLU or SiLU -> Dropout. Training is
AdamW (no weight decay on biases and norm parameters) with a one-cycle learning-rate
schedule on mini-batches; with a validation set it stops early and keeps the best epoch's
weights. Regression targets are standardised for training.

With ``members`` k > 1 the network is TabM-mini (Gorishniy et al., 2025, "TabM: Advancing
Tabular Deep Learning with Parameter-Efficient Ensembling"): k networks share every hidden
layer; member i first scales the inputs by its own learned vector (initialised to random
signs) and has its own output layer. All k train at once on the same mini-batches, each on
its own loss; the prediction is the mean of their outputs (of their class probabilities).
The ``tabm`` family is this network with k = 8; it is not in the default search.

With ``ple_bins`` T > 0, each input column with more than two values also enters as its
piecewise-linear encoding (Gorishniy et al., 2022, "On Embeddings for Numerical Features in
Tabular Deep Learning"): T bins between the training rows' quantiles, each bin's entry 0
below it, 1 above it and the position within it, beside the column itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from mlwright.errors import (
    ArtifactError,
    DataError,
    InputError,
    SpecError,
    TrainingError,
    did_you_mean,
    list_choices,
)
from mlwright.learners._base import Learner, LearnerTask, out_of_time
from mlwright.learners._portfolio import learned_configs

DEFAULTS: dict[str, Any] = {
    "width": 256,  # units per hidden layer
    "depth": 2,  # hidden layers
    "dropout": 0.1,
    "activation": "silu",
    "norm": "batch",
    "learning_rate": 2e-3,  # the one-cycle schedule's peak
    "weight_decay": 1e-4,  # AdamW's decoupled decay, on the linear weights only
    "batch_size": 256,
    "members": 1,  # k > 1: TabM-mini, k networks sharing their hidden layers
    "ple_bins": 0,  # T > 0: piecewise-linear encodings of T quantile bins beside the inputs
    # Optional: "epochs" (default from the data size, see _Plan.of) and "patience" (epochs
    # without a better validation loss before stopping; default a quarter of the epochs).
}
ACTIVATIONS = ("relu", "silu")
NORMS = ("batch", "none")
_OPTIONAL = ("epochs", "patience")
BN_EPS = 1e-5

# Epochs by default: about TARGET_STEPS optimiser steps, within [MIN_EPOCHS, MAX_EPOCHS].
TARGET_STEPS = 2000
MIN_EPOCHS = 5
MAX_EPOCHS = 40
MIN_BATCH = 32
MAX_MEMBERS = 64
MAX_BINS = 64
PLE_ROWS = 50_000  # quantiles from a seeded sample of at most this many training rows
MAX_ENCODED = 64  # columns encoded at most (a text embedding's 64 dimensions, say)
REFIT_EPOCHS = 1.1
# With threads=0, one thread below this many rows or this batch x width: such steps are too
# small to split, and on a busy machine PyTorch's spinning OpenMP threads made them slower
# (measured on 2 loaded cores, batch 256 x width 256: 5 ms a step on 1 thread, 40-300 on 2).
SINGLE_THREAD_STEP = 512 * 256
# A deadline ends training mid-epoch only after this many steps (or one whole epoch).
MIN_STEPS_BEFORE_DEADLINE = 100
PREDICT_CHUNK = 16_384  # rows per NumPy forward pass, which bounds prediction memory
TENSORS_FILE = "mlp.safetensors"
ARCH_FILE = "mlp.json"
INSTALL_HINT = "pip install 'mlwright[mlp]'"

_PROBABILITY_PROBLEMS = ("binary", "multiclass")


# -- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    """The validated training parameters."""

    width: int
    depth: int
    dropout: float
    activation: str
    norm: str
    learning_rate: float
    weight_decay: float
    batch_size: int
    members: int
    ple_bins: int
    epochs: int | None
    patience: int | None

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], defaults: Mapping[str, Any] = DEFAULTS
    ) -> _Settings:
        known = (*DEFAULTS, *_OPTIONAL)
        for key in params:
            if key not in known:
                raise SpecError(
                    f"unknown mlp parameter '{key}'{did_you_mean(key, known)}",
                    field=f"mlp.{key}",
                    hint=f"choose from: {list_choices(known)}",
                )
        merged = {**defaults, **params}
        for key, choices in (("activation", ACTIVATIONS), ("norm", NORMS)):
            if merged[key] not in choices:
                raise SpecError(
                    f"mlp {key} {merged[key]!r} is not supported",
                    field=f"mlp.{key}",
                    hint=f"choose from: {list_choices(choices)}",
                )
        settings = cls(
            width=int(merged["width"]),
            depth=int(merged["depth"]),
            dropout=float(merged["dropout"]),
            activation=str(merged["activation"]),
            norm=str(merged["norm"]),
            learning_rate=float(merged["learning_rate"]),
            weight_decay=float(merged["weight_decay"]),
            batch_size=int(merged["batch_size"]),
            members=int(merged["members"]),
            ple_bins=int(merged["ple_bins"]),
            epochs=None if merged.get("epochs") is None else int(merged["epochs"]),
            patience=None if merged.get("patience") is None else int(merged["patience"]),
        )
        checks = (
            ("width", settings.width >= 1, "an integer >= 1"),
            ("depth", settings.depth >= 1, "an integer >= 1"),
            ("dropout", 0.0 <= settings.dropout < 1.0, "a number in [0, 1)"),
            ("learning_rate", settings.learning_rate > 0.0, "a number > 0"),
            ("weight_decay", settings.weight_decay >= 0.0, "a number >= 0"),
            ("batch_size", settings.batch_size >= 2, "an integer >= 2"),
            ("members", 1 <= settings.members <= MAX_MEMBERS, f"an integer in [1, {MAX_MEMBERS}]"),
            ("ple_bins", 0 <= settings.ple_bins <= MAX_BINS, f"an integer in [0, {MAX_BINS}]"),
            ("epochs", settings.epochs is None or settings.epochs >= 1, "an integer >= 1"),
            ("patience", settings.patience is None or settings.patience >= 1, "an integer >= 1"),
        )
        for key, ok, allowed in checks:
            if not ok:
                raise SpecError(
                    f"mlp {key} {merged[key]!r} is out of range",
                    field=f"mlp.{key}",
                    hint=f"use {allowed}",
                )
        return settings


@dataclass(frozen=True)
class _Plan:
    """How one fit walks the data: batch size, steps per epoch, epochs and patience."""

    batch_size: int
    steps_per_epoch: int
    epochs: int
    patience: int

    @classmethod
    def of(cls, settings: _Settings, n_rows: int) -> _Plan:
        # Small data gets smaller batches (at least 8 steps an epoch); never below 2 rows,
        # which batch norm needs.
        batch = min(settings.batch_size, max(MIN_BATCH, n_rows // 8), n_rows)
        batch = max(batch, 2)
        steps = max(1, n_rows // batch)  # equal chunks of >= batch rows each
        if settings.epochs is not None:
            epochs = settings.epochs
        else:
            epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps)))
        patience = settings.patience if settings.patience is not None else max(5, epochs // 4)
        return cls(batch, steps, epochs, patience)


@dataclass(frozen=True)
class _Architecture:
    """What the saved weights mean: layer sizes, activation, normalisation, target scaling."""

    n_inputs: int
    hidden: tuple[int, ...]
    n_outputs: int
    activation: str
    norm: str
    dropout: float
    eps: float
    y_mean: float  # regression: prediction = output * y_scale + y_mean
    y_scale: float
    members: int = 1  # k > 1: TabM-mini (an input adapter and an output layer per member)
    # The input columns that also enter piecewise-linearly encoded, with ``bins`` bins each
    # (their edges are the tensor "ple.edges"); n_inputs counts the encodings.
    encoded: tuple[int, ...] = ()
    bins: int = 0

    @property
    def n_features(self) -> int:
        """The width of the rows the learner takes (before any encoding)."""
        return self.n_inputs - len(self.encoded) * self.bins

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hidden"] = list(self.hidden)
        data["encoded"] = list(self.encoded)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _Architecture:
        try:
            arch = cls(
                n_inputs=int(data["n_inputs"]),
                hidden=tuple(int(w) for w in data["hidden"]),
                n_outputs=int(data["n_outputs"]),
                activation=str(data["activation"]),
                norm=str(data["norm"]),
                dropout=float(data["dropout"]),
                eps=float(data["eps"]),
                y_mean=float(data["y_mean"]),
                y_scale=float(data["y_scale"]),
                members=int(data.get("members", 1)),  # absent before members existed
                encoded=tuple(int(c) for c in data.get("encoded", ())),
                bins=int(data.get("bins", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{ARCH_FILE} is malformed: {exc!r}") from None
        if not 1 <= arch.members <= MAX_MEMBERS:
            raise ArtifactError(f"{ARCH_FILE} names {arch.members} members")
        width = arch.n_features
        if (
            not 0 <= arch.bins <= MAX_BINS
            or width < 0
            or len(set(arch.encoded)) != len(arch.encoded)
            or any(not 0 <= c < width for c in arch.encoded)
            or bool(arch.encoded) != (arch.bins > 0)
        ):
            raise ArtifactError(
                f"{ARCH_FILE} names encoded columns {list(arch.encoded)} with {arch.bins} bins "
                f"that do not fit {arch.n_inputs} inputs"
            )
        if arch.activation not in ACTIVATIONS or arch.norm not in NORMS:
            raise ArtifactError(
                f"{ARCH_FILE} names an unknown activation {arch.activation!r} or norm "
                f"{arch.norm!r}",
                hint="the model was saved by a newer mlwright; upgrade to load it",
            )
        return arch

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """The name and shape of every saved tensor (PyTorch's state-dict names)."""
        shapes: dict[str, tuple[int, ...]] = {}
        k = self.members
        if self.encoded:
            shapes["ple.edges"] = (len(self.encoded), self.bins + 1)
        if k > 1:
            shapes["adapter"] = (k, self.n_inputs)
        fan_in = self.n_inputs
        for i, width in enumerate(self.hidden):
            shapes[f"hidden{i}.weight"] = (width, fan_in)
            shapes[f"hidden{i}.bias"] = (width,)
            if self.norm == "batch":
                for name in ("weight", "bias", "running_mean", "running_var"):
                    shapes[f"norm{i}.{name}"] = (width,)
            fan_in = width
        if k > 1:
            shapes["out.weight"] = (k, self.n_outputs, fan_in)
            shapes["out.bias"] = (k, self.n_outputs)
        else:
            shapes["out.weight"] = (self.n_outputs, fan_in)
            shapes["out.bias"] = (self.n_outputs,)
        return shapes


# -- the piecewise-linear encoding -------------------------------------------------------------


@dataclass(frozen=True)
class _Encoding:
    """Piecewise-linear encodings of some input columns (see the module's docstring),
    appended after the row: column ``columns[j]``'s bin t is (x - lo) / width clipped to
    [0, 1], and 0 for a bin of no width (tied quantiles). The edges are kept as float32 (the
    saved tensor) and used as float64, the same way in a batch and for one row."""

    columns: np.ndarray  # (c,) input column indices
    edges: np.ndarray  # (c, bins + 1) float32
    lo: np.ndarray  # (c, bins) float64
    width: np.ndarray  # (c, bins) float64, 0 for an empty bin
    empty: np.ndarray  # (c, bins) bool

    @classmethod
    def of(cls, columns: Sequence[int], edges: np.ndarray) -> _Encoding:
        edges = np.asarray(edges, dtype=np.float32)
        wide = edges.astype(np.float64)
        width = np.diff(wide, axis=1)
        return cls(np.asarray(columns, dtype=np.intp), edges, wide[:, :-1], width, ~(width > 0.0))

    @classmethod
    def fit(cls, X: np.ndarray, bins: int, seed: int) -> _Encoding | None:
        """Quantile bins of the first MAX_ENCODED columns of ``X`` worth encoding (from a
        seeded sample of at most PLE_ROWS rows); None when there is none."""
        sample = X
        if len(X) > PLE_ROWS:
            rows = np.random.default_rng(seed).choice(len(X), PLE_ROWS, replace=False)
            sample = X[np.sort(rows)]
        columns = [j for j in range(X.shape[1]) if _worth_encoding(sample[:, j])][:MAX_ENCODED]
        if not columns:
            return None
        levels = np.linspace(0.0, 1.0, bins + 1)
        edges = np.quantile(sample[:, columns], levels, axis=0).T  # (c, bins + 1)
        return cls.of(columns, edges)

    def _encoded(self, values: np.ndarray) -> np.ndarray:
        """``values`` (..., c): each column's bins (..., c, bins)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            z: np.ndarray = (values[..., None] - self.lo) / self.width
        z[..., self.empty] = 0.0
        np.clip(z, 0.0, 1.0, out=z)
        return z

    def batch(self, X: np.ndarray) -> np.ndarray:
        z = self._encoded(X[:, self.columns])
        return np.hstack([X, z.reshape(len(X), -1)])

    def one(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([x, self._encoded(x[self.columns]).ravel()])


def _worth_encoding(values: np.ndarray) -> bool:
    """More than two values, none of them in half the rows: a 0/1 column needs no bins, and
    a mostly-zero one (a hashed TF-IDF bucket) would get bins of no width."""
    _, counts = np.unique(values, return_counts=True)
    return len(counts) > 2 and int(counts.max()) <= len(values) // 2


# -- the NumPy forward pass -------------------------------------------------------------------


def _relu(h: np.ndarray) -> None:
    np.maximum(h, 0.0, out=h)


def _silu_function() -> Callable[[np.ndarray], None]:
    # SciPy's logistic ufunc is stable for any input (SciPy comes with scikit-learn); imported
    # here so that ``import mlwright`` does not pay for it.
    from scipy.special import expit

    def silu(h: np.ndarray) -> None:
        h *= expit(h)

    return silu


@dataclass(frozen=True)
class _Forward:
    """The network in eval mode as float64 arrays: ``layers`` are (W, b) with W (out, in),
    batch norm folded in; the last layer is the output (with target scaling folded in).
    With members (TabM-mini), ``adapter`` (k, in) scales each member's inputs and the
    output layer is one per member: W (k, hidden, out), b (k, out)."""

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    activate: Callable[[np.ndarray], None]  # in place
    softmax: bool
    adapter: np.ndarray | None = None
    encoding: _Encoding | None = None

    @classmethod
    def build(cls, arch: _Architecture, tensors: Mapping[str, np.ndarray]) -> _Forward:
        layers: list[tuple[np.ndarray, np.ndarray]] = []
        for i in range(len(arch.hidden)):
            W = np.asarray(tensors[f"hidden{i}.weight"], dtype=np.float64)
            b = np.asarray(tensors[f"hidden{i}.bias"], dtype=np.float64)
            if arch.norm == "batch":
                # BatchNorm in eval mode is affine: gamma * (h - mean) / sqrt(var + eps) + beta.
                gamma = np.asarray(tensors[f"norm{i}.weight"], dtype=np.float64)
                beta = np.asarray(tensors[f"norm{i}.bias"], dtype=np.float64)
                mean = np.asarray(tensors[f"norm{i}.running_mean"], dtype=np.float64)
                var = np.asarray(tensors[f"norm{i}.running_var"], dtype=np.float64)
                scale = gamma / np.sqrt(var + arch.eps)
                W = W * scale[:, None]
                b = (b - mean) * scale + beta
            layers.append((np.ascontiguousarray(W), np.ascontiguousarray(b)))
        W = np.asarray(tensors["out.weight"], dtype=np.float64)
        b = np.asarray(tensors["out.bias"], dtype=np.float64)
        softmax = arch.n_outputs > 1  # classification: probabilities
        if not softmax:
            W = W * arch.y_scale
            b = b * arch.y_scale + arch.y_mean
        adapter = None
        if arch.members > 1:
            adapter = np.ascontiguousarray(np.asarray(tensors["adapter"], dtype=np.float64))
            W = W.transpose(0, 2, 1)  # (k, hidden, out): one matmul per member
        layers.append((np.ascontiguousarray(W), np.ascontiguousarray(b)))
        activate = _silu_function() if arch.activation == "silu" else _relu
        encoding = _Encoding.of(arch.encoded, tensors["ple.edges"]) if arch.encoded else None
        return cls(tuple(layers), activate, softmax, adapter, encoding)

    def batch(self, X: np.ndarray) -> np.ndarray:
        k = 1 if self.adapter is None else len(self.adapter)
        rows = max(1, PREDICT_CHUNK // k)  # a chunk holds rows x members hidden vectors
        chunks = [self._chunk(X[start : start + rows]) for start in range(0, max(len(X), 1), rows)]
        out = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        return out if self.softmax else out[:, 0]

    def _chunk(self, h: np.ndarray) -> np.ndarray:
        n = len(h)
        if self.encoding is not None:
            h = self.encoding.batch(h)
        if self.adapter is not None:
            h = (h[:, None, :] * self.adapter).reshape(n * len(self.adapter), -1)
        for W, b in self.layers[:-1]:
            h = h @ W.T
            h += b
            self.activate(h)
        W, b = self.layers[-1]
        if self.adapter is None:
            z = h @ W.T
            z += b
            return self._outputs(z, axis=1)
        k = len(self.adapter)
        z = np.matmul(h.reshape(n, k, -1).transpose(1, 0, 2), W)  # (k, n, out)
        z += b[:, None, :]
        mean: np.ndarray = self._outputs(z, axis=2).mean(axis=0)
        return mean

    def one(self, x: np.ndarray) -> np.ndarray:
        """One row's outputs (float64 row of the inputs)."""
        if self.encoding is not None:
            x = self.encoding.one(x)
        if self.adapter is None:
            h = x
            for W, b in self.layers[:-1]:
                h = W @ h
                h += b
                self.activate(h)
            W, b = self.layers[-1]
            z = W @ h
            z += b
            return self._outputs(z, axis=0)
        h = self.adapter * x  # (k, in): each member's view of the row
        for W, b in self.layers[:-1]:
            # One matrix-vector product per member: a (k, in) x (in, out) product is large
            # enough for BLAS to split across threads, which on a busy machine took
            # milliseconds (8 members, 340 inputs, width 256: 4 ms against 0.2 ms).
            out = np.empty((len(h), len(W)))
            for i, row in enumerate(h):
                np.dot(W, row, out=out[i])
            out += b
            self.activate(out)
            h = out
        W, b = self.layers[-1]
        z = np.matmul(h[:, None, :], W)[:, 0, :]  # (k, out)
        z += b
        mean: np.ndarray = self._outputs(z, axis=1).mean(axis=0)
        return mean

    def _outputs(self, z: np.ndarray, axis: int) -> np.ndarray:
        """Class probabilities from logits along ``axis`` (in place), or the values."""
        if self.softmax:
            z -= z.max(axis=axis, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=axis, keepdims=True)
        return z


# -- PyTorch (training only) ----------------------------------------------------------------


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise SpecError(
            "the mlp learner needs PyTorch to train, and PyTorch is not installed",
            field="search.learners",
            hint=f"{INSTALL_HINT} (or leave 'mlp' out of search.learners); "
            "saved mlp models load and predict without it",
        ) from None
    return torch


def _build_module(torch: Any, arch: _Architecture) -> Any:
    """The PyTorch network for ``arch``; its state-dict names are ``tensor_shapes``'s."""
    nn = torch.nn
    layers: OrderedDict[str, Any] = OrderedDict()
    fan_in = arch.n_inputs
    for i, width in enumerate(arch.hidden):
        layers[f"hidden{i}"] = nn.Linear(fan_in, width)
        if arch.norm == "batch":
            layers[f"norm{i}"] = nn.BatchNorm1d(width, eps=arch.eps)
        layers[f"act{i}"] = nn.SiLU() if arch.activation == "silu" else nn.ReLU()
        if arch.dropout > 0.0:
            layers[f"drop{i}"] = nn.Dropout(arch.dropout)
        fan_in = width
    if arch.members > 1:
        return _members_module(torch, arch, layers, fan_in)
    layers["out"] = nn.Linear(fan_in, arch.n_outputs)
    return nn.Sequential(layers)


def _members_module(torch: Any, arch: _Architecture, body: Mapping[str, Any], fan_in: int) -> Any:
    """TabM-mini: ``body``'s hidden layers shared by ``arch.members`` networks, each with
    its own input scaling (``adapter``, from random signs) and output layer (``out``).
    Input (batch, in); output (batch, members, out)."""
    nn = torch.nn
    k, n_out = arch.members, arch.n_outputs

    class Heads(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's initialisation, per member
            self.weight = nn.Parameter(torch.empty(k, n_out, fan_in).uniform_(-bound, bound))
            self.bias = nn.Parameter(torch.empty(k, n_out).uniform_(-bound, bound))

        def forward(self, h: Any) -> Any:
            return torch.einsum("bkw,kow->bko", h, self.weight) + self.bias

    class Members(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            signs = torch.randint(0, 2, (k, arch.n_inputs)).to(torch.float32) * 2.0 - 1.0
            self.adapter = nn.Parameter(signs)
            self.body = list(body)
            for name, layer in body.items():
                self.add_module(name, layer)
            self.out = Heads()

        def forward(self, x: Any) -> Any:
            n = x.shape[0]
            h = (x[:, None, :] * self.adapter).reshape(n * k, -1)
            for name in self.body:
                h = getattr(self, name)(h)
            return self.out(h.reshape(n, k, -1))

    return Members()


def torch_module(learner: MLP) -> Any:
    """The fitted network as a PyTorch module in eval mode (float32), for inspection,
    fine-tuning or checking the NumPy forward pass; it reads ``learner.network_inputs``."""
    torch = _import_torch()
    arch = learner.arch_
    module = _build_module(torch, arch)
    state = {
        k: torch.from_numpy(np.array(v)) for k, v in learner.tensors_.items() if k != "ple.edges"
    }
    missing, unexpected = module.load_state_dict(state, strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise ArtifactError(f"weights do not fit the architecture: {missing} {unexpected}")
    return module.eval()


_SESSION_LOCK = threading.Lock()


@contextlib.contextmanager
def _torch_session(torch: Any, seed: int, threads: int) -> Iterator[None]:
    """Seeded, deterministic and with ``threads`` threads inside; PyTorch's global RNG,
    thread count and determinism flag are as before afterwards. Those are process-wide, so
    sessions in different threads take turns."""
    with _SESSION_LOCK:
        yield from _torch_session_unlocked(torch, seed, threads)


def _torch_session_unlocked(torch: Any, seed: int, threads: int) -> Iterator[None]:
    old_threads = torch.get_num_threads()
    old_deterministic = torch.are_deterministic_algorithms_enabled()
    old_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.set_num_threads(old_threads)
            torch.use_deterministic_algorithms(old_deterministic, warn_only=old_warn_only)


def _torch_installed() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # an import hook that blocks it, or a broken install
        return False


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class MLP(Learner):
    family = "mlp"
    # A refit has no validation rows: a whole one-cycle schedule over a few more epochs.
    refit_rounds_param = "epochs"
    refit_rounds_factor = REFIT_EPOCHS
    holds_gil = True  # PyTorch steps on small batches: Python between short kernels

    @classmethod
    def warm_up(cls) -> None:
        # PyTorch's import and its first training step took 3.1 s in a new process (1.9 s
        # and 1.2 s); the search fits in other processes, so without this the refit paid
        # them: a 512-wide network's first fit took 3.8 to 6.5 s, later ones 2.2 to 2.4 s.
        try:
            torch = _import_torch()
        except SpecError:  # not installed: a fit says so
            return
        with _torch_session(torch, 0, 1):
            net = torch.nn.Sequential(
                torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(8, 1)
            )
            optimizer = torch.optim.AdamW(net.parameters())
            out = net(torch.zeros(2, 4)).squeeze(1)
            torch.nn.functional.binary_cross_entropy_with_logits(out, torch.zeros(2)).backward()
            optimizer.step()

    feature_style = "linear"
    description = "feed-forward neural network (PyTorch training, NumPy prediction)"
    libraries = ("safetensors",)  # loading reads safetensors; PyTorch only trains
    available = _torch_installed()
    # What a parameter left out takes (TabM's differ: its members and encodings).
    defaults: ClassVar[Mapping[str, Any]] = DEFAULTS

    arch_: _Architecture
    tensors_: dict[str, np.ndarray]

    @classmethod
    def default_configs(cls, task: LearnerTask, n_rows: int) -> list[dict[str, Any]]:
        return learned_configs(cls.family, task.problem_type) or [
            {},
            {
                "width": 512,
                "depth": 2,
                "dropout": 0.2,
                "learning_rate": 1e-3,
                "weight_decay": 1e-3,
            },
            {
                "width": 128,
                "depth": 2,
                "dropout": 0.0,
                "norm": "none",
                "learning_rate": 3e-3,
                "weight_decay": 1e-5,
                "batch_size": 128,
            },
        ]

    @classmethod
    def search_space(cls, trial: Any, task: LearnerTask, n_rows: int) -> dict[str, Any]:
        return {
            "width": trial.suggest_categorical("width", [128, 256, 512]),
            "depth": trial.suggest_int("depth", 1, 4),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "activation": trial.suggest_categorical("activation", list(ACTIVATIONS)),
            "norm": trial.suggest_categorical("norm", list(NORMS)),
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [64, 128, 256, 512]),
        }

    @classmethod
    def cost_hint(cls, n_rows: int, n_features: int, task: LearnerTask) -> float:
        settings = _Settings.from_params(cls.default_configs(task, n_rows)[0], cls.defaults)
        plan = _Plan.of(settings, max(n_rows, 2))
        n_out = task.n_classes if task.problem_type in _PROBABILITY_PROBLEMS else 1
        w = settings.width
        inputs = max(n_features, 1) * (1 + settings.ple_bins)  # at most: every column encoded
        macs = inputs * w + (settings.depth - 1) * w * w + w * n_out
        # Measured on one core: ~1 ms of overhead a step, and forward + backward at about
        # 6 flops per multiply-add and 20 GFLOP/s.
        per_step = 1e-3 + 6.0 * plan.batch_size * settings.members * macs / 2e10
        return plan.epochs * plan.steps_per_epoch * per_step

    # -- fitting ----------------------------------------------------------------------------

    def _step_threads(self, n_rows: int, batch_size: int, width: int) -> int:
        if self.threads > 0:
            return self.threads
        if n_rows < self.single_thread_rows or batch_size * width < SINGLE_THREAD_STEP:
            return 1
        return _cpu_count()

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
        settings = _Settings.from_params(self.params, self.defaults)
        torch = _import_torch()
        X = _checked_matrix(X, "X")
        y = np.asarray(y)
        if len(y) != len(X):
            raise DataError(f"X has {len(X)} rows but y has {len(y)}")
        if len(X) < 2:
            raise DataError(f"cannot fit an mlp on {len(X)} row(s)", hint="give it at least 2 rows")
        classify = task.problem_type in _PROBABILITY_PROBLEMS
        y, scaling = _checked_target(y, task)
        encoding = _Encoding.fit(X, settings.ple_bins, self.seed) if settings.ple_bins else None
        n_inputs = X.shape[1] + (0 if encoding is None else encoding.lo.size)
        arch = _Architecture(
            n_inputs=n_inputs,
            hidden=(settings.width,) * settings.depth,
            n_outputs=task.n_classes if classify else 1,
            activation=settings.activation,
            norm=settings.norm,
            dropout=settings.dropout,
            eps=BN_EPS,
            y_mean=scaling.mean,
            y_scale=scaling.scale,
            members=settings.members,
            encoded=() if encoding is None else tuple(encoding.columns.tolist()),
            bins=0 if encoding is None else settings.ple_bins,
        )
        valid = _checked_validation(X_valid, y_valid, task)
        if encoding is not None:
            X = encoding.batch(X)
            valid = None if valid is None else (encoding.batch(valid[0]), valid[1])

        def targets(values: np.ndarray) -> Any:
            if classify:
                return torch.from_numpy(np.asarray(values, dtype=np.int64))
            scaled = (np.asarray(values, dtype=np.float64) - scaling.mean) / scaling.scale
            return torch.from_numpy(scaled.astype(np.float32)).reshape(-1, 1)

        plan = _Plan.of(settings, len(X))
        threads = self._step_threads(len(X), plan.batch_size, settings.width * settings.members)
        with _torch_session(torch, self.seed, threads):
            trainer = _Trainer(torch, arch, settings, plan, classify)
            Xt = torch.from_numpy(X.astype(np.float32))
            valid_t = None
            if valid is not None:
                valid_t = (torch.from_numpy(valid[0].astype(np.float32)), targets(valid[1]))
            result = trainer.run(Xt, targets(y), valid_t, deadline, self.seed)
        if encoding is not None:
            result.tensors["ple.edges"] = encoding.edges
        self._keep(arch, result)
        # Epochs in steps: one the deadline cut short counts for the part that ran, or a
        # refit planned from it reads low (credit_data: 4.2 s expected, 6.1 s taken).
        self.rounds_run_ = result.steps_run / plan.steps_per_epoch
        self.task_ = task
        return self

    def _keep(self, arch: _Architecture, result: _Result) -> None:
        """Take the trained network and the record of its training."""
        self.arch_ = arch
        self.tensors_ = result.tensors
        self.epochs_run_ = result.epochs_run
        self.steps_run_ = result.steps_run
        self.best_epoch_ = result.best_epoch
        self.best_iteration_ = result.best_epoch  # the search's name for it
        self.best_valid_loss_ = result.best_valid_loss
        self.stopped_by_ = result.stopped_by
        self.n_features_ = arch.n_features
        self._forward = _Forward.build(arch, self.tensors_)

    def network_inputs(self, X: np.ndarray) -> np.ndarray:
        """What the network reads for rows ``X``: the rows, then any piecewise-linear
        encodings (what ``torch_module`` takes)."""
        encoding = self._forward.encoding
        X = np.asarray(X, dtype=np.float64)
        return X if encoding is None else encoding.batch(X)

    # -- prediction (NumPy only) ----------------------------------------------------------------

    def _predict(self, X: np.ndarray) -> np.ndarray:
        if X.ndim != 2 or X.shape[1] != self.n_features_:
            raise InputError(
                f"expected a matrix with {self.n_features_} columns, got shape {X.shape}"
            )
        return self._forward.batch(X)

    def _predict_one(self, x: Sequence[float]) -> list[float]:
        h = np.array(x, dtype=np.float64)
        if h.shape != (self.n_features_,):
            raise InputError(f"expected {self.n_features_} features, got shape {h.shape}")
        out: list[float] = self._forward.one(h).tolist()
        return out

    # -- files ----------------------------------------------------------------------------------

    def _save(self, directory: Path) -> dict[str, Any]:
        from safetensors.numpy import save_file

        save_file(
            {k: np.ascontiguousarray(v) for k, v in self.tensors_.items()},
            str(directory / TENSORS_FILE),
        )
        payload = {
            "architecture": self.arch_.to_dict(),
            "training": {
                "epochs_run": self.epochs_run_,
                "steps_run": self.steps_run_,
                "best_epoch": self.best_epoch_,
                "best_valid_loss": self.best_valid_loss_,
                "stopped_by": self.stopped_by_,
            },
        }
        (directory / ARCH_FILE).write_text(json.dumps(payload, indent=1))
        return {"files": [ARCH_FILE, TENSORS_FILE]}

    @classmethod
    def _load(cls, directory: Path, meta: Mapping[str, Any], task: LearnerTask) -> Self:
        try:
            from safetensors.numpy import load_file
        except ImportError:
            raise ArtifactError(
                "loading an mlp model needs the safetensors package, which is not installed",
                hint=f"{INSTALL_HINT}, or pip install safetensors",
            ) from None
        try:
            payload = json.loads((directory / ARCH_FILE).read_text())
            tensors = load_file(str(directory / TENSORS_FILE))
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"cannot read the mlp model in {directory}: {exc}") from None
        arch = _Architecture.from_dict(payload["architecture"])
        expected = arch.tensor_shapes()
        shapes = {k: tuple(v.shape) for k, v in tensors.items()}
        if shapes != expected or any(v.dtype != np.float32 for v in tensors.values()):
            raise ArtifactError(
                f"{TENSORS_FILE} does not match {ARCH_FILE}: tensors {shapes}, "
                f"expected float32 {expected}"
            )
        training = payload["training"]
        learner = cls()
        learner.arch_ = arch
        learner.tensors_ = tensors
        learner.epochs_run_ = int(training["epochs_run"])
        learner.steps_run_ = int(training["steps_run"])
        learner.best_epoch_ = learner.best_iteration_ = int(training["best_epoch"])
        best = training["best_valid_loss"]
        learner.best_valid_loss_ = None if best is None else float(best)
        learner.stopped_by_ = str(training["stopped_by"])
        learner.n_features_ = arch.n_features
        learner._forward = _Forward.build(arch, tensors)
        return learner


class TabM(MLP):
    """TabM-mini (``members`` networks sharing their hidden layers; see the module's
    docstring): the MLP's code, with its own configurations. Not in the default search
    until the dev suite shows it pays; ask for it with ``search.learners``."""

    family = "tabm"
    description = (
        "TabM-mini: 8 MLPs sharing their hidden layers (PyTorch training, NumPy prediction)"
    )
    in_default_search = False

    # The paper's defaults (ReLU, dropout 0.1, AdamW 2e-3 with decay 3e-4, no batch norm)
    # with numbers read through piecewise-linear encodings, as its best variant reads them
    # (here fixed ones, beside the raw values), at 8 members rather than 32 and small for
    # the CPU: 2 layers of 128, 8 bins (3.8 s on 2,400 rows of 20 columns, one thread).
    defaults: ClassVar[Mapping[str, Any]] = {
        **DEFAULTS,
        "members": 8,
        "width": 128,
        "depth": 2,
        "dropout": 0.1,
        "activation": "relu",
        "norm": "none",
        "learning_rate": 2e-3,
        "weight_decay": 3e-4,
        "ple_bins": 8,
    }

    @classmethod
    def default_configs(cls, task: LearnerTask, n_rows: int) -> list[dict[str, Any]]:
        # Those defaults, then nearer the paper's size (3 layers of 256, 16 bins: 12 s).
        return learned_configs(cls.family, task.problem_type) or [
            {},
            {"width": 256, "depth": 3, "ple_bins": 16},
        ]

    @classmethod
    def search_space(cls, trial: Any, task: LearnerTask, n_rows: int) -> dict[str, Any]:
        return {
            **super().search_space(trial, task, n_rows),
            "members": trial.suggest_categorical("members", [4, 8, 16]),
            "ple_bins": trial.suggest_categorical("ple_bins", [0, 8, 16]),
        }


def _checked_matrix(X: np.ndarray, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise DataError(f"{name} must be a 2-D matrix, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise DataError(
            f"{name} has missing or infinite values; the mlp needs imputed inputs",
            hint="use the 'linear' feature style, which imputes and clips",
        )
    return X


def _checked_classes(y: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    codes = np.asarray(y)
    if codes.size and (
        not np.array_equal(codes, np.round(codes)) or codes.min() < 0 or codes.max() >= n_classes
    ):
        raise DataError(f"{name} must hold class codes 0..{n_classes - 1}")
    return codes.astype(np.int64)


@dataclass(frozen=True)
class _Scaling:
    """How a regression target is standardised for training (identity for classes)."""

    mean: float = 0.0
    scale: float = 1.0


def _checked_target(y: np.ndarray, task: LearnerTask) -> tuple[np.ndarray, _Scaling]:
    """The target as class codes (classification) or finite floats with their scaling."""
    if task.problem_type in _PROBABILITY_PROBLEMS:
        return _checked_classes(y, task.n_classes, "y"), _Scaling()
    values = np.asarray(y, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError("the regression target has missing or infinite values")
    std = float(np.std(values))
    return values, _Scaling(float(np.mean(values)), std if std > 0.0 else 1.0)


def _checked_validation(
    X_valid: np.ndarray | None, y_valid: np.ndarray | None, task: LearnerTask
) -> tuple[np.ndarray, np.ndarray] | None:
    """The validation rows, checked like the training rows; None without any."""
    if X_valid is None or y_valid is None or len(y_valid) == 0:
        return None
    y_v = np.asarray(y_valid)
    if task.problem_type in _PROBABILITY_PROBLEMS:
        y_v = _checked_classes(y_v, task.n_classes, "y_valid")
    elif not np.isfinite(np.asarray(y_v, dtype=np.float64)).all():
        raise DataError("y_valid has missing or infinite values")
    return _checked_matrix(X_valid, "X_valid"), y_v


# -- the training loop ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Result:
    tensors: dict[str, np.ndarray]
    epochs_run: int
    steps_run: int
    best_epoch: int  # 1-based; the epoch whose weights were kept
    best_valid_loss: float | None
    stopped_by: str  # "epochs", "early_stopping", "deadline" or "divergence"


@dataclass(frozen=True)
class _Loop:
    """What every step of a training run uses."""

    optimizer: Any
    schedule: Any
    generator: Any  # the shuffling's random numbers
    deadline: float | None


@dataclass
class _Progress:
    """Where a training run stands: steps and epochs so far, the best epoch and its
    weights, and the epochs since the validation loss last improved."""

    steps: int = 0
    epochs_run: int = 0
    best_state: dict[str, Any] | None = None
    best_loss: float = math.inf
    best_epoch: int = 0
    stale: int = 0


class _Trainer:
    def __init__(
        self, torch: Any, arch: _Architecture, settings: _Settings, plan: _Plan, classify: bool
    ):
        self.torch = torch
        self.arch = arch
        self.settings = settings
        self.plan = plan
        self.module = _build_module(torch, arch)
        self.classify = classify
        self.loss = torch.nn.CrossEntropyLoss() if classify else torch.nn.MSELoss()

    def _train_loss(self, out: Any, y: Any) -> Any:
        """The mean of the members' losses (TabM trains each member on its own), or the
        network's loss."""
        if self.arch.members == 1:
            return self.loss(out, y)
        k = self.arch.members
        if self.classify:
            return self.loss(out.reshape(-1, out.shape[-1]), y.repeat_interleave(k))
        return self.loss(out, y[:, None, :].expand_as(out))

    def _served_loss(self, out: Any, y: Any) -> Any:
        """The loss of what is served: the members' mean output (mean class probabilities)."""
        if self.arch.members == 1:
            return self.loss(out, y)
        torch = self.torch
        if self.classify:
            probabilities = torch.softmax(out, dim=-1).mean(dim=1)
            return torch.nn.functional.nll_loss(torch.log(probabilities.clamp_min(1e-12)), y)
        return self.loss(out.mean(dim=1), y)

    def _optimizer(self) -> tuple[Any, Any]:
        torch = self.torch
        # Decay the linear layers' weight matrices only, not biases or norm parameters.
        decay: list[Any] = []
        rest: list[Any] = []
        for parameter in self.module.parameters():
            (decay if parameter.ndim > 1 else rest).append(parameter)
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": self.settings.weight_decay},
                {"params": rest, "weight_decay": 0.0},
            ],
            lr=self.settings.learning_rate,
            fused=True,  # one kernel for all parameters: a fifth faster per step on small nets
        )
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=self.settings.learning_rate,
            total_steps=self.plan.epochs * self.plan.steps_per_epoch,
            pct_start=0.25,
        )
        return optimizer, schedule

    def _snapshot(self) -> dict[str, Any]:
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    def _valid_loss(self, X: Any, y: Any) -> float:
        self.module.eval()
        total = 0.0
        with self.torch.no_grad():
            for start in range(0, len(X), PREDICT_CHUNK):
                end = start + PREDICT_CHUNK
                out = self.module(X[start:end])
                total += float(self._served_loss(out, y[start:end])) * len(out)
        return total / len(X)

    def run(
        self,
        X: Any,
        y: Any,
        valid: tuple[Any, Any] | None,
        deadline: float | None,
        seed: int,
    ) -> _Result:
        optimizer, schedule = self._optimizer()
        loop = _Loop(optimizer, schedule, self.torch.Generator().manual_seed(seed), deadline)
        # Early stopping waits for the learning rate's peak: before it, the loss is noisy.
        warmup = math.ceil(0.25 * self.plan.epochs)
        progress = _Progress()
        stopped_by = "epochs"
        for epoch in range(1, self.plan.epochs + 1):
            progress.epochs_run = epoch
            total, cut = self._epoch(X, y, loop, progress)
            stop = self._judge_epoch(epoch, total, valid, progress, warmup)
            if stop is None and (cut or out_of_time(deadline)):
                stop = "deadline"
            if stop is not None:
                stopped_by = stop
                break
        return self._result(progress, valid, stopped_by)

    def _epoch(self, X: Any, y: Any, loop: _Loop, progress: _Progress) -> tuple[Any, bool]:
        """One pass over shuffled mini-batches: the summed loss, and whether the deadline
        cut it short."""
        torch, module = self.torch, self.module
        module.train()
        total = torch.zeros(())
        for index in torch.tensor_split(
            torch.randperm(len(X), generator=loop.generator), self.plan.steps_per_epoch
        ):
            loop.optimizer.zero_grad(set_to_none=True)
            loss = self._train_loss(module(X[index]), y[index])
            loss.backward()
            loop.optimizer.step()
            loop.schedule.step()
            total += loss.detach()
            progress.steps += 1
            if progress.steps >= MIN_STEPS_BEFORE_DEADLINE and out_of_time(loop.deadline):
                return total, True
        return total, False

    def _judge_epoch(
        self,
        epoch: int,
        total: Any,
        valid: tuple[Any, Any] | None,
        progress: _Progress,
        warmup: int,
    ) -> str | None:
        """Keep the epoch's weights if they are the best so far; the reason to stop
        ("divergence", "early_stopping") or None to go on."""
        torch = self.torch
        finite = bool(torch.isfinite(total)) and all(
            bool(torch.isfinite(p).all()) for p in self.module.parameters()
        )
        if not finite:
            return "divergence"
        if valid is None:
            progress.best_state, progress.best_epoch = self._snapshot(), epoch
            return None
        loss_value = self._valid_loss(*valid)
        if not math.isfinite(loss_value):
            return "divergence"
        if loss_value < progress.best_loss:
            progress.best_state, progress.best_loss = self._snapshot(), loss_value
            progress.best_epoch, progress.stale = epoch, 0
            return None
        progress.stale += 1
        if progress.stale >= self.plan.patience and epoch >= warmup:
            return "early_stopping"
        return None

    def _result(
        self, progress: _Progress, valid: tuple[Any, Any] | None, stopped_by: str
    ) -> _Result:
        if progress.best_state is None:
            raise TrainingError(
                "the mlp diverged in its first epoch (the loss became infinite or NaN)",
                hint="lower learning_rate, or standardise the inputs (the 'linear' feature style)",
            )
        self.module.load_state_dict(progress.best_state)
        tensors = {
            k: v.detach().numpy().astype(np.float32, copy=True)
            for k, v in self.module.state_dict().items()
            if not k.endswith("num_batches_tracked")
        }
        return _Result(
            tensors=tensors,
            epochs_run=progress.epochs_run,
            steps_run=progress.steps,
            best_epoch=progress.best_epoch,
            best_valid_loss=None if valid is None else progress.best_loss,
            stopped_by=stopped_by,
        )
