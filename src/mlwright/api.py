"""The library facade: ``fit``, ``run`` and ``load``, re-exported by ``mlwright``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from mlwright._progress import Progress, shown
from mlwright.artifact import Model
from mlwright.errors import MlwrightWarning, SpecError
from mlwright.pipeline import train, train_recommendation
from mlwright.recommend import Recommender
from mlwright.registry import load_any
from mlwright.spec import (
    TaskSpec,
    load_spec,
    require_data_source,
    spec_from_kwargs,
    with_overrides,
)

Fitted = TypeVar("Fitted", bound=Model | Recommender)


@overload
def fit(
    data: Any,
    target: str,
    *,
    task: None = None,
    progress: Progress | bool | None = None,
    **spec_fields: Any,
) -> Model: ...


@overload
def fit(
    data: Any,
    target: None = None,
    *,
    task: Literal["recommendation"],
    progress: Progress | bool | None = None,
    **spec_fields: Any,
) -> Recommender: ...


def fit(
    data: Any,
    target: str | None = None,
    *,
    task: str | None = None,
    progress: Progress | bool | None = None,
    **spec_fields: Any,
) -> Model | Recommender:
    """Train a model on ``data`` (a pandas or Polars DataFrame, or a CSV/Parquet path) and
    return it, evaluated, without saving or registering it.

    Prediction: give the ``target`` column. Any TaskSpec field may be given by its name:
    ``time_budget=60`` (seconds), ``problem_type="binary"``, ``metric="average_precision"``,
    ``id="customer_id"``, ``value={"tp": 100, "fp": -20}``, ... An unknown name raises
    ``SpecError``.

    ``progress``: ``None`` (the default) draws progress bars on stderr when a person
    watches (a terminal, or a notebook) and stays silent otherwise; ``True`` always draws
    them, ``False`` never; or pass your own ``Progress`` (``stage``, ``advance``, ``log``).
    The data checks' warnings are issued as ``mlwright.MlwrightWarning`` through the
    ``warnings`` module and kept on the model (``model.warnings``).

    >>> model = mlwright.fit(df, target="churn", time_budget=60)  # doctest: +SKIP
    >>> model.predict_proba_one({"tenure": 3, "contract": "Month-to-month", ...})  # doctest: +SKIP

    Recommendation: ``task="recommendation"`` with the ``user`` and ``item`` columns of an
    interaction log, and optionally ``time``, ``weight``, ``item_features`` (columns that
    describe an item), ``items`` (a table of them, keyed by the item column: a DataFrame or
    a path), ``user_features`` and ``users`` (the same for users), ``protocol`` ("users":
    held-out users, or "time": a global time split), ``holdout`` (the share held out),
    ``k``, ``time_budget`` and any other spec field.
    Returns a ``Recommender``, evaluated by the protocol, then fitted on every row.

    >>> rec = mlwright.fit(ratings, task="recommendation", user="userId", item="movieId",
    ...                    time="timestamp")  # doctest: +SKIP
    >>> rec.recommend(user=42, k=10)  # doctest: +SKIP
    """
    if task == "recommendation" or spec_fields.get("problem_type") == "recommendation":
        if target is not None:
            raise SpecError(
                "a recommendation task has no target column",
                field="target",
                hint="give user= and item= (and time=) instead of a target",
            )
        spec_fields.pop("problem_type", None)
        return _warned(_fit_recommender(data, progress=progress, **spec_fields))
    if task is not None:
        raise SpecError(
            f"unknown task {task!r}",
            field="task",
            hint="leave task out for prediction, or give task='recommendation'",
        )
    if target is None:
        raise SpecError(
            "fit needs the target column to predict",
            field="target",
            hint="give target='column', or task='recommendation' for an interaction log",
        )
    spec = spec_from_kwargs({"target": target, **spec_fields})
    with shown(progress) as reporter:
        model = train(spec, data, progress=reporter, save=False, register=False).model
    return _warned(model)


def _fit_recommender(
    data: Any,
    *,
    progress: Progress | bool | None = None,
    items: Any = None,
    users: Any = None,
    **fields: Any,
) -> Recommender:
    spec = spec_from_kwargs({"problem_type": "recommendation", **fields})
    with shown(progress) as reporter:
        result = train_recommendation(
            spec, data, items=items, users=users, progress=reporter, save=False, register=False
        )
    return result.model


def _warned(model: Fitted) -> Fitted:
    """``model``, its data checks' warnings issued (once each, at the line that called
    ``fit`` or ``run``: call it from them directly)."""
    for line in model.warnings:
        warnings.warn(line, MlwrightWarning, stacklevel=3)
    return model


def run(
    spec: TaskSpec | str | Path,
    *,
    data: Any = None,
    out: str | Path | None = None,
    progress: Progress | bool | None = None,
    **overrides: Any,
) -> Model | Recommender:
    """The main job for a spec (a TaskSpec or a TOML path): check, train, evaluate on the
    holdout, save the artifact and register it in MLflow (as the spec says). Keyword
    ``overrides`` replace spec fields, e.g. ``time_budget=60``. ``progress`` and the data
    checks' warnings work as for ``fit``."""
    task = load_spec(spec) if isinstance(spec, str | Path) else spec
    if overrides:
        task = with_overrides(task, overrides)
    if data is None:
        require_data_source(task)
    out_dir = Path(out) if out is not None else None
    with shown(progress) as reporter:
        if task.task.is_recommendation:
            model: Model | Recommender = train_recommendation(
                task, data, progress=reporter, out_dir=out_dir
            ).model
        else:
            model = train(task, data, progress=reporter, out_dir=out_dir).model
    return _warned(model)


def load(
    path_or_uri: str | Path, *, tracking_uri: str | None = None, isolate: bool = False
) -> Model | Recommender:
    """Load a model from an artifact directory or a registry URI such as
    ``models:/churn@champion``: a ``Model`` (prediction) or a ``Recommender``, as the
    artifact says. Every file's hash is verified, every path stays inside the artifact,
    the learners' native files are checked before their libraries read them, and nothing
    is unpickled; a damaged or hostile artifact is an ``ArtifactError`` naming the file.

    ``isolate=True`` first loads and smoke-tests the artifact in a fresh child process
    (``mlwright.artifact.load_in_child``), so that a file that would crash a native
    library ends that child, not this interpreter; it costs a second load. A registry URI
    is resolved to its directory for that check (a remote one is fetched to a temporary
    folder, removed once the model is read)."""
    return load_any(path_or_uri, tracking_uri=tracking_uri, isolate=isolate)
