"""The register stage: log a saved artifact to MLflow and register it as a new version."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from pathlib import Path
from typing import Any

from mlwright._version import __version__
from mlwright.artifact import Model, manifest_digest
from mlwright.recommend import Recommender
from mlwright.registry import Registration, log_and_register, open_store
from mlwright.search import SearchResult
from mlwright.spec import TaskSpec


class StoreOpener:
    """Gets the MLflow store ready in a background thread (``open_store``: MLflow imported
    here, a new store migrated in a child process), so that registering at the end of a run
    does not wait seconds for it. A store that cannot be opened is left for the
    registration itself to report."""

    def __init__(self, uri: str | None):
        self._uri = uri
        self._imported = threading.Event()
        # Not a daemon: the child's migrations are never abandoned half-way at exit.
        self._thread = threading.Thread(target=self._open, name="mlwright-open-store")
        self._thread.start()

    def _open(self) -> None:
        with contextlib.suppress(Exception):
            open_store(self._uri, imported=self._imported)
        self._imported.set()

    def wait_imported(self) -> None:
        """Wait for MLflow's import: Python work in that thread would share the GIL in 5 ms
        slices with anything timed in this process."""
        self._imported.wait()

    def wait(self) -> float:
        """Seconds spent waiting for the store to be ready."""
        started = time.monotonic()
        self._thread.join()
        return time.monotonic() - started


def register_model(
    model: Model, artifact_dir: Path, spec: TaskSpec, search: SearchResult
) -> Registration:
    """Log a tabular model's run (the spec and each member's parameters, its scores) and
    register its artifact."""
    evidence = model.evidence
    assert evidence.data is not None, "a trained model carries its data summary"
    params = flatten(spec.to_dict())
    params["chosen_model"] = evidence.chosen or ""
    for name, weight in (evidence.ensemble or {}).items():
        params[f"model.{name}.weight"] = round(weight, 4)
        for key, value in search.by_name(name).candidate.params.items():
            params[f"model.{name}.{key}"] = value
    tags = {
        "mlwright.version": __version__,
        "mlwright.problem_type": spec.resolved_problem_type,
        "mlwright.data_fingerprint": evidence.data.fingerprint,
        "mlwright.chosen_model": str(params["chosen_model"]),
    }
    assert spec.registry.experiment is not None
    assert spec.registry.model_name is not None
    return log_and_register(
        artifact_dir=artifact_dir,
        manifest_sha256=manifest_digest(artifact_dir),
        experiment=spec.registry.experiment,
        model_name=spec.registry.model_name,
        params=params,
        metrics=_logged_metrics(model),
        tags=tags,
        uri=spec.registry.tracking_uri,
    )


def _logged_metrics(model: Model) -> dict[str, float]:
    """The scores MLflow shows for a tabular run: cross-validated and holdout, the
    baseline's beside them, the decision's value and the single-row latency."""
    evidence = model.evidence
    metrics = evidence.metrics
    assert metrics is not None, "a trained model carries its metrics"
    name = metrics.metric
    logged: dict[str, float | None] = {
        f"cv_{name}": metrics.cv.score,
        f"cv_{name}_std": metrics.cv.std,
        f"cv_baseline_{name}": metrics.cv.baseline,
        f"holdout_{name}": metrics.holdout.model.value,
        f"holdout_baseline_{name}": metrics.holdout.baseline.value,
    }
    for metric, value in metrics.holdout.all.items():
        logged[f"holdout_{metric}"] = value
    decision = metrics.decision
    if decision is not None:
        if decision.threshold is not None:
            logged["decision_threshold"] = decision.threshold
        logged["holdout_value_per_1000"] = decision.chosen_value.value
    if evidence.latency is not None:
        logged["predict_one_p50_us"] = evidence.latency.p50_us
        logged["predict_one_p99_us"] = evidence.latency.p99_us
    return {k: float(v) for k, v in logged.items() if v is not None and math.isfinite(float(v))}


def register_recommender(model: Recommender, artifact_dir: Path, spec: TaskSpec) -> Registration:
    """Log a recommender's run (its scores, each generator's parameters) and register it."""
    evidence = model.evidence
    evaluation, data = evidence.evaluation, evidence.data
    assert evaluation is not None, "a trained recommender carries its evaluation"
    assert data is not None, "a trained recommender carries its data summary"
    assert data.fingerprint is not None, "the main job fingerprints the interaction log"
    metrics: dict[str, float] = {}
    for system, scores in evaluation.scores.items():
        prefix = "holdout" if system == "model" else f"holdout_{system}"
        for name, entry in scores.items():
            value = entry.value
            if value is not None and math.isfinite(value):
                metrics[f"{prefix}_{name.replace('@', '_at_')}"] = value
    params = flatten(spec.to_dict())
    params["chosen_model"] = model.chosen
    for name, generator in model.generators.items():
        for key, value in generator.params.items():
            params[f"generator.{name}.{key}"] = value
    return log_and_register(
        artifact_dir=artifact_dir,
        manifest_sha256=manifest_digest(artifact_dir),
        experiment=spec.registry.experiment or spec.task_name,
        model_name=spec.registry.model_name or spec.task_name,
        params=params,
        metrics=metrics,
        tags={
            "mlwright.version": __version__,
            "mlwright.problem_type": "recommendation",
            "mlwright.data_fingerprint": data.fingerprint,
            "mlwright.chosen_model": model.chosen,
            "mlwright.protocol": evaluation.protocol,
            "mlwright.k": str(evaluation.k),
        },
        uri=spec.registry.tracking_uri,
    )


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dotted keys (MLflow parameters are flat)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
