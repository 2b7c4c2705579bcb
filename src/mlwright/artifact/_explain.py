"""Per-prediction explanations of a whole model: each input column's additive contribution.

Every member is explained on its own scale first, then moved to the model's output scale
(a probability, or the value), then weighted as the model weighs it:

- gradient boosting: TreeSHAP from the library itself (LightGBM ``pred_contrib``, XGBoost
  ``pred_contribs``, CatBoost ``ShapValues``); linear models: coefficient x value. Both
  are exact on the raw (log-odds) scale; they move to the probability scale by one factor
  per row, (p - p0) / (raw - raw0), so they still add up to the member's probability;
- other members: occlusion against a reference record (each column's median or most
  frequent value, from the training data's reference statistics): the change in the
  prediction when that column alone takes its reference value, scaled so the changes add
  up to the difference from the reference's prediction.

Output features are summed back to the input column they were computed from. A stacking
layer or a calibration map after the members is followed the same way (one factor per
row). A model with stacked members (``Member.inputs``: a second layer reading the first
layer's outputs) is explained as one black box, by occlusion of each input column in every
plan at once. So for every row, ``base + sum(contributions) == prediction`` up to rounding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlwright.artifact._evidence import reference_of

if TYPE_CHECKING:
    import polars as pl

    from mlwright.artifact._model import Member, Model
    from mlwright.features import FeaturePlan

_TINY = 1e-12


@dataclass
class Explanation:
    """``contributions[r, o, i]``: input ``inputs[i]``'s part in output ``outputs[o]`` of
    row ``r``; ``base[o]`` is where every row starts; ``prediction`` is what it ends at."""

    inputs: list[str]
    outputs: list[str]
    base: np.ndarray
    contributions: np.ndarray
    prediction: np.ndarray
    methods: dict[str, str] = field(default_factory=dict)


def reference_record(model: Model) -> dict[str, Any]:
    """Each input's typical value: the median of a number, the most frequent category or
    boolean value; None (missing) for dates, text and columns without statistics."""
    # Only the reference part is read: /explain calls this on every request, and the whole
    # evidence takes about 30 times longer to check.
    reference = reference_of(model.metadata)
    stats: Mapping[str, Any] = reference.features if reference is not None else {}
    record: dict[str, Any] = {}
    for field_ in model.inputs:
        column = stats.get(field_.name, {})
        value: Any = None
        if field_.kind == "numeric" and "quantiles" in column:
            value = float(column["quantiles"]["0.5"])
        elif field_.kind == "boolean" and "quantiles" in column:
            value = bool(column.get("mean", 0.0) >= 0.5)
        elif field_.kind == "categorical" and column.get("top"):
            value = next(iter(column["top"]))
        record[field_.name] = value
    return record


def _explained(model: Model, raw: np.ndarray) -> np.ndarray:
    """The outputs explained, (n, outputs): the value; the positive class's probability;
    every class's probability."""
    raw = np.asarray(raw, dtype=np.float64)
    if model.problem_type == "regression":
        return raw.reshape(len(raw), 1)
    if model.problem_type == "binary":
        return raw[:, 1:2]
    return raw


def _full(model: Model, explained: np.ndarray) -> np.ndarray:
    """Back from explained outputs to the members' output shape."""
    if model.problem_type == "regression":
        return explained[:, 0]
    if model.problem_type == "binary":
        return np.column_stack([1.0 - explained[:, 0], explained[:, 0]])
    return explained


def _to_inputs(values: np.ndarray, sources: list[str], inputs: list[str]) -> np.ndarray:
    """(n, outputs, features) summed by input column -> (n, outputs, inputs)."""
    index = {name: i for i, name in enumerate(inputs)}
    grouping = np.zeros((len(sources), len(inputs)))
    for f, source in enumerate(sources):
        grouping[f, index[source]] = 1.0
    return np.asarray(values @ grouping)


