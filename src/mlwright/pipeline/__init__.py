"""The main job as typed stages over one runner (see docs/architecture.md).

``mlwright run`` (CLI), ``mlwright.run`` and ``mlwright.fit`` come through ``train`` or
``train_recommendation``; the monitoring loop retrains through ``train`` too. Batch scoring
(``predict_file``, ``recommend_file``) lives beside them.
"""

from mlwright.pipeline._batch import (
    predict_file,
    predict_table,
    recommend_file,
    recommend_table,
    write_output,
)
from mlwright.pipeline._budget import (
    OVERRUN_ALLOWED,
    budget_for_search,
    finish_seconds,
    overrun_note,
    search_seconds,
)
from mlwright.pipeline._check import Checked, check, encode_target, validate_before_work
from mlwright.pipeline._document import leaderboard
from mlwright.pipeline._package import CARD_HTML, CARD_MARKDOWN
from mlwright.pipeline._recommend import (
    RecommendRunResult,
    check_recommendation,
    recommender_model_card,
    train_recommendation,
)
from mlwright.pipeline._runner import Run, Stage, run_stages
from mlwright.pipeline._tabular import RunResult, train

__all__ = [
    "CARD_HTML",
    "CARD_MARKDOWN",
    "OVERRUN_ALLOWED",
    "Checked",
    "RecommendRunResult",
    "Run",
    "RunResult",
    "Stage",
    "budget_for_search",
    "check",
    "check_recommendation",
    "encode_target",
    "finish_seconds",
    "leaderboard",
    "overrun_note",
    "predict_file",
    "predict_table",
    "recommend_file",
    "recommend_table",
    "recommender_model_card",
    "run_stages",
    "search_seconds",
    "train",
    "train_recommendation",
    "validate_before_work",
    "write_output",
]
