"""The fitted recommender end to end on a small clustered log: what ``recommend`` answers
for known, unseen and cold-start users, its filters and input checks, the artifact round
trip, offline evaluation, and the fit's time windows."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import mlwright
from hostile import edit_manifest, replace_file
from mlwright.artifact import is_recommender, load_in_child, smoke_test
from mlwright.errors import ArtifactError, InputError
from mlwright.recommend import (
    MAX_K,
    FeatureSources,
    FitPlan,
    Interactions,
    Recommender,
    RecommendSettings,
    Scorers,
    Split,
    evaluate_split,
    fit_recommender,
    interactions_from_frame,
    load_recommender,
    save_recommender,
    user_split,
    windows,
)
from mlwright.recommend._fit import used_generators

GRIDS: dict[str, list[dict[str, Any]]] = {
    "ease": [{"l2": 20.0, "min_users": 1}],
    "als": [{"factors": 8, "l2": 0.1, "alpha": 2.0, "iterations": 5}],
    "item_knn": [{"neighbours": 20, "weighting": "cosine"}],
    "popularity": [{"half_life_days": None}],
}
SETTINGS = RecommendSettings(folds=2, max_trees=50, depth=20, grids=GRIDS)
UNSEEN_USER = 999_999


@pytest.fixture(scope="module")
def data(log_maker: Callable[..., pl.DataFrame]) -> Interactions:
    return interactions_from_frame(log_maker(150, 60), user="user", item="item", time="ts")


@pytest.fixture(scope="module")
def split(data: Interactions) -> Split:
    return user_split(data, seed=0)


@pytest.fixture(scope="module")
def chosen(split: Split) -> Recommender:
    """Fitted on the training users, choosing generators and ranker as a fit does."""
    return fit_recommender(split.train, settings=SETTINGS, time_budget=60)


@pytest.fixture(scope="module")
def models(split: Split, chosen: Recommender) -> dict[str, Recommender]:
    """The same generators, with a ranker for certain and with a generator alone."""
    generators = chosen.metadata["plan"]["generators"]
    return {
        "ranker": fit_recommender(
            split.train,
            settings=SETTINGS,
            plan=FitPlan(generators, "ranker", "lambdarank", 50),
        ),
        "item_knn": fit_recommender(
            split.train, settings=SETTINGS, plan=FitPlan(generators, "item_knn")
        ),
    }


@pytest.fixture(params=["ranker", "item_knn"])
def model(request: pytest.FixtureRequest, models: dict[str, Recommender]) -> Recommender:
    return models[request.param]


def train_history(split: Split, user_id: int) -> set[str]:
    train = split.train
    code = int(np.flatnonzero(train.user_ids == user_id)[0])
    return {str(train.item_ids[i]) for i in train.items[train.users == code]}


def a_training_user(split: Split, index: int = 0) -> int:
    return int(split.train.user_ids[np.unique(split.train.users)[index]])


def ids(data: Interactions, codes: np.ndarray) -> list[str]:
    return [str(data.item_ids[c]) for c in codes]


# -- the fit -------------------------------------------------------------------------------------


def test_fit_chooses_and_records_its_choices(chosen: Recommender) -> None:
    fit = chosen.metadata["fit"]
    assert set(fit["generators"]) == set(GRIDS)
    assert set(fit["generator_ndcg"]) == set(GRIDS)
    assert all(0.0 <= v <= 1.0 for v in fit["generator_ndcg"].values())
    assert chosen.chosen == fit["chosen"]
    plan = FitPlan(**chosen.metadata["plan"])
    assert plan.chosen == chosen.chosen
    if chosen.chosen == "ranker":
        assert chosen.ranker is not None
        assert plan.objective in ("lambdarank", "rank_xendcg", "binary")
        assert plan.trees is not None
        assert 25 <= plan.trees <= 50
        assert fit["ranker"]["cv_ndcg"] > max(fit["generator_ndcg"].values())
    else:
        assert chosen.ranker is None
        assert fit["generator_ndcg"][chosen.chosen] == max(fit["generator_ndcg"].values())
    # Clustered tastes: every learned generator finds far more than popularity does.
    for kind in ("ease", "als", "item_knn"):
        assert fit["generator_ndcg"][kind] > fit["generator_ndcg"]["popularity"] + 0.1


def test_a_fit_that_follows_a_plan_ships_the_generators_its_scorer_uses(
    chosen: Recommender, models: dict[str, Recommender]
) -> None:
    """The choosing fit keeps every generator (the evaluation scores each one alone); the
    artifact's fit keeps the ranker's candidates' sources, or the one chosen and popularity
    (the cold-start answer): refitting the others on every interaction would be wasted."""
    assert set(chosen.generators) == set(GRIDS)
    assert set(models["ranker"].generators) == set(GRIDS)
    assert set(models["item_knn"].generators) == {"popularity", "item_knn"}
    plan = FitPlan(chosen.metadata["plan"]["generators"], "item_knn")
    assert used_generators(plan) == {k: plan.generators[k] for k in ("popularity", "item_knn")}


def test_fit_without_a_ranker_takes_the_best_generator(split: Split) -> None:
    model = fit_recommender(split.train, settings=replace(SETTINGS, ranker=False))
    ndcg = model.metadata["fit"]["generator_ndcg"]
    assert model.ranker is None
    assert model.chosen == max(ndcg, key=ndcg.__getitem__)
    assert model.recommend_detail(user=a_training_user(split)).source == model.chosen


def test_fit_with_no_user_of_two_interactions_is_refused() -> None:
    frame = pl.DataFrame({"u": [1, 2, 3], "i": [1, 2, 3], "t": [1, 2, 3]})
    data = interactions_from_frame(frame, user="u", item="i", time="t")
    with pytest.raises(ValueError, match="two or more interactions"):
        fit_recommender(data, settings=SETTINGS)


def test_a_recommender_needs_what_it_chose(models: dict[str, Recommender]) -> None:
    base = models["item_knn"]
    kwargs: dict[str, Any] = {
        "user_ids": base.user_ids,
        "item_ids": base.item_ids,
        "sources": FeatureSources(base.stats),
        "seen": base.seen,
        "depth": base.depth,
    }
    with pytest.raises(ValueError, match="neither 'ranker' nor a generator"):
        Recommender(**kwargs, scorers=Scorers(base.generators, None, "svd"))
    with pytest.raises(ValueError, match="no ranker"):
        Recommender(**kwargs, scorers=Scorers(base.generators, None, "ranker"))


# -- recommend: who is asking --------------------------------------------------------------------


def test_a_known_user_gets_k_new_items(model: Recommender, split: Split) -> None:
    for index in range(0, 60, 7):
        user = a_training_user(split, index)
        seen = train_history(split, user)
        detail = model.recommend_detail(user=user, k=10)
        assert len(detail.items) == 10
        assert len(set(detail.items)) == 10
        assert not set(detail.items) & seen
        assert all(isinstance(i, str) for i in detail.items)
        assert detail.known_user
        assert not detail.cold_start
        assert detail.source == model.chosen
        assert detail.history_used == len(seen)
        assert detail.short_by == 0
        assert detail.scores == sorted(detail.scores, reverse=True)
        assert model.recommend(user=user, k=10) == detail.items
        # Every item recommended is in the catalogue (met by a training user).
        assert all(model.catalogue[model._items[i]] for i in detail.items)


def test_user_ids_are_found_by_their_text(model: Recommender, split: Split) -> None:
    user = a_training_user(split, 3)
    expected = model.recommend(user=user, k=5)
    assert model.recommend(user=str(user), k=5) == expected
    assert model.recommend(user=f" {user} ", k=5) == expected
    assert model.recommend(user=np.int64(user), k=5) == expected
    assert model.knows_user(user)
    assert not model.knows_user(UNSEEN_USER)


def test_an_unseen_user_is_served_from_their_history(
    model: Recommender, split: Split, data: Interactions
) -> None:
    held = split.test
    for j in range(0, len(held), 5):
        history = ids(data, held.history[j])
        detail = model.recommend_detail(
            user=UNSEEN_USER, history=[*history, "no-such-item", "i999"], k=10
        )
        assert detail.unknown_history == ["no-such-item", "i999"]
        assert not detail.known_user
        assert not detail.cold_start
        assert detail.source == model.chosen
        assert detail.history_used == len(set(history))
        assert len(detail.items) == 10
        assert not set(detail.items) & set(history)
        # Unknown ids are ignored: the same answer without them, and without a user.
        assert model.recommend(history=history, k=10) == detail.items
        # The same as batch scoring of the same history (the evaluation path).
        top = model.top_items([held.history[j]], 10)[0]
        assert detail.items == ids(data, top)


def test_fold_in_finds_the_held_out_users_taste(
    models: dict[str, Recommender], split: Split
) -> None:
    # The log's users meet mostly items of their cluster (user index mod 3; items in blocks
    # of 20): a history from one cluster brings that cluster's items.
    for model in models.values():
        for cluster in range(3):
            history = [f"i{cluster * 20 + j:03d}" for j in range(6)]
            items = model.recommend(history=history, k=10)
            own = sum(cluster * 20 <= int(i[1:]) < (cluster + 1) * 20 for i in items)
            assert own >= 8, (model.chosen, cluster, items)


def test_a_known_user_with_recent_items_excludes_them(model: Recommender, split: Split) -> None:
    user = a_training_user(split, 5)
    seen = train_history(split, user)
    before = model.recommend(user=user, k=5)
    detail = model.recommend_detail(user=user, history=before[:2], k=5)
    assert detail.known_user
    assert detail.history_used == len(seen) + 2
    assert not set(detail.items) & (seen | set(before[:2]))


def test_cold_start_is_popularity(model: Recommender) -> None:
    detail = model.recommend_detail(k=10)
    assert detail.source == "popularity"
    assert detail.cold_start
    assert not detail.known_user
    assert detail.history_used == 0
    assert len(detail.items) == 10
    counts = model.generators["popularity"].arrays()["counts"]
    codes = [model._items[i] for i in detail.items]
    np.testing.assert_array_equal(detail.scores, counts[codes])
    assert detail.scores == sorted(detail.scores, reverse=True)
    rest = np.setdiff1d(np.flatnonzero(model.catalogue), codes)
    assert counts[rest].max() <= min(detail.scores)
    # An unknown user, or a history of unknown items only: the same answer.
    assert model.recommend(user=UNSEEN_USER, k=10) == detail.items
    nothing_known = model.recommend_detail(history=["zzz"], k=10)
    assert nothing_known.cold_start
    assert nothing_known.unknown_history == ["zzz"]
    assert nothing_known.items == detail.items


# -- recommend: filters --------------------------------------------------------------------------


def test_exclude_removes_items(model: Recommender, split: Split) -> None:
    user = a_training_user(split, 8)
    base = model.recommend(user=user, k=10)
    detail = model.recommend_detail(user=user, k=10, exclude=base[:3])
    assert len(detail.items) == 10
    assert not set(detail.items) & set(base[:3])
    assert detail.unknown_filter == []
    if model.chosen != "ranker":
        # A generator's scores do not depend on the filters: the list moves up.
        assert detail.items == [i for i in model.recommend(user=user, k=13) if i not in base[:3]]


def test_allow_restricts_to_the_allowed_items(model: Recommender, split: Split) -> None:
    user = a_training_user(split, 9)
    seen = sorted(train_history(split, user))
    fresh = [i for i in map(str, model.item_ids) if i not in seen][:4]
    allow = [*fresh, seen[0], "not-an-item"]
    detail = model.recommend_detail(user=user, k=10, allow=allow)
    # Only allowed items, never one the user met: four of the ten asked for.
    assert sorted(detail.items) == sorted(fresh)
    assert detail.short_by == 6
    assert detail.requested == 10
    assert detail.unknown_filter == ["not-an-item"]
    assert detail.to_dict()["short_by"] == 6
    both = model.recommend_detail(user=user, k=3, allow=allow, exclude=[fresh[0], "gone"])
    assert len(both.items) == 3
    assert set(both.items) == set(fresh[1:])
    assert both.unknown_filter == ["gone", "not-an-item"]
    empty = model.recommend_detail(user=user, k=3, allow=[seen[0]])
    assert empty.items == []
    assert empty.short_by == 3


def test_k_past_the_catalogue_returns_every_new_item(model: Recommender, split: Split) -> None:
    user = a_training_user(split, 2)
    seen = train_history(split, user)
    detail = model.recommend_detail(user=user, k=MAX_K)
    catalogue = {str(model.item_ids[c]) for c in np.flatnonzero(model.catalogue)}
    assert set(detail.items) == catalogue - seen
    assert detail.short_by == MAX_K - len(catalogue - seen)


@pytest.mark.parametrize("k", [0, -1, MAX_K + 1, True, False, "3", 2.0, None])
def test_a_bad_k_is_an_input_error(models: dict[str, Recommender], k: Any) -> None:
    with pytest.raises(InputError) as caught:
        models["item_knn"].recommend(k=k)
    assert caught.value.field == "k"
    assert caught.value.hint
    assert str(MAX_K) in caught.value.hint


def test_k_may_be_a_numpy_integer(models: dict[str, Recommender]) -> None:
    assert len(models["item_knn"].recommend(k=np.int64(4))) == 4


@pytest.mark.parametrize(
    ("name", "value"),
    [("history", "i001"), ("history", b"i001"), ("exclude", "i001"), ("allow", 5)],
)
def test_a_list_given_as_something_else_is_an_input_error(
    models: dict[str, Recommender], name: str, value: Any
) -> None:
    with pytest.raises(InputError) as caught:
        models["ranker"].recommend(**{name: value})
    assert caught.value.field == name
    assert caught.value.hint
    assert "list" in caught.value.hint


# -- the artifact --------------------------------------------------------------------------------


def answers(model: Recommender, split: Split, data: Interactions) -> list[dict[str, Any]]:
    out = [model.recommend_detail(k=7).to_dict()]
    for index in (0, 11, 40):
        out.append(model.recommend_detail(user=a_training_user(split, index), k=7).to_dict())
    for j in (0, 3):
        history = ids(data, split.test.history[j])
        out.append(model.recommend_detail(history=history, k=7, exclude=history[:1]).to_dict())
    return out


@pytest.mark.parametrize("which", ["ranker", "item_knn"])
def test_save_and_load_give_identical_recommendations(
    models: dict[str, Recommender], split: Split, data: Interactions, tmp_path: Path, which: str
) -> None:
    model = models[which]
    path = save_recommender(model, tmp_path / "rec")
    files = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    shipped = set(GRIDS) if which == "ranker" else {"popularity", which}
    assert {f for f in files if f.startswith("generators/")} == {
        f"generators/{kind}.npz" for kind in shipped
    }
    assert ("ranker.txt" in files) == (which == "ranker")
    assert not any(f.endswith((".pkl", ".pickle")) for f in files)
    loaded = load_recommender(path)
    assert loaded.chosen == model.chosen
    assert loaded.metadata["plan"] == model.metadata["plan"]
    assert loaded.metadata["path"] == str(path)
    assert answers(loaded, split, data) == answers(model, split, data)
    # Saving again over an artifact replaces it.
    save_recommender(loaded, path)
    assert answers(load_recommender(path), split, data) == answers(model, split, data)


def test_mlwright_load_reads_a_recommender(models: dict[str, Recommender], tmp_path: Path) -> None:
    path = save_recommender(models["ranker"], tmp_path / "rec")
    loaded = mlwright.load(path)
    assert isinstance(loaded, Recommender)
    assert loaded.recommend(k=5) == models["ranker"].recommend(k=5)
    assert isinstance(mlwright.load(str(path)), Recommender)
    import json

    assert is_recommender(json.loads((path / "manifest.json").read_text()))


def test_a_tampered_file_is_refused(models: dict[str, Recommender], tmp_path: Path) -> None:
    path = save_recommender(models["ranker"], tmp_path / "rec")
    target = path / "generators" / "ease.npz"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    target.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError) as caught:
        load_recommender(path)
    assert caught.value.field == "generators/ease.npz"
    assert "SHA-256" in caught.value.message
    with pytest.raises(ArtifactError):
        mlwright.load(path)


def test_an_unknown_file_is_refused(models: dict[str, Recommender], tmp_path: Path) -> None:
    path = save_recommender(models["item_knn"], tmp_path / "rec")
    (path / "generators" / "extra.npz").write_bytes(b"not listed")
    with pytest.raises(ArtifactError) as caught:
        load_recommender(path)
    assert caught.value.field == "generators/extra.npz"
    assert "does not list" in caught.value.message


def test_a_missing_file_is_refused(models: dict[str, Recommender], tmp_path: Path) -> None:
    path = save_recommender(models["ranker"], tmp_path / "rec")
    (path / "ranker.txt").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load_recommender(path)


def test_saving_over_a_directory_that_is_not_an_artifact_is_refused(
    models: dict[str, Recommender], tmp_path: Path
) -> None:
    target = tmp_path / "work"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(ArtifactError, match="refusing to overwrite"):
        save_recommender(models["item_knn"], target)
    assert (target / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["work"]  # no staging left behind


# -- damaged and hostile artifacts (each file's new hash recorded, as an attacker can) ---------


def test_a_damaged_ranker_text_is_refused_naming_it(
    models: dict[str, Recommender], tmp_path: Path
) -> None:
    path = save_recommender(models["ranker"], tmp_path / "rec")
    text = (path / "ranker.txt").read_text()
    replace_file(path, "ranker.txt", text[: len(text) // 2].encode())  # aborted LightGBM
    with pytest.raises(ArtifactError, match="ranker") as caught:
        load_recommender(path)
    assert caught.value.field == str(path / "ranker.txt")


def test_a_damaged_npz_is_refused_naming_it(models: dict[str, Recommender], tmp_path: Path) -> None:
    path = save_recommender(models["item_knn"], tmp_path / "rec")
    data = (path / "users.npz").read_bytes()
    replace_file(path, "users.npz", data[: len(data) // 2])  # a raw BadZipFile before
    with pytest.raises(ArtifactError) as caught:
        load_recommender(path)
    assert caught.value.field == str(path / "users.npz")


def test_seen_items_out_of_range_are_refused(
    models: dict[str, Recommender], tmp_path: Path
) -> None:
    path = save_recommender(models["item_knn"], tmp_path / "rec")
    with np.load(path / "users.npz", allow_pickle=False) as stored:
        arrays = {k: stored[k] for k in stored.files}
    arrays["seen.indices"] = arrays["seen.indices"] + 10**6
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    replace_file(path, "users.npz", buffer.getvalue())
    with pytest.raises(ArtifactError, match="malformed"):
        load_recommender(path)


@pytest.mark.parametrize("target", ["../../outside", "/tmp/outside"])
def test_a_generator_name_outside_the_artifact_is_refused(
    models: dict[str, Recommender], tmp_path: Path, target: str
) -> None:
    path = save_recommender(models["item_knn"], tmp_path / "rec")
    edit_manifest(path, lambda m: m["recommender"]["generators"][0].__setitem__("name", target))
    with pytest.raises(ArtifactError, match=r"outside the artifact|not a verified file") as caught:
        load_recommender(path)
    assert caught.value.field == "recommender.generators[0].name"


def test_a_ranker_path_outside_the_artifact_is_refused(
    models: dict[str, Recommender], tmp_path: Path
) -> None:
    path = save_recommender(models["ranker"], tmp_path / "rec")
    # A sound ranker outside the artifact: before the check it was loaded without a hash.
    shutil.copy(path / "ranker.txt", tmp_path / "ranker.txt")
    edit_manifest(path, lambda m: m["recommender"].__setitem__("ranker", "../ranker.txt"))
    with pytest.raises(ArtifactError, match="outside the artifact") as caught:
        load_recommender(path)
    assert caught.value.field == "recommender.ranker"


def test_a_ranker_path_must_be_a_verified_file(
    models: dict[str, Recommender], tmp_path: Path
) -> None:
    path = save_recommender(models["ranker"], tmp_path / "rec")
    edit_manifest(path, lambda m: m["recommender"].__setitem__("ranker", "generators"))
    with pytest.raises(ArtifactError, match="not a verified file"):
        load_recommender(path)


def test_the_manifest_lists_the_recommenders_libraries(
    models: dict[str, Recommender], tmp_path: Path
) -> None:
    path = save_recommender(models["ranker"], tmp_path / "rec")
    libraries = json.loads((path / "manifest.json").read_text())["libraries"]
    assert {"implicit", "scipy", "lightgbm", "numpy"} <= set(libraries)


def test_the_smoke_test_and_load_in_child_take_a_recommender(
    models: dict[str, Recommender], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = models["ranker"]
    smoke_test(model)
    path = save_recommender(model, tmp_path / "rec")
    load_in_child(path)
    assert isinstance(mlwright.load(path, isolate=True), Recommender)
    empty = replace(model.recommend_detail(k=1), items=[], scores=[])
    monkeypatch.setattr(model, "recommend_detail", lambda **kwargs: empty)
    with pytest.raises(ArtifactError, match="no item"):
        smoke_test(model)


# -- evaluation ----------------------------------------------------------------------------------


def test_evaluate_split_scores_model_and_popularity(chosen: Recommender, split: Split) -> None:
    evaluation = evaluate_split(chosen, split, k=10)
    assert evaluation.protocol == "users"
    assert evaluation.users == len(split.test)
    assert evaluation.chosen == chosen.chosen
    assert set(evaluation.scores) == {"model", *GRIDS}
    assert all(s.users == len(split.test) for s in evaluation.scores.values())
    difference = evaluation.differences["model - popularity"]
    expected = evaluation.ndcg("model") - evaluation.ndcg("popularity")
    assert difference["value"] == pytest.approx(expected)
    assert difference["low"] <= difference["value"] <= difference["high"]
    # Clustered tastes: the model beats popularity on users it never trained on.
    assert difference["low"] > 0.1
    if chosen.chosen == "ranker":
        assert len(evaluation.differences) == 2
    summary = evaluation.to_dict()
    assert summary["k"] == 10
    assert set(summary["scores"]["model"]) >= {"ndcg@10", "recall@10", "coverage@10"}


def test_evaluation_never_recommends_a_history_item(
    models: dict[str, Recommender], split: Split
) -> None:
    for model in models.values():
        top = model.top_items(split.test.history, 10)
        assert top.shape == (len(split.test), 10)
        for row, history in zip(top, split.test.history, strict=True):
            assert not np.isin(row, history).any()
            assert len(np.unique(row[row >= 0])) == (row >= 0).sum()


# -- windows -------------------------------------------------------------------------------------


def rows_of(data: Interactions, user: int) -> set[tuple[int, float]]:
    mine = data.users == user
    return set(zip(data.items[mine].tolist(), data.times[mine].tolist(), strict=True))


def test_windows_never_train_on_their_targets(split: Split) -> None:
    train = split.train
    parts = windows(train, 2, 0.8)
    assert len(parts) == 2
    for rows, held in parts:
        assert len(held) > 0
        assert rows.n_items == train.n_items
        for u, history, relevant in zip(held.users, held.history, held.relevant, strict=True):
            learned = rows.items[rows.users == u]
            assert not np.isin(relevant, learned).any()
            # What a window learns of a user is that user's history, in time order.
            np.testing.assert_array_equal(learned, history)
    # A later window ends before the earlier one's targets: it learns a subset of its rows.
    (first_rows, first_held), (second_rows, second_held) = parts
    for u in second_held.users:
        assert rows_of(second_rows, int(u)) <= rows_of(first_rows, int(u))
    for u, relevant in zip(first_held.users, first_held.relevant, strict=True):
        learned = second_rows.items[second_rows.users == u]
        assert not np.isin(relevant, learned).any()
        in_second = np.flatnonzero(second_held.users == u)
        if len(in_second):
            assert not np.isin(relevant, second_held.relevant[in_second[0]]).any()


def test_windows_hold_each_users_latest_items() -> None:
    frame = pl.DataFrame(
        {
            "u": [1] * 10 + [2] * 3 + [3] * 2,
            "i": [*range(10), 0, 1, 2, 5, 6],
            "t": list(range(15)),
        }
    )
    data = interactions_from_frame(frame, user="u", item="i", time="t")
    (rows0, held0), (rows1, held1) = windows(data, 2, 0.8)
    # Window 0 ends at each user's last row: user 1 (10 rows) learns rows 0-7 and finds
    # 8, 9; user 2 (3 rows) learns 0, 1 and finds 2; user 3 (2 rows) learns 5, finds 6.
    assert held0.users.tolist() == [0, 1, 2]
    assert [h.tolist() for h in held0.history] == [list(range(8)), [0, 1], [5]]
    assert [r.tolist() for r in held0.relevant] == [[8, 9], [2], [6]]
    assert len(rows0) == 8 + 2 + 1
    # Window 1 ends where window 0's targets begin (80% of each user's rows): user 1
    # learns rows 0-5 and finds 6, 7; user 2 learns 0 and finds 1; user 3 has one row left,
    # too few to split, and keeps only it.
    assert held1.users.tolist() == [0, 1]
    assert [h.tolist() for h in held1.history] == [list(range(6)), [0]]
    assert [r.tolist() for r in held1.relevant] == [[6, 7], [1]]
    assert rows1.items[rows1.users == 0].tolist() == list(range(6))
    assert rows1.items[rows1.users == 1].tolist() == [0]
    assert rows1.items[rows1.users == 2].tolist() == [5]


def test_documents_are_saved_and_hashed(models: dict[str, Recommender], tmp_path: Path) -> None:
    path = save_recommender(models["item_knn"], tmp_path / "rec", documents={"card.md": "# Card"})
    assert (path / "card.md").read_text() == "# Card"
    load_recommender(path)  # listed in the manifest, so it loads
    (path / "card.md").write_text("# Changed")
    with pytest.raises(ArtifactError, match=r"card\.md"):
        load_recommender(path)


@pytest.mark.parametrize("name", ["../escape.txt", "generators/ease.npz", "manifest.json"])
def test_a_document_name_must_be_a_plain_file_name(
    models: dict[str, Recommender], tmp_path: Path, name: str
) -> None:
    # As save_model refuses them: a name with a path would write outside the artifact or
    # over one of its files, and "manifest.json" would leave an artifact that never loads.
    with pytest.raises(ValueError, match="plain file name"):
        save_recommender(models["item_knn"], tmp_path / "out" / "rec", documents={name: "x"})
    assert not (tmp_path / "out" / "escape.txt").exists()
