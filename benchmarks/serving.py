"""Serving benchmark: `mlwright serve` against `mlflow models serve` on the same model.

The model is the bundled example's (examples/churn), trained here unless ``--model`` names
an artifact. MLflow serves it as a pyfunc that loads the same artifact and scores each
request's DataFrame (its natural single-row input: ``{"dataframe_records": [record]}``);
mlwright answers one JSON record, with its prediction log on (SQLite), as it runs by
default. Both run one worker process on loopback, one after the other, on the same
machine; the load generator (asyncio, keep-alive connections) runs in this process and
shares the machine's cores with the server, as a sidecar would.

Measured per system:

- latency at a fixed rate (open loop: default 200 requests/s for 10 s on 16 keep-alive
  connections). Request i is due at start + i / rate, and its latency runs from then to
  the end of its response, as wrk2 and oha time it: a request held up behind a stalled
  server or waiting for a free connection counts its wait (timing from the write would
  hide it: coordinated omission). Beside it, the service time (written -> answered) and
  how far behind the schedule the generator itself issued requests (if that is large, the
  generator could not keep up and the latency is not the server's alone);
- throughput with 32 concurrent clients (closed loop, 10 s), and latency one request at a
  time (its service time, unloaded);
- the same server's health check at the fixed rate: the floor under the model's latency;

with the error count of each. ``--single`` adds a second mlwright row: the same example
trained as one LightGBM model (``[search] learners = ["lightgbm"]``, ``ensemble = false``),
to show what the model's own cost does to the latency. For each mlwright model the harness
also times ``Model.predict_record`` in its own process, back to back and after 5 ms idle (a
request every 5 ms finds caches cold on a shared VM).

    python benchmarks/serving.py --peer-python /tmp/mlflow-venv/bin/python --single --update-docs

``--boundary N`` measures only the request check (a few minutes): N requests through the
pydantic record type the service checks with, and N through the hand-written check it
replaced (kept here as the baseline), each alone and as POST /predict answers it through
the ASGI app in process, interleaved in rounds; p50 of each, and the difference.

    python benchmarks/serving.py --boundary 20000

``--peer-python`` is a Python with `mlflow` (the full package, for `mlflow models serve`)
and mlwright installed; without it the MLflow side is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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

EXAMPLE = ROOT / "examples" / "churn"
SECTION = "serving"
MLWRIGHT = [sys.executable, "-m", "mlwright"]

# The pyfunc MLflow serves: the same artifact, scored through mlwright's batch path.
PYFUNC = """
import mlflow.pyfunc


class MlwrightModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import mlwright

        self.model = mlwright.load(context.artifacts["model"])

    def predict(self, context, model_input, params=None):
        return self.model.predict_proba(model_input)


if __name__ == "__main__":
    import sys

    mlflow.pyfunc.save_model(
        sys.argv[1], python_model=MlwrightModel(), artifacts={"model": sys.argv[2]}
    )
"""


@dataclass
class Load:
    """One load phase. At a fixed rate, ``p50_us`` / ``p99_us`` / ``max_us`` run from each
    request's scheduled send time to the end of its response (wrk2's and oha's corrected
    latency: waiting for a free connection or behind the server's backlog counts); the
    ``service_*`` times run from the moment the request was written, and ``late_*`` say how
    far behind the schedule the generator itself issued requests (a generator that cannot
    keep up, not the server). Closed loop (``concurrent``, ``sequential``) has no schedule:
    its latencies are service times and the other fields stay None."""

    requests: int
    errors: int
    seconds: float
    p50_us: float
    p99_us: float
    max_us: float
    service_p50_us: float | None = None
    service_p99_us: float | None = None
    late_p50_us: float | None = None
    late_p99_us: float | None = None
    late_max_us: float | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


@dataclass
class Result:
    system: str
    note: str
    fixed: Load | None = None
    concurrent: Load | None = None
    sequential: Load | None = None  # one client, back to back: the unloaded latency
    error: str | None = None
    # In process, for mlwright: Model.predict_record p50 back to back and after 5 ms idle.
    model_warm_us: float | None = None
    model_idle_us: float | None = None
    # The same server's health check (no model, no log) at the same rate: the floor that
    # the HTTP stack, the load generator and the machine set under the model's latency.
    floor: Load | None = None


# -- the load generator ------------------------------------------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, request: bytes) -> int:
        """One request on this keep-alive connection; the response's status."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"content-length:")
        if at < 0:
            raise RuntimeError(f"no Content-Length in {head[:200]!r}")
        end = lower.find(b"\r\n", at)
        await self.reader.readexactly(int(lower[at + 15 : end]))
        return status

    def close(self) -> None:
        self.writer.close()


