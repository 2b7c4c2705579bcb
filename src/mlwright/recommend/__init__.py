"""Recommendation: an interaction log in, a recommender out, evaluated by full ranking on
users it never trained on.

Candidates come from generators (popularity, item-kNN, EASE, implicit ALS); a LightGBM
ranker orders them when it beats each generator alone on validation users.
"""

from mlwright.recommend._candidates import FeatureSources, ItemFeatures, ItemStats, UserFeatures
from mlwright.recommend._card import chosen_text, recommender_card
from mlwright.recommend._checks import InteractionChecks, check_interactions
from mlwright.recommend._evaluate import RecommendEvaluation, evaluate_split
from mlwright.recommend._evidence import (
    ColumnNames,
    DataSize,
    FitRecord,
    HeldOutEvaluation,
    LogChecks,
    PlanRecord,
    RankDifference,
    RankerRecord,
    RankScore,
    RecommenderEvidence,
    SettingsRecord,
)
from mlwright.recommend._fit import FitPlan, RecommendSettings, fit_recommender, windows
from mlwright.recommend._generators import ALS, EASE, GENERATORS, Generator, ItemKNN, Popularity
from mlwright.recommend._interactions import Interactions, epoch_seconds, interactions_from_frame
from mlwright.recommend._metrics import (
    RankingScores,
    mean_interval,
    paired_user_difference,
    ranking_scores,
)
from mlwright.recommend._model import MAX_K, Recommendation, Recommender, Scorers
from mlwright.recommend._split import HeldOut, Split, make_split, time_split, user_split
from mlwright.recommend._store import load_recommender, save_recommender
from mlwright.recommend._train import TrainOptions, train_recommender

__all__ = [
    "ALS",
    "EASE",
    "GENERATORS",
    "MAX_K",
    "ColumnNames",
    "DataSize",
    "FeatureSources",
    "FitPlan",
    "FitRecord",
    "Generator",
    "HeldOut",
    "HeldOutEvaluation",
    "InteractionChecks",
    "Interactions",
    "ItemFeatures",
    "ItemKNN",
    "ItemStats",
    "LogChecks",
    "PlanRecord",
    "Popularity",
    "RankDifference",
    "RankScore",
    "RankerRecord",
    "RankingScores",
    "RecommendEvaluation",
    "RecommendSettings",
    "Recommendation",
    "Recommender",
    "RecommenderEvidence",
    "Scorers",
    "SettingsRecord",
    "Split",
    "TrainOptions",
    "UserFeatures",
    "check_interactions",
    "chosen_text",
    "epoch_seconds",
    "evaluate_split",
    "fit_recommender",
    "interactions_from_frame",
    "load_recommender",
    "make_split",
    "mean_interval",
    "paired_user_difference",
    "ranking_scores",
    "recommender_card",
    "save_recommender",
    "time_split",
    "train_recommender",
    "user_split",
    "windows",
]
