"""docs/serving.md runs: the model it trains, the server it starts, and the requests it
shows, with the statuses it says they get; and its Python example builds a working app."""

from __future__ import annotations

import re
import runpy
import shlex
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from clirun import mlwright
from served import start_server

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "serving.md"


def console_lines(page: Path) -> list[str]:
    text = page.read_text()
    found = re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL)
    return [line[2:] for block in found for line in block.splitlines() if line.startswith("$ ")]


def curl_request(line: str) -> tuple[str, bytes | None, int]:
    """Path, body and the status the page promises (``# -> 422``; 200 when unsaid)."""
    promised = re.search(r"#\s*->\s*(\d{3})\s*$", line)
    argv = shlex.split(line, comments=True)
    url = next(a for a in argv[1:] if a.startswith("localhost:"))
    body = argv[argv.index("-d") + 1].encode() if "-d" in argv else None
    return url.split(":8000", 1)[1], body, int(promised[1]) if promised else 200


def test_the_serving_guide_runs(repo_copy: Path) -> None:
    lines = console_lines(PAGE)
    commands = [shlex.split(line, comments=True) for line in lines if line.startswith("mlwright")]
    run, serve = commands
    assert run[:2] == ["mlwright", "run"]
    assert mlwright(*run[1:], cwd=repo_copy, timeout=300).code == 0
    assert serve[:2] == ["mlwright", "serve"]
    args = serve[2:]
    port = args.index("--port")
    del args[port : port + 2]  # the test picks a free port
    log = f"sqlite:///{repo_copy / 'predictions.db'}"
    server = start_server([*args, "--log", log], cwd=repo_copy, log=log)
    try:
        curls = [line for line in lines if line.startswith("curl")]
        assert len(curls) >= 2
        for line in curls:
            path, body, promised = curl_request(line)
            status, data = server.request(
                "POST" if body is not None else "GET",
                path,
                body,
                {"Content-Type": "application/json"},
            )
            assert status == promised, (line, data)
            answer = orjson.loads(data)
            if status == 200:
                assert answer["model_name"] == "churn"
                assert answer["model_version"] == "1"
                assert answer["prediction"] in ("No", "Yes")
            else:
                assert answer["error"]["field"]
    finally:
        assert server.stopped_gracefully()


def test_the_serving_guides_python_example_builds_an_app(
    repo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained = mlwright(
        "run",
        "examples/churn/spec.toml",
        "--max-trials",
        "1",
        "--no-register",
        "--quiet",
        cwd=repo_copy,
        timeout=300,
    )
    assert trained.code == 0
    (code,) = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    script = repo_copy / "serving_example.py"
    script.write_text(code)
    monkeypatch.chdir(repo_copy)
    app = runpy.run_path(str(script))["app"]
    with TestClient(app) as client:
        assert client.get("/health/ready").status_code == 200
        assert client.get("/metadata").json()["model_name"] == "churn"
