"""Two-layer stacking: the columns a second-layer member reads from first-layer trials, and
the rules a model's members keep.

A *trial* is the members that share a name before "/" (a bagged trial's folds
"lightgbm_2/fold0", "lightgbm_2/fold1"; a refit "lightgbm_2" alone). A stacked member
(``Member.inputs`` non-empty) reads its plan's columns followed by ``stack_columns`` of the
outputs of the trials it names, in order. A trial whose members weigh 0 is input-only: it
is part of the model because a stacked member reads it, not part of the weighted sum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def trial_of(member_name: str) -> str:
    """The trial a member belongs to: its name before "/"."""
    return member_name.split("/", maxsplit=1)[0]


def stack_columns(outputs: Sequence[np.ndarray], problem_type: str) -> np.ndarray:
    """(n, columns), float64, from each input trial's output as ``Learner.predict`` gives it:
    regression (n,) or (n, 1) values -> 1 column; binary (n, 2) probabilities -> 1 column (the
    positive class's); multiclass (n, K) probabilities -> K columns."""
    if not outputs:
        raise ValueError("a stacked member reads at least one trial's output")
    columns = []
    for given in outputs:
        out = np.asarray(given, dtype=np.float64)
        if problem_type == "regression" and out.ndim in (1, 2) and out.size == len(out):
            columns.append(out.reshape(len(out), 1))
        elif problem_type == "binary" and out.ndim == 2 and out.shape[1] == 2:
            columns.append(out[:, 1:2])
        elif problem_type == "multiclass" and out.ndim == 2:
            columns.append(out)
        else:
            raise ValueError(f"a {problem_type} output of shape {out.shape} cannot be stacked")
    return np.hstack(columns)


def stack_columns_one(outputs: Sequence[Sequence[float]], problem_type: str) -> list[float]:
    """``stack_columns`` for one record, in plain Python: each output as
    ``Learner.predict_one`` gives it (regression [v]; binary [p0, p1]; multiclass [p1..pK])."""
    if problem_type == "regression":
        return [float(out[0]) for out in outputs]
    if problem_type == "binary":
        return [float(out[1]) for out in outputs]
    return [float(v) for out in outputs for v in out]


class LayerError(ValueError):
    """The members break a stacking rule; ``field`` names where, as in the manifest."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def check_layers(
    names: Sequence[str],
    weights: Sequence[float],
    inputs: Sequence[Sequence[str]],
    *,
    stacker: bool = False,
) -> None:
    """The members (``names``, ``weights``, ``inputs`` side by side) hold together as at most
    two layers; a ``LayerError`` naming the member's field otherwise."""
    for number, weight in enumerate(weights):
        if not (math.isfinite(weight) and weight >= 0):
            raise LayerError(
                f"member {number} ({names[number]!r}) has the weight {weight!r}; weights are "
                "finite numbers >= 0",
                f"members[{number}].weight",
            )
    if not any(w > 0 for w in weights):
        raise LayerError("no member has a positive weight", "members")
    stacked = {trial_of(n) for n, reads in zip(names, inputs, strict=True) if reads}
    first = {trial_of(n) for n in names} - stacked
    read: set[str] = set()
    for number, reads in enumerate(inputs):
        if reads and stacker:
            raise LayerError(
                "a model combines its members by a linear stacker or has stacked members, "
                f"not both (member {number}, {names[number]!r}, reads other trials)",
                f"members[{number}].inputs",
            )
        for name in reads:
            if name not in first:
                why = "itself stacked" if name in stacked else "not a trial of the model"
                raise LayerError(
                    f"member {number} ({names[number]!r}) reads the trial {name!r}, which is "
                    f"{why}; a stacked member reads first-layer trials: {sorted(first)}",
                    f"members[{number}].inputs",
                )
        read.update(reads)
    _check_input_only(names, weights, read)


def _check_input_only(names: Sequence[str], weights: Sequence[float], read: set[str]) -> None:
    """A member of weight 0 belongs to a trial whose members all weigh 0 and that a stacked
    member reads: otherwise it would play no part in any prediction."""
    positive = {trial_of(n) for n, w in zip(names, weights, strict=True) if w > 0}
    for number, (name, weight) in enumerate(zip(names, weights, strict=True)):
        if weight > 0:
            continue
        trial = trial_of(name)
        if trial in positive:
            why = "other members of its trial weigh more than 0"
        elif trial not in read:
            why = "no stacked member reads its trial"
        else:
            continue
        raise LayerError(
            f"member {number} ({name!r}) has the weight 0 but {why}; a weight of 0 is for "
            f"the members of a trial only stacked members read",
            f"members[{number}].weight",
        )
