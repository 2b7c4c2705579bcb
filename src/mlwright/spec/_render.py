"""Writing a spec back as commented TOML (for ``mlwright init`` and ``mlwright spec --show``)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

import tomlkit

from mlwright.spec._model import SECTIONS, TOP_LEVEL_FIELDS, TaskSpec


def _toml_value(value: Any) -> str:
    return str(tomlkit.item(value).as_string())


def _comment(text: str, width: int = 88) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, width=width - 2)]


def render_spec(
    spec: TaskSpec,
    *,
    notes: Mapping[str, str] | None = None,
    header: str | None = None,
) -> str:
    """The spec as TOML with every field and its description as a comment.

    Fields whose value is unset (None) are written commented out, so the file shows what
    could be set. ``notes`` adds a line of explanation to a field (``"task.problem_type"``).
    """
    notes = notes or {}
    values = spec.model_dump(mode="json")
    lines: list[str] = []
    if header:
        lines += _comment(header)
        lines.append("")
    for name in TOP_LEVEL_FIELDS:
        info = TaskSpec.model_fields[name]
        lines += _field_lines(name, values[name], info.description, notes.get(name))
    for section, model in SECTIONS.items():
        lines.append("")
        lines += _comment(model.__doc__ or section)
        lines.append(f"[{section}]")
        for name, info in model.model_fields.items():
            lines += _field_lines(
                name, values[section][name], info.description, notes.get(f"{section}.{name}")
            )
    return "\n".join(lines) + "\n"


def _field_lines(name: str, value: Any, description: str | None, note: str | None) -> list[str]:
    lines = _comment(description) if description else []
    if note:
        lines += _comment(note)
    if value is None:
        lines.append(f"# {name} = ")
    else:
        lines.append(f"{name} = {_toml_value(value)}")
    return lines
