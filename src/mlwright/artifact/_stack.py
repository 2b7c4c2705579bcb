"""A second, stacking layer: a linear model over the members' predictions.

Each member's output is moved to an unbounded scale first (a regression value as is; a
binary probability as its logit; class probabilities as their logs), the layer's weights
and intercepts combine them, and the link brings the result back (the value; a sigmoid; a
softmax). Weights and intercepts are plain numbers in the manifest: no pickle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlwright.errors import ArtifactError

Link = Literal["identity", "logit", "log"]
_EPS = 1e-6


def link_for(problem_type: str) -> Link:
    return {"regression": "identity", "binary": "logit"}.get(problem_type, "log")  # type: ignore[return-value]


@dataclass
class Stacker:
    """``coef`` is (outputs, inputs): inputs are the members' transformed outputs in member
    order; outputs are 1 (regression, binary) or one per class (multiclass)."""

    link: Link
    coef: np.ndarray
    intercept: np.ndarray

    # -- inputs -----------------------------------------------------------------------------

    def inputs(self, member_outputs: Sequence[np.ndarray]) -> np.ndarray:
        """(n, inputs) from each member's (n,) values or (n, classes) probabilities."""
        columns = []
        for given in member_outputs:
            out = np.asarray(given, dtype=np.float64)
            if self.link == "identity":
                columns.append(out.reshape(len(out), -1)[:, :1])
            elif self.link == "logit":
                p = np.clip(out[:, 1] if out.ndim == 2 else out, _EPS, 1 - _EPS)
                columns.append(np.log(p / (1 - p))[:, None])
            else:
                columns.append(np.log(np.clip(out, _EPS, 1.0)))
        return np.hstack(columns)

    # -- combining --------------------------------------------------------------------------

    def combine(self, member_outputs: Sequence[np.ndarray]) -> np.ndarray:
        """Batch: values (n,) or probabilities (n, classes), as the members' outputs are."""
        z = self.inputs(member_outputs) @ self.coef.T + self.intercept
        if self.link == "identity":
            return np.asarray(z[:, 0])
        if self.link == "logit":
            from scipy.special import expit  # no overflow warnings at extreme scores

            p = expit(z[:, 0])
            return np.column_stack([1.0 - p, p])
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    def combine_one(self, member_outputs: Sequence[Sequence[float]]) -> list[float]:
        """One record, in plain Python (no NumPy call overhead); same numbers as ``combine``."""
        x: list[float] = []
        for out in member_outputs:
            if self.link == "identity":
                x.append(float(out[0]))
            elif self.link == "logit":
                p = min(max(float(out[-1]), _EPS), 1 - _EPS)
                x.append(math.log(p / (1 - p)))
            else:
                x.extend(math.log(min(max(float(v), _EPS), 1.0)) for v in out)
        z = [
            sum(c * v for c, v in zip(row, x, strict=True)) + b
            for row, b in zip(self._coef_rows, self._intercepts, strict=True)
        ]
        if self.link == "identity":
            return [z[0]]
        if self.link == "logit":
            p = 1.0 / (1.0 + math.exp(-z[0])) if z[0] >= -700 else 0.0
            return [1.0 - p, p]
        top = max(z)
        e = [math.exp(v - top) for v in z]
        total = sum(e)
        return [v / total for v in e]

    def __post_init__(self) -> None:
        self.coef = np.asarray(self.coef, dtype=np.float64)
        self.intercept = np.asarray(self.intercept, dtype=np.float64).reshape(-1)
        if self.coef.ndim != 2 or self.coef.shape[0] != len(self.intercept):
            raise ArtifactError(
                f"stacker coefficients of shape {self.coef.shape} do not match "
                f"{len(self.intercept)} intercepts"
            )
        self._coef_rows = [[float(c) for c in row] for row in self.coef]
        self._intercepts = [float(b) for b in self.intercept]

    # -- files ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "link": self.link,
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stacker:
        link = data.get("link")
        if link not in ("identity", "logit", "log"):
            raise ArtifactError(f"unknown stacker link {link!r} in the manifest")
        try:
            return cls(link, np.asarray(data["coef"]), np.asarray(data["intercept"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"the manifest's stacker is malformed: {exc}") from exc
