"""MLflow tracking and model registry (aliases: champion, challenger)."""

from mlwright.registry._mlflow import (
    CHALLENGER,
    CHAMPION,
    MANIFEST_TAG,
    Registration,
    Resolved,
    check_manifest,
    check_model_name,
    is_registry_uri,
    load,
    log_and_register,
    resolve,
    tracking_uri,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "MANIFEST_TAG",
    "Registration",
    "Resolved",
    "check_manifest",
    "check_model_name",
    "is_registry_uri",
    "load",
    "log_and_register",
    "resolve",
    "tracking_uri",
]
