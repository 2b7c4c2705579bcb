"""Model: a trained model in memory — input schema, feature plans, learners and their weights.

It is what ``mlwright.fit`` returns and what ``mlwright.load`` reads back from an artifact.
The single-record path (``predict_one``) never builds a DataFrame.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from mlwright.artifact._calibrator import Calibrator
from mlwright.artifact._evidence import Evidence
from mlwright.artifact._intervals import PredictionIntervals
from mlwright.artifact._layers import check_layers, stack_columns, stack_columns_one, trial_of
from mlwright.artifact._stack import Stacker
from mlwright.data import to_polars
from mlwright.errors import InputError, SchemaMismatchError, finding_warnings
from mlwright.features import FeatureKind, FeaturePlan, FeatureStyle
from mlwright.learners import Learner
from mlwright.spec import ProblemType, TaskSpec

if TYPE_CHECKING:
    import pandas as pd

ClassValue = str | int | bool


@dataclass(frozen=True)
class InputField:
    """One input column the model reads: its name, feature kind and type family."""

    name: str
    kind: FeatureKind
    dtype: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "dtype": self.dtype}


@dataclass
class Member:
    """One learner of the model, the feature plan it reads (a key of ``Model.plans``) and its
    ensemble weight. Members of a bagged ensemble share the plan of their fold.

    ``inputs``: a stacked (second-layer) member's first-layer trials, in order; its learner
    reads its plan's columns followed by ``stack_columns`` of those trials' outputs. A weight
    of 0 marks a member whose trial only stacked members read (see ``_layers``)."""

    name: str
    learner: Learner
    weight: float
    plan: str
    inputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.inputs = tuple(self.inputs)  # a list given would not hash (batch cache key)

    @property
    def style(self) -> FeatureStyle:
        return self.learner.feature_style


@dataclass(frozen=True)
class OutputLayers:
    """What shapes the members' combined output, each optional: a stacking layer (None:
    the members' weights), a calibrator of class probabilities, prediction intervals
    (regression)."""

    stacker: Stacker | None = None
    calibrator: Calibrator | None = None
    intervals: PredictionIntervals | None = None


class Model:
    """A trained model. Construct it through ``mlwright.fit``, ``mlwright.run`` or
    ``mlwright.load``."""

    def __init__(
        self,
        *,
        spec: TaskSpec,
        classes: Sequence[ClassValue],
        threshold: float | None,
        inputs: Sequence[InputField],
        plans: Mapping[str, FeaturePlan],
        members: Sequence[Member],
        metadata: Mapping[str, Any],
        layers: OutputLayers = OutputLayers(),
    ):
        self.spec = spec
        self.problem_type: ProblemType = spec.resolved_problem_type
        self.classes: list[ClassValue] = list(classes)
        self.class_names: list[str] = [class_name(c) for c in self.classes]
        self.threshold = threshold
        # Multiclass with a value matrix: predict the class of highest expected value.
        self.value_matrix = (
            spec.value.matrix_for(self.class_names) if self.problem_type == "multiclass" else None
        )
        self._value_rows = (
            None if self.value_matrix is None else [list(map(float, r)) for r in self.value_matrix]
        )
        self.inputs = list(inputs)
        self.plans = dict(plans)
        self.members = list(members)
        self.metadata: dict[str, Any] = dict(metadata)
        self.registry: dict[str, Any] = {}
        missing = sorted({m.plan for m in self.members} - set(self.plans))
        if missing:
            raise ValueError(f"members read feature plans that the model lacks: {missing}")
        # Plans in use, in a fixed order: each is computed once per call, whatever the members.
        self._plan_keys = sorted({m.plan for m in self.members})
        self._weights = _normalised_weights(self.members, layers.stacker is not None)
        self._trials = _trial_groups(self.members)
        self._groups = list(self._trials.values())
        self._stacked = _StackedPlan.of(self.members, self._weights, self._trials)
        self.set_stacker(layers.stacker)
        self.set_calibrator(layers.calibrator)
        if layers.intervals is not None and self.problem_type != "regression":
            raise ValueError("prediction intervals are for regression models")
        self.intervals = layers.intervals

    def set_stacker(self, stacker: Stacker | None) -> None:
        """Combine the members through a stacking layer (None: by their weights). The layer
        reads one output per trial: members named ``trial/foldN`` (a bagged trial) are
        averaged by their weights first."""
        if stacker is not None and self._stacked is not None:
            raise ValueError("a model with stacked members cannot take a linear stacker too")
        self.stacker = stacker
        self._single = self.members[0] if len(self.members) == 1 and stacker is None else None
        if stacker is None:
            return
        per_group = 1 if self.problem_type in ("regression", "binary") else len(self.classes)
        if stacker.coef.shape[1] != per_group * len(self._groups):
            raise ValueError(
                f"the stacker reads {stacker.coef.shape[1]} inputs; the members' "
                f"{len(self._groups)} trials give {per_group * len(self._groups)}"
            )

    def set_calibrator(self, calibrator: Calibrator | None) -> None:
        """Map the combined class probabilities through ``calibrator`` (None: leave them)."""
        if calibrator is not None:
            if self.problem_type == "regression":
                raise ValueError("a regression model has no probabilities to calibrate")
            if calibrator.kind in ("platt", "isotonic") and self.problem_type != "binary":
                raise ValueError(f"{calibrator.kind} calibration is for binary models")
        self.calibrator = calibrator

    @property
    def trial_names(self) -> list[str]:
        """The trials the members come from, in order (a bagged trial's folds share one)."""
        return list(self._trials)

    # -- batch ------------------------------------------------------------------------------------

    def _frame(self, data: Any) -> pl.DataFrame:
        return to_polars(data)

    def _raw(self, frame: pl.DataFrame) -> np.ndarray:
        return self._calibrated(self._combined(frame))

    def _calibrated(self, combined: np.ndarray) -> np.ndarray:
        return combined if self.calibrator is None else self.calibrator.apply(combined)

    def _combined(self, frame: pl.DataFrame) -> np.ndarray:
        """The members' outputs combined (by weights or the stacker), before calibration."""
        return self._combine({key: self.plans[key].transform(frame) for key in self._plan_keys})

    def _combine(self, matrices: Mapping[str, np.ndarray]) -> np.ndarray:
        """``_combined`` from each plan's feature matrix (plan key -> matrix)."""
        if self._stacked is not None:
            return self._combine_stacked(matrices)
        if self.stacker is not None:
            preds = [m.learner.predict(matrices[m.plan]) for m in self.members]
            return self.stacker.combine(
                [sum(preds[i] * w for i, w in group) for group in self._groups]  # type: ignore[misc]
            )
        out: np.ndarray | None = None
        for member, weight in zip(self.members, self._weights, strict=True):
            pred = member.learner.predict(matrices[member.plan]) * weight
            out = pred if out is None else out + pred
        assert out is not None
        return out

    def _combine_stacked(self, matrices: Mapping[str, np.ndarray]) -> np.ndarray:
        """The weighted sum when some members are stacked: every first-layer member predicts
        once; its trial's output feeds the stacked members that read it."""
        plan = self._stacked
        assert plan is not None
        members = self.members
        preds = {i: members[i].learner.predict(matrices[members[i].plan]) for i in plan.first}
        trials = {name: _mix(preds, group) for name, group in plan.read.items()}
        extended: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
        out: np.ndarray | None = None
        for i, weight in plan.terms:
            member = members[i]
            if member.inputs:
                key = (member.plan, member.inputs)
                if key not in extended:  # bagged folds of one stacked trial share it
                    columns = stack_columns([trials[t] for t in member.inputs], self.problem_type)
                    extended[key] = np.hstack([matrices[member.plan], columns])
                pred = member.learner.predict(extended[key]) * weight
            else:
                pred = preds[i] * weight
            out = pred if out is None else out + pred
        assert out is not None
        return out

    def predict(self, data: Any) -> np.ndarray:
        """Predicted labels (classification; binary uses the model's threshold) or values."""
        raw = self._raw(self._frame(data))
        if self.problem_type == "regression":
            return raw
        return self._labels(raw)

    def predict_proba(self, data: Any) -> pd.DataFrame:
        """Class probabilities as a pandas DataFrame with one column per class."""
        import pandas as pd

        if self.problem_type == "regression":
            raise InputError(
                "predict_proba is for classification; this model does regression",
                hint="use predict",
            )
        raw = self._raw(self._frame(data))
        return pd.DataFrame(raw, columns=self.class_names)

    def predict_interval(self, data: Any, level: float = 0.9) -> pd.DataFrame:
        """Regression: each row's prediction with a conformal interval that covers the truth
        with probability ``level`` (one of ``Model.intervals.levels``)."""
        import pandas as pd

        intervals = self._intervals_at(level)
        pred = self._raw(self._frame(data))
        lower, upper = intervals.bounds(pred, level)
        return pd.DataFrame({"prediction": pred, "lower": lower, "upper": upper})

    def _intervals_at(self, level: float) -> PredictionIntervals:
        if self.intervals is None:
            raise InputError(
                "this model has no prediction intervals"
                + (" (they are for regression)" if self.problem_type != "regression" else ""),
                field="level",
                hint="intervals are fitted when a regression model is trained with mlwright",
            )
        if level not in self.intervals.levels:
            known = ", ".join(f"{v:g}" for v in self.intervals.levels)
            raise InputError(
                f"no prediction intervals at level {level!r}",
                field="level",
                hint=f"use one of: {known}",
            )
        return self.intervals

    def explain(self, data: Any, target_class: ClassValue | None = None) -> pd.DataFrame:
        """Each input column's additive contribution to each row's prediction, with the
        ``base`` every row starts from: ``base`` + the contributions = ``prediction`` (the
        value; the positive class's probability; for multiclass, the probability of
        ``target_class``, or of each row's predicted class when None). Gradient-boosted
        members are explained by TreeSHAP; see ``mlwright.artifact._explain``."""
        import pandas as pd

        from mlwright.artifact._explain import explain_model

        explanation = explain_model(self, self._frame(data))
        n = len(explanation.prediction)
        if self.problem_type == "multiclass":
            if target_class is None:
                picked = explanation.prediction.argmax(axis=1)
            else:
                names = self.class_names
                if class_name(target_class) not in names:
                    raise InputError(
                        f"target_class {target_class!r} is not a class of this model",
                        field="target_class",
                        hint=f"use one of: {', '.join(names)}",
                    )
                picked = np.full(n, names.index(class_name(target_class)))
            rows = np.arange(n)
            table = explanation.contributions[rows, picked, :]
            base = explanation.base[picked]
            prediction = explanation.prediction[rows, picked]
            out = pd.DataFrame({"class": [self.class_names[int(k)] for k in picked]})
        else:
            table = explanation.contributions[:, 0, :]
            base = np.full(n, explanation.base[0])
            prediction = explanation.prediction[:, 0]
            out = pd.DataFrame(index=range(n))
        for i, name in enumerate(explanation.inputs):
            out[name] = table[:, i]
        out["base"] = base
        out["prediction"] = prediction
        return out

    def _labels(self, proba: np.ndarray) -> np.ndarray:
        classes = np.asarray(self.classes, dtype=object)
        if self.problem_type == "binary":
            threshold = 0.5 if self.threshold is None else self.threshold
            picked = (proba[:, 1] >= threshold).astype(np.int64)
        elif self.value_matrix is not None:
            picked = (proba @ self.value_matrix).argmax(axis=1)
        else:
            picked = proba.argmax(axis=1)
        labels = classes[picked]
        if all(isinstance(c, bool) for c in self.classes):
            return labels.astype(bool)
        if all(isinstance(c, int) and not isinstance(c, bool) for c in self.classes):
            return labels.astype(np.int64)
        return labels

    # -- one record -------------------------------------------------------------------------------

    def _raw_one(self, record: Mapping[str, Any]) -> list[float]:
        combined = self._combined_one(record)
        return combined if self.calibrator is None else self.calibrator.apply_one(combined)

    def _combined_one(self, record: Mapping[str, Any]) -> list[float]:
        if not isinstance(record, Mapping):
            raise InputError(
                f"a record must be a mapping of field -> value, got {type(record).__name__}",
                hint="pass a dict such as {'tenure': 12, 'contract': 'One year', ...}",
            )
        single = self._single
        if single is not None:
            return single.learner.predict_one(self.plans[single.plan].transform_one(record))
        vectors = {key: self.plans[key].transform_one(record) for key in self._plan_keys}
        if self._stacked is not None:
            return self._combine_stacked_one(vectors)
        if self.stacker is not None:
            outs = [m.learner.predict_one(vectors[m.plan]) for m in self.members]
            return self.stacker.combine_one([_mix_one(outs, group) for group in self._groups])
        out: list[float] | None = None
        for member, weight in zip(self.members, self._weights, strict=True):
            out = _add_weighted(out, member.learner.predict_one(vectors[member.plan]), weight)
        assert out is not None
        return out

    def _combine_stacked_one(self, vectors: Mapping[str, list[float]]) -> list[float]:
        """``_combine_stacked`` for one record, in plain Python; the same numbers."""
        plan = self._stacked
        assert plan is not None
        members = self.members
        outs = {i: members[i].learner.predict_one(vectors[members[i].plan]) for i in plan.first}
        trials = {name: _mix_one(outs, group) for name, group in plan.read.items()}
        out: list[float] | None = None
        for i, weight in plan.terms:
            member = members[i]
            if member.inputs:
                columns = stack_columns_one([trials[t] for t in member.inputs], self.problem_type)
                pred = member.learner.predict_one([*vectors[member.plan], *columns])
            else:
                pred = outs[i]
            out = _add_weighted(out, pred, weight)
        assert out is not None
        return out

    def predict_one(self, record: Mapping[str, Any]) -> ClassValue | float:
        """The label (or value) for one record: a dict of input column -> value."""
        return self._decide_one(self._raw_one(record))

    def predict_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Everything the service answers for one record, from one pass of the model:
        ``prediction`` (the label or value), ``probabilities`` (class name -> probability,
        classification) or ``interval`` (regression with intervals: the 90% one, else the
        widest level stored)."""
        raw = self._raw_one(record)
        out: dict[str, Any] = {"prediction": self._decide_one(raw)}
        if self.problem_type != "regression":
            out["probabilities"] = dict(zip(self.class_names, raw, strict=True))
        elif self.intervals is not None:
            levels = self.intervals.levels
            level = 0.9 if 0.9 in levels else max(levels)
            lower, upper = self.intervals.bounds_one(raw[0], level)
            out["interval"] = {"level": level, "lower": lower, "upper": upper}
        return out

    def _decide_one(self, raw: list[float]) -> ClassValue | float:
        if self.problem_type == "regression":
            return raw[0]
        if self.problem_type == "binary":
            threshold = 0.5 if self.threshold is None else self.threshold
            return self.classes[1] if raw[1] >= threshold else self.classes[0]
        if self._value_rows is not None:
            rows = self._value_rows
            expected = [sum(p * rows[k][a] for k, p in enumerate(raw)) for a in range(len(raw))]
            return self.classes[max(range(len(raw)), key=expected.__getitem__)]
        return self.classes[max(range(len(raw)), key=raw.__getitem__)]

    def predict_interval_one(
        self, record: Mapping[str, Any], level: float = 0.9
    ) -> dict[str, float]:
        """Regression: one record's prediction with its conformal interval at ``level``."""
        intervals = self._intervals_at(level)
        pred = self._raw_one(record)[0]
        lower, upper = intervals.bounds_one(pred, level)
        return {"prediction": pred, "lower": lower, "upper": upper}

    def predict_proba_one(self, record: Mapping[str, Any]) -> dict[str, float]:
        """Class name -> probability for one record."""
        if self.problem_type == "regression":
            raise InputError(
                "predict_proba_one is for classification; this model does regression",
                hint="use predict_one",
            )
        return dict(zip(self.class_names, self._raw_one(record), strict=True))

    # -- information --------------------------------------------------------------------------

    @property
    def leaderboard(self) -> pd.DataFrame:
        """Every candidate tried: cross-validated score, spread, fit seconds, status."""
        import pandas as pd

        return pd.DataFrame(self.metadata.get("leaderboard", []))

    @property
    def evidence(self) -> Evidence:
        """The run's evidence, typed (scores with intervals, threshold, calibration, the
        complexity ladder, slices, latency, timings); checked on each read, so an edit of
        ``metadata`` shows."""
        return Evidence.parse(self.metadata, where="the model's metadata")

    @property
    def metrics(self) -> dict[str, Any]:
        """Holdout and cross-validation metrics, with the baseline beside."""
        return dict(self.metadata.get("metrics", {}))

    @property
    def warnings(self) -> list[str]:
        """The data checks' warnings at training, one line each ("[leakage.after_time:x]
        ..."): what ``mlwright.fit`` issued as ``MlwrightWarning``."""
        return finding_warnings(self.metadata.get("checks", []))

    @property
    def input_schema(self) -> list[dict[str, str]]:
        return [f.to_dict() for f in self.inputs]

    def measure_latency(
        self, records: Sequence[Mapping[str, Any]], calls: int = 200
    ) -> dict[str, float]:
        """p50/p99 of ``predict_one`` over ``calls`` calls cycling through ``records``
        (features included), in microseconds."""
        if not records:
            return {"p50_us": float("nan"), "p99_us": float("nan"), "calls": 0}
        for record in records[:20]:
            self.predict_one(record)  # warm up caches and the learners' fast paths
        times = []
        for i in range(calls):
            record = records[i % len(records)]
            started = time.perf_counter_ns()
            self.predict_one(record)
            times.append((time.perf_counter_ns() - started) / 1000.0)
        times.sort()
        return {
            "p50_us": statistics.median(times),
            "p99_us": times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)],
            "calls": calls,
        }

    def size_mb(self) -> float:
        """Size of the learners' saved files, in MB (what the artifact adds to the manifest)."""
        with tempfile.TemporaryDirectory() as tmp:
            for member in self.members:
                member.learner.to_files(Path(tmp) / member.name.replace("/", "_"))
            total = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        return total / 1e6

    def save(self, directory: str | Path, documents: Mapping[str, str] | None = None) -> Path:
        """Write the model as an artifact directory (see ``mlwright.load``); ``documents``
        (file name -> text, such as the model card) go beside the manifest, hashed too."""
        from mlwright.artifact._store import save_model

        return save_model(self, Path(directory), documents)

    def __repr__(self) -> str:
        names = ", ".join(
            f"{m.name} (input only)"
            if w == 0
            else f"{m.name}×{w:.2f}" + (f" on {'+'.join(m.inputs)}" if m.inputs else "")
            for m, w in zip(self.members, self._weights, strict=True)
        )
        return (
            f"<mlwright.Model {self.spec.task_name!r}: {self.problem_type} on "
            f"'{self.spec.task.target}', {len(self.inputs)} inputs, members [{names}]>"
        )


