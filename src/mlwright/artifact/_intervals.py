"""Regression prediction intervals: prediction +- a half-width that depends on where the
prediction falls.

The half-widths are conformal quantiles of absolute out-of-fold residuals, one per bin of
the predicted value (a Mondrian split: errors of a house price grow with the price, so one
width for all would be too wide for cheap houses and too narrow for dear ones). Bins and
half-widths are plain numbers in the manifest.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlwright.errors import ArtifactError


def level_key(level: float) -> str:
    """The manifest's key of a coverage level: 0.9 -> '0.9'."""
    return f"{level:g}"


@dataclass
class PredictionIntervals:
    """``edges``: inner boundaries of the predicted-value bins (increasing; bins = edges + 1).
    ``halfwidths``: level key (``level_key``) -> one half-width per bin."""

    edges: list[float]
    halfwidths: dict[str, list[float]]

    def __post_init__(self) -> None:
        try:
            self.edges = [float(e) for e in self.edges]
            self.halfwidths = {
                level_key(float(k)): [float(w) for w in v] for k, v in self.halfwidths.items()
            }
        except (TypeError, ValueError) as exc:
            raise ArtifactError(
                f"the manifest's prediction intervals are malformed: {exc}"
            ) from exc
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ArtifactError("the manifest's prediction-interval bins are not increasing")
        for key, widths in self.halfwidths.items():
            if len(widths) != len(self.edges) + 1 or any(not w >= 0 for w in widths):
                raise ArtifactError(
                    f"the manifest's prediction intervals at level {key} need "
                    f"{len(self.edges) + 1} non-negative half-widths, got {widths}"
                )

    @property
    def levels(self) -> list[float]:
        return sorted(float(k) for k in self.halfwidths)

    def _widths(self, level: float) -> list[float]:
        key = level_key(level)
        if key not in self.halfwidths:
            known = ", ".join(level_key(v) for v in self.levels)
            raise ValueError(f"no prediction intervals at level {key}; this model has {known}")
        return self.halfwidths[key]

    def bounds(self, pred: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) around predictions ``pred``."""
        widths = np.asarray(self._widths(level))
        pred = np.asarray(pred, dtype=np.float64)
        half = widths[np.searchsorted(np.asarray(self.edges), pred, side="right")]
        return pred - half, pred + half

    def bounds_one(self, pred: float, level: float) -> tuple[float, float]:
        half = self._widths(level)[bisect.bisect_right(self.edges, pred)]
        return pred - half, pred + half

    def to_dict(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "halfwidths": dict(self.halfwidths)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredictionIntervals:
        if not isinstance(data, Mapping) or "edges" not in data or "halfwidths" not in data:
            raise ArtifactError(
                "the manifest's prediction intervals are malformed: they need edges and halfwidths"
            )
        return cls(list(data["edges"]), dict(data["halfwidths"]))
