"""The retrain-and-promote loop against a real MLflow registry (SQLite): a challenger
trained on fresh labelled traffic is compared with the champion on recent rows neither
saw, promoted only when it clearly wins (or by force, recorded), and nothing in the
registry changes when it does not, or when it answers a different question."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from logged import days
from mlwright.errors import DataError, RegistryError, SchemaMismatchError
from mlwright.monitor import (
    COMPARE_FROM_TAG,
    PROMOTION_TAG,
    compare,
    promote,
    retrain,
)
from mlwright.pipeline import train
from mlwright.registry import CHALLENGER, CHAMPION, aliases, version_tags
from mlwright.spec import load_spec
from registered import NAME, new_concept, register_champion, serve_and_label, write_spec
from synth import make_frame
from tracking_server import MISSING_MODEL, no_retries, shown, tracking_server


@pytest.fixture
def champion(workdir: Path) -> Path:
    return register_champion(workdir)


def test_a_challenger_that_learned_the_new_concept_wins_and_is_promoted(champion: Path) -> None:
    traffic = new_concept(make_frame("binary", n=1000, seed=9))
    log = serve_and_label(champion, traffic, 200, 5)
    result = retrain(load_spec(champion / "spec.toml"), log)
    assert result.registration is not None
    assert (result.registration.version, result.registration.alias) == ("2", CHALLENGER)
    assert (result.rows_from_files, result.rows_from_log, result.reserved) == (600, 800, 200)
    tags = version_tags(NAME, "2")
    assert tags[COMPARE_FROM_TAG] == f"{result.compare_from.isoformat()} {result.compare_from_id}"

    comparison = compare(NAME, log)
    assert comparison.rows == 200  # the reserved day only: neither model trained on it
    assert comparison.wins, comparison.verdict
    assert comparison.difference["low"] > 0
    assert comparison.challenger["value"] > comparison.champion["value"]

    promotion = promote(NAME, log)
    assert promotion.promoted
    assert not promotion.forced
    assert aliases(NAME) == {CHAMPION: "2"}
    record = json.loads(version_tags(NAME, "2")[PROMOTION_TAG])
    assert (record["from_version"], record["forced"], record["won"]) == ("1", False, True)


def test_a_challenger_no_better_is_not_promoted_and_nothing_changes(champion: Path) -> None:
    log = serve_and_label(champion, make_frame("binary", n=300, seed=4), 300, 1)
    # Retrained on the spec's data alone: the same rows and seed give the same model.
    result = retrain(load_spec(champion / "spec.toml"), log, since=days(1, 3)[2])
    assert result.rows_from_log == 0
    comparison = compare(NAME, log, since=days(1, 1)[0])
    assert comparison.difference["value"] == pytest.approx(0.0, abs=1e-9)
    assert not comparison.wins
    before = aliases(NAME)
    promotion = promote(NAME, log, since=days(1, 1)[0])
    assert not promotion.promoted
    assert "does not clearly win" in promotion.reason
    assert aliases(NAME) == before == {CHAMPION: "1", CHALLENGER: "2"}
    assert PROMOTION_TAG not in version_tags(NAME, "2")

    forced = promote(NAME, log, since=days(1, 1)[0], force=True, reason="rollout drill")
    assert (forced.promoted, forced.forced) == (True, True)
    assert aliases(NAME) == {CHAMPION: "2"}
    record = json.loads(version_tags(NAME, "2")[PROMOTION_TAG])
    assert (record["forced"], record["reason"], record["won"]) == (True, "rollout drill", False)


def test_a_challenger_on_another_schema_is_refused(champion: Path) -> None:
    log = serve_and_label(champion, make_frame("binary", n=300, seed=5), 300, 1)
    other = load_spec(write_spec(champion))
    other.task.ignore = ["count"]
    train(other, register=True)
    before = aliases(NAME)
    with pytest.raises(SchemaMismatchError, match="inputs missing in the challenger: count"):
        compare(NAME, log, since=days(1, 1)[0])
    with pytest.raises(SchemaMismatchError):  # not even by force
        promote(NAME, log, since=days(1, 1)[0], force=True)
    assert aliases(NAME) == before


def test_comparisons_need_a_challenger_and_enough_labels(champion: Path) -> None:
    with pytest.raises(RegistryError, match="no challenger alias"):
        compare(NAME, None)
    log = serve_and_label(champion, make_frame("binary", n=30, seed=6), 30, 1)
    train(load_spec(champion / "spec.toml"), register=True)
    with pytest.raises(DataError, match="only 30 labelled rows") as caught:
        promote(NAME, log, since=days(1, 1)[0])
    assert caught.value.field == "labels"
    assert aliases(NAME) == {CHAMPION: "1", CHALLENGER: "2"}


def test_retrain_on_traffic_alone_needs_labels(champion: Path) -> None:
    with pytest.raises(DataError, match="no labelled answers of loop"):
        retrain(
            load_spec(champion / "spec.toml"),
            f"sqlite:///{champion / 'none.db'}",
            include_files=False,
        )
    assert aliases(NAME) == {CHAMPION: "1"}


def test_a_recommender_without_a_challenger_is_told_what_a_recommender_needs(
    workdir: Path,
) -> None:
    """compare on a recommender that has only its champion used to say "retrain SPEC",
    which recommenders do not have: it says there is no paired comparison for them and
    points to promote --force --reason; promote --force names `mlwright run` instead."""
    from mlwright.artifact import manifest_digest
    from mlwright.errors import SpecError
    from mlwright.recommend import save_recommender
    from mlwright.registry import log_and_register
    from recsynth import quick_recommender

    saved = save_recommender(quick_recommender(), workdir / "rec")
    log_and_register(
        artifact_dir=saved,
        manifest_sha256=manifest_digest(saved),
        experiment="shop",
        model_name="shop",
        params={},
        metrics={},
        tags={},
    )
    assert aliases("shop") == {CHAMPION: "1"}
    with pytest.raises(SpecError, match="shop is a recommender") as info:
        compare("shop", "sqlite:///predictions.db")
    assert "promote shop --force" in (info.value.hint or "")
    assert "retrain" not in str(info.value)
    with pytest.raises(SpecError, match="shop is a recommender"):
        promote("shop", "sqlite:///predictions.db")
    with pytest.raises(RegistryError, match="no challenger") as forced:
        promote("shop", "sqlite:///predictions.db", force=True, reason="better")
    assert "mlwright run SPEC" in (forced.value.hint or "")
    assert "retrain" not in (forced.value.hint or "")


def _spec_on(root: Path, server: str) -> Path:
    """The loop's spec and data in ``root``, its registry on ``server``."""
    make_frame("binary", n=600, seed=1).write_csv(root / "train.csv")
    return write_spec(root, f'[registry]\ntracking_uri = "{server}"')


