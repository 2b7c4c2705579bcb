"""MLflow as the tracking store and model registry.

Every training run is logged (parameters, cross-validation and holdout scores, the data
fingerprint, the artifact directory). The model is registered; it takes the ``champion``
alias when the name has none, ``challenger`` otherwise. The registered version carries the
SHA-256 of the artifact's manifest, which ``resolve`` checks when it hands the artifact back.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlparse

from mlwright.artifact import (
    MANIFEST,
    Model,
    is_recommender,
    load_in_child,
    load_model,
    manifest_digest,
    read_manifest,
)
from mlwright.errors import ArtifactError, ModelNotFoundError, RegistryError
from mlwright.recommend import Recommender, load_recommender

CHAMPION = "champion"
CHALLENGER = "challenger"
MANIFEST_TAG = "mlwright.manifest_sha256"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# Matched whole (fullmatch): "$" would also match before a trailing newline.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>[0-9]{1,18}))")


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
    if not _NAME.fullmatch(name) or ".." in name:
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


# A URI's "user:password@" (http://, postgresql://, ...), also where MLflow quotes the URI.
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]*@")
# What the tracking server says when it does not take the caller's credentials.
_REFUSED = ("UNAUTHENTICATED", "PERMISSION_DENIED")


def shown_uri(text: str) -> str:
    """``text`` (a tracking URI, or a message quoting one) without the credentials in it."""
    return _CREDENTIALS.sub("", text)


def _not_found(exc: Exception) -> bool:
    """Whether MLflow said the model, version or alias does not exist (rather than failed).
    Every store says RESOURCE_DOES_NOT_EXIST for a missing model or version (over REST in
    the JSON of a 404); a missing alias is INVALID_PARAMETER_VALUE "... alias X not found."
    A bare 404 from something that is not an MLflow server is ENDPOINT_NOT_FOUND: a failure."""
    code = getattr(exc, "error_code", None)
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc)
    )


def _registry_error(action: str, exc: Exception, uri: str) -> RegistryError:
    """MLflow failed (not "does not exist"): an error that names the tracking store, without
    credentials, and what to check."""
    text = str(exc).strip()
    first = shown_uri(text.splitlines()[0]) if text else type(exc).__name__
    store = shown_uri(uri)
    if getattr(exc, "error_code", None) in _REFUSED:
        hint = (
            f"the tracking server {store} refused the credentials: set MLFLOW_TRACKING_USERNAME "
            "and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) to an account it accepts"
        )
    else:
        hint = (
            "check the tracking URI (registry.tracking_uri or MLFLOW_TRACKING_URI) and that "
            "the store is reachable and answers, then run the command again"
        )
    return RegistryError(f"MLflow could not {action} at {store}: {first}", field=store, hint=hint)


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
            client.set_terminated(run_id)
            artifact_uri = f"{run.info.artifact_uri.rstrip('/')}/model"
            version, alias = _register_version(
                client, model_name, artifact_uri, run_id, manifest_sha256
            )
        except RegistryError:
            raise
        except Exception as exc:
            raise _registry_error("log and register the model", exc, uri) from exc
    return Registration(
        run_id=run_id,
        experiment=experiment,
        model_name=model_name,
        version=version,
        alias=alias,
        tracking_uri=uri,
        artifact_uri=artifact_uri,
    )


def _register_version(
    client: Any, model_name: str, source: str, run_id: str, manifest_sha256: str
) -> tuple[str, str]:
    """A new version of ``model_name`` (created on its first version) from ``source``, with
    the alias it takes: ``champion`` when the name has none, ``challenger`` otherwise."""
    try:
        client.get_registered_model(model_name)
    except Exception as exc:
        if not _not_found(exc):
            raise  # a failing store is not a new name
        client.create_registered_model(model_name)
    version = client.create_model_version(
        model_name, source=source, run_id=run_id, tags={MANIFEST_TAG: manifest_sha256}
    )
    taken = client.get_registered_model(model_name).aliases or {}
    alias = CHALLENGER if CHAMPION in taken else CHAMPION
    client.set_registered_model_alias(model_name, alias, version.version)
    return str(version.version), alias


# Run by open_store in a child process. A new SQLite store's migrations commit dozens of
# times, and each commit's disk sync is most of their time (measured on a busy 2-core
# machine: 7.4 s, against 2.0 s without the syncs): the child syncs the file once, at the
# end, instead. Only a power cut during those seconds could damage the new, empty store.
OPEN_STORE_SECONDS = 120.0
_MIGRATE = """
import logging, os, sys
from urllib.parse import unquote

