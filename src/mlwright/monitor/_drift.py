"""How far a window of served traffic has moved from the training reference.

Three effect sizes, none of them a p-value (a test of "any difference at all" fires on
every feature once windows are large: Evidently issue #50, "almost all features became
drifted"):

- PSI, the population stability index, over the reference's decile bins (numeric) or its
  common categories plus "other" (categorical): sum (cur - ref) * ln(cur / ref).
  Conventional reading: < 0.1 stable, 0.1-0.2 moderate, > 0.2 a real shift.
- Jensen-Shannon distance (base 2, 0 to 1) over the same bins.
- Wasserstein-1 distance between the window's values and the reference's percentiles,
  divided by the reference's standard deviation (numeric only): "how many standard
  deviations the mass moved".

Effect sizes do not grow with the window, but a small window's PSI is inflated by
sampling noise alone: with k bins, n window rows and m reference rows PSI is about
(1/n + 1/m) chi2(k - 1) under no drift. A feature alerts only when its PSI passes the
spec's threshold *and* that noise quantile (at 1% split over the features judged).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import chi2

from mlwright.data import PERCENTILES, bin_counts

# Shares below this are floored before the logarithm (an empty bin is not infinitely far).
SHARE_FLOOR = 1e-4
# Categories kept as their own bin: the reference's common ones; the rest share "other".
MIN_CATEGORY_SHARE = 0.01
OTHER = "(other)"
PSEUDO_COUNT = 0.5


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    ref = np.clip(np.asarray(reference, dtype=np.float64), SHARE_FLOOR, None)
    cur = np.clip(np.asarray(current, dtype=np.float64), SHARE_FLOOR, None)
    ref, cur = ref / ref.sum(), cur / cur.sum()
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def js_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2: 0 identical, 1 disjoint); 0 when either side has
    no mass. Each half is summed as p log(2p / (p + q)): the mixture (p + q) / 2
    underflows to 0 for a share of 5e-324, which made scipy's jensenshannon infinite, and
    the one ratio is exactly 1 where p = q (log p + 1 - log(p + q) left a rounding error
    that the square root made 9e-9)."""
    p = np.asarray(reference, dtype=np.float64)
    q = np.asarray(current, dtype=np.float64)
    if not (p.sum() > 0 and q.sum() > 0):
        return 0.0
    p, q = p / p.sum(), q / q.sum()

    def half(a: np.ndarray, b: np.ndarray) -> float:
        met = a > 0
        return float(np.sum(a[met] * np.log2(2.0 * a[met] / (a[met] + b[met]))))

    divergence = 0.5 * (half(p, q) + half(q, p))
    return min(1.0, math.sqrt(max(divergence, 0.0)))


def wasserstein(percentiles: Sequence[float], values: np.ndarray, scale: float) -> float:
    """Wasserstein-1 distance between ``values`` and the distribution whose percentiles
    (0, 1, ..., 100) are given, divided by ``scale`` (the reference's standard deviation):
    the mean gap between the two quantile functions on the percentile grid."""
    ref = np.asarray(percentiles, dtype=np.float64)
    cur = np.quantile(values, PERCENTILES)
    gaps = np.abs(cur - ref)
    distance = float(np.trapezoid(gaps, PERCENTILES))
    return distance / scale if scale > 0 else (0.0 if distance == 0 else math.inf)


def noise_psi(bins: int, n: int, m: int, alpha: float) -> float:
    """The PSI that sampling alone exceeds with probability ``alpha`` when a window of ``n``
    rows and a reference of ``m`` rows come from the same distribution over ``bins`` bins
    (PSI is a symmetrised KL divergence, about (1/n + 1/m) chi2(bins - 1) for large n)."""
    if bins < 2 or n <= 0:
        return 0.0
    return float(chi2.ppf(1.0 - alpha, bins - 1) * (1.0 / n + (1.0 / m if m > 0 else 0.0)))


@dataclass(frozen=True)
class Bins:
    """The reference's bins of one column: numeric edges, or the categories kept."""

    shares: np.ndarray
    edges: np.ndarray | None = None  # numeric
    categories: tuple[str, ...] | None = None  # categorical, "other" last

    @classmethod
    def of(cls, stats: Mapping[str, Any]) -> Bins | None:
        """The bins of a column's reference statistics (None: nothing to bin)."""
        if "bins" in stats:
            return cls(
                np.asarray(stats["bins"]["shares"], dtype=np.float64),
                edges=np.asarray(stats["bins"]["edges"], dtype=np.float64),
            )
        top: Mapping[str, float] | None = stats.get("top")
        if not top:
            return None
        kept = {k: v for k, v in top.items() if v >= MIN_CATEGORY_SHARE}
        other = max(0.0, 1.0 - sum(kept.values()))
        return cls(
            np.asarray([*kept.values(), other], dtype=np.float64),
            categories=(*kept.keys(), OTHER),
        )

    def counts(self, values: np.ndarray) -> np.ndarray:
        """Counts of the non-missing ``values`` (floats, or strings with None missing)."""
        if self.edges is not None:
            return bin_counts(np.asarray(values, dtype=np.float64), self.edges)
        assert self.categories is not None
        index = {c: i for i, c in enumerate(self.categories[:-1])}
        other = len(self.categories) - 1
        picked = [index.get(v, other) for v in values if v is not None]
        return np.bincount(np.asarray(picked, dtype=np.int64), minlength=len(self.categories))


@dataclass(frozen=True)
class Shift:
    """One column's drift in one window."""

    rows: int  # non-missing values compared
    psi: float
    js: float
    wasserstein: float | None  # numeric columns only
    noise: float  # the PSI sampling alone would pass at this size (see noise_psi)
    level: str  # "stable", "moderate" or "drift"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "psi": self.psi,
            "js": self.js,
            "wasserstein": self.wasserstein,
            "noise_psi": self.noise,
            "level": self.level,
        }


def shift(
    stats: Mapping[str, Any],
    values: np.ndarray,
    *,
    warn: float,
    alert: float,
    alpha: float,
) -> Shift | None:
    """The drift of ``values`` (a window's non-missing and missing values of one column)
    from the column's reference statistics; None when the reference has no bins."""
    bins = Bins.of(stats)
    if bins is None:
        return None
    counts = bins.counts(values)
    n = int(counts.sum())
    if n == 0:
        return None
    # Half a count added to every bin: an empty bin of a small window is not evidence of
    # an infinitely large shift (with a bare floor, PSI of 60 rows passes 0.2 a third of
    # the time by chance).
    current = (counts + PSEUDO_COUNT) / (n + PSEUDO_COUNT * len(counts))
    value = psi(bins.shares, current)
    reference_rows = int(stats.get("rows", 0) * (1.0 - float(stats.get("missing_rate", 0.0))))
    noise = noise_psi(len(bins.shares), n, reference_rows, alpha)
    distance = None
    if bins.edges is not None and "percentiles" in stats:
        numbers = np.asarray(values, dtype=np.float64)
        numbers = numbers[~np.isnan(numbers)]
        distance = wasserstein(stats["percentiles"], numbers, float(stats.get("std", 0.0)))
    beyond_noise = value > noise
    level = (
        "drift"
        if value >= alert and beyond_noise
        else "moderate"
        if value >= warn and beyond_noise
        else "stable"
    )
    return Shift(n, value, js_distance(bins.shares, current), distance, noise, level)
