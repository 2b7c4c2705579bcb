"""The benchmark harness's bookkeeping (no model is fitted here)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from types import ModuleType

import pytest

from benchmark_module import load_benchmark


@pytest.fixture(scope="module")
def tabular() -> ModuleType:
    return load_benchmark("tabular")


def row(tabular: ModuleType, dataset: str, system: str, score: float):  # type: ignore[no-untyped-def]
    return tabular.Result(dataset, system, "roc_auc", score, 60.0, 1000.0, 100.0, 200.0)


def write_run(tabular: ModuleType, path: Path, budget: float, rows: list) -> Path:  # type: ignore[type-arg]
    meta = {"date": "2026-11-20", "machine": "m", "budget": budget, "command": "earlier"}
    path.write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in rows]}))
    return path


def test_a_long_budget_suite_merges_runs_of_other_sessions(
    tabular: ModuleType, tmp_path: Path
) -> None:
    credit, churn, email = (tabular.DEV_SUITE[i] for i in (0, 1, 3))
    earlier = write_run(
        tabular,
        tmp_path / "earlier.json",
        300.0,
        [
            row(tabular, email, "mlwright", 0.95),
            row(tabular, email, "flaml", 0.94),
            row(tabular, credit, "mlwright", 0.10),  # re-run now: the new rows win
        ],
    )
    now = [row(tabular, churn, "mlwright", 0.85), row(tabular, credit, "mlwright", 0.86)]
    meta = {"date": "2026-11-26", "machine": "m", "budget": 300.0, "command": "now"}
    merged, merged_meta = tabular.merge_runs(now, meta, [earlier])
    assert [(r.dataset, r.system, r.score) for r in merged] == [
        (credit, "mlwright", 0.86),
        (churn, "mlwright", 0.85),
        (email, "mlwright", 0.95),
        (email, "flaml", 0.94),
    ]
    assert merged_meta["command"] == "now`; `earlier (2026-11-20)"
    table = tabular.markdown(merged, merged_meta)
    assert "`now`; `earlier (2026-11-20)`" in table
    assert "at least flaml: 1/1 tasks" in table


def test_runs_of_another_budget_are_refused(tabular: ModuleType, tmp_path: Path) -> None:
    earlier = write_run(
        tabular, tmp_path / "e.json", 60.0, [row(tabular, tabular.DEV_SUITE[0], "mlwright", 0.9)]
    )
    meta = {"date": "2026-11-26", "machine": "m", "budget": 300.0, "command": "now"}
    with pytest.raises(SystemExit, match=re.escape("budget is 60.0 s, this run's 300.0 s")):
        tabular.merge_runs([], meta, [earlier])


def test_a_run_of_one_system_claims_no_comparison(tabular: ModuleType) -> None:
    alone = [row(tabular, tabular.DEV_SUITE[0], "mlwright", 0.9)]
    meta = {"date": "2026-12-05", "machine": "m", "budget": 60.0, "command": "now"}
    table = tabular.markdown(alone, meta)
    assert "at least the best of" not in table
    assert "no other system ran, so no comparison target applies" in table
