"""Offline evaluation of a recommender by a protocol (``_split``): the model fitted on the
training rows only, every held-out user scored by full ranking, popularity and each
generator alone beside it, and paired bootstrap differences over the same users."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlwright.recommend._metrics import RankingScores, paired_user_difference, ranking_scores
from mlwright.recommend._model import Recommender
from mlwright.recommend._split import Split


@dataclass
class RecommendEvaluation:
    """Scores of the model and its baselines on one protocol's held-out users."""

    protocol: str
    k: int
    users: int
    scores: dict[str, RankingScores]
    chosen: str
    differences: dict[str, dict[str, float]] = field(default_factory=dict)

    def ndcg(self, name: str = "model") -> float:
        return self.scores[name].mean("ndcg")

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "k": self.k,
            "users": self.users,
            "chosen": self.chosen,
            "scores": {name: s.summary() for name, s in self.scores.items()},
            "differences": self.differences,
        }


def evaluate_split(model: Recommender, split: Split, k: int = 10) -> RecommendEvaluation:
    """Score ``model`` (fitted on ``split.train`` only) and its generators on the split's
    held-out users, with the popularity baseline always beside."""
    held = split.test
    stats = model.stats

    def scored(top: np.ndarray) -> RankingScores:
        return ranking_scores(
            top, held.relevant, k, item_users=stats.users, n_train_users=stats.n_train_users
        )

    scores: dict[str, RankingScores] = {
        "model": scored(model.top_items(held.history, k, users=held.users))
    }
    for kind in model.generators:
        scores[kind] = scored(model.top_items(held.history, k, source=kind))
    if "popularity" not in scores:
        raise ValueError("the popularity baseline is missing from the model's generators")
    best_generator = max(model.generators, key=lambda g: scores[g].mean("ndcg"))
    differences = {
        "model - popularity": paired_user_difference(
            scores["model"].per_user["ndcg"], scores["popularity"].per_user["ndcg"]
        ).to_dict(),
    }
    if model.chosen == "ranker":
        differences[f"model - {best_generator}"] = paired_user_difference(
            scores["model"].per_user["ndcg"], scores[best_generator].per_user["ndcg"]
        ).to_dict()
    return RecommendEvaluation(split.protocol, k, len(held), scores, model.chosen, differences)
