"""Full-ranking metrics: every catalogue item is ranked for every user (no sampled
negatives), the user's history removed, and each metric is a mean over users with a
bootstrap interval. Two models on the same users are compared with a paired bootstrap.

Definitions (binary relevance, K the cut-off, R the user's relevant items):
- NDCG@K: DCG of the list over the DCG of the best list of min(K, |R|) hits.
- Recall@K: hits / min(K, |R|), so a perfect list scores 1 however many items are relevant.
- MAP@K: the mean over hits of precision at each hit's rank, over min(K, |R|).
- MRR@K: 1 / the rank of the first hit in the top K (0 when none).
- Coverage@K: distinct items recommended to anyone / catalogue size (items some training
  user met: no other item can be recommended).
- Novelty@K: mean self-information -log2(share of training users who met the item).
- Popularity@K: mean training-user share of the recommended items (popularity bias).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlwright.evaluate import Difference, Interval

PER_USER = ("ndcg", "recall", "map", "mrr")


@dataclass(frozen=True)
class RankingScores:
    """Per-user metrics at one K, and the list-level ones."""

    k: int
    per_user: dict[str, np.ndarray]
    coverage: float
    novelty: float
    popularity: float

    @property
    def users(self) -> int:
        return len(self.per_user["ndcg"])

    def mean(self, metric: str) -> float:
        return float(self.per_user[metric].mean()) if self.users else float("nan")

    def summary(self, n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
        """Each per-user metric with its 95% interval, and the list-level metrics."""
        out: dict[str, dict[str, float]] = {
            f"{name}@{self.k}": mean_interval(values, n_boot=n_boot, seed=seed).to_dict()
            for name, values in self.per_user.items()
        }
        out[f"coverage@{self.k}"] = {"value": self.coverage}
        out[f"novelty@{self.k}"] = {"value": self.novelty}
        out[f"popularity@{self.k}"] = {"value": self.popularity}
        return out


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ranking_scores(
    recommended: np.ndarray,
    relevant: Sequence[np.ndarray],
    k: int,
    *,
    item_users: np.ndarray,
    n_train_users: int,
) -> RankingScores:
    """Score ``recommended`` (users x at least K item codes, -1 where a list is short)
    against each user's ``relevant`` item codes. ``item_users[i]`` is how many training
    users met item i; the catalogue is every item with one or more."""
    top = np.asarray(recommended)[:, :k]
    n = len(top)
    discounts = _discounts(k)
    ndcg, recall, ap, rr = (np.zeros(n) for _ in range(4))
    for u in range(n):
        rel = relevant[u]
        hits = np.isin(top[u], rel) & (top[u] >= 0)
        ideal = min(k, len(rel))
        if ideal == 0:
            continue
        count = hits.sum()
        if count == 0:
            continue
        ndcg[u] = discounts[hits].sum() / discounts[:ideal].sum()
        recall[u] = count / ideal
        ranks = np.flatnonzero(hits) + 1
        ap[u] = (np.arange(1, count + 1) / ranks).sum() / ideal
        rr[u] = 1.0 / ranks[0]
    shown = top[top >= 0]
    n_items = int((item_users > 0).sum())  # the catalogue: items some training user met
    share = item_users / max(n_train_users, 1)
    with np.errstate(divide="ignore"):
        information = -np.log2(np.where(share > 0, share, 1.0 / max(n_train_users, 1)))
    return RankingScores(
        k,
        {"ndcg": ndcg, "recall": recall, "map": ap, "mrr": rr},
        coverage=float(len(np.unique(shown[item_users[shown] > 0])) / n_items)
        if n_items
        else float("nan"),
        novelty=float(information[shown].mean()) if len(shown) else float("nan"),
        popularity=float(share[shown].mean()) if len(shown) else float("nan"),
    )


def _boot_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = len(values)
    draws = rng.integers(0, n, size=(n_boot, n))
    return np.asarray(values[draws].mean(axis=1))


def mean_interval(
    values: np.ndarray, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> Interval:
    """The mean over users with a percentile bootstrap interval (users resampled)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(_boot_means(values, n_boot, seed), [alpha, 1.0 - alpha])
    return Interval(float(values.mean()), float(low), float(high))


def paired_user_difference(
    a: np.ndarray, b: np.ndarray, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> Difference:
    """mean(a) - mean(b) over the same users, users resampled in pairs; ``a`` better when
    higher (every per-user metric here is)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("a paired difference needs both models scored on the same users")
    diffs = _boot_means(a - b, n_boot, seed)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(diffs, [alpha, 1.0 - alpha])
    return Difference(
        float(a.mean() - b.mean()), float(low), float(high), float((diffs > 0).mean())
    )
