"""Safe save and load of a whole model: manifest, hashes, no pickle."""

from mlwright.artifact._model import ClassValue, InputField, Member, Model, class_name
from mlwright.artifact._stack import Stacker
from mlwright.artifact._store import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    jsonable,
    library_versions,
    load_model,
    manifest_digest,
    read_manifest,
    save_model,
    sha256_file,
    verify_files,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "ClassValue",
    "InputField",
    "Member",
    "Model",
    "Stacker",
    "class_name",
    "jsonable",
    "library_versions",
    "load_model",
    "manifest_digest",
    "read_manifest",
    "save_model",
    "sha256_file",
    "verify_files",
]
