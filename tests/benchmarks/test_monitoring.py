"""The monitoring simulation's shifts and verdicts (the simulation itself runs the real
server for minutes: `python benchmarks/monitoring.py`)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import polars as pl
import pytest

from benchmark_module import load_benchmark

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn" / "churn.csv"


@pytest.fixture(scope="module")
def sim() -> ModuleType:
    return load_benchmark("monitoring")


def test_each_shift_changes_what_it_says_and_nothing_else(sim: ModuleType) -> None:
    rows = pl.read_csv(EXAMPLE).head(500)
    rng = np.random.default_rng(0)
    assert sim.quiet(rows, rng).equals(rows)
    moved = sim.numeric(rows, rng)
    assert (moved["tenure"] - rows["tenure"]).mean() == pytest.approx(24.56)
    assert moved.drop("tenure").equals(rows.drop("tenure"))
    new = sim.category(rows, rng)
    share = (new["payment_method"] == "Crypto").mean()
    assert 0.15 < share < 0.25
    assert new.drop("payment_method").equals(rows.drop("payment_method"))
    flipped = sim.concept(rows, rng)
    monthly = rows["contract"] == "Month-to-month"
    assert (flipped["churn"] != rows["churn"]).to_list() == monthly.to_list()
    assert flipped.drop("churn").equals(rows.drop("churn"))


def test_the_verdicts_follow_the_targets(sim: ModuleType) -> None:
    quiet = sim.Scenario("quiet", 20, None, alerts=[False] * 19 + [True])
    caught = sim.Scenario(
        "numeric", 8, 2, alerts=[False, False, False, True, True, True, True, True]
    )
    missed = sim.Scenario("concept", 8, 2, alerts=[False] * 8)
    assert quiet.false_alarm_rate == 0.05
    assert caught.detected_within == 2
    assert missed.detected_within is None
    loops = [
        sim.Loop("quiet", False, "does not clearly win", 0.84, 0.845),
        sim.Loop("concept", True, "wins", 0.30, 0.80),
    ]
    meta = {"date": "d", "machine": "m", "cores": 2, "python": "3.11", "command": "c"}
    text = sim.markdown([quiet, caught], loops, meta)
    assert "1 of 20 quiet windows, 5.0% — met" in text
    assert "numeric 2 — met" in text
    assert "and after the concept shift: met" in text
    text = sim.markdown([quiet, missed], [sim.Loop("quiet", True, "wins", 0.85, 0.84)], meta)
    assert "concept never — not met" in text
    assert "and after the concept shift: not met" in text


def test_the_table_names_its_results_file(sim: ModuleType) -> None:
    meta = {"date": "d", "machine": "m", "cores": 2, "python": "3.11", "command": "c"}
    meta = sim.with_results(meta, sim.ROOT / "benchmarks/results/monitoring-20261127-015123.json")
    header = sim.markdown([], [], meta).splitlines()[0]
    assert header == (
        "Run d on m, 2 cores, Python 3.11; command: `c`; "
        "results: `benchmarks/results/monitoring-20261127-015123.json`."
    )
