"""Model families behind one Learner contract; ``LEARNERS`` is the registry."""

from mlwright.errors import SpecError, did_you_mean, list_choices
from mlwright.learners._base import (
    Learner,
    LearnerTask,
    cuda_available,
    probabilities_from_binary,
)
from mlwright.learners._baseline import Baseline
from mlwright.learners._catboost import CatBoost
from mlwright.learners._forest import ExtraTrees, RandomForest
from mlwright.learners._knn import KNN
from mlwright.learners._lightgbm import LightGBM, LightGBMEngineered
from mlwright.learners._linear import Linear
from mlwright.learners._mlp import MLP, TabM
from mlwright.learners._xgboost import XGBoost

# One entry per family, in the order the leaderboard lists families.
_FAMILIES: tuple[type[Learner], ...] = (
    Baseline,
    Linear,
    LightGBM,
    LightGBMEngineered,
    XGBoost,
    CatBoost,
    RandomForest,
    ExtraTrees,
    KNN,
    MLP,
    TabM,
)
LEARNERS: dict[str, type[Learner]] = {cls.family: cls for cls in _FAMILIES}


def learner_class(family: str) -> type[Learner]:
    """The registered learner class for ``family``, or a SpecError naming the choices."""
    try:
        return LEARNERS[family]
    except KeyError:
        raise SpecError(
            f"unknown learner '{family}'{did_you_mean(family, LEARNERS)}",
            field="search.learners",
            hint=f"choose from: {list_choices(LEARNERS)}",
        ) from None


__all__ = [
    "KNN",
    "LEARNERS",
    "MLP",
    "Baseline",
    "CatBoost",
    "ExtraTrees",
    "Learner",
    "LearnerTask",
    "LightGBM",
    "LightGBMEngineered",
    "Linear",
    "RandomForest",
    "TabM",
    "XGBoost",
    "cuda_available",
    "learner_class",
    "probabilities_from_binary",
]