logging.disable(logging.WARNING)
uri = sys.argv[1]
if uri.startswith("sqlite:///"):
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _sync_once_at_the_end(connection, record):
        cursor = connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

from mlflow import MlflowClient

client = MlflowClient(tracking_uri=uri, registry_uri=uri)
client.search_experiments(max_results=1)
client.search_registered_models(max_results=1)
if uri.startswith("sqlite:///"):
    with open(unquote(uri[len("sqlite:///"):]), "rb+") as db:
        os.fsync(db.fileno())
"""


def open_store(uri: str | None = None, *, imported: threading.Event | None = None) -> None:
    """Get the tracking and registry store ready for a later ``log_and_register`` in this
    process: create and migrate a new store (Alembic, seconds) in a child process, and
    import MLflow here meanwhile (then set ``imported``). In a thread of this process the
    migrations' many short waits would take the GIL back in bursts and slow the Python work
    beside them. ``mlwright run`` calls it in a thread while it trains; a store that cannot
    be opened is left for the registration to report."""
    import subprocess
    import sys

    child = subprocess.Popen(
        [sys.executable, "-c", _MIGRATE, tracking_uri(uri)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import mlflow  # noqa: F401  (seconds of imports, done once)
    finally:
        if imported is not None:
            imported.set()
        try:
            child.wait(timeout=OPEN_STORE_SECONDS)
        except subprocess.TimeoutExpired:  # an unreachable store: registering will say so
            child.kill()
            child.wait()


def is_registry_uri(text: str) -> bool:
    return text.startswith("models:/")


def _shown(text: str, limit: int = 80) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters (a client may send any)."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text):,} characters)"


@dataclass(frozen=True)
class ModelUri:
    """A checked ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""

    name: str
    alias: str | None
    version: str | None


def parse_model_uri(model_uri: str) -> ModelUri:
    """The name and the alias or version of a model URI, or a RegistryError saying what is
    malformed (the whole text must match: no paths, no traversal, no trailing newline)."""
    match = _URI.fullmatch(model_uri)
    if not match:
        raise RegistryError(
            f"{_shown(model_uri)} is not a model URI",
            field=model_uri[:200],
            hint="write models:/NAME@ALIAS (e.g. models:/churn@champion) or models:/NAME/VERSION",
        )
    name = check_model_name(match["name"])
    alias = match["alias"]
    if alias is not None and (not _NAME.fullmatch(alias) or ".." in alias):
        raise RegistryError(
            f"alias {_shown(alias)} is not allowed",
            field=model_uri[:200],
            hint="use letters, digits, '-', '_' and '.', starting with a letter or digit",
        )
    return ModelUri(name, alias, match["version"])


@dataclass(frozen=True)
class Resolved:
    path: Path
    model_name: str
    version: str
    alias: str | None
    manifest_sha256: str | None


def _version_entry(model_uri: str, uri: str | None) -> tuple[ModelUri, str, Any]:
    """The parsed URI, the tracking store and MLflow's entry of the version it names."""
    parsed = parse_model_uri(model_uri)
    store = tracking_uri(uri)
    db = _sqlite_path(store)
    if db is not None and not db.is_file():
        # Opening it would create an empty store; there is nothing to resolve in one.
        raise RegistryError(
            f"no model registry at {store} (the file {db} does not exist)",
            field=model_uri,
            hint="run from the folder where `mlwright run` registered the model, or pass its "
            "store with --tracking-uri / MLFLOW_TRACKING_URI",
        )
    with _quiet():
        try:
            client = _client(store)
            entry = (
                client.get_model_version_by_alias(parsed.name, parsed.alias)
                if parsed.alias is not None
                else client.get_model_version(parsed.name, parsed.version)
            )
        except RegistryError:
            raise
        except Exception as exc:
            if not _not_found(exc):
                raise _registry_error(f"read {model_uri}", exc, store) from exc
            what = f"alias '{parsed.alias}'" if parsed.alias else f"version {parsed.version}"
            raise ModelNotFoundError(
                f"no {what} of model '{parsed.name}' in the registry at {shown_uri(store)}",
                field=model_uri,
                hint="list versions with `mlflow` or check registry.tracking_uri / "
                "MLFLOW_TRACKING_URI; train one with `mlwright run SPEC`",
            ) from exc
    return parsed, store, entry


