"""A check of XGBoost's UBJSON model format, in Python, before XGBoost reads a file.

XGBoost trusts its model files: a flipped byte in a ``.ubj`` makes its reader run past
the buffer (SIGSEGV, SIGBUS) or loop, and a well-formed file whose trees point outside
themselves (a child index, a category segment, a tree's output group) is read without a
range check and crashes at prediction. So the file is decoded here (``decode_ubjson``:
every length checked against the bytes that remain, bounded nesting), the model is
checked field by field (``check_model``: the keys XGBoost 3 writes for gradient-boosted
trees, each tree a proper tree, every index in range), and XGBoost is then given the
checked model re-encoded as JSON, never the original bytes.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_NESTING = 32
MAX_DEPTH = 1_000
MAX_CATEGORY = 1 << 24  # XGBoost sizes a bitset by the largest category
_INVALID_NODE = (-1, 2**31 - 1)  # a root's parent, as XGBoost writes it
_SCALARS = {
    ord("i"): (">i1", 1),
    ord("U"): (">u1", 1),
    ord("I"): (">i2", 2),
    ord("l"): (">i4", 4),
    ord("L"): (">i8", 8),
    ord("d"): (">f4", 4),
    ord("D"): (">f8", 8),
}
_OBJECTIVES = frozenset(
    ("binary:logistic", "binary:logitraw", "multi:softprob", "multi:softmax", "reg:squarederror")
)
_FEATURE_TYPES = frozenset(("q", "c", "int", "float", "i"))
_TREE_ARRAYS = (
    "left_children",
    "right_children",
    "parents",
    "split_indices",
    "split_conditions",
    "default_left",
    "split_type",
    "base_weights",
    "loss_changes",
    "sum_hessian",
)
_FLOAT_ARRAYS = ("split_conditions", "base_weights", "loss_changes", "sum_hessian")
_CATEGORY_ARRAYS = ("categories", "categories_nodes", "categories_segments", "categories_sizes")
_TREE_KEYS = frozenset((*_TREE_ARRAYS, *_CATEGORY_ARRAYS, "id", "tree_param"))


class _RefusedError(ValueError):
    pass


# -- UBJSON -------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.at = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise _RefusedError(f"it is cut short (needs {n} bytes at offset {self.at})")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def marker(self) -> int:
        return self.take(1)[0]

    def scalar(self, marker: int) -> int | float:
        if marker not in _SCALARS:
            raise _RefusedError(f"unknown number type {chr(marker)!r} at offset {self.at - 1}")
        dtype, size = _SCALARS[marker]
        value = np.frombuffer(self.take(size), dtype=dtype)[0]
        return float(value) if value.dtype.kind == "f" else int(value)

    def count(self) -> int:
        value = self.scalar(self.marker())
        if not isinstance(value, int) or value < 0 or value > len(self.data) - self.at:
            raise _RefusedError(f"a length of {value} at offset {self.at} exceeds the file")
        return value

    def text(self) -> str:
        return self.take(self.count()).decode("utf-8")

    def value(self, marker: int, depth: int) -> Any:
        if depth > MAX_NESTING:
            raise _RefusedError(f"it nests deeper than {MAX_NESTING} levels")
        if marker == ord("{"):
            return self.object(depth)
        if marker == ord("["):
            return self.array(depth)
        if marker == ord("S"):
            return self.text()
        if marker in (ord("T"), ord("F")):
            return marker == ord("T")
        if marker == ord("Z"):
            return None
        return self.scalar(marker)

    def object(self, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            if self.data[self.at : self.at + 1] == b"}":
                self.at += 1
                return out
            key = self.text()
            if key in out:
                raise _RefusedError(f"key {key!r} appears twice in an object")
            out[key] = self.value(self.marker(), depth + 1)

    def array(self, depth: int) -> list[Any] | np.ndarray:
        head = self.marker()
        if head == ord("$"):
            kind = self.marker()
            if kind not in _SCALARS or self.marker() != ord("#"):
                raise _RefusedError(f"a typed array at offset {self.at} is malformed")
            n = self.count()
            dtype, size = _SCALARS[kind]
            return np.frombuffer(self.take(n * size), dtype=dtype).astype(dtype[1:])
        if head == ord("#"):
            return [self.value(self.marker(), depth + 1) for _ in range(self.count())]
        items = []
        while head != ord("]"):
            items.append(self.value(head, depth + 1))
            head = self.marker()
        return items


def decode_ubjson(data: bytes) -> Any:
    """The value UBJSON ``data`` holds, as XGBoost writes it: objects to dicts, typed
    arrays to NumPy arrays. ``ValueError`` for anything malformed or trailing."""
    reader = _Reader(data)
    try:
        out = reader.value(reader.marker(), 0)
    except (struct.error, UnicodeDecodeError) as exc:
        raise _RefusedError(str(exc)) from exc
    if reader.at != len(data):
        raise _RefusedError(f"{len(data) - reader.at} bytes follow the model")
    return out


# -- the model ----------------------------------------------------------------------------------


def checked_model_json(data: bytes, *, n_features: int, n_groups: int) -> bytes:
    """XGBoost UBJSON ``data``, checked (``check_model``) and re-encoded as JSON for
    XGBoost to read. ``n_groups``: the outputs per row (classes of a multiclass model)."""
    if data[:1] != b"{":
        raise _RefusedError("it is not an XGBoost UBJSON model")
    model = decode_ubjson(data)
    check_model(model, n_features=n_features, n_groups=n_groups)
    try:
        return plain_json(model)
    except ValueError as exc:
        raise _RefusedError("it holds a number that is not finite") from exc


def plain_json(model: Any) -> bytes:
    """A decoded model (``decode_ubjson``) as JSON bytes for XGBoost to read; a ValueError
    for a number that is not finite."""
    return json.dumps(model, default=_plain, allow_nan=False).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)


def check_model(model: Any, *, n_features: int, n_groups: int) -> None:
    """Refuse (``ValueError``) a decoded XGBoost model that XGBoost could not read and
    predict with safely, or that does not give ``n_groups`` outputs from ``n_features``."""
    top = _object(model, "the model", {"learner", "version"})
    _ints(top["version"], "version", 3)
    learner = _object(
        top["learner"],
        "learner",
        {
            "attributes",
            "feature_names",
            "feature_types",
            "gradient_booster",
            "learner_model_param",
            "objective",
        },
    )
    params = _strings(learner["learner_model_param"], "learner_model_param")
    num_feature = _int_text(params, "num_feature", 1, 10**8)
    num_class = _int_text(params, "num_class", 0, 100_000)
    if num_feature != n_features:
        raise _RefusedError(f"the model reads {num_feature} features, not {n_features}")
    groups = max(num_class, 1)
    if groups != n_groups or _int_text(params, "num_target", 1, 1) != 1:
        raise _RefusedError(f"the model gives {groups} outputs, not {n_groups}")
    _base_score(params.get("base_score", "0.5"), groups)
    _strings(learner["attributes"], "attributes")
    for key in ("feature_names", "feature_types"):
        values = learner[key]
        if not isinstance(values, list) or len(values) not in (0, num_feature):
            raise _RefusedError(f"{key} does not list {num_feature} features")
        if not all(isinstance(v, str) for v in values):
            raise _RefusedError(f"{key} holds something other than text")
    if not set(learner["feature_types"]) <= _FEATURE_TYPES:
        raise _RefusedError("feature_types holds an unknown type")
    _objective(learner["objective"], num_class)
    booster = _object(learner["gradient_booster"], "gradient_booster", {"model", "name"})
    if booster["name"] != "gbtree":
        raise _RefusedError(f"booster {booster['name']!r} is not supported (gbtree only)")
    _trees(booster["model"], num_feature, groups)


def _trees(model: Any, num_feature: int, groups: int) -> None:
    model = _object(
        model,
        "the trees",
        {"gbtree_model_param", "tree_info", "trees"},
        optional={"cats", "iteration_indptr"},
    )
    trees = model["trees"]
    if not isinstance(trees, list) or not trees:
        raise _RefusedError("it holds no trees")
    param = _strings(model["gbtree_model_param"], "gbtree_model_param")
    if _int_text(param, "num_trees", 0, 10**7) != len(trees):
        raise _RefusedError("num_trees differs from the trees given")
    _int_text(param, "num_parallel_tree", 1, 10**4)
    info = _ints(model["tree_info"], "tree_info", len(trees))
    if info.size and (info.min() < 0 or info.max() >= groups):
        raise _RefusedError(f"tree_info names an output outside 0..{groups - 1}")
    if "iteration_indptr" in model:
        indptr = _ints(model["iteration_indptr"], "iteration_indptr", None)
        if indptr.size < 2 or indptr[0] != 0 or indptr[-1] != len(trees):
            raise _RefusedError("iteration_indptr does not cover the trees")
        if (np.diff(indptr) < 0).any():
            raise _RefusedError("iteration_indptr is not in order")
    for key, value in (model.get("cats") or {}).items():
        if key not in ("enc", "feature_segments", "sorted_idx") or len(value):
            raise _RefusedError("a category re-coder is stored; mlwright's models have none")
    for number, tree in enumerate(trees):
        try:
            _tree(tree, number, num_feature)
        except _RefusedError as exc:
            raise _RefusedError(f"tree {number}: {exc}") from None


def _tree(tree: Any, number: int, num_feature: int) -> None:
    tree = _object(tree, "a tree", _TREE_KEYS)
    if tree["id"] != number:
        raise _RefusedError(f"its id is {tree['id']!r}")
    param = _strings(tree["tree_param"], "tree_param")
    n = _int_text(param, "num_nodes", 1, 1 << 24)
    _int_text(param, "num_deleted", 0, 0)
    if _int_text(param, "num_feature", 0, 10**8) != num_feature:
        raise _RefusedError("its tree_param disagrees with the model")
    if _int_text(param, "size_leaf_vector", 0, 1) > 1:
        raise _RefusedError("vector leaves are not supported")
    arrays = {
        key: (_numbers if key in _FLOAT_ARRAYS else _ints)(tree[key], key, n)
        for key in _TREE_ARRAYS
    }
    left, right = arrays["left_children"], arrays["right_children"]
    leaf = left == -1
    if ((right == -1) != leaf).any():
        raise _RefusedError("a node has one child")
    for key in ("left_children", "right_children"):
        inner = arrays[key][~leaf]
        if inner.size and (inner.min() < 1 or inner.max() >= n):
            raise _RefusedError(f"{key} point outside the tree")
    split = arrays["split_indices"]
    if split.min() < 0 or split.max() >= num_feature:
        raise _RefusedError("split_indices name a feature the model does not read")
    for key in ("split_type", "default_left"):
        if not np.isin(arrays[key], (0, 1)).all():
            raise _RefusedError(f"{key} is not 0 or 1")
    if (arrays["split_type"][leaf] != 0).any():
        raise _RefusedError("a leaf has a categorical split")
    _structure(left.tolist(), right.tolist(), arrays["parents"].tolist(), n)
    _categories(tree, arrays["split_type"], leaf)


def _structure(left: list[int], right: list[int], parents: list[int], n: int) -> None:
    """One tree rooted at node 0: every node reached exactly once, each child's parent
    recorded as the node that points at it."""
    if parents[0] not in _INVALID_NODE:
        raise _RefusedError("the root has a parent")
    seen = [False] * n
    seen[0] = True
    stack = [(0, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _RefusedError(f"it is deeper than {MAX_DEPTH} levels")
        if left[node] == -1:
            continue
        for child in (left[node], right[node]):
            if seen[child] or parents[child] != node:
                raise _RefusedError(f"node {child} is reached twice or has another parent")
            seen[child] = True
            stack.append((child, depth + 1))
    if not all(seen):
        raise _RefusedError("some nodes are not reached from the root")


def _categories(tree: Mapping[str, Any], split_type: np.ndarray, leaf: np.ndarray) -> None:
    nodes = _ints(tree["categories_nodes"], "categories_nodes", None)
    segments = _ints(tree["categories_segments"], "categories_segments", len(nodes))
    sizes = _ints(tree["categories_sizes"], "categories_sizes", len(nodes))
    categories = _ints(tree["categories"], "categories", None)
    categorical = np.flatnonzero((split_type == 1) & ~leaf)
    if not np.array_equal(np.sort(nodes), categorical) or len(np.unique(nodes)) != len(nodes):
        raise _RefusedError("categories_nodes are not the categorical splits")
    if nodes.size and (
        segments.min() < 0 or sizes.min() < 0 or (segments + sizes).max() > categories.size
    ):
        raise _RefusedError("a category segment points outside the categories")
    if categories.size and (categories.min() < 0 or categories.max() >= MAX_CATEGORY):
        raise _RefusedError("a category is out of range")


def _objective(objective: Any, num_class: int) -> None:
    if not isinstance(objective, dict) or objective.get("name") not in _OBJECTIVES:
        raise _RefusedError("its objective is not one mlwright writes")
    for key, value in objective.items():
        if key == "name":
            continue
        params = _strings(value, f"objective {key}")
        if "num_class" in params and _int_text(params, "num_class", 0, 100_000) != num_class:
            raise _RefusedError("the objective's num_class differs from the model's")
    if objective["name"].startswith("multi:") != (num_class > 0):
        raise _RefusedError("the objective does not match the number of classes")


def _base_score(text: str, groups: int) -> None:
    values = text[1:-1].split(",") if text.startswith("[") and text.endswith("]") else [text]
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise _RefusedError(f"base_score {text[:40]!r} is not a number") from None
    if len(numbers) not in (1, groups) or not all(math.isfinite(v) for v in numbers):
        raise _RefusedError(f"base_score {text[:40]!r} is not {groups} finite numbers")


def _object(
    value: Any, what: str, keys: set[str] | frozenset[str], optional: set[str] | None = None
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _RefusedError(f"{what} is not an object")
    missing = set(keys) - set(value)
    unknown = set(value) - set(keys) - (optional or set())
    if missing or unknown:
        raise _RefusedError(f"{what}: missing {sorted(missing)}, unknown {sorted(unknown)[:5]}")
    return value


def _strings(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _RefusedError(f"{what} is not an object of texts")
    return value


def _int_text(params: Mapping[str, str], key: str, low: int, high: int) -> int:
    text = params.get(key)
    if text is None or not text.lstrip("-").isdigit() or not low <= int(text) <= high:
        raise _RefusedError(f"{key} is {text!r}, not an integer in [{low}, {high}]")
    return int(text)


def _numbers(value: Any, what: str, n: int | None) -> np.ndarray:
    if isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        floats = any(isinstance(v, float) for v in value)
        value = np.asarray(value, dtype=np.float64 if floats else np.int64)
    if not isinstance(value, np.ndarray) or value.ndim != 1:
        raise _RefusedError(f"{what} is not an array of numbers")
    if n is not None and value.size != n:
        raise _RefusedError(f"{what} has {value.size} entries, not {n}")
    return value


def _ints(value: Any, what: str, n: int | None) -> np.ndarray:
    array = _numbers(value, what, n)
    if array.dtype.kind not in "iu":
        raise _RefusedError(f"{what} holds numbers that are not integers")
    return array.astype(np.int64)
