"""The recommendation benchmark end to end on a small synthetic log (the real one fits every
system on movielens for minutes: `python benchmarks/recommend.py`)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import polars as pl
import pytest

from benchmark_module import load_benchmark

GENRES = ("Drama", "Comedy", "Action", "Horror")


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("recommend")


def synthetic_log(users: int = 90, items: int = 60, seed: int = 0) -> pl.DataFrame:
    """Each user watches mostly one genre's films, one a day; films have a year and genres
    in movielens's 'A|B' form."""
    rng = np.random.default_rng(seed)
    genre_of = np.arange(items) % len(GENRES)
    rows = []
    for user in range(users):
        liked = rng.integers(len(GENRES))
        weights = np.where(genre_of == liked, 6.0, 1.0) * rng.uniform(0.5, 1.5, items)
        seen = rng.choice(items, rng.integers(8, 25), replace=False, p=weights / weights.sum())
        for day, item in enumerate(seen):
            rows.append((user + 1, int(item) + 100, 1_200_000_000 + 86_400 * day + user))
    user_col, item_col, time_col = zip(*rows, strict=True)
    films = pl.DataFrame(
        {
            "movieId": np.arange(items) + 100,
            "year": 1950.0 + (np.arange(items) * 7) % 60,
            "genres": [f"{GENRES[g]}|{GENRES[(g + 1) % 4]}" for g in genre_of],
        }
    )
    log = pl.DataFrame({"userId": user_col, "movieId": item_col, "timestamp": time_col})
    return log.join(films, on="movieId", how="left")


BUDGET = 8.0


def test_every_system_is_scored_on_the_same_held_out_users(bench: ModuleType) -> None:
    # A short budget: the harness is under test, not the fit (the budget covers the whole
    # fit, so 0 s would leave only popularity, and nothing personal to compare).
    outcome = bench.run(synthetic_log(), budget=BUDGET, report=lambda _: None)
    assert [r.system for r in outcome.results] == list(bench.SYSTEMS)
    users = len(outcome.bench.test)
    assert users == 18  # 20% of 90, each with something after the history
    for r in outcome.results:
        assert len(r.per_user_ndcg) == users
        for value in (r.ndcg, r.ndcg_low, r.ndcg_high, r.recall, r.map, r.coverage):
            assert 0.0 <= value <= 1.0, (r.system, value)
        assert r.ndcg_low <= r.ndcg <= r.ndcg_high
        assert r.fit_seconds >= 0.0
    # Users who favour one genre: anything personal beats nothing.
    assert outcome.result("mlwright").ndcg > outcome.result("popularity").ndcg
    assert outcome.fit["chosen"] in {*outcome.fit["generators"], "ranker"}
    assert set(outcome.ease_test_curve) == {f"{lam:g}" for lam in bench.EASE_GRID}
    assert len(outcome.differences) == 2
    assert all(v > 0 for v in outcome.latency.values())

    meta = {"date": "d", "machine": "m", "cores": 2, "python": "3.11", "command": "c"}
    saved = bench.ROOT / "benchmarks" / "results" / "recommend-20261205-032007.json"
    text = bench.markdown(outcome, bench.with_results(meta, saved), 0.0)
    assert text.splitlines()[0] == (
        "Run d on m, 2 cores, Python 3.11; command: `c`; "
        "results: `benchmarks/results/recommend-20261205-032007.json`."
    )
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(bench.SYSTEMS)  # the header and one row per system
    for system in bench.SYSTEMS:
        assert any(line.startswith(f"| {system} |") for line in table)
    widths = {line.count("|") for line in text.splitlines() if line.startswith("|")}
    assert widths == {8}
    assert "(the best peer)" in text
    assert "chosen without looking at the test users" in text
    assert text.rstrip().endswith(("— met", "— not met"))


def test_ranking_leaves_out_the_history_and_items_no_training_user_met(
    bench: ModuleType,
) -> None:
    _, split = bench.prepare(synthetic_log(users=40, items=30, seed=1))
    uniform = np.ones((1, split.train.n_items))
    top = bench.top_k(lambda H: np.repeat(uniform, H.shape[0], axis=0), split, k=10)
    for history, row in zip(split.histories, top, strict=True):
        shown = row[row >= 0]
        assert not np.isin(shown, history).any()
        assert split.catalogue[shown].all()


def test_the_served_model_is_measured_over_loopback(bench: ModuleType) -> None:
    from mlwright.recommend import fit_recommender, interactions_from_frame
    from recsynth import quick_settings

    log = synthetic_log(users=40, items=30)
    data = interactions_from_frame(log, user="userId", item="movieId", time="timestamp")
    model = fit_recommender(data, settings=quick_settings(), time_budget=30)
    known = [int(u) for u in data.user_ids[:5]]
    histories = [[100, 101, 102], [103, 999_999]]  # an unknown item is ignored, not an error
    served = bench.serve_latency(model, known, histories, rate=20.0, seconds=1.0)
    for name in ("get", "post"):
        assert served[f"{name}_errors"] == 0
        assert served[f"{name}_requests"] >= 15
        assert 0 < served[f"{name}_p50_us"] <= served[f"{name}_p99_us"]
        # Timed from the schedule, so never below the service time it is reported beside.
        assert 0 < served[f"{name}_service_p50_us"] <= served[f"{name}_p50_us"]
        assert 0 < served[f"{name}_service_p99_us"] <= served[f"{name}_p99_us"]
        assert served[f"{name}_late_max_us"] >= 0
        line = bench.served_line({f"http_{k}": v for k, v in served.items()}, name)
        assert "µs behind its schedule" in line
        assert "service time -" not in line  # every number there
