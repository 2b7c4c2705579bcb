"""The one exception hierarchy of mlwright.

Every error says what was wrong, where (``field``: a spec field, a column, a file,
a record key) and what to do (``hint``). The CLI maps ``exit_code`` to its exit
status; the HTTP service maps ``http_status`` to its response code.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any


class MlwrightError(Exception):
    """Base class of every error mlwright raises on purpose."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None):
        self.message = message
        self.field = field
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  fix: {self.hint}"
        return self.message


class SpecError(MlwrightError):
    """The task spec (TOML or keyword arguments) is invalid."""

    exit_code = 2
    http_status = 400


class DataError(MlwrightError):
    """Data could not be loaded, or its content cannot be trained on."""

    exit_code = 3
    http_status = 422


class SchemaMismatchError(DataError):
    """Data to score does not match the schema the model was trained on."""


class InputError(DataError):
    """A single record to score is invalid (a field is missing or has the wrong type)."""


class DataCheckError(DataError):
    """A blocking data-check finding stops training (see ``findings``)."""

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        findings: list[object] | None = None,
        field: str | None = None,
        hint: str | None = None,
    ):
        self.findings = findings if findings is not None else []
        super().__init__(message, field=field, hint=hint)


class ArtifactError(MlwrightError):
    """An artifact is missing, malformed, tampered with or of an unknown format."""

    exit_code = 5
    http_status = 500


class RegistryError(MlwrightError):
    """The model registry (MLflow) refused or could not resolve a request."""

    exit_code = 6
    http_status = 503


class ModelNotFoundError(RegistryError):
    """The registry has no such model, version or alias."""

    http_status = 404


class RequestError(MlwrightError):
    """An HTTP request the service cannot take as it is: not JSON, too large, not
    authorised. ``status`` is the response code (400 unless given)."""

    exit_code = 8

    def __init__(
        self, message: str, *, status: int = 400, field: str | None = None, hint: str | None = None
    ):
        self.http_status = status
        super().__init__(message, field=field, hint=hint)


class ServiceUnavailableError(MlwrightError):
    """The service cannot answer now (no model loaded yet, shutting down, or the prediction
    log cannot keep what it would acknowledge); the client may retry."""

    exit_code = 9
    http_status = 503


class NotFittedError(MlwrightError):
    """A learner, feature plan or model was used before it was fitted."""

    exit_code = 1


class TrainingError(MlwrightError):
    """Training could not produce a model (for example the time budget was too small)."""

    exit_code = 7


class MlwrightWarning(UserWarning):
    """What mlwright trained on or decided deserves a look, but does not stop it: a data
    check's warning (a column recorded after the outcome, an imbalanced target, ...).
    ``mlwright.fit`` and ``mlwright.run`` issue each through ``warnings.warn``; the model
    keeps them (``model.warnings``)."""


def finding_warnings(findings: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per data-check finding of severity "warning" (findings as ``to_dict``
    writes them): "[code:column] message; action"."""
    lines = []
    for f in findings:
        if f.get("severity") == "warning":
            key = f"{f['code']}:{f['column']}" if f.get("column") else f["code"]
            lines.append(f"[{key}] {f['message']}; {f['action']}")
    return lines


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when none is close."""
    options = list(choices)
    close = difflib.get_close_matches(value, options, n=3, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in options}
        if value.lower() in lowered:
            close = [lowered[value.lower()]]
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


def list_choices(choices: Iterable[str], limit: int = 12) -> str:
    """Comma-separated list of choices, shortened to ``limit`` entries."""
    items = list(choices)
    shown = ", ".join(items[:limit])
    if len(items) > limit:
        shown += f", ... ({len(items) - limit} more)"
    return shown
