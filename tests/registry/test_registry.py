from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

import mlwright
from mlwright.artifact import MANIFEST, Model, manifest_digest
from mlwright.errors import ArtifactError, ModelNotFoundError, RegistryError
from mlwright.registry import (
    CHALLENGER,
    CHAMPION,
    ArtifactCache,
    aliases,
    check_manifest,
    check_model_name,
    load,
    load_any,
    log_and_register,
    parse_model_uri,
    registered_manifest,
    resolve,
    resolve_version,
    tracking_uri,
)
from registry_store import point_champion, register_remote
from tracking_server import MISSING_MODEL, no_retries, shown, tracking_server


def register(artifact: Path, uri: str, name: str = "churn"):  # type: ignore[no-untyped-def]
    return log_and_register(
        artifact_dir=artifact,
        manifest_sha256=manifest_digest(artifact),
        experiment=name,
        model_name=name,
        params={"task.target": "y", "model.num_leaves": 31},
        metrics={"cv_roc_auc": 0.8, "holdout_roc_auc": 0.79},
        tags={"mlwright.problem_type": "binary"},
        uri=uri,
    )


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def artifact(trained: dict[str, Model], tmp_path: Path) -> Path:
    return trained["binary"].save(tmp_path / "artifact")


def test_first_version_is_champion_then_challenger(artifact: Path, store: str) -> None:
    first = register(artifact, store)
    second = register(artifact, store)
    assert (first.version, first.alias) == ("1", CHAMPION)
    assert (second.version, second.alias) == ("2", CHALLENGER)
    assert first.uri == "models:/churn@champion"


def test_run_logs_params_metrics_tags_and_artifact(artifact: Path, store: str) -> None:
    from mlflow import MlflowClient

    reg = register(artifact, store)
    run = MlflowClient(tracking_uri=store).get_run(reg.run_id)
    assert run.data.params["task.target"] == "y"
    assert run.data.metrics["holdout_roc_auc"] == pytest.approx(0.79)
    assert run.data.tags["mlwright.problem_type"] == "binary"
    assert run.info.status == "FINISHED"
    logged = MlflowClient(tracking_uri=store).list_artifacts(reg.run_id, "model")
    assert MANIFEST in {Path(f.path).name for f in logged}


def test_resolve_alias_and_version_give_the_registered_artifact(artifact: Path, store: str) -> None:
    register(artifact, store)
    by_alias = resolve("models:/churn@champion", uri=store)
    by_version = resolve("models:/churn/1", uri=store)
    for resolved in (by_alias, by_version):
        assert resolved.version == "1"
        assert manifest_digest(resolved.path) == manifest_digest(artifact)
        check_manifest(resolved, manifest_digest(resolved.path))
    model = load("models:/churn@champion", tracking_uri=store)
    assert model.registry["version"] == "1"
    assert model.registry["alias"] == CHAMPION


def test_a_replaced_manifest_is_refused_on_load(artifact: Path, store: str) -> None:
    register(artifact, store)
    resolved = resolve("models:/churn@champion", uri=store)
    manifest_path = resolved.path / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["task"]["threshold"] = 0.01  # consistent hashes, different behaviour
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="does not match the SHA-256 recorded at registration"):
        load("models:/churn@champion", tracking_uri=store)


@pytest.mark.parametrize(
    "uri", ["models:/churn@nobody", "models:/missing@champion", "models:/churn/7"]
)
def test_unknown_models_and_aliases(artifact: Path, store: str, uri: str) -> None:
    register(artifact, store)
    with pytest.raises(RegistryError, match="in the registry at") as info:
        resolve(uri, uri=store)
    assert info.value.hint is not None


@pytest.mark.parametrize(
    "uri", ["models:/../etc@champion", "models:/a/b/c", "runs:/abc/model", "models:/x@../../y"]
)
def test_malformed_or_traversing_uris_are_refused(store: str, uri: str) -> None:
    with pytest.raises(RegistryError):
        resolve(uri, uri=store)


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x" * 200])
def test_unsafe_model_names_are_refused(artifact: Path, store: str, name: str) -> None:
    with pytest.raises(RegistryError, match="not allowed"):
        register(artifact, store, name=name)


def test_tracking_uri_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    assert tracking_uri() == "sqlite:///env.db"
    assert tracking_uri("sqlite:///spec.db") == "sqlite:///spec.db"


def test_unreachable_store_is_a_registry_error(artifact: Path, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="MLflow could not"):
        register(artifact, "nosuchscheme://tracking.example/x")


def test_public_load_accepts_registry_uris(artifact: Path, store: str) -> None:
    register(artifact, store)
    assert mlwright.load("models:/churn@champion", tracking_uri=store).registry["version"] == "1"


