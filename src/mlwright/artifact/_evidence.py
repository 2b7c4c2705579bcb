"""The evidence of a training run, typed: what the manifest's metadata holds and what the card,
the command line, the registry and the monitor read.

The manifest (format_version 1) stores these models as JSON, key for key; the models describe
that format, so an artifact written before they existed (tests/fixtures/artifact-0.1.0)
reads the same. Every model is strict: a field of the wrong type, or a required one that is
missing, is an error naming its path (``Evidence.parse`` raises ArtifactError). Keys the
models do not name are kept as they are (``extra="allow"``), so a reader never drops what a
newer writer added.

A model built by hand and saved without a run (``Model(...).save``) has no evidence: every
top-level field is optional, and what is present is checked whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlwright.errors import ArtifactError


class _Shape(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class Interval(_Shape):
    """A measured number with its 95% interval."""

    value: float
    low: float
    high: float


class Difference(Interval):
    """A paired difference a - b with its interval, and the share of resamples where a won."""

    a_better_share: float


class NamedInterval(Interval):
    model: str


class BestSingle(_Shape):
    model: str
    score: float | None


class CvScores(_Shape):
    """The chosen model's cross-validated score beside the best single model's and the
    baseline's."""

    model: str
    score: float
    std: float
    folds: list[float]
    best_single: BestSingle
    baseline: float | None


class ReliabilityBin(_Shape):
    low: float
    high: float
    predicted: float
    observed: float
    rows: int


class CalibrationCheck(_Shape):
    """The chosen calibration map on the holdout: before and after."""

    metric: str
    score_before: float
    score_after: float
    log_loss_before: float
    log_loss_after: float
    ece_before: float
    ece_after: float
    reliability_before: list[ReliabilityBin]
    reliability_after: list[ReliabilityBin]


class Calibration(_Shape):
    chosen: str
    params: dict[str, Any]
    cv_log_loss: dict[str, float]
    cv_ece: dict[str, float]
    reason: str
    holdout: CalibrationCheck | None = None


class Holdout(_Shape):
    """Scores on the holdout, which neither the search nor the choice saw."""

    rows: int
    model: Interval
    baseline: Interval
    all: dict[str, float | None]
    baseline_all: dict[str, float | None]
    vs_baseline: Difference
    best_single: NamedInterval | None = None
    vs_best_single: Difference | None = None


class ValuePoint(_Shape):
    threshold: float
    value_per_1000: float
    acted_share: float


class DecisionValues(_Shape):
    """The spec's business value of each decision outcome, as the decision was chosen with."""

    tp: float
    fp: float
    tn: float
    fn: float
    matrix: dict[str, dict[str, float]] | None = None
    currency: str | None = None


class Decision(_Shape):
    """The decision rule of most business value. Binary: a threshold chosen on the
    out-of-fold predictions; multiclass under a value matrix: the class of highest expected
    value (``rule``). Each policy's holdout value per 1,000 decisions, and the chosen
    policy's paired gain over each other one."""

    threshold: float | None = None
    chosen_on: str | None = None
    rule: str | None = None
    oof_value_per_1000: float
    holdout_value_per_1000: dict[str, Interval]
    gain_per_1000: dict[str, Interval]
    curve: list[ValuePoint] | None = None
    values: DecisionValues | None = None
    matrix: dict[str, Any] | None = None

    @property
    def chosen_policy(self) -> str:
        """The key of the chosen policy in ``holdout_value_per_1000``."""
        return "model_at_threshold" if self.threshold is not None else "highest_expected_value"

    @property
    def chosen_value(self) -> Interval:
        return self.holdout_value_per_1000[self.chosen_policy]


class Slice(_Shape):
    """A group of holdout rows where the model's loss is significantly higher."""

    slice: str
    conditions: list[Any] = Field(default_factory=list)
    rows: int
    loss: float
    rest_loss: float
    loss_ratio: float
    metric: float | None = None
    p_value_holm: float


class Slices(_Shape):
    slices: list[Slice]
    tested: int
    rows: int
    min_support: int
    loss: str
    method: str | None = None


class Confusion(_Shape):
    classes: list[str]
    matrix: list[list[int]]
    threshold: float | None


