"""`mlwright serve` in its own process on a free loopback port, for tests that need the real
server (HTTP clients, signals)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVE = [sys.executable, "-m", "mlwright", "serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: str | None
    output: Path

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body, headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def stopped_gracefully(self) -> bool:
        """After SIGTERM, uvicorn finishes its shutdown and then re-raises the signal (exit
        status -15, as the caller asked), or exits 0."""
        code = self.stop(signal.SIGTERM)
        return code in (0, -signal.SIGTERM) and "Application shutdown complete" in (
            self.output.read_text()
        )


def start_server(args: list[str], *, cwd: Path, log: str | None) -> Server:
    """Start `mlwright serve ARGS --port <free>` in ``cwd``; wait until it is ready."""
    port = free_port()
    output = cwd / f"server-{port}.out"
    process = subprocess.Popen(
        [*SERVE, *args, "--port", str(port)],
        cwd=cwd,
        stdout=output.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    server = Server(process, port, log, output)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited: {output.read_text()}")
        try:
            if server.get("/health/ready")[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"the server did not become ready: {output.read_text()}")