@pytest.mark.parametrize(
    "uri", ["models:/churn@nobody", "models:/missing@champion", "models:/churn/7"]
)
def test_an_unknown_model_version_or_alias_is_not_found(
    artifact: Path, store: str, uri: str
) -> None:
    register(artifact, store)
    with pytest.raises(ModelNotFoundError) as info:
        resolve(uri, uri=store)
    assert info.value.http_status == 404
    with pytest.raises(ModelNotFoundError):
        resolve_version(uri, uri=store)


@pytest.mark.parametrize(
    "uri",
    [
        "models:/churn@champion\n",
        "models:/churn\n@champion",
        "models:/churn/1\n",
        "models:/churn@cham pion",
        "models:/churn/\u0661",  # a digit, but not 0-9
    ],
)
def test_names_and_aliases_must_match_whole(artifact: Path, store: str, uri: str) -> None:
    """A pattern ending in "$" also matches before a trailing newline."""
    register(artifact, store)
    with pytest.raises(RegistryError, match=r"not a model URI|not allowed"):
        parse_model_uri(uri)
    with pytest.raises(RegistryError, match=r"not a model URI|not allowed"):
        resolve(uri, uri=store)
    with pytest.raises(RegistryError, match="not allowed"):
        check_model_name("churn\n")
    with pytest.raises(RegistryError, match="not allowed"):
        register(artifact, store, name="churn\n")


def test_a_remote_version_is_downloaded_once_into_the_cache(artifact: Path, store: str) -> None:
    first = register_remote(artifact, store, "churn")
    second = register_remote(artifact, store, "churn")
    with ArtifactCache() as cache:
        assert cache.root is None  # nothing made before a download
        paths = [resolve(f"models:/churn/{first}", uri=store, cache=cache).path for _ in range(3)]
        assert cache.downloads == 1
        assert len(set(paths)) == 1
        assert manifest_digest(paths[0]) == manifest_digest(artifact)
        assert resolve_version("models:/churn@champion", uri=store) == "1"
        assert cache.downloads == 1  # asking for the version downloads nothing
        other = resolve(f"models:/churn/{second}", uri=store, cache=cache).path
        assert cache.downloads == 2
        cache.retain([other])
        assert not paths[0].exists()
        assert other.is_dir()
        resolve(f"models:/churn/{second}", uri=store, cache=cache)
        assert cache.downloads == 2
        root = cache.root
        assert root is not None
    assert not root.exists()


def test_loading_a_remote_version_leaves_no_copy_behind(
    artifact: Path, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = register_remote(artifact, store, "churn")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    model = load(f"models:/churn/{version}", tracking_uri=store)
    assert model.registry["version"] == version
    assert load_any(f"models:/churn/{version}", tracking_uri=store).registry["version"] == version
    assert list(temp.iterdir()) == []


def test_the_manifest_of_a_remote_version_is_read_without_a_copy_left_behind(
    artifact: Path, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # compare and promote read the champion's manifest to see whether it is a recommender;
    # each read of a remote version left a downloaded copy in a new temporary folder.
    from mlwright.monitor._loop import _recommender_manifest

    version = register_remote(artifact, store, "churn")
    point_champion(store, version, "churn")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    manifest = registered_manifest(f"models:/churn/{version}", tracking_uri=store)
    assert manifest == json.loads((artifact / MANIFEST).read_text())
    assert _recommender_manifest("churn", store) is None  # a table model's champion
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize(("status", "hint"), [(500, "reachable"), (401, "credentials")])
def test_a_failing_tracking_server_is_an_error_not_a_missing_model(
    artifact: Path, monkeypatch: pytest.MonkeyPatch, status: int, hint: str
) -> None:
    """Any failure of get_registered_model read as "no such model": aliases answered {} for
    a server that answered 500 or 401, so the loop carried on as if there were no champion."""
    no_retries(monkeypatch)
    with tracking_server(status) as server:
        lookups = [
            lambda: aliases("churn", uri=server),
            lambda: resolve("models:/churn@champion", uri=server),
            lambda: resolve_version("models:/churn/1", uri=server),
            lambda: register(artifact, server),
        ]
        for lookup in lookups:
            with pytest.raises(RegistryError) as info:
                lookup()
            error = info.value
            assert not isinstance(error, ModelNotFoundError), error
            assert shown(server) in error.message, error
            assert "s3cret" not in f"{error} {error.field}"
            assert hint in (error.hint or ""), error


def test_a_model_the_tracking_server_does_not_have_is_still_missing(
    artifact: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_retries(monkeypatch)
    with tracking_server(404, MISSING_MODEL) as server:
        assert aliases("churn", uri=server) == {}
        with pytest.raises(ModelNotFoundError, match="no alias 'champion' of model") as info:
            resolve("models:/churn@champion", uri=server)
        assert "s3cret" not in str(info.value)
    register(artifact, store)
    assert aliases("other", uri=store) == {}