class ResidualBin(_Shape):
    low: float
    high: float
    rows: int
    mean_residual: float
    mean_residual_low: float
    mean_residual_high: float
    mae: float


class PredictedClass(_Shape):
    label: str
    probabilities: dict[str, float]


class WorstRow(_Shape):
    """A holdout row the model gets most wrong: its inputs, the truth and the prediction (a
    number, or the predicted class with every class's probability)."""

    row: int
    loss: float
    truth: str | float
    prediction: PredictedClass | float
    inputs: dict[str, Any]


class Errors(_Shape):
    """Where the model fails: slices, the confusion matrix or residuals, the worst rows."""

    slices: Slices
    confusion: Confusion | None = None
    residuals: list[ResidualBin] | None = None
    worst: list[WorstRow]


class LevelIntervals(_Shape):
    halfwidths: list[float]
    mean_width: float
    holdout_coverage: Interval


class Intervals(_Shape):
    """Regression prediction intervals and their coverage on the holdout, by level."""

    method: str
    edges: list[float]
    levels: dict[str, LevelIntervals]


class LadderStep(_Shape):
    name: str
    model: str
    score: Interval
    p99_us: float | None
    size_mb: float | None
    value_per_1000: Interval | None = None
    recommended: bool
    gain_over_previous: Difference | None = None
    value_gain_over_previous: Interval | None = None


class Complexity(_Shape):
    """The complexity ladder: baseline -> linear -> best single -> ensemble, as shipped."""

    decided_by: str
    steps: list[LadderStep]
    best: str
    recommended: str
    summary: str
    note: str | None = None


class CurvePoint(_Shape):
    share: float
    rows: int
    score: float | None
    std: float | None


class LearningCurve(_Shape):
    """How the score grows with the training rows; ``computed`` False says why not."""

    computed: bool
    reason: str | None = None
    model: str | None = None
    folds: int | None = None
    seconds: float | None = None
    points: list[CurvePoint] = Field(default_factory=list)
    last_doubling_gain: float | None = None
    reading: str | None = None


class FeatureImportance(_Shape):
    name: str
    importance: float


class Importance(_Shape):
    """What each input contributes; ``computed`` False says why not."""

    computed: bool
    reason: str | None = None
    method: str | None = None
    rows: int | None = None
    seconds: float | None = None
    features: list[FeatureImportance] = Field(default_factory=list)


class Metrics(_Shape):
    """Every score of a run, each beside its baseline and with its interval."""

    metric: str
    cv: CvScores
    calibration: Calibration | None = None
    holdout: Holdout
    decision: Decision | None = None
    errors: Errors
    intervals: Intervals | None = None
    complexity: Complexity
    learning_curve: LearningCurve
    importance: Importance


class LeaderboardRow(_Shape):
    """One trial of the search; its cross-validated score is under ``cv_<metric>``."""

    rank: int | None
    model: str
    family: str
    origin: str
    cv_std: float | None
    fit_seconds: float
    p50_us: float | None
    p99_us: float | None
    size_mb: float | None
    pareto: bool
    weight: float
    chosen: bool
    status: str
    params: dict[str, Any]
    note: str
    layer: int = 1  # 2: a second-layer trial over the first layer's out-of-fold predictions
    finished_s: float | None = None  # seconds from the search's start to its result
    stack_holdout: float | None = None  # its score on the stacking holdout, if there is one
    splits: int = 1  # fold splits its cv score covers (more after repeated bagging)

    def cv_score(self, metric: str) -> float | None:
        value = (self.model_extra or {}).get(f"cv_{metric}")
        return None if value is None else float(value)


class Latency(_Shape):
    """The shipped model's single-row latency (predict_one, features included)."""

    p50_us: float | None = None
    p99_us: float | None = None
    calls: int | None = None
    batch_rows_per_second: float | None = None


class Training(_Shape):
    refit_on_all_rows: bool
    bagged_folds: int | None
    rows: int
    note: str


class DataSummary(_Shape):
    fingerprint: str
    rows: int
    labelled_rows: int
    train_rows: int
    holdout_rows: int
    validation: str
    search: dict[str, Any]
    schema_: dict[str, Any] = Field(alias="schema")


