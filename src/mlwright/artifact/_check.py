"""Checks of a loaded model before it is trusted: the smoke test, and loading in a child.

``smoke_test`` scores what every served model must answer (a record of missing values; a
recommender's cold-start list) and refuses a non-finite or incoherent answer.
``load_in_child`` loads and smoke-tests an artifact in a fresh Python process, so that a
file that would crash a native library (a segmentation fault, an abort) ends that child,
never the caller: the service checks every new model this way before loading it itself.

``child_main`` (REPORT DIRECTORY) is that child.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlwright.artifact._model import Model
from mlwright.artifact._store import is_recommender, load_model, read_manifest
from mlwright.errors import ArtifactError, MlwrightError
from mlwright.learners._probe import report_error, run_child

PROBABILITY_TOLERANCE = 1e-6
# The artifact layer does not import the recommendation lane; the child, a program of its
# own, loads a recommender the way mlwright.load does.
_RECOMMENDER_LOADER = ("mlwright.recommend", "load_recommender")


def smoke_test(model: Any) -> None:
    """Score a record whose every input is missing (a ``Model``) or a cold-start list (a
    recommender); ``ArtifactError`` when a prediction, probability or interval bound is
    not finite, class probabilities do not sum to 1, or a recommender recommends nothing."""
    if hasattr(model, "recommend_detail"):
        _smoke_recommender(model)
        return
    if not isinstance(model, Model):
        raise TypeError(f"smoke_test takes a Model or a Recommender, not {type(model).__name__}")
    try:
        answer = model.predict_record(dict.fromkeys(f.name for f in model.inputs))
    except Exception as exc:  # whatever breaks on missing values breaks in service
        raise _failed(model, f"scoring a record of missing values raised {_said(exc)}") from exc
    prediction = answer["prediction"]
    if isinstance(prediction, float) and not math.isfinite(prediction):
        raise _failed(model, f"the prediction is {prediction}")
    probabilities = answer.get("probabilities")
    if probabilities is not None:
        values = list(probabilities.values())
        if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in values):
            raise _failed(model, f"the class probabilities are {values}")
        if abs(math.fsum(values) - 1.0) > PROBABILITY_TOLERANCE:
            raise _failed(model, f"the class probabilities sum to {math.fsum(values)}, not 1")
    interval = answer.get("interval")
    if interval is not None and not (
        math.isfinite(interval["lower"]) and math.isfinite(interval["upper"])
    ):
        raise _failed(model, f"the interval is [{interval['lower']}, {interval['upper']}]")


def _smoke_recommender(model: Any) -> None:
    try:
        cold = model.recommend_detail(k=1)
        known = model.recommend_detail(user=model.user_ids[0], k=1) if len(model.user_ids) else cold
    except Exception as exc:
        raise _failed(model, f"recommending raised {_said(exc)}") from exc
    if not cold.items:
        raise _failed(model, "it recommends no item to a cold-start user")
    scores = [*cold.scores, *known.scores]
    if not all(math.isfinite(s) for s in scores):
        raise _failed(model, f"its scores are not finite ({scores})")


def _failed(model: Any, what: str) -> ArtifactError:
    path = model.metadata.get("path", "the model")
    return ArtifactError(
        f"{path} failed its smoke test: {what}",
        field=str(path),
        hint="do not serve it; retrain, or fetch the artifact again",
    )


def _said(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, MlwrightError) else str(exc)
    return f"{type(exc).__name__}: {message[:300]}"


def load_in_child(directory: Path, *, timeout: float = 300.0) -> None:
    """Load the artifact in ``directory`` (a table model or a recommender, as its manifest
    says) and smoke-test it in a fresh child process; return when the child succeeded.
    Otherwise an ``ArtifactError`` naming the directory and saying how the child ended
    (killed by a signal such as SIGABRT, an exit code, a time out, or the error it
    reported). Nothing is loaded into this process."""
    directory = Path(directory).expanduser()
    end = run_child("mlwright.artifact._check", [str(directory)], timeout=timeout)
    if end.ok:
        return
    if end.error is not None:
        raise ArtifactError(
            f"loading {directory} in a child process failed: {end.error['message']}",
            field=str(directory),
            hint=end.error.get("hint") or "do not load this artifact",
        )
    raise ArtifactError(
        f"loading {directory} in a child process failed: the child {end.how}",
        field=str(directory),
        hint="a file of the artifact is damaged or hostile and crashes the library that "
        "reads it; do not load it in a service. Fetch it again or retrain",
    )


def child_main(argv: Sequence[str]) -> int:
    """The child of ``load_in_child``: load and smoke-test one artifact; 0 when it passed,
    else the error's exit code with the error written to ``argv[0]``."""
    report, directory = argv
    path = Path(directory)
    try:
        if is_recommender(read_manifest(path)):
            module, name = _RECOMMENDER_LOADER
            model = getattr(importlib.import_module(module), name)(path)
        else:
            model = load_model(path)
        smoke_test(model)
    except MlwrightError as exc:
        report_error(report, exc)
        return exc.exit_code
    return 0
