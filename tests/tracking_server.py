"""A tracking server on 127.0.0.1 that answers every request with one fixed status and body:
a server failing (500), refusing the caller (401), or saying, as MLflow does, that a model
does not exist (404 with RESOURCE_DOES_NOT_EXIST)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

# What an MLflow server answers for a registered model it does not have.
MISSING_MODEL = '{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Registered Model not found"}'


@contextmanager
def tracking_server(status: int, body: str = "server trouble") -> Iterator[str]:
    """The URI of a server answering ``status`` and ``body`` to every request, with a user
    and password in it (``http://alice:s3cret@127.0.0.1:PORT``); stopped on exit."""
    payload = body.encode()

    class Answer(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def do_PATCH(self) -> None:
            self._answer()

        def do_DELETE(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output clean

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://alice:s3cret@127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow retries a 500 with backoff for minutes; once is enough to see it fail (also
    for a ``mlwright`` subprocess, which inherits the environment)."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


def shown(uri: str) -> str:
    """``uri`` as an error may show it: without the user and password."""
    return uri.replace("alice:s3cret@", "")