class Budget(_Shape):
    """How the time budget was shared, and each step it could not hold, with the reason."""

    seconds: float
    search_seconds: float | None = None
    kept_for_card_save_register: float
    # The refit of the chosen members on every row: its expected and measured seconds.
    refit_seconds: dict[str, float] | None = None
    skipped: dict[str, str]


class Finding(_Shape):
    code: str
    severity: str
    message: str
    action: str | None = None
    column: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)


class Reference(_Shape):
    """The training distribution the monitor compares live traffic with."""

    features: dict[str, dict[str, Any]]
    predictions: dict[str, Any] = Field(default_factory=dict)  # none before they were kept


class Stacking(_Shape):
    """Whether the linear stacking layer was tried, and kept because it beat the selection
    by more than the noise on ``judged_on`` (the stacking holdout, else the out-of-fold
    rows); the holdout's scores of both are for reference."""

    kept: bool
    summary: str
    members: list[str] | None = None
    judged_on: str | None = None
    stack: float | None = None
    without: float | None = None
    noise: float | None = None
    holdout_stack: float | None = None
    holdout_without: float | None = None


class LayerChoice(_Shape):
    """An ensemble and its score on the stacking holdout."""

    choice: str
    score: float


class Layers(_Shape):
    """The second layer's check: the greedy ensemble with second-layer trials against the
    first layer's alone, on the stacking holdout (rows of the training set in no fold)."""

    holdout_rows: int
    first_layer: LayerChoice
    with_second_layer: LayerChoice
    inputs: list[str]
    kept: bool
    # One standard error of the difference (a paired bootstrap of the holdout's rows): the
    # second layer is kept only when it wins by more. None before it was measured.
    noise: float | None = None


class Tuning(_Shape):
    """The tuning check: the first layer's greedy ensemble with tuned configurations against
    the one over default configurations alone (the portfolio's and their seed copies), on
    the stacking holdout. Tuning chose its configurations on the folds' rows, which flatter
    them; the defaults replace them only when they win by more than ``noise``."""

    holdout_rows: int
    defaults: LayerChoice
    with_tuned: LayerChoice
    kept: bool
    # One standard error of the difference (a paired bootstrap of the holdout's rows).
    noise: float | None = None


class Evidence(_Shape):
    """The evidence a tabular training run writes into its model's metadata."""

    created_at: str | None = None
    libraries: dict[str, str] | None = None
    chosen: str | None = None
    ensemble: dict[str, float] | None = None
    rejected_by_constraints: list[str] | None = None
    stacking: Stacking | None = None
    layers: Layers | None = None
    tuning: Tuning | None = None
    interrupted: bool | None = None
    metrics: Metrics | None = None
    leaderboard: list[LeaderboardRow] | None = None
    latency: Latency | None = None
    size_mb: float | None = None
    training: Training | None = None
    data: DataSummary | None = None
    checks: list[Finding] | None = None
    notes: list[str] | None = None
    reference: Reference | None = None
    budget: Budget | None = None
    timings: dict[str, float] | None = None

    @classmethod
    def parse(cls, metadata: Mapping[str, Any], where: str = "manifest.json") -> Evidence:
        """``metadata`` checked; a missing or mistyped field is an ArtifactError naming it."""
        return parsed(cls, metadata, where)


def reference_of(metadata: Mapping[str, Any]) -> Reference | None:
    """Only the reference statistics of ``metadata``, typed (None for a model without a
    run); the rest of the evidence is not checked."""
    raw = metadata.get("reference")
    return None if raw is None else parsed(Reference, raw, "the model's reference statistics")


Parsed = TypeVar("Parsed", bound=BaseModel)


def parsed(model: type[Parsed], data: Mapping[str, Any], where: str) -> Parsed:
    """``data`` validated as ``model``; the first error becomes an ArtifactError naming its
    path (``metrics.holdout.model.value``)."""
    try:
        return model.model_validate(dict(data), by_alias=True)
    except ValidationError as exc:
        errors = exc.errors()
        path = ".".join(str(part) for part in errors[0]["loc"])
        more = f" ({len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ArtifactError(
            f"{where}: damaged at '{path}': {errors[0]['msg']}{more}",
            field=path,
            hint="the artifact was edited or written by a different mlwright; retrain, or "
            "load it with the mlwright version that wrote it",
        ) from None
