"""The serving benchmark's load generator and its verdicts, against a tiny local HTTP
server (no model, no mlflow)."""

from __future__ import annotations

import argparse
import asyncio
from types import ModuleType

import pytest

from benchmark_module import load_benchmark


@pytest.fixture(scope="module")
def serving() -> ModuleType:
    return load_benchmark("serving")


async def with_server(handler_status: int, work) -> object:  # type: ignore[no-untyped-def]
    """Run ``work(port)`` against a keep-alive server answering every request."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                body = b'{"ok": true}'
                writer.write(
                    f"HTTP/1.1 {handler_status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
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
    assert widths == {13}  # the header, its rule and every row have the same columns
    assert "as one LightGBM model: 0.6 ms and 2 ms" in text
    failing = [serving.Result("mlwright", "ours", slow, serving.Load(500, 2, 10.0, 1, 1, 1), alone)]
    text = serving.markdown(failing, meta, args)
    assert text.count("not met") == 2
