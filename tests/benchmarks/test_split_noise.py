"""The split-noise benchmark's table (the benchmark itself fits the dev suite:
`python benchmarks/split_noise.py`)."""

from __future__ import annotations

from types import ModuleType

import pytest

from benchmark_module import load_benchmark


@pytest.fixture(scope="module")
def noise() -> ModuleType:
    return load_benchmark("split_noise")


def test_the_table_names_its_results_file(noise: ModuleType) -> None:
    row = {
        "dataset": "modeldata/credit_data:Status",
        "metric": "roc_auc",
        "test_rows": 891.0,
        "score": 0.8406,
        "se": 0.01427,
        "fold_min": 0.8112,
        "fold_max": 0.8462,
    }
    meta = {"date": "d", "machine": "m", "cores": 2, "python": "3.11", "command": "c"}
    saved = noise.ROOT / "benchmarks" / "results" / "split-noise-20261206-010203.json"
    lines = noise.markdown([row], noise.with_results(meta, saved)).splitlines()
    assert lines[0] == (
        "Run d on m, 2 cores, Python 3.11; command: `c`; "
        "results: `benchmarks/results/split-noise-20261206-010203.json`."
    )
    assert lines[-1] == (
        "| modeldata/credit_data:Status | roc_auc | 891 | 0.8406 | 0.01427 | 1.7% | "
        "0.8112 to 0.8462 |"
    )