def _rescale(parts: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Scale each row's parts (n, outputs, inputs) to add up to ``total`` (n, outputs); a
    row whose parts add up to nothing spreads its total evenly."""
    sums = parts.sum(axis=2)
    even = np.repeat((total / parts.shape[2])[:, :, None], parts.shape[2], axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = parts * (total / sums)[:, :, None]
    return np.where((np.abs(sums) > _TINY)[:, :, None], scaled, even)


def _from_raw_scale(
    model: Model, parts: np.ndarray, bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Contributions on the raw scale (log-odds or class scores) to the probability scale."""
    raw = bias + parts.sum(axis=2)
    if model.problem_type == "regression":
        return parts, bias[0]
    if model.problem_type == "binary":
        p, p0 = 1.0 / (1.0 + np.exp(-raw)), 1.0 / (1.0 + np.exp(-bias))
    else:
        e = np.exp(raw - raw.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        e0 = np.exp(bias - bias.max(axis=1, keepdims=True))
        p0 = e0 / e0.sum(axis=1, keepdims=True)
    step = raw - bias
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(np.abs(step) > _TINY, (p - p0) / step, p0 * (1.0 - p0))
    return parts * factor[:, :, None], p0[0]


def _member(
    model: Model,
    member: Member,
    plan: FeaturePlan,
    X: np.ndarray,
    reference: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, str]:
    """One member's contributions (n, outputs, inputs) and base (outputs,), on the
    probability (or value) scale, and the method used."""
    inputs = [f.name for f in model.inputs]
    exact = member.learner.contributions(X)
    if exact is not None:
        parts = _to_inputs(exact[:, :, :-1], plan.sources, inputs)
        bias = exact[:, :, -1]
        method = "coefficients" if member.learner.family == "linear" else "treeshap"
        contributions, base = _from_raw_scale(model, parts, bias)
        # Libraries sum contributions in float32 here and there: end exactly at the
        # member's own prediction.
        pred = _explained(model, member.learner.predict(X))
        return _rescale(contributions, pred - base), base, method
    pred = _explained(model, member.learner.predict(X))
    base = _explained(model, member.learner.predict(reference[None, :]))[0]
    sources = np.asarray(plan.sources)
    deltas = np.zeros((len(X), pred.shape[1], len(inputs)))
    for i, name in enumerate(inputs):
        features = np.nonzero(sources == name)[0]
        if len(features) == 0:
            continue
        occluded = X.copy()
        occluded[:, features] = reference[features]
        deltas[:, :, i] = pred - _explained(model, member.learner.predict(occluded))
    return _rescale(deltas, pred - base), base, "occlusion"


def _whole_model(
    model: Model, matrices: dict[str, np.ndarray], references: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole model's contributions (n, outputs, inputs), base and prediction by
    occlusion: an input column takes its reference value in every plan that reads it."""

    def explained(given: dict[str, np.ndarray]) -> np.ndarray:
        return _explained(model, model._calibrated(model._combine(given)))

    pred = explained(matrices)
    base = explained({key: ref[None, :] for key, ref in references.items()})[0]
    inputs = [f.name for f in model.inputs]
    deltas = np.zeros((len(pred), pred.shape[1], len(inputs)))
    for i, name in enumerate(inputs):
        occluded = dict(matrices)
        for key, X in matrices.items():
            features = np.nonzero(np.asarray(model.plans[key].sources) == name)[0]
            if len(features):
                occluded[key] = X.copy()
                occluded[key][:, features] = references[key][features]
        if any(occluded[key] is not X for key, X in matrices.items()):
            deltas[:, :, i] = pred - explained(occluded)
    return _rescale(deltas, pred - base), base, pred


def _output_names(model: Model) -> list[str]:
    if model.problem_type == "regression":
        return ["value"]
    if model.problem_type == "binary":
        return [model.class_names[1]]
    return list(model.class_names)


def explain_model(model: Model, frame: pl.DataFrame) -> Explanation:
    """Contributions of every input column to every row's prediction (see the module)."""
    inputs = [f.name for f in model.inputs]
    reference = reference_record(model)
    matrices = {key: model.plans[key].transform(frame) for key in model._plan_keys}
    references = {
        key: np.asarray(model.plans[key].transform_one(reference), dtype=np.float64)
        for key in model._plan_keys
    }
    if any(m.inputs for m in model.members):
        contributions, base, prediction = _whole_model(model, matrices, references)
        return Explanation(
            inputs=inputs,
            outputs=_output_names(model),
            base=base,
            contributions=contributions,
            prediction=prediction,
            methods={m.name: "occlusion of the whole model" for m in model.members},
        )
    parts: list[np.ndarray] = []
    bases: list[np.ndarray] = []
    methods: dict[str, str] = {}
    for member in model.members:
        c, b, method = _member(
            model, member, model.plans[member.plan], matrices[member.plan], references[member.plan]
        )
        parts.append(c)
        bases.append(b)
        methods[member.name] = method
    weights = model._weights
    mixed = sum(w * c for w, c in zip(weights, parts, strict=True))
    base = np.asarray(sum(w * b for w, b in zip(weights, bases, strict=True)), dtype=np.float64)
    prediction = _explained(model, model._raw(frame))
    if model.stacker is not None or model.calibrator is not None:
        if model.stacker is not None:
            full_bases = [_full(model, b[None, :]) for b in bases]
            combined = model.stacker.combine(
                [sum(full_bases[i] * w for i, w in group) for group in model._groups]  # type: ignore[misc]
            )
        else:
            combined = _full(model, base[None, :])
        if model.calibrator is not None:
            combined = model.calibrator.apply(combined)
        base = _explained(model, combined)[0]
        mixed = _rescale(np.asarray(mixed), prediction - base)
    return Explanation(
        inputs=inputs,
        outputs=_output_names(model),
        base=base,
        contributions=np.asarray(mixed),
        prediction=prediction,
        methods=methods,
    )
