"""MLflow as the tracking store and model registry.

Every training run is logged (parameters, cross-validation and holdout scores, the data
fingerprint, the artifact directory). The model is registered; it takes the ``champion``
alias when the name has none, ``challenger`` otherwise. The registered version carries the
SHA-256 of the artifact's manifest, which ``resolve`` checks when it hands the artifact back.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlwright.artifact import (
    MANIFEST,
    Model,
    is_recommender,
    load_model,
    manifest_digest,
    read_manifest,
)
from mlwright.errors import ArtifactError, RegistryError
from mlwright.recommend import Recommender, load_recommender

CHAMPION = "champion"
CHALLENGER = "challenger"
MANIFEST_TAG = "mlwright.manifest_sha256"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")


def tracking_uri(explicit: str | None = None) -> str:
    """The spec's URI, else $MLFLOW_TRACKING_URI, else a SQLite file in the working directory."""
    if explicit:
        return explicit
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def check_model_name(name: str) -> str:
    """Registered model names are plain identifiers: no paths, no traversal."""
    if not _NAME.match(name) or ".." in name:
        raise RegistryError(
            f"model name {name!r} is not allowed",
            field="registry.model_name",
            hint="use letters, digits, '-', '_' and '.', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class Registration:
    run_id: str
    experiment: str
    model_name: str
    version: str
    alias: str
    tracking_uri: str
    artifact_uri: str

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}@{self.alias}"

    def to_dict(self) -> dict[str, str]:
        return {
            "run_id": self.run_id,
            "experiment": self.experiment,
            "model_name": self.model_name,
            "version": self.version,
            "alias": self.alias,
            "tracking_uri": self.tracking_uri,
            "artifact_uri": self.artifact_uri,
            "uri": self.uri,
        }


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow and Alembic log INFO lines on every new database; keep them out of the user's way."""
    import mlflow  # noqa: F401  (its import configures its loggers; quieten them after)

    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (None for other stores)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(unquote(uri[len("sqlite:///") :]))


def _client(uri: str) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError as exc:  # pragma: no cover - mlflow-skinny is a dependency
        raise RegistryError("MLflow is not installed", hint="pip install mlflow-skinny") from exc
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _registry_error(action: str, exc: Exception, uri: str) -> RegistryError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RegistryError(
        f"MLflow could not {action}: {first}",
        field=uri,
        hint="check the tracking URI (registry.tracking_uri or MLFLOW_TRACKING_URI) and that "
        "the store is reachable",
    )


def _experiment_id(client: Any, experiment: str, uri: str) -> str:
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return str(found.experiment_id)
    # A SQLite store keeps its artifacts beside it, not in the working directory.
    db = _sqlite_path(uri)
    location = (db.resolve().parent / "mlruns").as_uri() if db is not None else None
    return str(client.create_experiment(experiment, artifact_location=location))


def log_and_register(
    *,
    artifact_dir: Path,
    manifest_sha256: str,
    experiment: str,
    model_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    uri: str | None = None,
    extra_files: Mapping[str, Path] | None = None,
) -> Registration:
    """Log a run with the artifact, register it, and give it an alias."""
    check_model_name(model_name)
    uri = tracking_uri(uri)
    with _quiet():
        try:
            from mlflow.entities import Metric, Param, RunTag

            client = _client(uri)
            run = client.create_run(_experiment_id(client, experiment, uri), tags=dict(tags))
            run_id = run.info.run_id
            now = int(run.info.start_time)
            client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                tags=[RunTag(k, v) for k, v in tags.items()],
            )
            client.log_artifacts(run_id, str(artifact_dir), artifact_path="model")
            for name, path in (extra_files or {}).items():
                client.log_artifact(run_id, str(path), artifact_path=name)
            client.set_terminated(run_id)
            artifact_uri = f"{run.info.artifact_uri.rstrip('/')}/model"
            try:
                client.get_registered_model(model_name)
            except Exception:
                client.create_registered_model(model_name)
            version = client.create_model_version(
                model_name,
                source=artifact_uri,
                run_id=run_id,
                tags={MANIFEST_TAG: manifest_sha256},
            )
            aliases = client.get_registered_model(model_name).aliases or {}
            alias = CHALLENGER if CHAMPION in aliases else CHAMPION
            client.set_registered_model_alias(model_name, alias, version.version)
        except RegistryError:
            raise
        except Exception as exc:
            raise _registry_error("log and register the model", exc, uri) from exc
    return Registration(
        run_id=run_id,
        experiment=experiment,
        model_name=model_name,
        version=str(version.version),
        alias=alias,
        tracking_uri=uri,
        artifact_uri=artifact_uri,
    )


