from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwright.search import plan_scale, sample_rows

KINDS = ["numeric"] * 8 + ["categorical"] * 2


def test_small_data_is_searched_whole() -> None:
    scale = plan_scale(
        n_rows=5_000, kinds=KINDS, search_seconds=60, memory_gb=None, workers=2, folds=5
    )
    assert (scale.rows, scale.folds, scale.reason) == (5_000, 5, None)


def test_a_short_budget_searches_a_sample_with_fewer_folds() -> None:
    scale = plan_scale(
        n_rows=5_000_000, kinds=KINDS, search_seconds=40, memory_gb=None, workers=2, folds=5
    )
    assert 20_000 <= scale.rows < 5_000_000
    assert scale.reason is not None
    assert "time budget" in scale.reason
    unlimited = plan_scale(
        n_rows=5_000_000, kinds=KINDS, search_seconds=np.inf, memory_gb=64, workers=2, folds=5
    )
    assert unlimited.rows == 5_000_000
    assert unlimited.folds == 3  # millions of rows: three folds are plenty


def test_the_memory_budget_caps_the_rows() -> None:
    scale = plan_scale(
        n_rows=2_000_000, kinds=KINDS, search_seconds=np.inf, memory_gb=0.1, workers=2, folds=5
    )
    # 10 columns x 8 bytes x (2 + 3 copies x 2 workers) per row within 0.1 GB
    assert scale.rows <= 0.1 * 1024**3 / (10 * 8 * 8)
    assert scale.reason is not None
    assert "memory budget 0.1 GB" in scale.reason


def test_text_columns_count_as_wide() -> None:
    narrow = plan_scale(
        n_rows=10**6, kinds=["numeric"], search_seconds=60, memory_gb=None, workers=1, folds=3
    )
    wide = plan_scale(
        n_rows=10**6, kinds=["text"], search_seconds=60, memory_gb=None, workers=1, folds=3
    )
    assert wide.rows < narrow.rows


@settings(max_examples=50, deadline=None)
@given(
    counts=st.lists(st.integers(1, 500), min_size=2, max_size=5),
    share=st.floats(0.05, 1.0),
    seed=st.integers(0, 100),
)
def test_samples_keep_every_class_and_its_share(counts: list[int], share: float, seed: int) -> None:
    y = np.repeat(np.arange(len(counts)), counts)
    rows = max(len(counts), int(len(y) * share))
    picked = sample_rows(y, rows, classification=True, seed=seed)
    assert np.all(np.diff(picked) > 0)  # sorted, no repeats
    assert set(y[picked]) == set(y)
    for cls, count in enumerate(counts):
        expected = rows * count / len(y)
        assert abs((y[picked] == cls).sum() - expected) <= 1.0
    assert np.array_equal(picked, sample_rows(y, rows, classification=True, seed=seed))


@pytest.mark.parametrize("classification", [True, False])
def test_asking_for_every_row_returns_every_row(classification: bool) -> None:
    y = np.arange(10) % 2
    assert sample_rows(y, 10, classification=classification, seed=0).tolist() == list(range(10))