def _normalised_weights(members: Sequence[Member], stacker: bool) -> list[float]:
    """Each member's share of the combined output (0 for input-only members); a ValueError
    when the weights break a rule of ``check_layers`` or do not have a finite sum."""
    weights = [m.weight for m in members]
    check_layers([m.name for m in members], weights, [m.inputs for m in members], stacker=stacker)
    total = sum(weights)
    if not math.isfinite(total):
        raise ValueError("member weights must be finite, with a finite sum")
    return [w / total for w in weights]


def _trial_groups(members: Sequence[Member]) -> dict[str, list[tuple[int, float]]]:
    """Trial name -> its members (index, share of the trial's output): shares by weight, or
    equal when all of the trial's members weigh 0 (an input-only trial)."""
    groups: dict[str, list[tuple[int, float]]] = {}
    for i, member in enumerate(members):
        groups.setdefault(trial_of(member.name), []).append((i, member.weight))
    shares = {}
    for name, group in groups.items():
        total = sum(w for _, w in group)
        shares[name] = [(i, w / total if total > 0 else 1.0 / len(group)) for i, w in group]
    return shares


def _mix_one(
    outs: Mapping[int, list[float]] | Sequence[list[float]], group: Sequence[tuple[int, float]]
) -> list[float]:
    """``_mix`` for one record: a trial's output from its members' by their shares."""
    return [sum(outs[i][j] * w for i, w in group) for j in range(len(outs[group[0][0]]))]


