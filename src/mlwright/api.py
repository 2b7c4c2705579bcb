"""The library facade: ``fit``, ``run`` and ``load``, re-exported by ``mlwright``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlwright._progress import Progress
from mlwright.artifact import Model
from mlwright.errors import SpecError
from mlwright.pipeline import train
from mlwright.recommend import Recommender
from mlwright.registry import load as _load
from mlwright.spec import (
    TaskSpec,
    load_spec,
    require_data_source,
    spec_from_kwargs,
    with_overrides,
)


def fit(
    data: Any,
    target: str | None = None,
    *,
    task: str | None = None,
    progress: Progress | None = None,
    **spec_fields: Any,
) -> Model | Recommender:
    """Train a model on ``data`` (a pandas or Polars DataFrame, or a CSV/Parquet path) and
    return it, evaluated, without saving or registering it.

    Prediction: give the ``target`` column. Any TaskSpec field may be given by its name:
    ``time_budget=60`` (seconds), ``problem_type="binary"``, ``metric="average_precision"``,
    ``id="customer_id"``, ``value={"tp": 100, "fp": -20}``, ... An unknown name raises
    ``SpecError``.

    >>> model = mlwright.fit(df, target="churn", time_budget=60)  # doctest: +SKIP
    >>> model.predict_proba_one({"tenure": 3, "contract": "Month-to-month", ...})  # doctest: +SKIP

    Recommendation: ``task="recommendation"`` with the ``user`` and ``item`` columns of an
    interaction log, and optionally ``time``, ``weight``, ``item_features`` (columns that
    describe an item), ``items`` (a table of them, keyed by the item column), ``protocol``
    ("users": held-out users, or "time": a global time split), ``k`` and ``time_budget``.
    Returns a ``Recommender``, evaluated by the protocol and then fitted on every row.

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
        return _fit_recommender(data, progress=progress, **spec_fields)
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
    return train(spec, data, progress=progress, save=False, register=False).model


_RECOMMEND_FIELDS = {
    "user", "item", "time", "weight", "item_features", "items", "protocol", "test_share",
    "k", "time_budget", "seed",
}  # fmt: skip


def _fit_recommender(data: Any, *, progress: Progress | None = None, **fields: Any) -> Recommender:
    from mlwright.data import to_polars
    from mlwright.recommend import RecommendSettings, train_recommender
    from mlwright.spec import parse_duration

    unknown = sorted(set(fields) - _RECOMMEND_FIELDS)
    if unknown:
        raise SpecError(
            f"unknown recommendation option(s): {', '.join(unknown)}",
            field=unknown[0],
            hint=f"the options are: {', '.join(sorted(_RECOMMEND_FIELDS))}",
        )
    for name in ("user", "item"):
        if not isinstance(fields.get(name), str):
            raise SpecError(
                f"a recommendation task needs the {name} column (e.g. {name}='{name}_id')",
                field=name,
                hint=f"give {name}= the name of the {name} id column",
            )
    items = fields.get("items")
    settings = RecommendSettings(k=int(fields.get("k", 10)), seed=int(fields.get("seed", 0)))
    return train_recommender(
        to_polars(data),
        user=fields["user"],
        item=fields["item"],
        time_column=fields.get("time"),
        weight=fields.get("weight"),
        item_features=tuple(fields.get("item_features") or ()),
        items=to_polars(items) if items is not None else None,
        protocol=fields.get("protocol", "users"),
        test_share=float(fields.get("test_share", 0.2)),
        settings=settings,
        time_budget=parse_duration(fields.get("time_budget", 300.0)),
        progress=progress,
    )


def run(
    spec: TaskSpec | str | Path,
    *,
    data: Any = None,
    out: str | Path | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> Model:
    """The main job for a spec (a TaskSpec or a TOML path): check, train, evaluate on the
    holdout, save the artifact and register it in MLflow (as the spec says). Keyword
    ``overrides`` replace spec fields, e.g. ``time_budget=60``."""
    task = load_spec(spec) if isinstance(spec, str | Path) else spec
    if overrides:
        task = with_overrides(task, overrides)
    if data is None:
        require_data_source(task)
    result = train(task, data, progress=progress, out_dir=Path(out) if out is not None else None)
    return result.model


def load(path_or_uri: str | Path, *, tracking_uri: str | None = None) -> Model | Recommender:
    """Load a model from an artifact directory or a registry URI such as
    ``models:/churn@champion``: a ``Model`` (prediction) or a ``Recommender``, as the
    artifact says. Every file's hash is verified; nothing is unpickled."""
    from mlwright.artifact import read_manifest
    from mlwright.recommend import is_recommender, load_recommender

    path = Path(str(path_or_uri)).expanduser()
    if path.is_dir() and (path / "manifest.json").is_file() and is_recommender(read_manifest(path)):
        return load_recommender(path)
    return _load(path_or_uri, tracking_uri=tracking_uri)
