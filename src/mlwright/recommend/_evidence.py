"""The evidence of a recommendation run, typed: what a recommender's metadata (and so its
manifest) holds, and what its card, the command line and the registry read.

The models describe the metadata key for key as format version 1 stores it, so they read
every recommender artifact written so far; they are strict, like the table model's
(``mlwright.artifact._evidence``): a field of the wrong type, or a required one that is
missing, is an ArtifactError naming its path. Keys they do not name are kept as they are.

Every fit writes ``fit`` and ``plan``; the rest comes from ``train_recommender`` (the
evaluation, the choosing fit's record, the data's size, ...) and from the main job
(``spec``, ``checks``, ``budget``, ``timings``), so a recommender fitted by
``fit_recommender`` alone has none of it. What is present is checked whole. A score that
could not be measured (no held-out user, nothing recommended) is NaN in memory and null in
the manifest, hence the ``float | None`` of the scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlwright.artifact._evidence import Budget, Finding, parsed


class _Shape(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class RankScore(_Shape):
    """A held-out score: a per-user metric's mean over users with its 95% bootstrap
    interval, or a list-level one (coverage, novelty, popularity) with its value alone."""

    value: float | None
    low: float | None = None
    high: float | None = None


class RankDifference(RankScore):
    """A paired difference of NDCG over the same users (a - b), with its interval and the
    share of resamples where a won."""

    low: float | None
    high: float | None
    a_better_share: float


class HeldOutEvaluation(_Shape):
    """The held-out users' scores by the protocol: the model, each generator alone and
    popularity, every metric at ``k``, and the model's paired differences."""

    protocol: str
    k: int
    users: int
    chosen: str
    scores: dict[str, dict[str, RankScore]]  # system -> "ndcg@10" -> score
    differences: dict[str, RankDifference]  # "model - popularity" -> difference

    def score(self, system: str, metric: str) -> RankScore | None:
        """``metric`` at ``k`` ("ndcg") of ``system`` ("model", a generator, "popularity")."""
        return self.scores.get(system, {}).get(f"{metric}@{self.k}")


class RankerRecord(_Shape):
    """The ranker as a fit recorded it: why it was not trained (``skipped``), or its
    cross-validation (objective, trees and NDCG by objective); a fit that followed a plan
    records the plan's objective and trees (``from_plan``). Artifacts written before the
    fit said why record ``{}`` for a ranker it never trained."""

    skipped: str | None = None
    objective: str | None = None
    trees: int | None = None
    cv_ndcg: float | None = None
    cv_ndcg_by_objective: dict[str, float] | None = None
    folds: int | None = None
    folds_used: dict[str, int] | None = None
    max_trees: int | None = None
    windows: int | None = None
    from_plan: bool | None = None


class FitRecord(_Shape):
    """What one fit chose and why: each generator's setting and validation NDCG, the
    ranker, the scorer that recommends, seconds per step, the steps the time budget left
    out and (``because``) why the chosen scorer recommends. Artifacts written before fits
    planned within their budget have neither ``skipped`` nor ``because``."""

    generators: dict[str, dict[str, Any]]
    generator_ndcg: dict[str, float]
    ranker: RankerRecord
    chosen: str
    seconds: dict[str, float]
    skipped: dict[str, str] | None = None
    because: str | None = None


class PlanRecord(_Shape):
    """A fit's choices, which the fit on every interaction follows (``FitPlan``)."""

    generators: dict[str, dict[str, Any]]
    chosen: str
    objective: str | None
    trees: int | None


class ColumnNames(_Shape):
    user: str
    item: str
    time: str | None
    weight: str | None


class SettingsRecord(_Shape):
    """How it was fitted (``RecommendSettings``)."""

    k: int
    depth: int
    windows: int
    history_share: float
    folds: int
    max_trees: int
    ranker: bool
    seed: int
    grids: dict[str, list[dict[str, Any]]]


class DataSize(_Shape):
    """The interaction log: its size, and its fingerprint once the main job checked it."""

    interactions: int
    users: int
    items: int
    fingerprint: str | None = None


class LogChecks(_Shape):
    """The interaction-log checks: the log's size and every finding."""

    rows: int
    users: int
    items: int
    findings: list[Finding]


class RecommenderEvidence(_Shape):
    """The evidence a recommendation run writes into its recommender's metadata."""

    fit: FitRecord
    plan: PlanRecord
    created_at: str | None = None
    libraries: dict[str, str] | None = None
    name: str | None = None
    columns: ColumnNames | None = None
    item_features: list[str] | None = None
    user_features: list[str] | None = None
    settings: SettingsRecord | None = None
    evaluation: HeldOutEvaluation | None = None
    choice: FitRecord | None = None
    data: DataSize | None = None
    seconds: float | None = None
    spec: dict[str, Any] | None = None
    checks: LogChecks | None = None
    budget: Budget | None = None
    timings: dict[str, float] | None = None

    @classmethod
    def parse(
        cls, metadata: Mapping[str, Any], where: str = "manifest.json"
    ) -> RecommenderEvidence:
        """``metadata`` checked; a missing or mistyped field is an ArtifactError naming it."""
        return parsed(cls, metadata, where)

    def written(self) -> dict[str, Any]:
        """The metadata as the models write it: every key read, none added."""
        return self.model_dump(by_alias=True, exclude_unset=True)


class GeneratorEntry(_Shape):
    name: str
    kind: str
    params: dict[str, Any]


class ItemFeatureNames(_Shape):
    numeric: list[str]
    tags: list[str]


class RecommenderPart(_Shape):
    """The manifest's ``recommender`` entry: what recommends and where its files are."""

    chosen: str
    depth: int
    generators: list[GeneratorEntry]
    ranker: str | None
    user_features: list[str] | None = None
    item_features: ItemFeatureNames | None = None


class RecommenderParts(_Shape):
    """The model's part of a recommender's manifest, beside its evidence."""

    recommender: RecommenderPart

    @classmethod
    def read(cls, manifest: Mapping[str, Any], where: str) -> RecommenderPart:
        """The ``recommender`` entry checked; a damaged field is an ArtifactError naming it."""
        return parsed(cls, {"recommender": manifest.get("recommender")}, where).recommender
