"""The library facade: ``fit``, ``run`` and ``load``, re-exported by ``mlwright``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlwright._progress import Progress
from mlwright.artifact import Model
from mlwright.pipeline import train
from mlwright.registry import load as _load
from mlwright.spec import (
    TaskSpec,
    load_spec,
    require_data_source,
    spec_from_kwargs,
    with_overrides,
)


def fit(data: Any, target: str, *, progress: Progress | None = None, **spec_fields: Any) -> Model:
    """Train a model on ``data`` (a pandas or Polars DataFrame, or a CSV/Parquet path) to
    predict ``target``, and return it, evaluated, without saving or registering it.

    Any TaskSpec field may be given by its name: ``time_budget=60`` (seconds),
    ``problem_type="binary"``, ``metric="average_precision"``, ``id="customer_id"``,
    ``value={"tp": 100, "fp": -20}``, ... An unknown name raises ``SpecError``.

    >>> model = mlwright.fit(df, target="churn", time_budget=60)  # doctest: +SKIP
    >>> model.predict_proba_one({"tenure": 3, "contract": "Month-to-month", ...})  # doctest: +SKIP
    """
    spec = spec_from_kwargs({"target": target, **spec_fields})
    return train(spec, data, progress=progress, save=False, register=False).model


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


def load(path_or_uri: str | Path, *, tracking_uri: str | None = None) -> Model:
    """Load a model from an artifact directory or a registry URI such as
    ``models:/churn@champion``. Every file's hash is verified; nothing is unpickled."""
    return _load(path_or_uri, tracking_uri=tracking_uri)