def is_registry_uri(text: str) -> bool:
    return text.startswith("models:/")


@dataclass(frozen=True)
class Resolved:
    path: Path
    model_name: str
    version: str
    alias: str | None
    manifest_sha256: str | None


def resolve(model_uri: str, *, uri: str | None = None, cache_dir: Path | None = None) -> Resolved:
    """The local artifact directory for ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""
    match = _URI.match(model_uri)
    if not match:
        raise RegistryError(
            f"{model_uri!r} is not a model URI",
            field=model_uri,
            hint="write models:/NAME@ALIAS (e.g. models:/churn@champion) or models:/NAME/VERSION",
        )
    name = check_model_name(match["name"])
    alias, number = match["alias"], match["version"]
    if alias is not None and not _NAME.match(alias):
        raise RegistryError(f"alias {alias!r} is not allowed", field=model_uri)
    uri = tracking_uri(uri)
    db = _sqlite_path(uri)
    if db is not None and not db.is_file():
        # Opening it would create an empty store; there is nothing to resolve in one.
        raise RegistryError(
            f"no model registry at {uri} (the file {db} does not exist)",
            field=model_uri,
            hint="run from the folder where `mlwright run` registered the model, or pass its "
            "store with --tracking-uri / MLFLOW_TRACKING_URI",
        )
    with _quiet():
        try:
            client = _client(uri)
            version = (
                client.get_model_version_by_alias(name, alias)
                if alias is not None
                else client.get_model_version(name, number)
            )
        except Exception as exc:
            what = f"alias '{alias}'" if alias else f"version {number}"
            raise RegistryError(
                f"no {what} of model '{name}' in the registry at {uri}",
                field=model_uri,
                hint="list versions with `mlflow` or check registry.tracking_uri / "
                "MLFLOW_TRACKING_URI; train one with `mlwright run SPEC`",
            ) from exc
        source = str(version.source)
        parsed = urlparse(source)
        if parsed.scheme in ("", "file") and Path(unquote(parsed.path)).is_dir():
            path = Path(unquote(parsed.path))
        else:
            try:
                from mlflow.artifacts import download_artifacts

                target = cache_dir or Path(tempfile.mkdtemp(prefix="mlwright-model-"))
                path = Path(download_artifacts(artifact_uri=source, dst_path=str(target)))
            except Exception as exc:
                raise _registry_error(f"download {source}", exc, uri) from exc
    tags = dict(version.tags or {})
    return Resolved(
        path=path,
        model_name=name,
        version=str(version.version),
        alias=alias,
        manifest_sha256=tags.get(MANIFEST_TAG),
    )


def check_manifest(resolved: Resolved, actual_sha256: str) -> None:
    """The artifact's manifest must be the one that was registered."""
    if resolved.manifest_sha256 is not None and resolved.manifest_sha256 != actual_sha256:
        raise ArtifactError(
            f"the manifest of {resolved.model_name} version {resolved.version} does not match "
            "the SHA-256 recorded at registration (tampered or replaced)",
            field=str(resolved.path),
            hint="do not serve it; register a freshly trained model",
        )


def load_any(reference: str | Path, *, tracking_uri: str | None = None) -> Model | Recommender:
    """``load`` for either kind of artifact: a ``Model`` or a ``Recommender``, as its
    manifest says (a registered one must still carry the manifest it was registered with)."""
    text = str(reference)
    resolved = resolve(text, uri=tracking_uri) if is_registry_uri(text) else None
    path = resolved.path if resolved is not None else Path(text).expanduser()
    if not ((path / MANIFEST).is_file() and is_recommender(read_manifest(path))):
        return load(reference, tracking_uri=tracking_uri)
    if resolved is None:
        return load_recommender(path)
    check_manifest(resolved, manifest_digest(resolved.path))
    model = load_recommender(resolved.path)
    model.metadata["registry"] = {
        "model_name": resolved.model_name,
        "version": resolved.version,
        "alias": resolved.alias or "",
        "uri": text,
    }
    return model


