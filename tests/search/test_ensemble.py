from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwright.evaluate import score
from mlwright.search import greedy_ensemble


def auc(y: np.ndarray, p: np.ndarray) -> float:
    return score("roc_auc", y, p)


def noisy_predictors(seed: int, n: int = 400, k: int = 5) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = y + rng.normal(0, 1.0, n)
    preds = []
    for i in range(k):
        p = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.8 + 0.3 * i, n))))
        preds.append(np.column_stack([1 - p, p]))
    return preds, y


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_ensemble_is_never_worse_than_the_best_single_model(seed: int) -> None:
    preds, y = noisy_predictors(seed)
    weights = greedy_ensemble(preds, y, auc, greater=True)
    assert abs(sum(weights.values()) - 1.0) < 1e-12
    blended = sum(w * preds[i] for i, w in weights.items())
    assert auc(y, blended) >= max(auc(y, p) for p in preds) - 1e-12


def test_independent_noise_is_averaged_away() -> None:
    preds, y = noisy_predictors(0, n=3000)
    weights = greedy_ensemble(preds, y, auc, greater=True)
    assert len(weights) > 1
    blended = sum(w * preds[i] for i, w in weights.items())
    assert auc(y, blended) > max(auc(y, p) for p in preds) + 0.005


def test_lower_is_better_metrics() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=500)
    preds = [y + rng.normal(0, 1, 500) for _ in range(4)]
    weights = greedy_ensemble(preds, y, lambda t, p: score("rmse", t, p), greater=False)
    blended = sum(w * preds[i] for i, w in weights.items())
    assert score("rmse", y, blended) < min(score("rmse", y, p) for p in preds)


def test_admissibility_is_respected() -> None:
    preds, y = noisy_predictors(2)
    allowed = {1, 3}

    def only_some(counts: Counter[int]) -> bool:
        return set(counts) <= allowed

    weights = greedy_ensemble(preds, y, auc, greater=True, admissible=only_some)
    assert set(weights) <= allowed
    assert greedy_ensemble(preds, y, auc, greater=True, admissible=lambda c: False) == {}
