"""A drafted spec for a new data file (``mlwright init``): every inferred decision shown,
with the reason it was made."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlwright.spec._load import spec_from_kwargs
from mlwright.spec._model import TaskSpec
from mlwright.spec._render import render_spec
from mlwright.spec._resolve import Resolution


def draft_base(data_path: Path, target: str, spec_path: Path) -> TaskSpec:
    """The spec to resolve: the target, and the data path as the spec file will read it
    (relative to the spec's folder when it is below it)."""
    try:
        shown = data_path.resolve().relative_to(spec_path.resolve().parent).as_posix()
    except ValueError:
        shown = str(data_path.resolve())
    return spec_from_kwargs({"target": target, "path": shown}, base_dir=spec_path.parent)


def draft_spec(
    base: TaskSpec,
    resolution: Resolution,
    *,
    identifiers: Sequence[str],
    datetimes: Sequence[str],
    header: str,
) -> str:
    """``base`` with what ``resolution`` inferred (problem type, positive class, metric, name)
    and the first identifier column as the id, rendered with a note on each inference.
    ``identifiers`` and ``datetimes``: the columns the data's schema found to be row ids and
    datetime features."""
    resolved = resolution.spec
    draft = base.model_copy(deep=True)
    draft.task.problem_type = resolved.task.problem_type
    draft.task.positive_class = resolved.task.positive_class
    draft.task.metric = resolved.task.metric
    draft.name = resolved.name
    notes: dict[str, str] = {}
    if identifiers:
        draft.task.id = identifiers[0]
        notes["task.id"] = f"inferred: '{identifiers[0]}' looks like a row identifier"
    if datetimes:
        notes["task.time"] = (
            f"datetime column(s) {', '.join(datetimes)}: set time to one of them if rows should "
            "be validated past -> future"
        )
    notes.update(resolution.reasons)
    if resolved.task.problem_type == "binary":
        notes["value.tp"] = (
            "state what each decision is worth to set the decision threshold, e.g. tp = 100, "
            "fp = -20"
        )
    return render_spec(draft, notes=notes, header=header)