def resolve_version(model_uri: str, *, uri: str | None = None) -> str:
    """The version ``model_uri`` names now (where an alias points), downloading nothing: what
    a service following an alias asks on every poll."""
    return str(_version_entry(model_uri, uri)[2].version)


def _download(source: str, target: Path, store: str) -> Path:
    with _quiet():
        try:
            from mlflow.artifacts import download_artifacts

            # The store resolves runs:/ sources to the run's artifact location.
            return Path(
                download_artifacts(artifact_uri=source, dst_path=str(target), tracking_uri=store)
            )
        except Exception as exc:
            raise _registry_error(f"download {source}", exc, store) from exc


class ArtifactCache:
    """Registered versions downloaded from a remote artifact store (anything but a local
    directory: ``runs:/``, S3, ...), each once per tracking store, name and version, under one
    temporary folder ``mlwright-models-*`` made at the first download. ``retain`` deletes the
    versions no longer needed and ``close`` the whole folder; ``downloads`` counts them."""

    def __init__(self) -> None:
        self._root: Path | None = None
        # (store, name, version) -> (its folder, the artifact directory inside it)
        self._entries: dict[tuple[str, str, str], tuple[Path, Path]] = {}
        self._lock = threading.Lock()
        self.downloads = 0

    @property
    def root(self) -> Path | None:
        """The cache's folder (None before the first download and after ``close``)."""
        return self._root

    def fetch(self, store: str, name: str, version: str, source: str) -> Path:
        """The local copy of version ``version`` of ``name`` (from ``source``), downloaded
        the first time it is asked for."""
        key = (store, name, version)
        with self._lock:  # one download at a time: never the same version twice
            found = self._entries.get(key)
            if found is not None and found[1].is_dir():
                return found[1]
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="mlwright-models-"))
            # Names and versions are checked identifiers; the store's digest tells stores apart.
            digest = hashlib.sha256(store.encode()).hexdigest()[:12]
            folder = self._root / f"{name}-{version}-{digest}"
            shutil.rmtree(folder, ignore_errors=True)  # what a failed download left
            folder.mkdir()
            try:
                path = _download(source, folder, store)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            self.downloads += 1
            self._entries[key] = (folder, path)
            return path

    def retain(self, paths: Iterable[Path | None]) -> None:
        """Delete every cached version except those at ``paths`` (the ones still served)."""
        keep = {p for p in paths if p is not None}
        with self._lock:
            for key, (folder, path) in list(self._entries.items()):
                if path not in keep:
                    del self._entries[key]
                    shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Delete every cached version and the cache's folder."""
        with self._lock:
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
            self._entries.clear()

    def __enter__(self) -> ArtifactCache:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _local_directory(source: str) -> Path | None:
    parsed = urlparse(source)
    if parsed.scheme in ("", "file") and Path(unquote(parsed.path)).is_dir():
        return Path(unquote(parsed.path))
    return None