def test_a_failing_tracking_server_stops_the_loop_instead_of_meaning_no_champion(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server answering 500 read as "no champion": retrain trained on the spec's data
    alone, dropping the labelled answers of the log, and compare and promote said to train
    a challenger."""
    no_retries(monkeypatch)
    log = f"sqlite:///{workdir / 'log.db'}"
    with tracking_server(500) as server:
        steps = [
            lambda: retrain(load_spec(_spec_on(workdir, server)), log),
            lambda: compare(NAME, log, tracking_uri=server),
            lambda: promote(NAME, log, tracking_uri=server),
            lambda: promote(NAME, log, tracking_uri=server, force=True, reason="now"),
        ]
        for step in steps:
            with pytest.raises(RegistryError) as info:
                step()
            message = info.value.message
            assert f"read the aliases of {NAME} at {shown(server)}" in message, message
            assert "s3cret" not in str(info.value)
    assert not (workdir / "mlflow.db").exists()


def test_a_model_the_tracking_server_does_not_have_has_no_champion(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_retries(monkeypatch)
    with (
        tracking_server(404, MISSING_MODEL) as server,
        pytest.raises(RegistryError, match="has no champion and no challenger alias"),
    ):
        compare(NAME, "sqlite:///log.db", tracking_uri=server)


def test_the_commands_exit_with_the_registry_error_naming_the_server(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clirun import assert_clean_failure, mlwright

    no_retries(monkeypatch)
    with tracking_server(500) as server:
        spec = _spec_on(workdir, server)
        for args in (
            ("retrain", spec, "--quiet"),
            ("promote", NAME, "--tracking-uri", server, "--log", "sqlite:///log.db"),
        ):
            result = mlwright(*args, cwd=workdir)
            assert_clean_failure(result, RegistryError.exit_code, shown(server))
            assert "s3cret" not in result.output