def _add_weighted(out: list[float] | None, pred: list[float], weight: float) -> list[float]:
    """``out`` plus ``pred`` times ``weight`` (the first term alone when ``out`` is None)."""
    if out is None:
        return [p * weight for p in pred]
    return [o + p * weight for o, p in zip(out, pred, strict=True)]


def _mix(preds: Mapping[int, np.ndarray], group: Sequence[tuple[int, float]]) -> np.ndarray:
    """A trial's output: its members' predictions by their shares (as ``sum`` adds them in
    the single-record path, so both give the same numbers)."""
    out: Any = 0
    for i, share in group:
        out = out + preds[i] * share
    return np.asarray(out)


@dataclass(frozen=True)
class _StackedPlan:
    """How a model with stacked members predicts: ``first`` (the first-layer members, each
    predicting once), ``read`` (the trials stacked members read: name -> members and
    shares) and ``terms`` (the members of positive weight with their normalised weights)."""

    first: list[int]
    read: dict[str, list[tuple[int, float]]]
    terms: list[tuple[int, float]]

    @classmethod
    def of(
        cls,
        members: Sequence[Member],
        weights: Sequence[float],
        trials: Mapping[str, list[tuple[int, float]]],
    ) -> _StackedPlan | None:
        """None when no member is stacked: the model takes the plain weighted path."""
        if not any(m.inputs for m in members):
            return None
        read = dict.fromkeys(name for m in members for name in m.inputs)
        return cls(
            first=[i for i, m in enumerate(members) if not m.inputs],
            read={name: trials[name] for name in read},
            terms=[(i, w) for i, w in enumerate(weights) if w > 0],
        )


