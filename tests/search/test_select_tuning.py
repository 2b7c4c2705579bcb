"""The tuning check of ``select``: tuned configurations ship unless, on the stacking holdout
that no trial's choice saw, the default configurations' ensemble beats them by more than the
noise of that difference (``judge_tuning``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlwright.evaluate import paired_noise
from mlwright.search import (
    Candidate,
    Prepared,
    SearchResult,
    TrialResult,
    _select,
    carve_holdout,
)
from searching import StandInModel, prepared_binary, random_folds, roc_auc, select_by_auc

FOLDS = 5
N = 900


def _probabilities(p: np.ndarray) -> np.ndarray:
    return np.stack([1 - p, p], axis=1)


@pytest.fixture
def prepared(tmp_path: Path) -> Prepared:
    y_all = np.asarray(prepared_binary(tmp_path / "probe", N, random_folds(N, FOLDS)).y)
    split = carve_holdout(random_folds(N, FOLDS), y_all, fraction=0.2, classification=True, seed=0)
    held = prepared_binary(tmp_path / "held", N, split)
    assert held.holdout is not None
    return held


Make = Callable[..., TrialResult]


@pytest.fixture
def make(prepared: Prepared) -> Make:
    """A trial whose out-of-fold and holdout predictions carry their own noise levels: a
    flattering out-of-fold noise below its holdout noise is the winner's curse."""
    rng = np.random.default_rng(0)
    truth = prepared.y[prepared.holdout]

    def trial(
        name: str, origin: str, oof_noise: float, holdout_noise: float, **extra: str
    ) -> TrialResult:
        oof = _probabilities(np.clip(0.2 + 0.6 * prepared.y + rng.normal(0, oof_noise, N), 0, 1))
        held = _probabilities(
            np.clip(0.2 + 0.6 * truth + rng.normal(0, holdout_noise, len(truth)), 0, 1)
        )
        result = TrialResult(
            Candidate(name, "lightgbm", {}, origin=origin, extra=dict(extra)),
            "ok",
            oof=oof,
            fold_infos=[{}] * FOLDS,
            latency={"p50_us": 100.0, "p99_us": 100.0},
            size_mb=0.0,
        )
        result.holdout_pred = held
        result.fold_scores = [
            float(roc_auc(prepared.y[v], oof[v]) or 0.0) for _, v in prepared.folds
        ]
        return result

    return trial


def _search(prepared: Prepared, trials: list[TrialResult], monkeypatch: pytest.MonkeyPatch):
    baseline = TrialResult(
        Candidate("baseline", "baseline", {}),
        "ok",
        oof=_probabilities(np.full(N, 0.5)),
        fold_infos=[{}] * FOLDS,
        latency={"p50_us": 1.0, "p99_us": 1.0},
        size_mb=0.0,
    )
    baseline.fold_scores = [0.5] * FOLDS
    monkeypatch.setattr(_select, "ensemble_model", lambda w, s, make: StandInModel())
    monkeypatch.setattr(_select, "ensemble_size_mb", lambda w, s: 0.0)
    return SearchResult("roc_auc", [baseline, *trials], baseline, prepared)


def _defaults(make: Make) -> list[TrialResult]:
    return [make(f"lightgbm_{i}", "portfolio", 1.0, 1.0) for i in range(1, 4)]


