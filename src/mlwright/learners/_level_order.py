"""Trees of one model laid out in level order, for walking them all one level per NumPy
step (the forests' and XGBoost's single-row paths)."""

from __future__ import annotations

import numpy as np


def level_order(left: np.ndarray, right: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Node ids in level order over all trees at once, each internal node's two children
    side by side; ``left`` < 0 marks a leaf. A node missing from the result is unreachable
    from its tree's root (the caller decides what that means)."""
    frontier = np.asarray(roots, dtype=np.intp)
    parts = [frontier]
    while True:
        internal = frontier[left[frontier] >= 0]
        if internal.size == 0:
            break
        kids = np.empty(2 * internal.size, dtype=np.intp)
        kids[0::2] = left[internal]
        kids[1::2] = right[internal]
        parts.append(kids)
        frontier = kids
    return np.concatenate(parts)


def renumbered(order: np.ndarray) -> np.ndarray:
    """Each old node id's position in ``order`` (its new id)."""
    new_id = np.empty(order.size, dtype=np.intp)
    new_id[order] = np.arange(order.size)
    return new_id
