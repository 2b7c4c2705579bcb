"""A structural check of LightGBM's text model format, run before LightGBM reads a file.

LightGBM trusts its model text: it parses the trees in an OpenMP loop, where a format
error aborts the process (``terminate called``, SIGABRT) instead of raising; it seeks to
the offsets ``tree_sizes`` gives without a bound, reads the counts of a tree's arrays
without checking them, follows child indices without a range check (a cycle loops for
ever), divides by ``num_tree_per_iteration`` and indexes past the end of a malformed
``parameters:`` line. A damaged or hostile file therefore ends the interpreter. This
module checks, in Python, everything those code paths rely on, so that a file that passes
loads and predicts without touching memory it does not own; anything else is refused with
a ``ValueError`` that says what is wrong and where.

The accepted language is what LightGBM 4 writes for mlwright's learners and rankers:
trees (numerical and categorical splits, no linear trees) with ``tree_sizes``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# LightGBM's own limits; deeper trees are refused (TreeSHAP recurses once per level).
MAX_LEAVES = 131_072
MAX_DEPTH = 1_000
MAX_FEATURES = 10_000_000
MAX_CLASSES = 100_000
MAX_CAT_WORDS = 10_000_000
_INT32 = 2**31 - 1

_HEADER_INTS = ("num_class", "num_tree_per_iteration", "label_index", "max_feature_idx")
_HEADER_KEYS = frozenset(
    (
        "version",
        *_HEADER_INTS,
        "objective",
        "average_output",
        "feature_names",
        "monotone_constraints",
        "feature_infos",
        "tree_sizes",
    )
)
_OBJECTIVES = frozenset(
    (
        "regression",
        "regression_l1",
        "huber",
        "fair",
        "poisson",
        "quantile",
        "mape",
        "gamma",
        "tweedie",
        "binary",
        "multiclass",
        "multiclassova",
        "cross_entropy",
        "cross_entropy_lambda",
        "lambdarank",
        "rank_xendcg",
    )
)
# Keys of a tree block, by the length of their arrays: "n" leaves, "n-1" internal nodes.
_TREE_ARRAYS = {
    "split_feature": "n-1",
    "split_gain": "n-1",
    "threshold": "n-1",
    "decision_type": "n-1",
    "left_child": "n-1",
    "right_child": "n-1",
    "internal_value": "n-1",
    "internal_weight": "n-1",
    "internal_count": "n-1",
    "leaf_value": "n",
    "leaf_weight": "n",
    "leaf_count": "n",
}
# A one-leaf tree is written with these empty (LightGBM reads only its leaf_value).
_STUMP_EMPTY = frozenset(("leaf_weight", "leaf_count"))
_TREE_SCALARS = frozenset(("num_leaves", "num_cat", "is_linear", "shrinkage"))
_TREE_KEYS = frozenset((*_TREE_ARRAYS, *_TREE_SCALARS, "cat_boundaries", "cat_threshold"))
_INT = re.compile(r"-?[0-9]{1,10}")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?inf")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# LightGBM turns these lines into JSON for the Python package, without escaping.
_PARAMETER = re.compile(r'\[[A-Za-z0-9_]+: [^:\]"\\]*\]')
_CATEGORICAL = 1
_MISSING_NAN = 2


class _RefusedError(ValueError):
    pass


@dataclass(frozen=True)
class _Header:
    num_class: int  # equal to num_tree_per_iteration
    max_feature_idx: int
    tree_sizes: list[int]


def check_model_text(
    text: str, *, n_features: int | None = None, n_outputs: int | None = None
) -> None:
    """Refuse (``ValueError``) a LightGBM model text that LightGBM could not read safely.
    ``n_features``: the width of the rows it will score; ``n_outputs``: the number of
    outputs the caller reads per row (LightGBM's ``num_class``)."""
    if "\x00" in text or "\r" in text:
        raise _RefusedError("it contains NUL or carriage-return characters")
    lines = text.split("\n")
    if not lines or lines[0] != "tree":
        raise _RefusedError("it does not start with the line 'tree'")
    first_tree = next((i for i, line in enumerate(lines) if line.startswith("Tree=")), None)
    if first_tree is None:
        raise _RefusedError("it holds no trees")
    header = _header(lines[1:first_tree])
    num_class = header.num_class
    max_feature = header.max_feature_idx
    if n_outputs is not None and num_class != n_outputs:
        raise _RefusedError(f"num_class is {num_class}; the model must give {n_outputs} outputs")
    if n_features is not None and max_feature + 1 != n_features:
        raise _RefusedError(f"the model reads {max_feature + 1} features, not {n_features}")
    sizes = header.tree_sizes
    if not sizes or len(sizes) % num_class:
        raise _RefusedError(
            f"{len(sizes)} trees are not a whole number of iterations of {num_class}"
        )
    end = _trees(lines, first_tree, sizes, max_feature)
    _trailer(lines[end + 1 :])


def _header(lines: Sequence[str]) -> _Header:
    values = _header_values(lines)
    missing = sorted(
        {"version", *_HEADER_INTS, "feature_names", "feature_infos", "tree_sizes"} - set(values)
    )
    if missing:
        raise _RefusedError(f"the header lacks {', '.join(missing)}")
    out = {key: _int(values[key], key, 0, MAX_FEATURES) for key in _HEADER_INTS}
    if not 1 <= out["num_class"] <= MAX_CLASSES:
        raise _RefusedError(f"num_class {out['num_class']} is out of range")
    if out["num_tree_per_iteration"] != out["num_class"]:
        raise _RefusedError("num_tree_per_iteration differs from num_class")
    _feature_lists(values, out["max_feature_idx"] + 1)
    if values.get("average_output", "") != "":
        raise _RefusedError("average_output carries a value")
    if "objective" in values:
        _objective(values["objective"], out["num_class"])
    sizes = values["tree_sizes"].split(" ") if values["tree_sizes"] else []
    return _Header(
        num_class=out["num_class"],
        max_feature_idx=out["max_feature_idx"],
        tree_sizes=[_int(v, "tree_sizes", 1, _INT32) for v in sizes],
    )


def _header_values(lines: Sequence[str]) -> dict[str, str]:
    """The header's key=value lines: known keys, each once."""
    values: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        key, equals, value = line.partition("=")
        if not equals or not _KEY.fullmatch(key):
            raise _RefusedError(f"header line {line[:60]!r} is not key=value")
        if key not in _HEADER_KEYS:
            raise _RefusedError(f"unknown header key {key!r}")
        if key in values:
            raise _RefusedError(f"header key {key!r} appears twice")
        if "=" in value and key not in ("feature_names", "monotone_constraints"):
            raise _RefusedError(f"header line {key} holds more than one '='")
        values[key] = value
    return values


def _feature_lists(values: Mapping[str, str], width: int) -> None:
    """The per-feature header lists must have one entry per feature."""
    for key in ("feature_names", "feature_infos"):
        if len(values[key].split(" ")) != width:
            raise _RefusedError(f"{key} does not list max_feature_idx + 1 = {width} entries")
    if "monotone_constraints" in values:
        for v in _items(values["monotone_constraints"], "monotone_constraints", width):
            _int(v, "monotone_constraints", -1, 1)


def _objective(value: str, num_class: int) -> None:
    name, *options = value.split(" ")
    if name not in _OBJECTIVES:
        raise _RefusedError(f"unknown objective {name!r}")
    for option in options:
        key, colon, number = option.partition(":")
        if not colon or not _KEY.fullmatch(key) or not _FLOAT.fullmatch(number):
            raise _RefusedError(f"objective option {option[:40]!r} is not name:number")
        if not math.isfinite(float(number)):
            raise _RefusedError(f"objective option {key} is not finite")
        if key == "num_class" and float(number) != num_class:
            raise _RefusedError("the objective's num_class differs from the header's")


def _trees(lines: list[str], start: int, sizes: Sequence[int], max_feature: int) -> int:
    """Check each tree block (its lines and its byte length against ``tree_sizes``);
    return the index of the line 'end of trees'."""
    i = start
    for number, size in enumerate(sizes):
        if i >= len(lines) or lines[i] != f"Tree={number}":
            raise _RefusedError(f"tree {number} is not where tree_sizes says")
        block_end = i + 1
        while block_end < len(lines) and lines[block_end]:
            block_end += 1
        fields = lines[i + 1 : block_end]
        while block_end < len(lines) and not lines[block_end]:
            block_end += 1
        length = sum(len(line.encode()) + 1 for line in lines[i:block_end])
        if length != size:
            raise _RefusedError(f"tree {number} is {length} bytes; tree_sizes says {size}")
        try:
            _tree(fields, max_feature)
        except _RefusedError as exc:
            raise _RefusedError(f"tree {number}: {exc}") from None
        i = block_end
    if i >= len(lines) or lines[i] != "end of trees":
        raise _RefusedError("the trees are not followed by 'end of trees' (or tree_sizes is short)")
    return i


def _tree(fields: Sequence[str], max_feature: int) -> None:
    values = _tree_values(fields)
    n = _int(values["num_leaves"], "num_leaves", 1, MAX_LEAVES)
    num_cat = _int(values["num_cat"], "num_cat", 0, n - 1)
    if values.get("is_linear", "0") != "0":
        raise _RefusedError("linear trees are not supported")
    if "shrinkage" in values:
        _float(values["shrinkage"], "shrinkage", finite=True)
    arrays = {
        key: _items(values[key], key, n if length == "n" else n - 1)
        for key, length in _TREE_ARRAYS.items()
        if key in values and not (n == 1 and key in _STUMP_EMPTY and not values[key])
    }
    _node_numbers(arrays)
    if n > 1:
        _splits(values, arrays, n, num_cat, max_feature)


def _tree_values(fields: Sequence[str]) -> dict[str, str]:
    """A tree block's key=value lines: known keys, each once, the required ones there."""
    values: dict[str, str] = {}
    for line in fields:
        key, equals, value = line.partition("=")
        if not equals or key not in _TREE_KEYS:
            raise _RefusedError(f"line {line[:60]!r} is not a known key=value")
        if key in values:
            raise _RefusedError(f"{key} appears twice")
        values[key] = value
    for key in ("num_leaves", "num_cat", "leaf_value"):
        if key not in values:
            raise _RefusedError(f"it lacks {key}")
    return values


def _node_numbers(arrays: Mapping[str, Sequence[str]]) -> None:
    """Leaf values must be finite numbers; the other per-node numbers numbers or integers."""
    for v in arrays["leaf_value"]:
        _float(v, "leaf_value", finite=True)
    for key in ("leaf_weight", "split_gain", "internal_value", "internal_weight"):
        for v in arrays.get(key, []):
            _float(v, key, finite=False)
    for key in ("leaf_count", "internal_count"):
        for v in arrays.get(key, []):
            _int(v, key, -_INT32, _INT32)


def _splits(
    values: Mapping[str, str],
    arrays: Mapping[str, Sequence[str]],
    n: int,
    num_cat: int,
    max_feature: int,
) -> None:
    """The split nodes of a tree of ``n`` leaves: features in range, known decision types,
    category sets that exist, and children that form one tree."""
    for key in ("left_child", "right_child", "split_feature", "threshold"):
        if key not in arrays:
            raise _RefusedError(f"it lacks {key}")
    for v in arrays["split_feature"]:
        _int(v, "split_feature", 0, max_feature)
    decisions = [_int(v, "decision_type", 0, 127) for v in arrays.get("decision_type", [])]
    if any(d & ~0b1111 or (d >> 2) & 3 > _MISSING_NAN for d in decisions):
        raise _RefusedError("a decision_type is not a known combination")
    _categories(values, num_cat)
    thresholds = [_float(v, "threshold", finite=False) for v in arrays["threshold"]]
    for node, d in enumerate(decisions):
        index = thresholds[node]
        if d & _CATEGORICAL and not (index.is_integer() and 0 <= index < num_cat):
            raise _RefusedError(f"categorical node {node} points at no category set")
    left = [_int(v, "left_child", -n, n - 2) for v in arrays["left_child"]]
    right = [_int(v, "right_child", -n, n - 2) for v in arrays["right_child"]]
    _structure(left, right, n)


def _categories(values: Mapping[str, str], num_cat: int) -> None:
    if num_cat == 0:
        if "cat_boundaries" in values or "cat_threshold" in values:
            raise _RefusedError("category sets are given but num_cat is 0")
        return
    for key in ("cat_boundaries", "cat_threshold"):
        if key not in values:
            raise _RefusedError(f"num_cat is {num_cat} but {key} is missing")
    bounds = [
        _int(v, "cat_boundaries", 0, MAX_CAT_WORDS)
        for v in _items(values["cat_boundaries"], "cat_boundaries", num_cat + 1)
    ]
    if bounds[0] != 0 or any(b < a for a, b in itertools.pairwise(bounds)):
        raise _RefusedError("cat_boundaries do not start at 0 and grow")
    for v in _items(values["cat_threshold"], "cat_threshold", bounds[-1]):
        _int(v, "cat_threshold", 0, 2**32 - 1)


def _structure(left: Sequence[int], right: Sequence[int], n: int) -> None:
    """Internal nodes 0..n-2 and leaves ~0..~(n-1) must form one tree rooted at node 0:
    every node reached exactly once (no cycle, nothing shared, nothing unreachable)."""
    seen_nodes = [False] * (n - 1)
    seen_leaves = [False] * n
    seen_nodes[0] = True
    stack = [(0, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _RefusedError(f"the tree is deeper than {MAX_DEPTH} levels")
        for child in (left[node], right[node]):
            if child < 0:
                if seen_leaves[~child]:
                    raise _RefusedError(f"leaf {~child} is reached twice")
                seen_leaves[~child] = True
            else:
                if seen_nodes[child]:
                    raise _RefusedError(f"node {child} is reached twice (a cycle or a shared node)")
                seen_nodes[child] = True
                stack.append((child, depth + 1))
    if not all(seen_nodes) or not all(seen_leaves):
        raise _RefusedError("some nodes or leaves are not reached from the root")


def _trailer(lines: Sequence[str]) -> None:
    """After the trees: the parameters LightGBM re-reads must be '[name: value]' lines,
    and pandas_categorical (which the Python package decodes) must be null."""
    inside = False
    starts = 0
    for line in lines:
        if line == "parameters:":
            starts += 1
            inside = True
        elif line == "end of parameters":
            inside = False
        elif inside and line and not _PARAMETER.fullmatch(line):
            raise _RefusedError(f"parameter line {line[:60]!r} is not '[name: value]'")
        elif line.startswith("pandas_categorical:") and line != "pandas_categorical:null":
            raise _RefusedError("pandas_categorical is not null")
    if starts > 1:
        raise _RefusedError("'parameters:' appears more than once")


def _items(value: str, key: str, count: int) -> list[str]:
    items = value.split(" ") if value else []
    if len(items) != count:
        raise _RefusedError(f"{key} has {len(items)} entries, not {count}")
    return items


def _int(value: str, key: str, low: int, high: int) -> int:
    if not _INT.fullmatch(value):
        raise _RefusedError(f"{key} value {value[:30]!r} is not an integer")
    number = int(value)
    if not low <= number <= high:
        raise _RefusedError(f"{key} value {number} is out of range [{low}, {high}]")
    return number


def _float(value: str, key: str, *, finite: bool) -> float:
    if not _FLOAT.fullmatch(value):
        raise _RefusedError(f"{key} value {value[:30]!r} is not a number")
    number = float(value)
    if finite and not math.isfinite(number):
        raise _RefusedError(f"{key} value {value} is not finite")
    return number