def test_tuned_configurations_that_only_the_folds_flatter_do_not_ship(
    prepared: Prepared, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tuned trials near perfect out of fold and far worse than defaults on the holdout:
    the greedy ensemble over all would take them; the defaults' ensemble ships."""
    tuned = [make(f"lightgbm_tpe{i}", "tpe", 0.3, 10.0) for i in range(1, 4)]
    searched = _search(prepared, [*_defaults(make), *tuned], monkeypatch)
    chosen = select_by_auc(searched)
    assert chosen.tuning is not None
    assert not chosen.tuning["kept"]
    assert chosen.weights
    assert all("_tpe" not in name for name in chosen.weights)
    assert chosen.tuning["holdout_rows"] == len(prepared.holdout)  # type: ignore[arg-type]
    assert "lightgbm_tpe" in chosen.tuning["with_tuned"]["choice"]
    assert "lightgbm_tpe" not in chosen.tuning["defaults"]["choice"]
    noise = chosen.tuning["noise"]
    loss = chosen.tuning["defaults"]["score"] - chosen.tuning["with_tuned"]["score"]
    assert noise is not None
    assert loss > noise


def test_tuned_configurations_that_win_on_the_holdout_beyond_noise_ship(
    prepared: Prepared, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    tuned = [make(f"lightgbm_tpe{i}", "tpe", 0.3, 0.3) for i in range(1, 4)]
    searched = _search(prepared, [*_defaults(make), *tuned], monkeypatch)
    chosen = select_by_auc(searched)
    assert chosen.tuning is not None
    assert chosen.tuning["kept"]
    assert any("_tpe" in name for name in chosen.weights)
    gain = chosen.tuning["with_tuned"]["score"] - chosen.tuning["defaults"]["score"]
    assert gain > chosen.tuning["noise"]


def test_a_single_model_choice_is_judged_the_same_way(
    prepared: Prepared, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    tuned = [make("lightgbm_tpe1", "tpe", 0.3, 10.0)]
    searched = _search(prepared, [*_defaults(make), *tuned], monkeypatch)
    chosen = select_by_auc(searched, ensemble=False)
    assert chosen.tuning is not None
    assert not chosen.tuning["kept"]
    assert chosen.tuning["with_tuned"]["choice"] == "lightgbm_tpe1"
    [name] = chosen.weights
    assert name == chosen.tuning["defaults"]["choice"] != "lightgbm_tpe1"


def test_seed_copies_count_as_what_they_copy(
    prepared: Prepared, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    default_copy = make("lightgbm_1_seed2", "seed", 1.0, 1.0, seed_of="lightgbm_1")
    tuned_copy = make("lightgbm_tpe1_seed2", "seed", 0.3, 10.0, seed_of="lightgbm_tpe1")
    tuned = make("lightgbm_tpe1", "tpe", 0.3, 10.0)
    searched = _search(prepared, [*_defaults(make), default_copy, tuned, tuned_copy], monkeypatch)
    assert _select.untuned(default_copy, searched)
    assert not _select.untuned(tuned_copy, searched)
    assert not _select.untuned(tuned, searched)
    chosen = select_by_auc(searched)
    assert chosen.tuning is not None
    assert not chosen.tuning["kept"]
    assert not {"lightgbm_tpe1", "lightgbm_tpe1_seed2"} & set(chosen.weights)


def test_no_check_without_a_holdout_or_without_tuned_members(
    tmp_path: Path, prepared: Prepared, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_defaults = _search(prepared, _defaults(make), monkeypatch)
    assert select_by_auc(only_defaults).tuning is None
    # Without a stacking holdout nothing unseen can judge: the greedy choice stands.
    folds_only = prepared_binary(tmp_path / "folds", N, random_folds(N, FOLDS))
    trials = [*_defaults(make), make("lightgbm_tpe1", "tpe", 0.3, 1.0)]
    for trial in trials:
        trial.holdout_pred = None
    searched = _search(folds_only, trials, monkeypatch)
    chosen = select_by_auc(searched)
    assert chosen.tuning is None
    assert "lightgbm_tpe1" in chosen.weights


def test_a_loss_within_the_noise_keeps_the_tuned_choice(
    prepared: Prepared, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default predicts the holdout as the tuned trial does, but the two positives the
    tuned trial ranks lowest it ranks higher, and one negative that the tuned trial ranks
    high, higher still: the default scores higher there, by less than one standard error of
    the difference (resamples without those two positives favour the tuned trial), so the
    tuned choice, made on every training row's out-of-fold score, stands."""
    default = make("lightgbm_1", "portfolio", 1.0, 1.0)
    tuned = make("lightgbm_tpe1", "tpe", 0.3, 1.0)
    truth = prepared.y[prepared.holdout]
    rng = np.random.default_rng(1)
    base = np.clip(0.2 + 0.6 * truth + rng.normal(0, 0.3, len(truth)), 0, 1)
    moved = base.copy()
    positives = np.flatnonzero(truth == 1)
    negatives = np.flatnonzero(truth == 0)
    moved[positives[np.argsort(base[positives])[:2]]] += 0.1
    moved[negatives[np.argsort(base[negatives])[-5]]] += 0.3
    tuned.holdout_pred, default.holdout_pred = _probabilities(base), _probabilities(moved)
    searched = _search(prepared, [default, tuned], monkeypatch)
    weights, tuning = _select.judge_tuning(
        searched,
        with_tuned={"lightgbm_tpe1": 1.0},
        defaults={"lightgbm_1": 1.0},
        score=lambda t, p: float(roc_auc(t, p) or 0.0),
        greater=True,
        noise=lambda t, a, b: paired_noise("roc_auc", t, a, b, seed=0),
    )
    assert tuning["defaults"]["score"] > tuning["with_tuned"]["score"]
    assert tuning["kept"]
    assert weights == {"lightgbm_tpe1": 1.0}