def class_name(value: ClassValue) -> str:
    """A class value as it names probability columns (booleans lower-case, as in JSON)."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def same_task(champion: Model, challenger: Model) -> None:
    """Champion and challenger must answer the same question from the same inputs (the
    service serves them side by side; promotion swaps one for the other)."""
    problems = []
    if champion.problem_type != challenger.problem_type:
        problems.append(f"problem type {champion.problem_type} vs {challenger.problem_type}")
    if [class_name(c) for c in champion.classes] != [class_name(c) for c in challenger.classes]:
        problems.append(f"classes {champion.classes} vs {challenger.classes}")
    ours = {f.name: f.kind for f in champion.inputs}
    theirs = {f.name: f.kind for f in challenger.inputs}
    if ours != theirs:
        gone = sorted(set(ours) - set(theirs))
        new = sorted(set(theirs) - set(ours))
        changed = sorted(n for n in set(ours) & set(theirs) if ours[n] != theirs[n])
        for what, names in (("missing", gone), ("new", new), ("of another kind", changed)):
            if names:
                problems.append(f"inputs {what} in the challenger: {', '.join(names)}")
    if problems:
        raise SchemaMismatchError(
            "the challenger was trained on a different schema than the champion: "
            + "; ".join(problems),
            field="challenger",
            hint="a challenger must take the champion's inputs so that clients and the "
            "service keep working; retrain it from the champion's spec",
        )
