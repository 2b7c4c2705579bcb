"""Safe save and load of a whole model: manifest, hashes, no pickle."""

from mlwright.artifact._calibrator import CalibrationKind, Calibrator
from mlwright.artifact._check import load_in_child, smoke_test
from mlwright.artifact._explain import Explanation, explain_model
from mlwright.artifact._intervals import PredictionIntervals, level_key
from mlwright.artifact._model import (
    ClassValue,
    InputField,
    Member,
    Model,
    OutputLayers,
    class_name,
    same_task,
)
from mlwright.artifact._stack import Stacker
from mlwright.artifact._store import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    check_document_names,
    check_replaceable,
    is_recommender,
    jsonable,
    library_versions,
    load_model,
    manifest_digest,
    path_inside,
    read_manifest,
    save_model,
    sha256_file,
    verify_files,
    write_artifact,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "CalibrationKind",
    "Calibrator",
    "ClassValue",
    "Explanation",
    "InputField",
    "Member",
    "Model",
    "OutputLayers",
    "PredictionIntervals",
    "Stacker",
    "check_document_names",
    "check_replaceable",
    "class_name",
    "explain_model",
    "is_recommender",
    "jsonable",
    "level_key",
    "library_versions",
    "load_in_child",
    "load_model",
    "manifest_digest",
    "path_inside",
    "read_manifest",
    "same_task",
    "save_model",
    "sha256_file",
    "smoke_test",
    "verify_files",
    "write_artifact",
]
