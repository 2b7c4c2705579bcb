"""TaskSpec: the declarative, validated description of one machine-learning task.

Every field has a default and a description; the descriptions are also what
``mlwright init`` writes as comments and what ``mlwright spec --show`` prints.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from mlwright.spec._metrics import PROBLEM_TYPES, ProblemType

SPEC_VERSION = 1

_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?"
    r"\s*(?:(\d+(?:\.\d+)?)\s*s?)?\s*$"
)


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like ``"90"``, ``"90s"``, ``"5m"``, ``"1h30m"``,
    ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '5m'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value.lower())
        if match and any(match.groups()):
            days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
            return days * 86400 + hours * 3600 + minutes * 60 + seconds
    raise ValueError(
        f"cannot read {value!r} as a duration; write seconds (300) or '90s', '5m', '1h30m'"
    )


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, use_attribute_docstrings=False
    )


class DataSource(_Section):
    """Where the training data comes from: a file, or a SQL query."""

    path: str | None = Field(
        None, description="CSV or Parquet file to train from; relative to the spec file."
    )
    sql: str | None = Field(
        None, description="SQL query to train from instead of a file; needs url."
    )
    url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database for sql, e.g. 'sqlite:///shop.db' or "
        "'postgresql+psycopg://user:pass@host/db'.",
    )
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="File format of path; 'auto' reads it from the file extension."
    )


class TaskSection(_Section):
    """What to predict, from which columns, judged by which metric."""

    target: str = Field("", description="Column to predict (every task but a recommendation one).")
    problem_type: Literal["auto", "binary", "multiclass", "regression", "recommendation"] = Field(
        "auto",
        description="'auto' infers it from the target column; 'recommendation' learns from an "
        "interaction log (user, item, time) instead of a target.",
    )
    positive_class: str | None = Field(
        None,
        description="Binary tasks: the class whose probability is predicted and acted on; "
        "default: a class named like yes/true/1, else the rarer class.",
    )
    id: str | None = Field(
        None, description="Row identifier column: kept in outputs, never a feature."
    )
    group: str | None = Field(
        None, description="Group column (e.g. customer): rows of a group never span train and test."
    )
    time: str | None = Field(
        None, description="Time column: validation trains on the past and tests on the future."
    )
    ignore: list[str] = Field(default_factory=list, description="Columns never used as features.")
    metric: str = Field(
        "auto",
        description="Metric that chooses the model; 'auto': roc_auc (binary), log_loss "
        "(multiclass), rmse (regression), ndcg (recommendation, at recommend.k).",
    )
    user: str | None = Field(None, description="Recommendation: the user id column.")
    item: str | None = Field(None, description="Recommendation: the item id column.")
    weight: str | None = Field(
        None,
        description="Recommendation: a numeric column of each interaction's strength (a rating, "
        "a count); the ranker sees its per-item mean.",
    )

    @property
    def is_recommendation(self) -> bool:
        return self.problem_type == "recommendation"


class ValueSection(_Section):
    """Business value of each decision outcome, in any currency unit: tp/fp/tn/fn for a
    binary task, or a matrix for a multiclass one."""

    tp: float = Field(0.0, description="Value of acting on a positive (true positive).")
    fp: float = Field(
        0.0, description="Value of acting on a negative (false positive); usually a cost."
    )
    tn: float = Field(0.0, description="Value of not acting on a negative (true negative).")
    fn: float = Field(0.0, description="Value of not acting on a positive (false negative).")

    matrix: dict[str, dict[str, float]] | None = Field(
        None,
        description="Multiclass: value of predicting class P when the truth is class T, as "
        "matrix.T.P (entries not given are 0); the model then predicts the class of highest "
        "expected value instead of the most probable one.",
    )
    currency: str = Field(
        "value units",
        min_length=1,
        max_length=24,
        description="Unit of the values above, as the model card writes them: a code ('EUR', "
        "written after the number) or a symbol ('$', '€', written before it).",
    )

    @property
    def stated(self) -> bool:
        """Binary decision values are given."""
        return any(v != 0.0 for v in (self.tp, self.fp, self.tn, self.fn))

    def matrix_for(self, classes: Sequence[str]) -> np.ndarray | None:
        """The value matrix as an array, [true class][predicted class] in ``classes`` order
        (None when no matrix is given)."""
        if self.matrix is None:
            return None
        index = {c: i for i, c in enumerate(classes)}
        out = np.zeros((len(classes), len(classes)))
        for truth, row in self.matrix.items():
            for predicted, value in row.items():
                out[index[truth], index[predicted]] = value
        return out


class ConstraintsSection(_Section):
    """Limits the chosen model must respect."""

    time_budget: float = Field(
        300.0, gt=0, description="Wall-clock seconds for training; also '90s', '5m', '1h'."
    )
    max_latency_p99_ms: float | None = Field(
        None, gt=0, description="Largest acceptable p99 latency of one single-row prediction, ms."
    )
    max_model_size_mb: float | None = Field(
        None, gt=0, description="Largest acceptable artifact size, MB."
    )
    target_latency_p50_ms: float | None = Field(
        1.0,
        gt=0,
        description="Single-row p50 the shipped model aims for, ms: an ensemble takes members "
        "only while their expected time after the refit fits in it. Soft: the best single model "
        "is kept even when it is slower. Raise it to let larger ensembles through.",
    )
    max_memory_gb: float | None = Field(
        None, gt=0, description="Peak memory the search may use, GB; default: half the machine."
    )

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class ValidationSection(_Section):
    """How models are compared without touching the final holdout."""

    strategy: Literal["auto", "stratified", "kfold", "group", "time"] = Field(
        "auto",
        description="'auto': time splits with a time column, group k-fold with a group column, "
        "else stratified k-fold (plain k-fold for regression).",
    )
    folds: int = Field(5, ge=2, le=20, description="Number of cross-validation folds.")
    holdout: float = Field(
        0.2,
        gt=0.0,
        lt=0.5,
        description="Share of rows kept out of every choice, used only to report.",
    )
    refit: bool = Field(
        True,
        description="After the holdout has scored the chosen model, refit it on every labelled "
        "row (the reported scores then slightly understate it).",
    )


class SearchSection(_Section):
    """How models are searched: families, tuning, ensembling, parallelism."""

    learners: list[str] = Field(
        default_factory=list,
        description="Learner families to try, e.g. ['lightgbm', 'linear']; empty: every "
        "installed family of the default search ('tabm' runs only when named). The baseline "
        "always runs.",
    )
    max_trials: int | None = Field(
        None,
        ge=1,
        description="Stop after this many trials instead of at the time budget; the same seed "
        "and count give the same model.",
    )
    tune: bool = Field(
        True, description="After the default portfolio, tune the leading families with Optuna."
    )
    ensemble: bool = Field(
        True,
        description="Combine trials by greedy ensemble selection over out-of-fold predictions.",
    )
    stacking: bool = Field(
        False,
        description="Also fit a second layer, a regularised linear model over the leading "
        "trials' out-of-fold predictions; it is kept only if it beats the greedy ensemble "
        "by more than the noise on the stacking holdout (else the out-of-fold rows).",
    )
    stack_levels: Literal["auto", 0, 1] = Field(
        "auto",
        description="Layers of models above the first: 1 fits second-layer models on the "
        "original features plus the leading trials' out-of-fold predictions, kept only if a "
        "holdout carved from the training rows shows they do not overfit; 0 never; 'auto': 1 "
        "when the search window and the validation allow it (random folds, a budget of "
        "minutes), else 0, and the run says why.",
    )
    repeats: int = Field(
        3,
        ge=1,
        le=10,
        description="Repeated k-fold bagging: once the default portfolio and the first "
        "tuning are done, each member of the ensemble is cross-validated again on new random "
        "folds, up to this many fold splits in all, and ensembles are chosen on every split's "
        "out-of-fold predictions, so that one split's luck weighs less; 1: one split. A time "
        "split has one split only.",
    )
    gpu: bool = Field(
        False,
        description="Train XGBoost and CatBoost on a CUDA GPU when one is present; without "
        "one they train on the CPU. Predictions always run on the CPU.",
    )
    workers: int = Field(
        0,
        ge=0,
        description="Trials run in parallel in this many worker processes; 0: one per core "
        "(one, in-process, for a small table searched with max_trials).",
    )


class ChecksSection(_Section):
    """Overrides for data checks."""

    allow: list[str] = Field(
        default_factory=list,
        description="Blocking findings to accept anyway: a code ('leakage.single_feature') or "
        "code:column ('leakage.single_feature:refund_date').",
    )


class RegistrySection(_Section):
    """MLflow tracking and model registry."""

    enabled: bool = Field(True, description="Log the run and register the model in MLflow.")
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; default: $MLFLOW_TRACKING_URI, else "
        "sqlite:///mlflow.db in the working directory.",
    )
    model_name: str | None = Field(
        None, description="Registered model name; default: the spec name."
    )
    experiment: str | None = Field(None, description="MLflow experiment; default: the spec name.")


class OutputSection(_Section):
    """Where the artifact is written."""

    dir: str | None = Field(None, description="Artifact directory; default: models/<name>.")


class CardSection(_Section):
    """What the model card says about the model's purpose (the rest comes from evidence)."""

    question: str | None = Field(
        None, description="The business question the model answers, in a sentence."
    )
    intended_use: str | None = Field(
        None, description="Who uses the predictions, for what decisions."
    )
    out_of_scope: list[str] = Field(
        default_factory=list,
        description="Uses the model is not for, e.g. ['pricing individual loans'].",
    )
    owner: str | None = Field(None, description="Team or person answerable for the model.")


