"""The scale benchmark's table (the benchmark itself fits 5 million rows for minutes:
`python benchmarks/scale.py`)."""

from __future__ import annotations

from types import ModuleType

import pytest

from benchmark_module import load_benchmark


@pytest.fixture(scope="module")
def scale() -> ModuleType:
    return load_benchmark("scale")


def test_the_table_names_its_results_file(scale: ModuleType) -> None:
    result = {
        "dataset": "synthetic 5,000,000 rows",
        "rows": 5_000_000,
        "budget_s": 120.0,
        "seconds": 119.0,
        "over_budget": -0.008,
        "search": {"rows": 800_000, "folds": 3},
        "metric": "roc_auc",
        "holdout": 0.7867,
        "baseline": 0.5,
        "chosen": "lightgbm_1",
        "refit": False,
        "peak_main_mb": 2345.0,
        "peak_worker_mb": 1192.0,
        "memory_budget_mb": 12638.0,
        "p50_us": 280.0,
    }
    meta = {"date": "d", "machine": "m", "cores": 2, "python": "3.11", "command": "c"}
    saved = scale.ROOT / "benchmarks" / "results" / "scale-20261206-010203.json"
    lines = scale.markdown([result], scale.with_results(meta, saved)).splitlines()
    assert lines[0] == (
        "Run d on m, 2 cores, Python 3.11; command: `c`; "
        "results: `benchmarks/results/scale-20261206-010203.json`."
    )
    assert lines[-1] == (
        "| synthetic 5,000,000 rows | 5,000,000 | 120 | 119.0 | -0.8% | 800,000 / 3 | "
        "roc_auc 0.7867 | 0.5 | lightgbm_1 | no | 2,345 / 1,192 | 12,638 | 280 |"
    )
