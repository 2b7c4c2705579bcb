"""Repeated bagging in a run: the new fold splits the pipeline draws (the stacking holdout
kept out of all of them), and what the leaderboard and the card say of the repeats."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import numpy as np
import pytest

import mlwright
from mlwright.pipeline import encode_target
from mlwright.pipeline._prepare import Framed
from mlwright.pipeline._stacking import new_splits
from mlwright.search import _search
from mlwright.spec import spec_from_kwargs
from searching import COLUMNS, random_folds
from synth import make_frame

ROWS = 300


def framed(strategy: str) -> Framed:
    frame = make_frame("binary", n=ROWS, seed=3)
    y, _ = encode_target(frame["y"], "binary", "yes")
    return cast(
        Framed,
        SimpleNamespace(
            splits=SimpleNamespace(strategy=strategy, folds=random_folds(ROWS, k=4)),
            train_frame=frame,
            y_train=y,
            families=["lightgbm", "linear"],
            plan_columns=COLUMNS,
            n_classes=2,
        ),
    )


def test_new_splits_keep_the_stacking_holdout_out_and_differ(tmp_path: Path) -> None:
    spec = spec_from_kwargs({"target": "y", "seed": 3, "problem_type": "binary"})
    holdout = np.arange(0, ROWS, 9)
    resplit = new_splits(spec, framed("stratified"), tmp_path, holdout)
    assert resplit is not None
    second, third = resplit(1), resplit(2)
    rest = np.setdiff1d(np.arange(ROWS), holdout)
    for data in (second, third):
        assert len(data.folds) == 4
        assert np.array_equal(np.sort(np.concatenate([v for _, v in data.folds])), rest)
        assert np.array_equal(data.holdout, holdout)
        assert all(np.intersect1d(f, holdout).size == 0 for f, _ in data.folds)
        assert data.files["tree"][0].stop  # early-stopping rows carved, as on the first split
    assert not np.array_equal(second.folds[0][1], third.folds[0][1])
    assert second.root == tmp_path / "data/split2"
    assert third.root == tmp_path / "data/split3"
    assert (second.root / "tree/fold0/X_fit.npy").is_file()


def test_a_time_split_or_one_split_asked_draws_no_new_splits(tmp_path: Path) -> None:
    spec = spec_from_kwargs({"target": "y", "problem_type": "binary"})
    assert new_splits(spec, framed("time"), tmp_path, None) is None
    one = spec_from_kwargs({"target": "y", "problem_type": "binary", "repeats": 1})
    assert new_splits(one, framed("stratified"), tmp_path, None) is None


@pytest.fixture(scope="module")
def repeated() -> mlwright.Model:
    """A counted run (in-process) whose tuning stalls soon, so that its ensemble's members
    are repeated on new fold splits."""
    patch = pytest.MonkeyPatch()
    patch.setattr(_search, "TUNING_PATIENCE", 2)
    try:
        return mlwright.fit(
            make_frame("binary", n=600, seed=5, curved=True),
            target="y",
            folds=3,
            max_trials=14,
            learners=["lightgbm", "linear"],
            stack_levels=0,
        )
    finally:
        patch.undo()


def test_the_leaderboard_lists_the_repeats_under_their_trials(repeated: mlwright.Model) -> None:
    board = repeated.metadata["leaderboard"]
    repeats = [row for row in board if row["origin"] == "repeat"]
    assert repeats
    by_name = {row["model"]: row for row in board}
    for row in repeats:
        assert row["rank"] is None
        assert row["cv_roc_auc"] is None
        of, _, split = row["model"].rpartition("_split")
        assert row["note"].startswith(f"{of} on fold split {split} (roc_auc ")
        assert by_name[of]["splits"] >= int(split)
        assert by_name[of]["rank"] is not None
    ranked = [row for row in board if row["rank"] is not None]
    assert max(row["splits"] for row in ranked) >= 2
    assert board.index(repeats[0]) > max(board.index(row) for row in ranked)


def test_the_card_shows_the_repeated_bagging_step(repeated: mlwright.Model) -> None:
    from mlwright.report import model_card

    markdown = model_card(repeated).to_markdown()
    assert "| repeated bagging on new fold splits |" in markdown
    assert "cross-validated again on new fold splits (repeated bagging, up to" in markdown
