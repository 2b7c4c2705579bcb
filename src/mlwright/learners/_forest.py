"""Random forests and extremely randomised trees (scikit-learn), saved and run as plain arrays.

scikit-learn grows the trees on the "tree" feature style: NaN for missing values, routed by
each split's learned ``missing_go_to_left`` (both families accept NaN since scikit-learn 1.6),
and category codes split as ordered numbers. There is no early stopping (a validation set is
not used); with a deadline the forest grows in chunks (``warm_start``) and stops adding trees
when the deadline passes, keeping at least ``MIN_TREES``.

The fitted trees are packed into a few flat arrays, which are both the saved format (one
``.npz`` of numeric arrays, loaded with ``allow_pickle=False``) and what prediction runs on,
in NumPy, without scikit-learn:

- Nodes of all trees are laid out by depth (all roots, then all nodes of depth 1, ...), the
  two children of a node side by side, so ``children_left`` gives both (the right child is
  ``children_left + 1``); ``-1`` marks a leaf. Tree ``i``'s root is node ``i``.
- ``feature`` (int32, -1 at leaves), ``threshold`` (float32), ``missing_go_to_left`` (bool).
- ``leaf_value`` (float64, one row per leaf in node order): the probability of class 1 for
  binary problems, of every class for multiclass ones (scikit-learn's class fractions), or
  the value for regression.
- ``tree_depth`` (int32): each tree's depth, the number of steps that reach any of its leaves.

Prediction moves node indices one level per step: for one row, all trees at once; for a
batch, all rows through one tree at a time. scikit-learn compares an input rounded to float32
with a float64 threshold ``t``. For a float32 ``x``, ``x <= t`` holds exactly when
``x <= t32``, ``t32`` the largest float32 not above ``t``; storing ``t32`` keeps every
decision identical at half the size. Predictions equal scikit-learn's to the last few bits
(only the order of summing the trees differs for single rows and small batches).

A forest grown to full depth on many rows is large (two nodes per training row per tree), and
one row's latency grows with the depth, so trees are capped in depth (``max_depth``) and in
leaves (``max_leaf_nodes``, grown best-first), the latter to keep the arrays within
``max_size_mb``.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from mlwright.errors import (
    ArtifactError,
    InputError,
    SchemaMismatchError,
    SpecError,
    did_you_mean,
    list_choices,
)
from mlwright.learners._base import (
    Learner,
    LearnerTask,
    out_of_time,
    probabilities_from_binary,
)
from mlwright.learners._level_order import level_order, renumbered
from mlwright.learners._portfolio import learned_configs

DEFAULTS: dict[str, Any] = {
    "n_estimators": 300,
    "max_features": None,  # None: "sqrt" for classification, 1.0 (all) for regression
    "min_samples_leaf": 1,
    "min_samples_split": 2,
    "max_depth": 16,  # one-row latency grows with depth (300 trees: ~5 us a level)
    "max_leaf_nodes": None,  # per tree; the size cap may lower it
    "max_size_mb": 5.0,  # cap on the model's arrays (uncompressed), met by capping leaves
    "criterion": None,  # None: scikit-learn's default (gini, squared_error)
    "bootstrap": None,  # None: True for random_forest, False for extra_trees
    "max_samples": None,  # rows drawn per tree when bootstrapping (a fraction or a count)
}
FILE = "forest.npz"
FORMAT_VERSION = 1
MIN_TREES = 10  # trees kept even when the deadline has passed before fitting
# Bytes a node costs in the saved arrays (children_left, feature, threshold: 4 each, and
# missing_go_to_left: 1), and a leaf value per output.
NODE_BYTES = 13
VALUE_BYTES = 8
BOOTSTRAP_ROWS = 50_000  # rows a random-forest tree draws at most, in the portfolio
SINGLE_THREAD_ROWS = 5_000  # below this many rows threads do not pay off
SMALL_BATCH = 64  # up to this many rows, walk all trees at once (fewer NumPy calls)
CHUNK_ROWS = 65_536  # rows per pass over the trees, which bounds prediction memory
_ARRAYS = {
    "children_left": np.int32,
    "feature": np.int32,
    "threshold": np.float32,
    "missing_go_to_left": np.bool_,
    "leaf_value": np.float64,
    "tree_depth": np.int32,
}


def _round_down_float32(t: np.ndarray) -> np.ndarray:
    """The largest float32 not above each float64 ``t`` (see the module docstring)."""
    with np.errstate(over="ignore"):
        t32 = t.astype(np.float32)
    above = t32.astype(np.float64) > t
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


def _leaf_values(tree: Any, classes: np.ndarray | None, n_out: int) -> np.ndarray:
    """The (n_nodes, n_out) values of one scikit-learn tree, in the learner's output layout.
    scikit-learn (>= 1.4) keeps class fractions in ``tree_.value``, which its
    ``predict_proba`` returns as they are; a class absent from the training rows gets 0."""
    value = np.asarray(tree.value, dtype=np.float64)[:, 0, :]
    if classes is None:  # regression
        return value[:, :1].copy()
    out = np.zeros((value.shape[0], n_out))
    for j, label in enumerate(classes.tolist()):
        if n_out == 1:  # binary: the probability of class 1 only
            if label == 1:
                out[:, 0] = value[:, j]
        else:
            out[:, label] = value[:, j]
    return out


def pack_trees(trees: Sequence[Any], classes: np.ndarray | None, n_out: int) -> dict[str, Any]:
    """Pack fitted scikit-learn trees (``estimator.tree_``) into the saved arrays."""
    counts = np.array([t.node_count for t in trees], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    n = int(offsets[-1])

    def glob(local: np.ndarray, offset: int) -> np.ndarray:
        return np.where(local >= 0, local + offset, -1)

    left = np.concatenate([glob(t.children_left, o) for t, o in zip(trees, offsets, strict=False)])
    right = np.concatenate(
        [glob(t.children_right, o) for t, o in zip(trees, offsets, strict=False)]
    )
    feature = np.concatenate([t.feature for t in trees])
    threshold = np.concatenate([t.threshold for t in trees])
    missing = np.concatenate([t.missing_go_to_left for t in trees]).astype(bool)
    value = np.concatenate([_leaf_values(t, classes, n_out) for t in trees])

    order = level_order(left, right, offsets[:-1])
    if order.size != n:  # pragma: no cover - scikit-learn trees are always connected
        raise RuntimeError("a tree has nodes unreachable from its root")
    new_id = renumbered(order)
    is_leaf = left[order] < 0
    return {
        "children_left": np.where(is_leaf, -1, new_id[np.maximum(left[order], 0)]).astype(np.int32),
        "feature": np.where(is_leaf, -1, feature[order]).astype(np.int32),
        "threshold": np.where(is_leaf, np.float32(0), _round_down_float32(threshold[order])),
        "missing_go_to_left": missing[order] & ~is_leaf,
        "leaf_value": np.ascontiguousarray(value[order[is_leaf]]),
        "tree_depth": np.array([t.max_depth for t in trees], dtype=np.int32),
    }


def check_arrays(arrays: Mapping[str, np.ndarray], n_features: int, n_out: int) -> None:
    """Refuse saved arrays that do not describe a forest of binary trees over ``n_features``
    inputs (a damaged or hand-made file), before anything indexes with them."""

    def bad(what: str) -> ArtifactError:
        return ArtifactError(
            f"{FILE}: {what}", field=FILE, hint="re-save the model; the file is not a forest"
        )

    for name, dtype in _ARRAYS.items():
        if name not in arrays:
            raise bad(f"array '{name}' is missing")
        if arrays[name].dtype != dtype:
            raise bad(f"array '{name}' has dtype {arrays[name].dtype}, expected {dtype}")
    left = arrays["children_left"]
    n = left.shape[0]
    n_trees = arrays["tree_depth"].shape[0]
    if any(arrays[k].shape != (n,) for k in ("feature", "threshold", "missing_go_to_left")):
        raise bad("node arrays differ in length")
    is_leaf = left < 0
    internal = left[~is_leaf]
    if n_trees < 1 or n < n_trees or (internal.size and (internal.max() + 1 >= n)):
        raise bad("child indices out of range")
    if ((arrays["feature"] < 0) != is_leaf).any() or arrays["feature"].max() >= n_features:
        raise bad("feature indices out of range")
    if arrays["leaf_value"].shape != (int(is_leaf.sum()), n_out):
        raise bad("leaf values do not match the leaves")


class _Runtime:
    """The packed arrays prepared for walking: a leaf points to itself with an infinite
    threshold, so extra steps past a tree's depth leave it where it is."""

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        left = arrays["children_left"]
        is_leaf = left < 0
        n = left.shape[0]
        self.left = np.where(is_leaf, np.arange(n), left).astype(np.intp)
        self.feature = np.where(is_leaf, 0, arrays["feature"]).astype(np.intp)
        self.threshold = np.where(is_leaf, np.float32(np.inf), arrays["threshold"]).astype(
            np.float32
        )
        # Where NaN goes, as a step (0: left child, 1: right child; leaves stay).
        self.nan_step = ~(arrays["missing_go_to_left"] | is_leaf)
        self.value = np.zeros((n, arrays["leaf_value"].shape[1]))
        self.value[is_leaf] = arrays["leaf_value"]
        self.depth = arrays["tree_depth"].astype(np.intp)
        self.n_trees = int(self.depth.shape[0])
        self.roots = np.arange(self.n_trees, dtype=np.intp)
        self.max_depth = int(self.depth.max())

    def sum_one(self, x: np.ndarray) -> np.ndarray:
        """Sum of the trees' leaf values for one float32 row: all trees step together."""
        left, feature, threshold = self.left, self.feature, self.threshold
        node = self.roots
        if np.isnan(x).any():
            nan_step = self.nan_step
            for _ in range(self.max_depth):
                v = x[feature[node]]
                node = left[node] + np.where(np.isnan(v), nan_step[node], v > threshold[node])
        else:
            for _ in range(self.max_depth):
                node = left[node] + (x[feature[node]] > threshold[node])
        out: np.ndarray = self.value[node].sum(axis=0)
        return out

    def sum_batch(self, X: np.ndarray) -> np.ndarray:
        """Sum of the trees' leaf values for each float32 row of ``X``."""
        n, p = X.shape
        out = np.empty((n, self.value.shape[1]))
        for start in range(0, n, CHUNK_ROWS):
            chunk = X[start : start + CHUNK_ROWS]
            walk = self._all_trees if len(chunk) <= SMALL_BATCH else self._tree_by_tree
            out[start : start + len(chunk)] = walk(chunk.ravel(), len(chunk), p)
        return out

    def _step(self, flat: np.ndarray, at: np.ndarray, node: np.ndarray, nans: bool) -> np.ndarray:
        v = flat[at + self.feature[node]]
        if nans:
            step = np.where(np.isnan(v), self.nan_step[node], v > self.threshold[node])
        else:
            step = v > self.threshold[node]
        out: np.ndarray = self.left[node] + step
        return out

    def _all_trees(self, flat: np.ndarray, n: int, p: int) -> np.ndarray:
        nans = bool(np.isnan(flat).any())
        at = (np.arange(n, dtype=np.intp) * p)[:, None]
        node = np.broadcast_to(self.roots, (n, self.n_trees))
        for _ in range(self.max_depth):
            node = self._step(flat, at, node, nans)
        out: np.ndarray = self.value[node].sum(axis=1)
        return out

    def _tree_by_tree(self, flat: np.ndarray, n: int, p: int) -> np.ndarray:
        # One tree at a time over all rows keeps each tree's nodes in cache; the trees are
        # summed in order, as scikit-learn does.
        nans = bool(np.isnan(flat).any())
        at = np.arange(n, dtype=np.intp) * p
        acc = np.zeros((n, self.value.shape[1]))
        for tree in range(self.n_trees):
            node = np.full(n, tree, dtype=np.intp)
            for _ in range(int(self.depth[tree])):
                node = self._step(flat, at, node, nans)
            acc += self.value[node]
        return acc


