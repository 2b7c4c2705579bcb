"""HTTP service: predict, explain, health, metadata, metrics and the prediction log."""

from mlwright.serve._app import Loaded, ServeSettings, Service, create_app, served_identity
from mlwright.serve._log import (
    PREDICTIONS,
    LogEntry,
    PredictionLog,
    Replayed,
    log_engine,
    read_log,
    replay_spill,
)
from mlwright.serve._recommend import (
    RecommendAnswer,
    RecommendRequest,
    RecommendService,
    create_recommend_app,
    is_recommender_artifact,
)
from mlwright.serve._records import UNKNOWN_FIELDS, Records, RecordSchema, UnknownFields
from mlwright.serve._server import serve
from mlwright.serve._spill import spill_path_for

__all__ = [
    "PREDICTIONS",
    "UNKNOWN_FIELDS",
    "Loaded",
    "LogEntry",
    "PredictionLog",
    "RecommendAnswer",
    "RecommendRequest",
    "RecommendService",
    "RecordSchema",
    "Records",
    "Replayed",
    "ServeSettings",
    "Service",
    "UnknownFields",
    "create_app",
    "create_recommend_app",
    "is_recommender_artifact",
    "log_engine",
    "read_log",
    "replay_spill",
    "serve",
    "served_identity",
    "spill_path_for",
]
