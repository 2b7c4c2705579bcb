"""Probability calibration applied after the members are combined.

Three maps, each a few plain numbers in the manifest (no pickle):

- ``platt`` (binary): p' = sigmoid(a * logit(p) + b);
- ``temperature`` (multiclass): p' = softmax(log(p) / t), which keeps every ranking;
- ``isotonic`` (binary): a non-decreasing piecewise-linear map through fitted knots.

Batch and single-record paths compute the same numbers; the single-record path stays in
plain Python so one prediction pays no NumPy call overhead.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from mlwright.errors import ArtifactError

CalibrationKind = Literal["platt", "temperature", "isotonic"]
KINDS: tuple[CalibrationKind, ...] = ("platt", "temperature", "isotonic")
# Calibrated binary probabilities stay inside [EPS, 1 - EPS], so log loss stays finite.
EPS = 1e-6


def _logit(p: float) -> float:
    p = min(max(p, EPS), 1.0 - EPS)
    return math.log(p / (1.0 - p))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass
class Calibrator:
    """``params``: platt {a, b}; temperature {t}; isotonic {x, y} (knots, x strictly increasing)."""

    kind: CalibrationKind
    params: dict[str, Any] = field(default_factory=dict)
    EPS: ClassVar[float] = EPS

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ArtifactError(f"unknown calibration {self.kind!r}; known: {', '.join(KINDS)}")
        try:
            if self.kind == "platt":
                self._a, self._b = float(self.params["a"]), float(self.params["b"])
            elif self.kind == "temperature":
                self._t = float(self.params["t"])
                if not self._t > 0:
                    raise ValueError(f"temperature must be positive, got {self._t}")
            else:
                self._x = [float(v) for v in self.params["x"]]
                self._y = [min(max(float(v), EPS), 1.0 - EPS) for v in self.params["y"]]
                if not self._x or len(self._x) != len(self._y):
                    raise ValueError("isotonic knots need as many x as y values, at least one")
                if any(b <= a for a, b in zip(self._x, self._x[1:], strict=False)):
                    raise ValueError("isotonic knots must have increasing x")
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(
                f"the manifest's {self.kind} calibration is malformed: {exc}"
            ) from exc

    # -- batch ------------------------------------------------------------------------------

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """(n, classes) probabilities in, calibrated (n, classes) out."""
        proba = np.asarray(proba, dtype=np.float64)
        if self.kind == "temperature":
            z = np.log(np.clip(proba, EPS, 1.0)) / self._t
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            return np.asarray(e / e.sum(axis=1, keepdims=True))
        p = proba[:, 1]
        if self.kind == "platt":
            from scipy.special import expit

            clipped = np.clip(p, EPS, 1.0 - EPS)
            out = np.clip(
                expit(self._a * np.log(clipped / (1.0 - clipped)) + self._b), EPS, 1 - EPS
            )
        else:
            out = np.interp(p, self._x, self._y)
        return np.column_stack([1.0 - out, out])

    # -- one record -------------------------------------------------------------------------

    def apply_one(self, proba: Sequence[float]) -> list[float]:
        if self.kind == "temperature":
            z = [math.log(min(max(float(v), EPS), 1.0)) / self._t for v in proba]
            top = max(z)
            e = [math.exp(v - top) for v in z]
            total = sum(e)
            return [v / total for v in e]
        p = float(proba[1])
        out = (
            min(max(_sigmoid(self._a * _logit(p) + self._b), EPS), 1.0 - EPS)
            if self.kind == "platt"
            else self._interp(p)
        )
        return [1.0 - out, out]

    def _interp(self, p: float) -> float:
        """``np.interp`` for one value (clamped to the end knots, linear between knots)."""
        x, y = self._x, self._y
        if p <= x[0]:
            return y[0]
        if p >= x[-1]:
            return y[-1]
        i = bisect.bisect_right(x, p)
        x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
        return y0 + (y1 - y0) * (p - x0) / (x1 - x0)

    # -- files ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        if not isinstance(data, Mapping) or "kind" not in data:
            raise ArtifactError("the manifest's calibration is malformed: it names no kind")
        return cls(data["kind"], dict(data.get("params", {})))