class _Forest(Learner):
    """What random forests and extra trees share; subclasses name the scikit-learn models."""

    single_thread_rows = SINGLE_THREAD_ROWS

    feature_style = "tree"
    _bootstrap: ClassVar[bool]  # scikit-learn's default for the family
    _tuned_bootstrap: ClassVar[tuple[bool, ...]]  # the choices the search space offers
    _cost_factor: ClassVar[float] = 1.0  # fitting time relative to a random forest's

    @classmethod
    @abstractmethod
    def _estimator_class(cls, task: LearnerTask) -> Any:
        """The scikit-learn estimator class that grows the family's trees for ``task``."""

    # -- configuration -------------------------------------------------------------------------

    def _settings(self, task: LearnerTask) -> dict[str, Any]:
        for key in self.params:
            if key not in DEFAULTS:
                raise SpecError(
                    f"unknown {self.family} parameter '{key}'{did_you_mean(key, DEFAULTS)}",
                    field=f"{self.family}.{key}",
                    hint=f"choose from: {list_choices(DEFAULTS)}",
                )
        merged = {**DEFAULTS, **self.params}
        if merged["max_features"] is None:
            merged["max_features"] = "sqrt" if task.problem_type != "regression" else 1.0
        if merged["bootstrap"] is None:
            merged["bootstrap"] = self._bootstrap
        n_estimators = merged["n_estimators"]
        size = merged["max_size_mb"]
        if not isinstance(n_estimators, int) or isinstance(n_estimators, bool) or n_estimators < 1:
            raise SpecError(
                f"{self.family} n_estimators must be a positive integer, got {n_estimators!r}",
                field=f"{self.family}.n_estimators",
                hint="use for example 300",
            )
        if not isinstance(size, int | float) or isinstance(size, bool) or not size > 0:
            raise SpecError(
                f"{self.family} max_size_mb must be a positive number, got {size!r}",
                field=f"{self.family}.max_size_mb",
                hint="use for example 5.0 (megabytes of arrays)",
            )
        return merged

    @staticmethod
    def _n_out(task: LearnerTask) -> int:
        return task.n_classes if task.problem_type == "multiclass" else 1

    @classmethod
    def leaf_cap(cls, max_size_mb: float, n_estimators: int, n_out: int) -> int:
        """Leaves per tree that keep ``n_estimators`` trees within ``max_size_mb``: a tree of
        L leaves has 2L - 1 nodes and L leaf values."""
        per_tree = max_size_mb * 1e6 / n_estimators
        return max(2, int((per_tree + NODE_BYTES) // (2 * NODE_BYTES + VALUE_BYTES * n_out)))

    # -- the contract --------------------------------------------------------------------------

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
        settings = self._settings(task)
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        if X32.ndim != 2 or X32.shape[0] == 0 or X32.shape[0] != len(y):
            raise InputError(
                f"{self.family} needs a non-empty 2-d X with one row per target, got X of "
                f"shape {X32.shape} and {len(y)} targets"
            )
        n_rows = X32.shape[0]
        n_out = self._n_out(task)
        total = int(settings["n_estimators"])
        cap = self.leaf_cap(float(settings["max_size_mb"]), total, n_out)
        if settings["max_leaf_nodes"] is not None:
            cap = min(cap, int(settings["max_leaf_nodes"]))
        kwargs = {
            k: settings[k]
            for k in (
                "max_features",
                "min_samples_leaf",
                "min_samples_split",
                "max_depth",
                "bootstrap",
                "max_samples",
            )
        }
        if settings["criterion"] is not None:
            kwargs["criterion"] = settings["criterion"]
        # A tree has at most one leaf per row, so a cap of n_rows leaves cannot bind: leave it
        # off, and the tree grows depth-first as scikit-learn does by default.
        kwargs["max_leaf_nodes"] = cap if cap < n_rows else None
        threads = self._threads(n_rows)
        if task.problem_type == "regression":
            target = np.asarray(y, dtype=np.float64)
        else:
            target = np.asarray(y).astype(np.int64)
        model = self._estimator_class(task)(
            n_estimators=total if deadline is None else min(total, MIN_TREES),
            warm_start=deadline is not None,
            random_state=self.seed,
            n_jobs=threads,
            **kwargs,
        )
        started = time.monotonic()
        model.fit(X32, target)
        if deadline is not None:
            # Grow in chunks, each planned to take half the time left, until the deadline.
            # warm_start draws the same trees as one fit of the same size would.
            while model.n_estimators < total and not out_of_time(deadline):
                now = time.monotonic()
                per_tree = (now - started) / model.n_estimators
                step = int(0.5 * (deadline - now) / per_tree) if per_tree > 0 else total
                model.set_params(
                    n_estimators=model.n_estimators + min(total - model.n_estimators, max(step, 1))
                )
                model.fit(X32, target)
        classes = None if task.problem_type == "regression" else np.asarray(model.classes_)
        arrays = pack_trees([e.tree_ for e in model.estimators_], classes, n_out)
        self.max_leaf_nodes_ = kwargs["max_leaf_nodes"]
        self._use(arrays, X32.shape[1])
        self.task_ = task
        return self

    def _use(self, arrays: dict[str, np.ndarray], n_features: int) -> None:
        self.arrays_ = arrays
        self.n_features_ = n_features
        self.n_trees_ = int(arrays["tree_depth"].shape[0])
        self.size_bytes_ = int(sum(a.nbytes for a in arrays.values()))
        self._runtime = _Runtime(arrays)

    def _finish(self, total: np.ndarray) -> np.ndarray:
        mean = total / self.n_trees_
        if self.task_.problem_type == "regression":
            out: np.ndarray = mean[:, 0]
            return out
        if self.task_.problem_type == "binary":
            return probabilities_from_binary(mean[:, 0])
        return mean

    def _predict(self, X: np.ndarray) -> np.ndarray:
        if X.ndim != 2 or X.shape[1] != self.n_features_:
            raise SchemaMismatchError(
                f"{self.family} learner expects {self.n_features_} features, got an array of "
                f"shape {X.shape}",
                hint="pass the feature matrix that the model's feature plan produces",
            )
        # scikit-learn's trees decide on float32 inputs; so do these.
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        return self._finish(self._runtime.sum_batch(X32))

    def _predict_one(self, x: Sequence[float]) -> list[float]:
        row = np.asarray(x, dtype=np.float32)
        if row.shape != (self.n_features_,):
            raise SchemaMismatchError(
                f"{self.family} learner expects {self.n_features_} features, got shape {row.shape}",
                hint="pass the feature vector that the model's feature plan produces",
            )
        mean = self._runtime.sum_one(row) / self.n_trees_
        if self.task_.problem_type == "binary":
            p = float(mean[0])
            return [1.0 - p, p]
        out: list[float] = mean.tolist()
        return out

    def _save(self, directory: Path) -> dict[str, Any]:
        a = self.arrays_
        np.savez_compressed(
            directory / FILE,
            children_left=a["children_left"],
            feature=a["feature"],
            threshold=a["threshold"],
            missing_go_to_left=a["missing_go_to_left"],
            leaf_value=a["leaf_value"],
            tree_depth=a["tree_depth"],
        )
        return {
            "files": [FILE],
            "format": FORMAT_VERSION,
            "n_features": self.n_features_,
            "n_trees": self.n_trees_,
            "max_leaf_nodes": self.max_leaf_nodes_,
        }

    @classmethod
    def _load(cls, directory: Path, meta: Mapping[str, Any], task: LearnerTask) -> Self:
        if int(meta.get("format", -1)) != FORMAT_VERSION:
            raise ArtifactError(
                f"{FILE}: unknown forest format {meta.get('format')!r}",
                field=FILE,
                hint=f"this version of mlwright reads format {FORMAT_VERSION}",
            )
        with np.load(directory / FILE, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        n_features = int(meta["n_features"])
        check_arrays(arrays, n_features, cls._n_out(task))
        learner = cls()
        learner.max_leaf_nodes_ = meta["max_leaf_nodes"]
        learner._use(arrays, n_features)
        return learner

    # -- search --------------------------------------------------------------------------------

    @classmethod
    def search_space(cls, trial: Any, task: LearnerTask, n_rows: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "max_features": trial.suggest_float("max_features", 0.05, 1.0),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 32, log=True),
        }
        if task.problem_type != "regression":
            params["criterion"] = trial.suggest_categorical("criterion", ["gini", "entropy"])
        if len(cls._tuned_bootstrap) > 1:
            params["bootstrap"] = trial.suggest_categorical("bootstrap", list(cls._tuned_bootstrap))
        return params

    @classmethod
    def cost_hint(cls, n_rows: int, n_features: int, task: LearnerTask) -> float:
        config = {**DEFAULTS, **cls.default_configs(task, n_rows)[0]}
        p = max(n_features, 1)
        max_features = config["max_features"]
        if max_features is None:
            max_features = "sqrt" if task.problem_type != "regression" else 1.0
        tried = math.sqrt(p) if max_features == "sqrt" else float(max_features) * p
        n = max(n_rows, 2)
        # A split search sorts the node's rows on each tried feature: about
        # rows * log2(rows) * features per tree; measured on one core (random forest,
        # 20,000 rows x 30 features with 3% missing, scikit-learn 1.9.1): ~6e-8 s per unit.
        per_tree = 6e-8 * n * math.log2(n) * max(tried, 1.0)
        return float(config["n_estimators"]) * per_tree * cls._cost_factor


class RandomForest(_Forest):
    family = "random_forest"
    description = "random forest (scikit-learn), bootstrapped trees with leaves capped by size"
    _bootstrap = True
    _tuned_bootstrap = (True,)

    @classmethod
    def _estimator_class(cls, task: LearnerTask) -> Any:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        return (
            RandomForestRegressor if task.problem_type == "regression" else RandomForestClassifier
        )

    @classmethod
    def default_configs(cls, task: LearnerTask, n_rows: int) -> list[dict[str, Any]]:
        configs = learned_configs(cls.family, task.problem_type)
        if configs:
            # Learned without the row sample (it depends on this task's rows): added here.
            return [{**config, **cls._row_sample(n_rows)} for config in configs]
        if task.problem_type == "regression":
            configs = [
                {"n_estimators": 300, "max_features": 0.5, "min_samples_leaf": 1},
                {"n_estimators": 300, "max_features": 1.0, "min_samples_leaf": 2},
            ]
        else:
            configs = [
                {"n_estimators": 300, "max_features": "sqrt", "min_samples_leaf": 1},
                {"n_estimators": 300, "max_features": 0.5, "min_samples_leaf": 2},
            ]
        return [{**config, **cls._row_sample(n_rows)} for config in configs]

    @classmethod
    def search_space(cls, trial: Any, task: LearnerTask, n_rows: int) -> dict[str, Any]:
        return {**super().search_space(trial, task, n_rows), **cls._row_sample(n_rows)}

    @staticmethod
    def _row_sample(n_rows: int) -> dict[str, Any]:
        """On many rows, each tree bootstraps BOOTSTRAP_ROWS of them: with the leaves capped,
        more rows barely change a tree, and fitting time grows with them (a fraction, so
        that it scales with the fold)."""
        if n_rows <= BOOTSTRAP_ROWS:
            return {}
        return {"max_samples": round(BOOTSTRAP_ROWS / n_rows, 6)}

    @classmethod
    def cost_hint(cls, n_rows: int, n_features: int, task: LearnerTask) -> float:
        return super().cost_hint(min(n_rows, BOOTSTRAP_ROWS), n_features, task)


class ExtraTrees(_Forest):
    family = "extra_trees"
    description = "extremely randomised trees (scikit-learn), with leaves capped by size"
    _bootstrap = False
    _tuned_bootstrap = (False, True)
    # Random thresholds instead of a sorted search: measured 5-10x faster per tree.
    _cost_factor = 0.2

    @classmethod
    def _estimator_class(cls, task: LearnerTask) -> Any:
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

        return ExtraTreesRegressor if task.problem_type == "regression" else ExtraTreesClassifier

    @classmethod
    def default_configs(cls, task: LearnerTask, n_rows: int) -> list[dict[str, Any]]:
        learned = learned_configs(cls.family, task.problem_type)
        if learned:
            return learned
        if task.problem_type == "regression":
            return [
                {"n_estimators": 300, "max_features": 1.0, "min_samples_leaf": 1},
                {"n_estimators": 300, "max_features": 0.5, "min_samples_leaf": 2},
            ]
        return [
            {"n_estimators": 300, "max_features": "sqrt", "min_samples_leaf": 1},
            {"n_estimators": 300, "max_features": 0.5, "min_samples_leaf": 2},
        ]
