"""mlwright: a machine-learning engineer's job as software.

Frame a task, check the data, train and evaluate models honestly, and ship a safe artifact
to a model registry::

    import mlwright
    model = mlwright.fit(df, target="churn", time_budget=60)
    model.predict_one({"tenure": 3, "contract": "Month-to-month", ...})

    rec = mlwright.fit(ratings, task="recommendation", user="userId", item="movieId",
                       time="timestamp")
    rec.recommend(user=42, k=10)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlwright._version import __version__
from mlwright.errors import (
    ArtifactError,
    DataCheckError,
    DataError,
    InputError,
    MlwrightError,
    MlwrightWarning,
    NotFittedError,
    RegistryError,
    SchemaMismatchError,
    SpecError,
    TrainingError,
)

if TYPE_CHECKING:
    from mlwright.api import fit, load, run
    from mlwright.artifact import Model
    from mlwright.recommend import Recommendation, Recommender
    from mlwright.spec import TaskSpec, load_spec


# The heavy parts (NumPy, Polars, scikit-learn, LightGBM) load on first use, so that the
# command line starts fast and `import mlwright` costs nothing until it is used.
_LAZY = {
    "fit": "mlwright.api",
    "run": "mlwright.api",
    "load": "mlwright.api",
    "Model": "mlwright.artifact",
    "Recommender": "mlwright.recommend",
    "Recommendation": "mlwright.recommend",
    "TaskSpec": "mlwright.spec",
    "load_spec": "mlwright.spec",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlwright' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ArtifactError",
    "DataCheckError",
    "DataError",
    "InputError",
    "MlwrightError",
    "MlwrightWarning",
    "Model",
    "NotFittedError",
    "Recommendation",
    "Recommender",
    "RegistryError",
    "SchemaMismatchError",
    "SpecError",
    "TaskSpec",
    "TrainingError",
    "__version__",
    "fit",
    "load",
    "load_spec",
    "run",
]
