"""A synthetic interaction log with signal: users fall in taste clusters, each cluster's
items are met far more by its users (with a popularity skew inside the cluster), and every
user's interactions are spread over days in time order."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import polars as pl
import pytest

BASE_TIME = 1_700_000_000.0  # 2023-11-14, epoch seconds


def make_log(
    n_users: int = 150,
    n_items: int = 60,
    *,
    clusters: int = 3,
    per_user: int = 14,
    seed: int = 0,
) -> pl.DataFrame:
    """Columns ``user`` (int, 1000 + index), ``item`` (text 'i000'...) and ``ts`` (epoch
    seconds). Each user meets ``per_user`` +/- 4 distinct items, 85% from their cluster."""
    rng = np.random.default_rng(seed)
    size = n_items // clusters
    skew = 1.0 / np.arange(1, size + 1) ** 0.7
    skew /= skew.sum()
    users: list[int] = []
    items: list[str] = []
    times: list[float] = []
    for u in range(n_users):
        own = np.arange((u % clusters) * size, (u % clusters + 1) * size)
        others = np.setdiff1d(np.arange(n_items), own)
        n = int(rng.integers(per_user - 4, per_user + 5))
        n_own = min(round(0.85 * n), size)
        met = list(rng.choice(own, size=n_own, replace=False, p=skew))
        met += list(rng.choice(others, size=n - n_own, replace=False))
        rng.shuffle(met)
        start = BASE_TIME + rng.uniform(0, 30) * 86400
        stamps = start + np.cumsum(rng.uniform(600, 86400, size=len(met)))
        users += [1000 + u] * len(met)
        items += [f"i{j:03d}" for j in met]
        times += stamps.tolist()
    return pl.DataFrame({"user": users, "item": items, "ts": times})


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """BLAS and OpenMP (LightGBM's) on one thread: on a small, busy machine their spinning
    threads make these tiny fits several times slower. Results do not change (the ranker
    is trained with ``deterministic``). The libraries load first, or the limit misses them."""
    import implicit.cpu.als  # noqa: F401
    import lightgbm  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def log_maker() -> Callable[..., pl.DataFrame]:
    return make_log
