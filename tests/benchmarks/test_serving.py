"""The serving benchmark's load generator and its verdicts, against a tiny local HTTP
server (no model, no mlflow)."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark_module import load_benchmark


@pytest.fixture(scope="module")
def serving() -> ModuleType:
    return load_benchmark("serving")


async def with_server(
    handler_status: int,
    work: Callable[[int], Awaitable[Any]],
    before_answer: Callable[[], Awaitable[None]] | None = None,
) -> Any:
    """Run ``work(port)`` against a keep-alive server answering every request, one at a
    time (as one worker does), each after ``before_answer()``."""
    one_at_a_time = asyncio.Lock()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                body = b'{"ok": true}'
                async with one_at_a_time:
                    if before_answer is not None:
                        await before_answer()
                    answer = f"HTTP/1.1 {handler_status} X\r\nContent-Length: {len(body)}\r\n\r\n"
                    writer.write(answer.encode() + body)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await work(port)
    finally:
        server.close()


def test_fixed_rate_sends_at_the_rate_and_times_every_request(serving: ModuleType) -> None:
    requests = [serving.http_request("/predict", b'{"a": 1}')]
    load = asyncio.run(
        with_server(200, lambda port: serving.fixed_rate(port, requests, 100.0, 1.0))
    )
    assert load.requests == 100
    assert load.errors == 0
    assert 0.9 < load.seconds < 1.5
    assert 0 < load.p50_us <= load.p99_us <= load.max_us
    # Never written before it is due: the latency from the schedule covers the service time.
    assert 0 < load.service_p50_us <= load.p50_us
    assert 0 < load.service_p99_us <= load.p99_us
    assert 0 <= load.late_p50_us <= load.late_p99_us <= load.late_max_us


def stall_once(seconds: float, *, block: bool = False) -> Callable[[], Awaitable[None]]:
    """A server pause before its first answer: asleep (the server alone stalls) or, with
    ``block``, holding the event loop that the load generator shares (the generator stalls)."""
    stalled = False

    async def pause() -> None:
        nonlocal stalled
        if not stalled:
            stalled = True
            if block:
                time.sleep(seconds)
            else:
                await asyncio.sleep(seconds)

    return pause


def test_fixed_rate_counts_the_wait_of_requests_due_during_a_stall(serving: ModuleType) -> None:
    # Coordinated omission: the server stalls 0.6 s on its first request, so the 60 requests
    # due in that time (of 100 at 100/s) wait for it, 16 on a connection and the rest for a
    # free connection. Timed from the write, only those 16 look slow and the median is a
    # few ms; timed from the schedule, request i waits about 0.6 - i / 100 s.
    requests = [serving.http_request("/predict", b"{}")]
    load = asyncio.run(
        with_server(
            200,
            lambda port: serving.fixed_rate(port, requests, 100.0, 1.0),
            stall_once(0.6),
        )
    )
    assert load.requests == 100
    assert load.errors == 0
    assert load.p99_us >= 500_000
    assert load.p50_us >= 50_000  # about 0.1 s: the 11th slowest of the 60 that waited
    assert load.service_p50_us < load.p50_us / 2  # the backlog, not the service, is the wait
    assert load.late_max_us < 300_000  # the generator kept to its schedule


def test_fixed_rate_shows_a_generator_that_falls_behind(serving: ModuleType) -> None:
    # The server blocks the event loop the generator runs on for 0.4 s: the generator
    # issues the requests due meanwhile late, says so, and their latency still counts it.
    requests = [serving.http_request("/predict", b"{}")]
    load = asyncio.run(
        with_server(
            200,
            lambda port: serving.fixed_rate(port, requests, 100.0, 1.0),
            stall_once(0.4, block=True),
        )
    )
    assert load.requests == 100
    assert load.late_max_us >= 300_000
    assert load.p99_us >= 300_000


def test_sequential_requests_are_answered_one_at_a_time(serving: ModuleType) -> None:
    requests = [serving.http_request("/predict", b"{}")]
    load = asyncio.run(with_server(200, lambda port: serving.sequential(port, requests, 50)))
    assert load.requests == 50
    assert load.errors == 0


def test_concurrent_clients_count_non_200_answers_as_errors(serving: ModuleType) -> None:
    requests = [serving.http_request("/predict", b"{}")]
    load = asyncio.run(with_server(503, lambda port: serving.concurrent(port, requests, 4, 0.3)))
    assert load.requests > 0
    assert load.errors == load.requests


def test_the_verdicts_follow_the_targets(serving: ModuleType) -> None:
    args = argparse.Namespace(rate=200.0, clients=32)
    fast = serving.Load(2000, 0, 10.0, 600.0, 2000.0, 3000.0)
    busy = serving.Load(15000, 0, 10.0, 1500.0, 9000.0, 12000.0)
    slow = serving.Load(2000, 0, 10.0, 30000.0, 40000.0, 50000.0)
    alone = serving.Load(300, 0, 1.0, 500.0, 700.0, 900.0)
    results = [
        serving.Result("mlwright", "ours", fast, busy, alone),
        serving.Result(
            "mlflow",
            "theirs",
            slow,
            serving.Load(900, 3, 10.0, 1, 1, 1),
            serving.Load(300, 0, 9.0, 25000.0, 1, 1),
        ),
    ]
    meta = {"date": "d", "machine": "m", "cores": 2, "python": "3.11", "command": "c"}
    text = serving.markdown(results, meta, args)
    assert "results file not kept" in text
    named = {**meta, "results": ["benchmarks/results/serving-x.json"]}
    assert "results: `benchmarks/results/serving-x.json`" in serving.markdown(results, named, args)
    assert "0.6 ms and 2 ms — met" in text
    assert "1,500/s, 0 errors — met" in text
    assert "50x — met" in text
    single = serving.Result("mlwright (one LightGBM)", "one", fast, busy, alone, None, 90.0, 400.0)
    results[0].floor = serving.Load(2000, 0, 10.0, 450.0, 900.0, 1000.0)
    text = serving.markdown([*results, single], meta, args)
    assert "90 (400)" in text
    assert "450 / 900" in text
    assert "`GET /health/live` (no model, no log) at 200/s answers in 0.45 ms p50" in text
    widths = {line.count("|") for line in text.splitlines() if line.startswith("|")}
    assert widths == {15}  # the header, its rule and every row have the same columns
    assert "as one LightGBM model: 0.6 ms and 2 ms" in text
    failing = [serving.Result("mlwright", "ours", slow, serving.Load(500, 2, 10.0, 1, 1, 1), alone)]
    text = serving.markdown(failing, meta, args)
    assert text.count("not met") == 2


# The same record fields as the service tests' synthetic model (tests/synth.py).
BOUNDARY_FIELDS = [
    ("num", "numeric"),
    ("plan", "categorical"),
    ("vip", "boolean"),
    ("signup", "datetime"),
    ("note", "text"),
]
GOOD = {"num": 0.5, "plan": "pro", "vip": True, "signup": "2022-01-01T10:00:00", "note": "x"}
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["2024-03-01", "0001-01-01T00:00:00+05:00", "yesterday"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
RECORDS = st.builds(lambda k, v: {**GOOD, k: v}, st.sampled_from([*GOOD, "extra"]), VALUES) | (
    st.builds(
        lambda drop: {k: v for k, v in GOOD.items() if k not in drop},
        st.sets(st.sampled_from(sorted(GOOD)), max_size=2),
    )
)


def outcome(schema: Any, body: bytes) -> tuple[int, str | None]:
    from mlwright.errors import MlwrightError

    try:
        schema.parse(body)
    except MlwrightError as exc:
        return exc.http_status, exc.field
    return 200, None


@settings(max_examples=300, deadline=None)
@given(value=RECORDS | st.lists(RECORDS, max_size=3) | VALUES)
def test_the_pydantic_check_and_the_hand_written_baseline_take_the_same_bodies(
    serving: ModuleType, value: object
) -> None:
    """``--boundary`` compares like with like: what one check takes the other takes, and a
    refusal names the same field."""
    from mlwright.artifact import InputField
    from mlwright.serve import RecordSchema

    fields = [InputField(name, kind, "x") for name, kind in BOUNDARY_FIELDS]
    body = orjson.dumps(value)
    pydantic_outcome = outcome(RecordSchema(fields, max_records=2), body)
    hand_outcome = outcome(serving.hand_written_schema(fields, max_records=2), body)
    assert pydantic_outcome == hand_outcome


def test_the_boundary_mode_times_both_paths(
    serving: ModuleType, trained: dict[str, Any], tmp_path: Path
) -> None:
    from synth import RECORD

    model_dir = trained["binary"].save(tmp_path / "model")
    cost = serving.boundary_cost(model_dir, [RECORD, {**RECORD, "num": None}], 40)
    assert cost.requests == 40
    for us in (cost.check_pydantic_us, cost.check_hand_written_us, cost.predict_pydantic_us):
        assert 0 < us < 1_000_000
    assert "p50" in serving.boundary_markdown(cost, model_dir)
