"""docs/recommend.md runs: check, train and register the movielens example, serve it, ask
the service what the page asks, recommend in batch, write the card again, retrain and
promote (on a copy of the example cut to fewer users, so that it trains in seconds); its
Python snippet gives the same lists as the service."""

from __future__ import annotations

import re
import runpy
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import polars as pl
import pytest

from clirun import mlwright
from served import start_server

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "recommend.md"
USERS = 120


def documented(kind: str) -> list[str]:
    blocks = re.findall(rf"```{kind}\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines()]


def commands() -> list[list[str]]:
    return [shlex.split(line[2:]) for line in documented("console") if line.startswith("$ ")]


def test_the_recommendation_guide_runs(repo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = repo_copy / "examples" / "movielens"
    ratings = pl.read_parquet(example / "ratings.parquet")
    kept = sorted(ratings["userId"].unique().to_list())[:USERS]
    if 15 not in kept:
        kept[-1] = 15  # the page asks for user 15
    ratings.filter(pl.col("userId").is_in(kept)).write_parquet(example / "ratings.parquet")

    check, run, serve, get, post, predict, report, rerun, challenger_card, promote = commands()
    assert [c[:2] for c in (check, run, serve)] == [
        ["mlwright", "check"],
        ["mlwright", "run"],
        ["mlwright", "serve"],
    ]
    assert mlwright(*check[1:], cwd=repo_copy).code == 0
    trained = mlwright(*run[1:], "--time-budget", "90", cwd=repo_copy, timeout=400)
    assert trained.code == 0, trained
    assert "held-out users" in trained.stdout
    assert (repo_copy / "models" / "movielens" / "model_card.html").is_file()

    answer, folded = _served(serve, get, post, repo_copy)

    _batch_and_card(predict, report, repo_copy, answer)

    # The page's Python, as written, in the folder the page's commands ran in.
    monkeypatch.chdir(repo_copy)
    loading, fitting = documented_python()
    first = runpy.run_path(str(_script(repo_copy / "loading.py", loading)))
    rec = first["rec"]
    assert rec.recommend(user=15, k=10) == answer["items"]
    assert rec.recommend(history=[1, 260, 1196], k=5, exclude=[1210]) == folded["items"]
    second = runpy.run_path(str(_script(repo_copy / "fitting.py", fitting)))
    assert 0.0 <= second["ndcg"]["low"] <= second["ndcg"]["value"] <= second["ndcg"]["high"]
    assert second["fitted"].recommend(user=15, k=3)

    # Retraining: the second run is the challenger; promotion moves the champion by force.
    again = mlwright(*rerun[1:], "--time-budget", "30", cwd=repo_copy, timeout=300)
    assert again.code == 0, again
    assert "as 'challenger'" in again.stdout
    assert mlwright(*challenger_card[1:], cwd=repo_copy).code == 0
    promoted = mlwright(*promote[1:], cwd=repo_copy)
    assert promoted.code == 0, promoted
    assert "promoted (forced): movielens version 2 is the champion (was 1)" in promoted.stdout


def _served(
    serve: list[str], get: list[str], post: list[str], repo_copy: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The page's service answers its GET and POST examples as the page says."""
    log = serve[serve.index("--log") + 1]
    args = list(serve[2:])
    args[args.index("--port") : args.index("--port") + 2] = []  # start_server picks a port
    server = start_server(args, cwd=repo_copy, log=log)
    try:
        url = urlsplit(get[1].strip("'"))
        status, body = server.get(f"{url.path}?{url.query}")
        assert status == 200, body
        answer = orjson.loads(body)
        assert answer["known_user"] is True
        assert len(answer["items"]) == 10

        request = post[post.index("-d") + 1]
        status, body = server.request(
            "POST", "/recommend", request.encode(), {"Content-Type": "application/json"}
        )
        assert status == 200, body
        folded = orjson.loads(body)
        assert folded["cold_start"] is False
        assert len(folded["items"]) == 5
        assert 1210 not in folded["items"]
    finally:
        assert server.stopped_gracefully()
    return answer, folded


def _batch_and_card(
    predict: list[str], report: list[str], repo_copy: Path, answer: dict[str, Any]
) -> None:
    """The page's batch recommendations agree with the service; its card names NDCG@10."""
    batch = mlwright(*predict[1:], cwd=repo_copy)
    assert batch.code == 0, batch
    output = predict[predict.index("-o") + 1]
    recs = pl.read_csv(repo_copy / output)
    assert recs.columns == ["userId", "rank", "movieId", "score", "source", "cold_start"]
    assert recs["userId"].unique(maintain_order=True).to_list() == [15, 42, 100000]
    assert recs.filter(pl.col("userId") == 15)["movieId"].to_list() == answer["items"]
    assert recs.filter(pl.col("userId") == 100000)["cold_start"].all()
    card = mlwright(*report[1:], cwd=repo_copy)
    assert card.code == 0, card
    page = report[report.index("--out") + 1]
    assert "NDCG@10" in (repo_copy / page).read_text()
    assert (repo_copy / page).with_suffix(".md").is_file()


def documented_python() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def _script(path: Path, code: str) -> Path:
    path.write_text(code)
    return path