class MonitorSection(_Section):
    """How served traffic is watched (``mlwright monitor``): windows, and the effect sizes
    that raise an alert. Every threshold is an effect size, never a bare p-value, so that
    large windows do not alert on trivial shifts; small windows are judged against their
    own sampling noise, and windows under ``min_rows`` are reported as too small to judge."""

    window: float = Field(
        86400.0,
        gt=0,
        description="Length of one window of traffic, seconds; also '1h', '6h', '1d'.",
    )
    min_rows: int = Field(
        200, ge=10, description="Rows a window needs before its drift and quality are judged."
    )
    psi_warn: float = Field(
        0.1, gt=0, description="Population stability index that marks a moderate shift."
    )
    psi_alert: float = Field(
        0.2,
        gt=0,
        description="Population stability index of a feature or of the predictions that "
        "raises an alert (when it is also beyond the window's sampling noise).",
    )
    max_missing_increase: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Rise of a feature's missing rate over the reference (absolute) that "
        "raises an alert.",
    )
    max_new_category_share: float = Field(
        0.01,
        gt=0,
        le=1,
        description="Share of a window's values in categories never seen in training that "
        "raises an alert.",
    )
    max_out_of_range_share: float = Field(
        0.01,
        gt=0,
        le=1,
        description="Share of a window's values outside the training range that raises an alert.",
    )
    max_performance_drop: float = Field(
        0.02,
        gt=0,
        lt=1,
        description="Relative drop of the metric against the holdout (estimated, or realised "
        "once labels arrive) that raises an alert, when its interval also excludes the holdout.",
    )
    min_labels: int = Field(
        50, ge=10, description="Labelled rows a window needs before its realised metric is shown."
    )
    promotion_margin: float = Field(
        0.0,
        ge=0,
        description="How much better (in the metric's units) a challenger must be than the "
        "champion on the same recent labelled rows to be promoted; the paired 95% interval "
        "of the difference must clear it.",
    )

    @field_validator("window", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class RecommendSection(_Section):
    """Recommendation tasks: item features, the evaluation protocol and the candidates. The
    share of users (or of time) held out is validation.holdout; the ranker's
    cross-validation uses validation.folds."""

    items: str | None = Field(
        None,
        description="CSV or Parquet table with one row per item (the task.item column plus "
        "features); relative to the spec file.",
    )
    item_features: list[str] = Field(
        default_factory=list,
        description="Columns that describe an item (of recommend.items, else of the "
        "interactions): numbers, categories, or tags separated by '|' ('Action|Comedy').",
    )
    users: str | None = Field(
        None,
        description="CSV or Parquet table with one row per user (the task.user column plus "
        "features); relative to the spec file.",
    )
    user_features: list[str] = Field(
        default_factory=list,
        description="Columns that describe a user (of recommend.users, else of the "
        "interactions): numbers or categories; the ranker sees them for known users.",
    )
    protocol: Literal["users", "time"] = Field(
        "users",
        description="'users': hold out whole users, each scored on their latest items given "
        "their earlier ones (strong generalisation); 'time': train before a cut-off time and "
        "score what users did after it.",
    )
    history_share: float = Field(
        0.8,
        gt=0.0,
        lt=1.0,
        description="Share of a held-out user's interactions (earliest first) given as history; "
        "the rest are the items to find.",
    )
    k: int = Field(10, ge=1, le=1000, description="Length of the lists scored (NDCG@k ...).")
    candidates: int = Field(
        50, ge=5, le=1000, description="Items each generator puts before the ranker, per user."
    )
    ranker: bool = Field(
        True,
        description="Train a LightGBM ranker over the generators' candidates (kept only when "
        "it beats every generator alone on validation users).",
    )


class TaskSpec(BaseModel):
    """A whole task: data, target, validation, constraints, business values and registry."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    version: Literal[1] = Field(1, description="Spec format version.")
    name: str | None = Field(
        None, description="Task name, used for the registry and output folder; default: the target."
    )
    seed: int = Field(0, description="Random seed for splits and learners.")
    data: DataSource = Field(default_factory=DataSource)
    task: TaskSection
    value: ValueSection = Field(default_factory=ValueSection)
    card: CardSection = Field(default_factory=CardSection)
    constraints: ConstraintsSection = Field(default_factory=ConstraintsSection)
    validation: ValidationSection = Field(default_factory=ValidationSection)
    search: SearchSection = Field(default_factory=SearchSection)
    checks: ChecksSection = Field(default_factory=ChecksSection)
    registry: RegistrySection = Field(default_factory=RegistrySection)
    output: OutputSection = Field(default_factory=OutputSection)
    monitor: MonitorSection = Field(default_factory=MonitorSection)
    recommend: RecommendSection = Field(default_factory=RecommendSection)

    # Directory that relative paths in the spec are resolved against (the spec file's folder).
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    def with_base_dir(self, base_dir: Path) -> TaskSpec:
        self._base_dir = base_dir
        return self

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self._base_dir / path

    @property
    def task_name(self) -> str:
        if self.name:
            return self.name
        return self.task.target or "recommender"

    @property
    def resolved_problem_type(self) -> ProblemType:
        pt = self.task.problem_type
        if pt == "auto":
            raise RuntimeError("problem_type not resolved yet: call mlwright.spec.resolve first")
        assert pt in PROBLEM_TYPES
        return pt

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


SECTIONS: dict[str, type[_Section]] = {
    "data": DataSource,
    "task": TaskSection,
    "value": ValueSection,
    "card": CardSection,
    "constraints": ConstraintsSection,
    "validation": ValidationSection,
    "search": SearchSection,
    "checks": ChecksSection,
    "registry": RegistrySection,
    "output": OutputSection,
    "monitor": MonitorSection,
    "recommend": RecommendSection,
}
TOP_LEVEL_FIELDS: tuple[str, ...] = ("version", "name", "seed")

# Keyword arguments of mlwright.fit name leaf fields directly (time_budget=60), so leaf
# names must be unique across sections; a test pins this.
FLAT_FIELDS: dict[str, str] = {
    field: section for section, model in SECTIONS.items() for field in model.model_fields
}
