"""Monitoring simulation: the bundled example's model served for real, its holdout replayed
through the server in windows, with and without injected shifts, and the retrain-and-
promote loop run on what the log holds.

The churn example is split 40/60 (stratified, seed 0): the model trains on 40% (`mlwright
run`, registered as champion), and the other 60% is the traffic. Each window's rows go to
`mlwright serve` as JSON lists over loopback, all inside one window of one second; every
answer is labelled with its true outcome (`mlwright feedback`) and `mlwright monitor`
judges the windows (`--window 1s`). Scenarios, one after the other on the same server:

- quiet: distinct holdout rows, unchanged (16 windows), then 60 more quiet windows of rows
  drawn with replacement. Target: an alert in at most 5% of windows.
- numeric: `tenure` moved up by one standard deviation from the third window on.
- category: 20% of `payment_method` values a category never seen, from the third window.
- concept: the outcome flipped for month-to-month contracts from the third window (inputs
  unchanged, so only the labels can show it).
  Target for the three: an alert within two windows of the change.
- loop: after the quiet scenario and after the concept one, `mlwright retrain` on the
  labelled answers, then `mlwright promote`. Target: promoted only where the challenger is
  really better, judged on holdout rows neither model saw (with the outcome as the
  scenario has it), and promoted after the concept shift. (After quiet traffic a
  challenger trained on more rows of the same kind may be better; promoting it is right.)

    python benchmarks/monitoring.py --update-docs
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from tabular import (  # noqa: E402
    results_named,
    run_meta,
    save_results,
    update_docs,
    with_results,
)

EXAMPLE = ROOT / "examples" / "churn"
SECTION = "monitoring"
MLWRIGHT = [sys.executable, "-m", "mlwright"]
TARGET = "churn"
CHUNK = 50  # records per request


# -- shifts --------------------------------------------------------------------------------


def quiet(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    return frame


def numeric(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    sd = 24.56  # tenure's standard deviation in the example (months)
    return frame.with_columns((pl.col("tenure") + sd).alias("tenure"))


def category(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    new = rng.random(frame.height) < 0.2
    return frame.with_columns(
        pl.when(pl.Series(new)).then(pl.lit("Crypto")).otherwise(pl.col("payment_method"))
        .alias("payment_method")
    )  # fmt: skip


def concept(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    flipped = pl.when(pl.col(TARGET) == "Yes").then(pl.lit("No")).otherwise(pl.lit("Yes"))
    return frame.with_columns(
        pl.when(pl.col("contract") == "Month-to-month").then(flipped).otherwise(pl.col(TARGET))
        .alias(TARGET)
    )  # fmt: skip


SHIFTS: dict[str, Callable[[pl.DataFrame, np.random.Generator], pl.DataFrame]] = {
    "quiet": quiet,
    "numeric": numeric,
    "category": category,
    "concept": concept,
}


# -- the service -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """`mlwright serve` in its own process, and a keep-alive client to it."""

    def __init__(self, work: Path, model: str, log: str):
        self.port = free_port()
        self.output = work / "server.log"
        self.process = subprocess.Popen(
            [*MLWRIGHT, "serve", model, "--log", log, "--port", str(self.port)],
            cwd=work,
            stdout=self.output.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.output.read_text()[-2000:]}")
            try:
                if self.request("GET", "/health/ready")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the server did not become ready")
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def predict(self, records: list[dict[str, Any]]) -> list[str]:
        body_out = json.dumps(records).encode()
        headers = {"Content-Type": "application/json"}
        try:
            self.connection.request("POST", "/predict", body_out, headers)
            response = self.connection.getresponse()
        except (ConnectionError, http.client.HTTPException):
            # The server closes idle keep-alive connections (5 s) while a retrain runs.
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.connection.request("POST", "/predict", body_out, headers)
            response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"/predict answered {response.status}: {body[:300]!r}")
        return [p["prediction_id"] for p in json.loads(body)["predictions"]]

    def stop(self) -> None:
        self.connection.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def send_window(service: Service, frame: pl.DataFrame, seconds: float) -> list[str]:
    """All of ``frame``'s rows inside one window: wait for the next window to begin, then
    send them in lists of CHUNK."""
    now = time.time()
    time.sleep((np.floor(now / seconds) + 1) * seconds - now + 0.02)
    records = frame.drop(TARGET, "customer_id").to_dicts()
    ids: list[str] = []
    for start in range(0, len(records), CHUNK):
        ids += service.predict(records[start : start + CHUNK])
    return ids


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [*MLWRIGHT, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if check and done.returncode not in (0, 1):
        raise RuntimeError(f"mlwright {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    windows: int
    shifted_from: int | None  # the first changed window (0-based), None for quiet
    alerts: list[bool] = field(default_factory=list)  # per judged window
    first_alert: int | None = None
    messages: list[str] = field(default_factory=list)

    @property
    def false_alarm_rate(self) -> float:
        before = self.alerts if self.shifted_from is None else self.alerts[: self.shifted_from]
        return sum(before) / len(before) if before else 0.0

    @property
    def detected_within(self) -> int | None:
        """Windows from the change to the first alert at or after it (1: the same window)."""
        if self.shifted_from is None:
            return None
        late = [i for i, a in enumerate(self.alerts) if a and i >= self.shifted_from]
        return None if not late else late[0] - self.shifted_from + 1


@dataclass
class Loop:
    after: str
    promoted: bool
    verdict: str
    champion_auc: float
    challenger_auc: float

    @property
    def really_better(self) -> bool:
        return self.challenger_auc > self.champion_auc


def play(
    service: Service,
    work: Path,
    log: str,
    pool: pl.DataFrame,
    scenario: Scenario,
    *,
    rows: int,
    seconds: float,
    rng: np.random.Generator,
) -> tuple[dt.datetime, dt.datetime]:
    """Send the scenario's windows (rows drawn from ``pool`` without replacement), label
    every answer, and judge the windows; the period it covered."""
    begin = dt.datetime.now(dt.UTC)
    shift = SHIFTS[scenario.name.split(",")[0]]
    ids: list[str] = []
    labels: list[str] = []
    for w in range(scenario.windows):
        rows_now = pool[w * rows : (w + 1) * rows]
        if scenario.shifted_from is not None and w >= scenario.shifted_from:
            rows_now = shift(rows_now, rng)
        ids += send_window(service, rows_now, seconds)
        labels += rows_now[TARGET].to_list()
    time.sleep(seconds + 0.3)  # let the last window close and the log flush
    end = dt.datetime.now(dt.UTC)
    slug = scenario.name.replace(", ", "-")
    labelled = work / f"labels-{slug}.csv"
    pl.DataFrame({"prediction_id": ids, TARGET: labels}).write_csv(labelled)
    cli("feedback", "models:/churn@champion", str(labelled), "--log", log, cwd=work)
    out = work / f"monitor-{slug}"
    cli(
        "monitor", "models:/churn@champion", "--log", log, "--window", f"{seconds:g}s",
        "--since", begin.isoformat(), "--until", end.isoformat(), "--out", str(out),
        cwd=work,
    )  # fmt: skip
    report = json.loads((out / "monitor.json").read_text())
    judged = [w for w in report["windows"] if w["status"] != "too few rows"]
    scenario.alerts = [w["status"] == "alert" for w in judged]
    scenario.messages = [a for w in judged for a in w["alerts"]][:6]
    return begin, end


def loop(work: Path, log: str, since: dt.datetime, after: str, fresh: pl.DataFrame) -> Loop:
    """Retrain on the labelled answers since ``since``, promote if the challenger wins, and
    judge both on ``fresh`` rows neither saw."""
    import mlwright
    from mlwright.evaluate import score

    cli(
        "retrain", "spec.toml", "--log", log, "--since", since.isoformat(),
        "--time-budget", "30s", "-q", cwd=work,
    )  # fmt: skip
    versions = _aliases(work)
    champion = mlwright.load(f"models:/churn/{versions['champion']}", tracking_uri=_store(work))
    challenger = mlwright.load(f"models:/churn/{versions['challenger']}", tracking_uri=_store(work))
    done = cli("promote", "churn", "--log", log, cwd=work)
    y = (fresh[TARGET] == "Yes").cast(pl.Int64).to_numpy()
    inputs = fresh.drop(TARGET, "customer_id")
    aucs = [
        score("roc_auc", y, m.predict_proba(inputs)[["No", "Yes"]].to_numpy())
        for m in (champion, challenger)
    ]
    said = next((line for line in done.stdout.splitlines() if "promoted" in line), "")
    return Loop(after, done.returncode == 0, said[:300], aucs[0], aucs[1])


def _store(work: Path) -> str:
    return f"sqlite:///{work / 'mlflow.db'}"


def _aliases(work: Path) -> dict[str, str]:
    from mlwright.registry import aliases

    return aliases("churn", uri=_store(work))


def run(args: argparse.Namespace) -> tuple[list[Scenario], list[Loop]]:
    rng = np.random.default_rng(0)
    work = Path(tempfile.mkdtemp(prefix="monitoring-sim-"))
    data = pl.read_csv(EXAMPLE / "churn.csv").sample(fraction=1.0, shuffle=True, seed=0)
    n_train = int(data.height * 0.4)
    train, holdout = data[:n_train], data[n_train:]
    train.write_csv(work / "churn.csv")
    spec = (EXAMPLE / "spec.toml").read_text().replace('time_budget = "60s"', 'time_budget = "30s"')
    (work / "spec.toml").write_text(spec)
    cli("run", "spec.toml", "-q", cwd=work)
    log = f"sqlite:///{work / 'log.db'}"
    service = Service(work, "models:/churn@champion", log)
    scenarios = [
        Scenario("quiet", args.quiet_windows, None),
        Scenario("quiet, resampled", args.resampled_windows, None),
        Scenario("numeric", args.windows, 2),
        Scenario("category", args.windows, 2),
        Scenario("concept", args.windows, 2),
    ]
    loops: list[Loop] = []
    try:
        for k, scenario in enumerate(scenarios):
            # Distinct rows within a scenario: what a retrain learns from is never what
            # its comparison or the unseen-rows check scores.
            pool = holdout.sample(
                scenario.windows * args.rows,
                with_replacement=scenario.name == "quiet, resampled",  # more windows than rows
                seed=k,
            )
            begin, _ = play(
                service, work, log, pool, scenario, rows=args.rows, seconds=args.seconds, rng=rng
            )
            print(
                f"  {scenario.name}: windows judged {len(scenario.alerts)}, alerts "
                f"{sum(scenario.alerts)}, detected within {scenario.detected_within}",
                flush=True,
            )
            if scenario.name in ("quiet", "concept"):
                fresh = holdout.filter(~pl.col("customer_id").is_in(pool["customer_id"].implode()))
                if scenario.name == "concept":
                    fresh = concept(fresh, rng)
                loops.append(loop(work, log, begin, scenario.name, fresh))
                print(f"  loop after {scenario.name}: {loops[-1]}", flush=True)
    finally:
        service.stop()
        shutil.rmtree(work, ignore_errors=True)
    return scenarios, loops


def markdown(scenarios: list[Scenario], loops: list[Loop], meta: dict[str, Any]) -> str:
    lines = [
        f"Run {meta['date']} on {meta['machine']}, {meta['cores']} cores, Python "
        f"{meta['python']}; command: `{meta['command']}`; {results_named(meta)}.",
        "",
        "| scenario | windows judged | windows with an alert before the change | first alert "
        "after the change | example alert |",
        "|---|---:|---:|---:|---|",
    ]
    for s in scenarios:
        before = s.alerts if s.shifted_from is None else s.alerts[: s.shifted_from]
        within = "-" if s.shifted_from is None else (
            "none" if s.detected_within is None else f"window {s.detected_within}"
        )  # fmt: skip
        example = s.messages[0] if s.messages else ""
        lines.append(
            f"| {s.name} | {len(s.alerts)} | {sum(before)} of {len(before)} | {within} | "
            f"{example.replace('|', '/')} |"
        )
    lines += [
        "",
        "| loop after | promoted | champion AUC on unseen rows | challenger AUC | really "
        "better | promote said |",
        "|---|---|---:|---:|---|---|",
    ]
    for lp in loops:
        lines.append(
            f"| {lp.after} | {'yes' if lp.promoted else 'no'} | {lp.champion_auc:.4f} | "
            f"{lp.challenger_auc:.4f} | {'yes' if lp.really_better else 'no'} | "
            f"{lp.verdict.replace('|', '/')} |"
        )
    quiet = [a for s in scenarios if s.shifted_from is None for a in s.alerts]
    quiet_rate = sum(quiet) / len(quiet) if quiet else 0.0
    detections = [s.detected_within for s in scenarios if s.shifted_from is not None]
    # A promotion must be right (the challenger better on rows neither saw); the concept
    # shift must be caught. After quiet traffic a challenger trained on more rows of the
    # same kind may be better, and then promoting it is right too.
    loop_ok = all(lp.really_better or not lp.promoted for lp in loops) and any(
        lp.after == "concept" and lp.promoted for lp in loops
    )
    lines += [
        "",
        "Targets (issue 6):",
        "",
        f"- no shift: an alert in at most 5% of windows: {sum(quiet)} of {len(quiet)} quiet "
        f"windows, {quiet_rate:.1%} — " + ("met" if quiet_rate <= 0.05 else "not met"),
        "- each shift detected within 2 windows: "
        + ", ".join(
            f"{s.name} {s.detected_within if s.detected_within is not None else 'never'}"
            for s in scenarios
            if s.shifted_from is not None
        )
        + " — "
        + ("met" if all(d is not None and d <= 2 for d in detections) else "not met"),
        "- promoted only where the challenger is really better (AUC on rows neither saw), "
        "and after the concept shift: " + ("met" if loop_ok else "not met"),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200, help="rows per window")
    parser.add_argument("--windows", type=int, default=8, help="windows per shift scenario")
    parser.add_argument("--quiet-windows", type=int, default=16, help="windows without shift")
    parser.add_argument(
        "--resampled-windows",
        type=int,
        default=60,
        help="more quiet windows, rows drawn with replacement (for the false-alarm rate)",
    )
    parser.add_argument("--seconds", type=float, default=1.0, help="window length, seconds")
    parser.add_argument("--update-docs", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    scenarios, loops = run(args)
    meta = run_meta("monitoring.py", argv)
    saved = save_results(
        "monitoring",
        {
            "meta": meta,
            "scenarios": [asdict(s) for s in scenarios],
            "loops": [asdict(lp) for lp in loops],
        },
    )
    body = markdown(scenarios, loops, with_results(meta, saved))
    print(body)
    if args.update_docs:
        update_docs(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