def http_request(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def percentiles(seconds: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max of ``seconds``, in µs (NaN when empty)."""
    ordered = sorted(seconds) or [float("nan")]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return statistics.median(ordered) * 1e6, p99 * 1e6, ordered[-1] * 1e6


def summarise(latencies: list[float], errors: int, seconds: float) -> Load:
    p50, p99, most = percentiles(latencies)
    return Load(len(latencies), errors, seconds, p50, p99, most)


async def fixed_rate(
    port: int, requests: list[bytes], rate: float, seconds: float, connections: int = 16
) -> Load:
    """Open loop: request i is due at ``start + i / rate`` whatever became of the ones
    before it, and is written on the first free connection of a pool of ``connections``.
    Its latency runs from when it was due, not from when it was written: timing from the
    write would leave out the wait of every request held up behind a stalled server
    (coordinated omission), which is exactly the delay a caller at this rate would see."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(port))
    latencies: list[float] = []  # due -> answered
    service: list[float] = []  # written -> answered
    late: list[float] = []  # due -> issued by the generator
    errors = 0

    async def fire(request: bytes, due: float) -> None:
        nonlocal errors
        connection = await pool.get()
        written = time.perf_counter()
        try:
            status = await connection.send(request)
        except (OSError, asyncio.IncompleteReadError, RuntimeError):
            errors += 1
            pool.put_nowait(await Connection.open(port))
            return
        answered = time.perf_counter()
        latencies.append(answered - due)
        service.append(answered - written)
        if status != 200:
            errors += 1
        pool.put_nowait(connection)

    start = time.perf_counter()
    tasks = []
    for i in range(round(rate * seconds)):
        due = start + i / rate
        # Loop: a millisecond timer may wake a little early, and nothing is sent before it is due.
        while (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        late.append(time.perf_counter() - due)
        tasks.append(asyncio.create_task(fire(requests[i % len(requests)], due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().close()
    load = summarise(latencies, errors, elapsed)
    load.service_p50_us, load.service_p99_us, _ = percentiles(service)
    load.late_p50_us, load.late_p99_us, load.late_max_us = percentiles(late)
    return load


async def sequential(port: int, requests: list[bytes], count: int) -> Load:
    """One connection, each request sent when the last is answered: latency unloaded."""
    connection = await Connection.open(port)
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    for i in range(count):
        begun = time.perf_counter()
        status = await connection.send(requests[i % len(requests)])
        latencies.append(time.perf_counter() - begun)
        errors += status != 200
    connection.close()
    return summarise(latencies, errors, time.perf_counter() - started)


async def concurrent(port: int, requests: list[bytes], clients: int, seconds: float) -> Load:
    """``clients`` connections, each sending its next request when the last is answered."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal errors
        connection = await Connection.open(port)
        i = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                status = await connection.send(requests[i % len(requests)])
            except (OSError, asyncio.IncompleteReadError, RuntimeError):
                errors += 1
                connection = await Connection.open(port)
                continue
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors += 1
            i += clients
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return summarise(latencies, errors, time.perf_counter() - started)


# -- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    import http.client

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {path} within {seconds:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class ServerCommand:
    """How to start a server under test, and where it answers."""

    command: list[str]
    port: int
    ready_path: str  # 200 once it serves
    floor_path: str  # the cheapest endpoint: the floor under the model's latency
    env: dict[str, str] | None = None


def measure(
    system: str,
    note: str,
    server: ServerCommand,
    *,
    requests: list[bytes],
    args: argparse.Namespace,
) -> Result:
    port, floor_path = server.port, server.floor_path
    log = Path(tempfile.mkdtemp(prefix=f"serving-{system}-")) / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            server.command, stdout=out, stderr=subprocess.STDOUT, env=server.env
        )
    try:
        wait_ready(port, server.ready_path, process, seconds=180)
        asyncio.run(concurrent(port, requests, 4, 3.0))  # warm up
        fixed = asyncio.run(fixed_rate(port, requests, args.rate, args.seconds, args.connections))
        busy = asyncio.run(concurrent(port, requests, args.clients, args.seconds))
        alone = asyncio.run(sequential(port, requests, args.sequential))
        health = f"GET {floor_path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
        floor = asyncio.run(fixed_rate(port, [health], args.rate, args.seconds, args.connections))
        result = Result(system, note, fixed, busy, alone, floor=floor)
        print(
            f"  {system}: {args.rate:g}/s p50 {fmt(fixed.p50_us)} µs p99 {fmt(fixed.p99_us)} µs "
            f"(service {fmt(fixed.service_p50_us)} / {fmt(fixed.service_p99_us)} µs, generator "
            f"at most {fmt(fixed.late_max_us)} µs late) errors {fixed.errors}; "
            f"{args.clients} clients {fmt(busy.rate)}/s errors {busy.errors}; "
            f"one at a time p50 {fmt(alone.p50_us)} µs",
            flush=True,
        )
        return result
    except Exception as exc:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        print(f"  {system}: failed: {exc}\n{tail}", flush=True)
        return Result(system, note, error=f"{type(exc).__name__}: {exc}")
    finally:
        stop(process)


# -- the run -----------------------------------------------------------------------------------


def example_model(work: Path, given: str | None, *, single: bool = False) -> Path:
    """The example's model as ``mlwright run`` trains it (or ``given``); ``single``: one
    LightGBM model without an ensemble, from the same spec otherwise."""
    if given:
        return Path(given)
    spec = EXAMPLE / "spec.toml"
    out = work / ("model-single" if single else "model")
    if single:
        spec = work / "spec-single.toml"
        spec.write_text(
            (EXAMPLE / "spec.toml").read_text()
            + '\n[search]\nlearners = ["lightgbm"]\nensemble = false\n'
        )
        shutil.copy(EXAMPLE / "churn.csv", work / "churn.csv")
    subprocess.run(
        [*MLWRIGHT, "run", str(spec), "--out", str(out), "--no-register", "-q"],
        check=True,
        cwd=work,
    )
    return out


def model_cost(
    model_dir: Path, records: list[dict[str, Any]], idle: float = 0.005
) -> tuple[float, float]:
    """``Model.predict_record`` p50 in µs, back to back and after ``idle`` seconds asleep."""
    import mlwright

    model = mlwright.load(model_dir)
    if not isinstance(model, mlwright.Model):
        raise TypeError(f"{model_dir} is a recommender, not a prediction model")
    for record in records:
        model.predict_record(record)
    warm, after_idle = [], []
    for i in range(600):
        started = time.perf_counter()
        model.predict_record(records[i % len(records)])
        warm.append(time.perf_counter() - started)
    for i in range(300):
        time.sleep(idle)
        started = time.perf_counter()
        model.predict_record(records[i % len(records)])
        after_idle.append(time.perf_counter() - started)
    return statistics.median(warm) * 1e6, statistics.median(after_idle) * 1e6


def example_records(model_dir: Path, n: int = 500) -> list[dict[str, Any]]:
    import polars as pl

    manifest = json.loads((model_dir / "manifest.json").read_text())
    names = [f["name"] for f in manifest["input_schema"]]
    frame = pl.read_csv(EXAMPLE / "churn.csv").head(n).select(names)
    return frame.to_dicts()


# -- the request boundary: pydantic's record check against the hand-written one it replaced --


def hand_written_schema(fields: Any, unknown: str = "reject", max_records: int = 1000) -> Any:
    """A ``RecordSchema`` whose check is the hand-written one the service used before its
    requests were checked by a pydantic type (issue 18): the baseline of ``--boundary``."""
    from mlwright.errors import InputError, MlwrightError, list_choices
    from mlwright.serve import Records, RecordSchema
    from mlwright.serve._records import _ACCEPTED, _READERS, _json_kind, echo, echo_name

    class HandWritten(RecordSchema):
        name_set: frozenset[str]
        readers: list[Any]

        def parse(self, body: bytes) -> Records:
            data = self._json(body)
            if isinstance(data, dict):
                self.check(data)
                return Records([data], single=True)
            if isinstance(data, list) and 0 < len(data) <= self.max_records:
                for i, record in enumerate(data):
                    if not isinstance(record, dict):
                        raise InputError(f"record [{i}] is not an object", field=f"[{i}]")
                    self.check(record, f"[{i}].")
                return Records(data, single=False)
            raise InputError(f"the request body is a JSON {_json_kind(data)}", field="body")

        def check(self, record: Any, where: str = "") -> None:
            # As it was: precomputed name set and (name, reader, accepted) per field.
            names = self.names
            if len(record) != len(names) or record.keys() != self.name_set:
                missing = [n for n in names if n not in record]
                if missing:
                    raise InputError(
                        f"field '{where}{missing[0]}' is missing",
                        field=f"{where}{missing[0]}",
                        hint="fields: " + list_choices(names),
                    )
                unknown = [k for k in record if k not in self.name_set]
                if unknown and self.unknown == "reject":
                    name = echo_name(unknown[0])
                    raise InputError(
                        f"field '{where}{name}' is not an input", field=f"{where}{name}"
                    )
            for name, read, (types, expected, _) in self.readers:
                value = record[name]
                try:
                    if value is not None and (
                        not isinstance(value, types)
                        or (isinstance(value, bool) and bool not in types)
                    ):
                        raise InputError(
                            f"field '{name}' expects {expected}: " + echo(value), field=name
                        )
                    read(name, value)
                except MlwrightError as exc:
                    exc.field = f"{where}{name}"
                    raise

    schema = HandWritten(fields, unknown=unknown, max_records=max_records)  # type: ignore[arg-type]
    schema.name_set = frozenset(schema.names)
    schema.readers = [(f.name, _READERS[f.kind], _ACCEPTED[f.kind]) for f in schema.fields]
    return schema


@dataclass
class BoundaryCost:
    """p50 µs per request of the two checks, alone and as /predict answers in process."""

    requests: int
    check_pydantic_us: float
    check_hand_written_us: float
    predict_pydantic_us: float
    predict_hand_written_us: float

    @property
    def extra_us(self) -> float:
        """What the pydantic path costs a /predict request more than the hand-written one."""
        return self.predict_pydantic_us - self.predict_hand_written_us


def p50_us(call: Any, count: int) -> float:
    times = []
    for _ in range(count):
        started = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - started)
    return statistics.median(times) / 1000.0


def boundary_cost(model_dir: Path, records: list[dict[str, Any]], count: int) -> BoundaryCost:
    """Validating one record, and a whole POST /predict through the ASGI app in this process
    (no socket, no log), with the pydantic check and with the hand-written one, interleaved
    in rounds so that a busy neighbour slows both alike."""
    import dataclasses

    from mlwright.serve import ServeSettings, Service, create_app

    service = Service(ServeSettings(model=str(model_dir), log=None))
    pydantic_loaded = service.load(str(model_dir))
    bodies = [json.dumps(r).encode() for r in records]
    old = hand_written_schema(pydantic_loaded.schema.fields)
    hand_loaded = dataclasses.replace(pydantic_loaded, schema=old)
    loop = asyncio.new_event_loop()
    apps = {}
    for name, loaded in (("pydantic", pydantic_loaded), ("hand", hand_loaded)):
        app = create_app(ServeSettings(model=str(model_dir), log=None), loaded)
        apps[name] = app
    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": []}

    def post(app: Any, body: bytes) -> None:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        loop.run_until_complete(app(scope, receive, send))
        if sent[0]["status"] != 200:
            raise RuntimeError(f"/predict answered {sent[0]['status']}: {sent[1]['body']!r}")

    cycle = [0]

    def next_body() -> bytes:
        cycle[0] += 1
        return bodies[cycle[0] % len(bodies)]

    checks = {
        "check_pydantic": lambda: pydantic_loaded.schema.parse(next_body()),
        "check_hand": lambda: old.parse(next_body()),
        "predict_pydantic": lambda: post(apps["pydantic"], next_body()),
        "predict_hand": lambda: post(apps["hand"], next_body()),
    }
    for call in checks.values():  # warm up
        p50_us(call, 200)
    rounds = 10
    medians: dict[str, list[float]] = {name: [] for name in checks}
    for _ in range(rounds):
        for name, call in checks.items():
            medians[name].append(p50_us(call, max(1, count // rounds)))
    loop.close()
    p50 = {name: statistics.median(values) for name, values in medians.items()}
    return BoundaryCost(
        count,
        p50["check_pydantic"],
        p50["check_hand"],
        p50["predict_pydantic"],
        p50["predict_hand"],
    )


def boundary_markdown(cost: BoundaryCost, model_dir: Path) -> str:
    return "\n".join(
        [
            f"Request boundary, {cost.requests:,} requests per path in process "
            f"(model {model_dir.name}; p50 µs, the median of 10 interleaved rounds):",
            "",
            "| path | check one record | POST /predict (ASGI, no log) |",
            "|---|---:|---:|",
            f"| pydantic type from the artifact's inputs | {cost.check_pydantic_us:.1f} | "
            f"{cost.predict_pydantic_us:.1f} |",
            f"| hand-written check (before issue 18) | {cost.check_hand_written_us:.1f} | "
            f"{cost.predict_hand_written_us:.1f} |",
            "",
            f"pydantic costs {cost.extra_us:+.1f} µs p50 per /predict request "
            f"(ratio {cost.predict_pydantic_us / cost.predict_hand_written_us:.2f}); the rule: "
            "keep the hand-written fast path if it is over +50 µs.",
        ]
    )


def run(args: argparse.Namespace) -> list[Result]:
    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    model_dir = example_model(work, args.model)
    records = example_records(model_dir)
    results: list[Result] = []
    mlwright_requests = [http_request("/predict", json.dumps(r).encode()) for r in records]
    models = [("mlwright", "mlwright serve, 1 worker, prediction log on (SQLite)", model_dir)]
    if args.single:
        single = example_model(work, args.single_model, single=True)
        models.append(
            ("mlwright (one LightGBM)", "the same, the example trained as one LightGBM", single)
        )
    for system, note, directory in models:
        warm, idle = model_cost(directory, records)
        port = free_port()
        log = f"sqlite:///{work / (system.split()[0] + '-' + directory.name + '.db')}"
        result = measure(
            system,
            note,
            ServerCommand(
                command=[*MLWRIGHT, "serve", str(directory), "--port", str(port), "--log", log],
                port=port,
                ready_path="/health/ready",
                floor_path="/health/live",
            ),
            requests=mlwright_requests,
            args=args,
        )
        result.model_warm_us, result.model_idle_us = warm, idle
        print(f"  {system}: predict_record p50 {fmt(warm)} µs, {fmt(idle)} µs after 5 ms idle")
        results.append(result)
    if args.peer_python:
        peer = str(Path(args.peer_python).absolute())  # not resolve(): keep the venv
        bin_dir = Path(peer).parent
        script = work / "pyfunc.py"
        script.write_text(PYFUNC)
        pyfunc_dir = work / "pyfunc"
        subprocess.run([peer, str(script), str(pyfunc_dir), str(model_dir)], check=True)
        port = free_port()
        mlflow_requests = [
            http_request("/invocations", json.dumps({"dataframe_records": [r]}).encode())
            for r in records
        ]
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        results.append(
            measure(
                "mlflow",
                "mlflow models serve (pyfunc of the same artifact), 1 worker",
                ServerCommand(
                    command=[
                        *(str(bin_dir / "mlflow"), "models", "serve", "-m", str(pyfunc_dir)),
                        *("--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)),
                        *("--workers", "1"),
                    ],
                    port=port,
                    ready_path="/ping",
                    floor_path="/ping",
                    env=env,
                ),
                requests=mlflow_requests,
                args=args,
            )
        )
    shutil.rmtree(work, ignore_errors=True)
    return results


def beside(load: Load) -> str:
    """What a fixed-rate latency verdict stands on: the service time and the generator's lag."""
    if load.service_p50_us is None or load.service_p99_us is None or load.late_max_us is None:
        return ""
    return (
        f" (timed from the schedule; service time {fmt(load.service_p50_us / 1000)} ms and "
        f"{fmt(load.service_p99_us / 1000)} ms; the generator at most "
        f"{fmt(load.late_max_us / 1000)} ms behind its schedule)"
    )


def markdown(results: list[Result], meta: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"Run {meta['date']} on {meta['machine']}, {meta['cores']} cores, Python "
        f"{meta['python']}; command: `{meta['command']}`; {results_named(meta)}.",
        "",
        f"At {args.rate:g} requests/s each request's latency runs from its scheduled send "
        "time to the end of its response (a backlog counts); the service time runs from "
        "its write; generator late is how far behind the schedule the load generator itself "
        "issued requests.",
        "",
        f"| system | p50 µs at {args.rate:g}/s | p99 µs | service p50 / p99 µs | generator "
        f"late p50 / p99 / max µs | errors | rps with {args.clients} clients | p99 µs | "
        "errors | p50 µs one at a time | p99 µs | model µs in process (after 5 ms idle) | "
        f"health check p50 / p99 µs at {args.rate:g}/s | setup |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if r.fixed is None or r.concurrent is None or r.sequential is None:
            lines.append(f"| {r.system} |" + " - |" * 12 + f" failed: {r.error} |")
            continue
        f, c, a = r.fixed, r.concurrent, r.sequential
        cost = (
            "-"
            if r.model_warm_us is None or r.model_idle_us is None
            else f"{fmt(r.model_warm_us)} ({fmt(r.model_idle_us)})"
        )
        floor = "-" if r.floor is None else f"{fmt(r.floor.p50_us)} / {fmt(r.floor.p99_us)}"
        lines.append(
            f"| {r.system} | {fmt(f.p50_us)} | {fmt(f.p99_us)} | {fmt(f.service_p50_us)} / "
            f"{fmt(f.service_p99_us)} | {fmt(f.late_p50_us)} / {fmt(f.late_p99_us)} / "
            f"{fmt(f.late_max_us)} | {f.errors} | {fmt(c.rate)} | {fmt(c.p99_us)} | "
            f"{c.errors} | {fmt(a.p50_us)} | {fmt(a.p99_us)} | {cost} | {floor} | {r.note} |"
        )
    ours = next((r for r in results if r.system == "mlwright" and r.fixed), None)
    peer = next((r for r in results if r.system == "mlflow" and r.fixed), None)
    if ours is not None and ours.fixed is not None and ours.concurrent is not None:
        f, c = ours.fixed, ours.concurrent
        lines += [
            "",
            "Targets (issue 5):",
            "",
            f"- p50 <= 1 ms and p99 <= 5 ms at {args.rate:g} requests/s: "
            f"{fmt(f.p50_us / 1000)} ms and {fmt(f.p99_us / 1000)} ms — "
            + ("met" if f.p50_us <= 1000 and f.p99_us <= 5000 else "not met")
            + beside(f),
            f"- >= 1,000 requests/s with zero errors at {args.clients} clients: "
            f"{fmt(c.rate)}/s, {c.errors} errors — "
            + ("met" if c.rate >= 1000 and c.errors == 0 else "not met"),
        ]
        if ours.floor is not None:
            lines.append(
                f"- the floor under it: the same server's `GET /health/live` (no model, no "
                f"log) at {args.rate:g}/s answers in {fmt(ours.floor.p50_us / 1000)} ms p50"
            )
        single = next((r for r in results if r.system.startswith("mlwright (") and r.fixed), None)
        if single is not None and single.fixed is not None:
            lines.append(
                f"- the same at {args.rate:g}/s with the example as one LightGBM model: "
                f"{fmt(single.fixed.p50_us / 1000)} ms and {fmt(single.fixed.p99_us / 1000)} ms"
            )
        if peer is not None and peer.sequential is not None and ours.sequential is not None:
            # One request at a time, so that a saturated peer's queueing does not count.
            ratio = peer.sequential.p50_us / ours.sequential.p50_us
            lines.append(
                f"- p50 >= 20x lower than mlflow models serve (one request at a time): "
                f"{ratio:,.0f}x — " + ("met" if ratio >= 20 else "not met")
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="an mlwright artifact (default: train the example)")
    parser.add_argument("--peer-python", help="a Python with mlflow and mlwright installed")
    parser.add_argument(
        "--single", action="store_true", help="also serve the example trained as one LightGBM"
    )
    parser.add_argument("--single-model", help="that model, already trained (with --single)")
    parser.add_argument(
        "--rate",
        type=float,
        default=200.0,
        help="requests/s of the fixed-rate phases (open loop; latency timed from each "
        "request's scheduled send time)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=16,
        help="keep-alive connections the fixed-rate phases send on (a request due while all "
        "are busy waits for one, and the wait counts in its latency)",
    )
    parser.add_argument(
        "--clients", type=int, default=32, help="concurrent clients of the closed-loop phase"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="length of each phase (a fixed-rate phase then waits for its last answers)",
    )
    parser.add_argument("--sequential", type=int, default=300, help="requests one at a time")
    parser.add_argument(
        "--boundary",
        type=int,
        metavar="N",
        help="only compare the request check: N requests through the pydantic record type and "
        "N through the hand-written check it replaced, alone and as /predict answers them in "
        "process (p50 each); no server, no peer",
    )
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="write the results into docs/benchmarks.md (results JSON is always saved)",
    )
    args = parser.parse_args(argv)
    if args.boundary:
        work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
        try:
            model_dir = example_model(work, args.model)
            cost = boundary_cost(model_dir, example_records(model_dir), args.boundary)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(asdict(cost)))
        print(boundary_markdown(cost, model_dir))
        return 0
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results = run(args)
    meta = run_meta("serving.py", argv)
    saved = save_results("serving", {"meta": meta, "results": [asdict(r) for r in results]})
    body = markdown(results, with_results(meta, saved), args)
    print(body)
    if args.update_docs:
        update_docs(SECTION, body)
    return 0 if all(r.error is None for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
