"""mlwright: a machine-learning engineer's job as software.

Frame a task, check the data, train and evaluate models honestly, and ship a safe artifact
to a model registry::

    import mlwright
    model = mlwright.fit(df, target="churn", time_budget=60)
    model.predict_one({"tenure": 3, "contract": "Month-to-month", ...})
"""

from mlwright.api import fit, load, run
from mlwright.artifact import Model
from mlwright.errors import (
    ArtifactError,
    DataCheckError,
    DataError,
    InputError,
    MlwrightError,
    NotFittedError,
    RegistryError,
    SchemaMismatchError,
    SpecError,
    TrainingError,
)
from mlwright.spec import TaskSpec, load_spec

__version__ = "0.1.0"

__all__ = [
    "ArtifactError",
    "DataCheckError",
    "DataError",
    "InputError",
    "MlwrightError",
    "Model",
    "NotFittedError",
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
