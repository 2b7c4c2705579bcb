"""The manifest of a table model's artifact, typed: the model's parts beside the run's
evidence (see _evidence.py). Loading reads the manifest through these models first, so a
missing or mistyped field is an ArtifactError naming its path before any part is built;
the parts' own readers (FeaturePlan.from_dict, Calibrator, Stacker, PredictionIntervals,
each learner's files) then check what is inside them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlwright.artifact._evidence import Evidence, parsed


class _Part(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class TaskEntry(_Part):
    problem_type: str
    classes: list[str | int | bool]
    threshold: float | None


class InputEntry(_Part):
    name: str
    kind: str
    dtype: str


class MemberEntry(_Part):
    """One learner of the model: where its files are and how much its prediction weighs
    (0: only stacked members read its trial). ``inputs``: a stacked member's first-layer
    trials, whose outputs follow its plan's columns; absent for other members."""

    name: str
    family: str
    style: str | None = None
    plan: str
    weight: float
    dir: str
    learner: dict[str, Any]
    inputs: list[str] = Field(default_factory=list)


class StackerEntry(_Part):
    """The stacked ensemble's linear layer over its members' outputs."""

    link: Literal["identity", "logit", "log"]
    coef: list[list[float]]
    intercept: list[float]


class CalibratorEntry(_Part):
    """platt {a, b}; temperature {t}; isotonic {x, y}."""

    kind: Literal["platt", "temperature", "isotonic"]
    params: dict[str, float | list[float]]


class IntervalsEntry(_Part):
    """Conformal half-widths per bin of the predicted value, by level."""

    edges: list[float]
    halfwidths: dict[str, list[float]]


class Manifest(Evidence):
    """A table model's manifest.json (format_version 1; 2 with second-layer members)."""

    format: str
    format_version: int
    spec: dict[str, Any]
    task: TaskEntry
    input_schema: list[InputEntry]
    feature_plans: dict[str, dict[str, Any]]
    members: list[MemberEntry]
    stacker: StackerEntry | None = None
    calibrator: CalibratorEntry | None = None
    prediction_intervals: IntervalsEntry | None = None
    libraries: dict[str, str] | None = None
    files: dict[str, str]

    @classmethod
    def read(cls, manifest: Mapping[str, Any], where: str) -> Manifest:
        """``manifest`` checked; a missing or mistyped field is an ArtifactError naming it."""
        return parsed(cls, manifest, where)