def resolve(
    model_uri: str,
    *,
    uri: str | None = None,
    cache: ArtifactCache | None = None,
) -> Resolved:
    """The local artifact directory for ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``. A
    version whose source is a local directory is used where it is; any other is downloaded:
    into ``cache`` (once per store, name and version), else into a new temporary directory
    that the caller owns."""
    parsed, store, entry = _version_entry(model_uri, uri)
    version = str(entry.version)
    source = str(entry.source)
    path = _local_directory(source)
    if path is None:
        if cache is not None:
            path = cache.fetch(store, parsed.name, version, source)
        else:
            path = _download(source, Path(tempfile.mkdtemp(prefix="mlwright-model-")), store)
    tags = dict(entry.tags or {})
    return Resolved(
        path=path,
        model_name=parsed.name,
        version=version,
        alias=parsed.alias,
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


def locate(
    reference: str | Path, *, tracking_uri: str | None = None, cache: ArtifactCache | None = None
) -> tuple[Path, Resolved | None]:
    """The local artifact directory of ``reference`` (a directory, or a registry URI resolved
    through ``cache``) and, for a registered one, its registry entry; a registered artifact
    must still carry the manifest it was registered with."""
    text = str(reference)
    if not is_registry_uri(text):
        return Path(text).expanduser(), None
    resolved = resolve(text, uri=tracking_uri, cache=cache)
    if not (resolved.path / MANIFEST).is_file():
        raise ArtifactError(
            f"version {resolved.version} of {resolved.model_name} has no {MANIFEST}",
            field=str(resolved.path),
            hint="register an artifact directory written by `mlwright run`",
        )
    check_manifest(resolved, manifest_digest(resolved.path))
    return resolved.path, resolved


def load_located(
    path: Path, resolved: Resolved | None, reference: str | Path
) -> Model | Recommender:
    """The model or recommender in ``path`` (from ``locate``), as its manifest says, every
    file checked against its hash; a registered one carries its name, version and alias."""
    if (path / MANIFEST).is_file() and is_recommender(read_manifest(path)):
        recommender = load_recommender(path)
        if resolved is not None:
            recommender.metadata["registry"] = _identity(resolved, reference)
        return recommender
    model = load_model(path)
    if resolved is not None:
        model.registry = _identity(resolved, reference)
    return model


def _identity(resolved: Resolved, reference: str | Path) -> dict[str, str]:
    return {
        "model_name": resolved.model_name,
        "version": resolved.version,
        "alias": resolved.alias or "",
        "uri": str(reference),
    }


def registered_manifest(model_uri: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
    """The manifest of a registered version (``models:/NAME@ALIAS`` or ``/VERSION``),
    checked against the SHA-256 recorded at registration (``locate``); a downloaded copy of
    a remote version is deleted once it is read."""
    with ArtifactCache() as cache:
        return read_manifest(locate(model_uri, tracking_uri=tracking_uri, cache=cache)[0])


def load_any(
    reference: str | Path, *, tracking_uri: str | None = None, isolate: bool = False
) -> Model | Recommender:
    """``load`` for either kind of artifact: a ``Model`` or a ``Recommender``, as its
    manifest says; with ``isolate``, loaded and smoke-tested in a child process first
    (``load_in_child``). A downloaded copy of a remote registered version is read whole
    into memory and deleted."""
    with ArtifactCache() as cache:
        path, resolved = locate(reference, tracking_uri=tracking_uri, cache=cache)
        if isolate:
            load_in_child(path)
        return load_located(path, resolved, reference)


def load(reference: str | Path, *, tracking_uri: str | None = None) -> Model:
    """A model from an artifact directory or a registry URI (models:/NAME@ALIAS or
    models:/NAME/VERSION); a registered artifact must still carry the manifest it was
    registered with, and every file must match its hash."""
    with ArtifactCache() as cache:
        path, resolved = locate(reference, tracking_uri=tracking_uri, cache=cache)
        model = load_model(path)  # a recommender is refused, with the way to read it
        if resolved is not None:
            model.registry = _identity(resolved, reference)
        return model


def aliases(model_name: str, *, uri: str | None = None) -> dict[str, str]:
    """The registered model's aliases: alias -> version ({} when the store says the model
    does not exist; a RegistryError naming the store when it fails to answer)."""
    check_model_name(model_name)
    uri = tracking_uri(uri)
    db = _sqlite_path(uri)
    if db is not None and not db.is_file():
        return {}
    with _quiet():
        try:
            found = _client(uri).get_registered_model(model_name)
        except RegistryError:
            raise
        except Exception as exc:
            if _not_found(exc):
                return {}
            raise _registry_error(f"read the aliases of {model_name}", exc, uri) from exc
    return {str(k): str(v) for k, v in (found.aliases or {}).items()}


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