def load(reference: str | Path, *, tracking_uri: str | None = None) -> Model:
    """A model from an artifact directory or a registry URI (models:/NAME@ALIAS or
    models:/NAME/VERSION); a registered artifact must still carry the manifest it was
    registered with, and every file must match its hash."""
    text = str(reference)
    if is_registry_uri(text):
        resolved = resolve(text, uri=tracking_uri)
        check_manifest(resolved, manifest_digest(resolved.path))
        model = load_model(resolved.path)
        model.registry = {
            "model_name": resolved.model_name,
            "version": resolved.version,
            "alias": resolved.alias or "",
            "uri": text,
        }
        return model
    return load_model(Path(text))


def aliases(model_name: str, *, uri: str | None = None) -> dict[str, str]:
    """The registered model's aliases: alias -> version ({} when the model is unknown)."""
    check_model_name(model_name)
    uri = tracking_uri(uri)
    db = _sqlite_path(uri)
    if db is not None and not db.is_file():
        return {}
    with _quiet():
        try:
            client = _client(uri)
            try:
                found = client.get_registered_model(model_name)
            except Exception:
                return {}
            return {str(k): str(v) for k, v in (found.aliases or {}).items()}
        except Exception as exc:
            raise _registry_error(f"read the aliases of {model_name}", exc, uri) from exc


def move_alias(model_name: str, alias: str, version: str | None, *, uri: str | None = None) -> None:
    """Point ``alias`` at ``version``, or remove it (``version`` None)."""
    uri = tracking_uri(uri)
    with _quiet():
        try:
            client = _client(uri)
            if version is None:
                client.delete_registered_model_alias(model_name, alias)
            else:
                client.set_registered_model_alias(model_name, alias, version)
        except Exception as exc:
            raise _registry_error(f"move alias {alias} of {model_name}", exc, uri) from exc


def version_tags(model_name: str, version: str, *, uri: str | None = None) -> dict[str, str]:
    uri = tracking_uri(uri)
    with _quiet():
        try:
            found = _client(uri).get_model_version(model_name, version)
            return {str(k): str(v) for k, v in (found.tags or {}).items()}
        except Exception as exc:
            raise _registry_error(f"read version {version} of {model_name}", exc, uri) from exc


def tag_version(
    model_name: str, version: str, tags: Mapping[str, str], *, uri: str | None = None
) -> None:
    uri = tracking_uri(uri)
    with _quiet():
        try:
            client = _client(uri)
            for key, value in tags.items():
                client.set_model_version_tag(model_name, version, key, value)
        except Exception as exc:
            raise _registry_error(f"tag version {version} of {model_name}", exc, uri) from exc


def log_event(
    experiment: str,
    *,
    run_name: str,
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    uri: str | None = None,
) -> str:
    """Log one event of the model's life (a comparison, a promotion) as an MLflow run in
    ``experiment``; its run id."""
    uri = tracking_uri(uri)
    with _quiet():
        try:
            from mlflow.entities import Metric, RunTag

            client = _client(uri)
            run = client.create_run(
                _experiment_id(client, experiment, uri), run_name=run_name, tags=dict(tags)
            )
            now = int(run.info.start_time)
            client.log_batch(
                run.info.run_id,
                metrics=[
                    Metric(k, float(v), now, 0) for k, v in metrics.items() if math.isfinite(v)
                ],
                tags=[RunTag(k, v) for k, v in tags.items()],
            )
            client.set_terminated(run.info.run_id)
            return str(run.info.run_id)
        except Exception as exc:
            raise _registry_error(f"log {run_name}", exc, uri) from exc


def champion_and_challenger(
    model_name: str, *, what: str, hint: str, uri: str | None = None
) -> tuple[str, str]:
    """The versions the ``champion`` and ``challenger`` aliases name; a RegistryError
    that says which is missing (and what ``what`` needs them for) otherwise."""
    versions = aliases(model_name, uri=uri)
    missing = [a for a in (CHAMPION, CHALLENGER) if a not in versions]
    if missing:
        raise RegistryError(
            f"model {model_name} has no {' and no '.join(missing)} alias {what}",
            field=model_name,
            hint=hint,
        )
    return versions[CHAMPION], versions[CHALLENGER]
