"""ARCHITECTURE.md's import rules, held by a test: a stage imports only stages to its left in
frame -> check -> features -> search -> evaluate -> document -> serve -> monitor (and spec/,
artifact/); serve never imports search or evaluate; nothing imports the CLI. recommend/ (the
recommendation lane) comes after document and before the registry, which loads its
artifacts; serve answers with its prediction side."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mlwright"
# The loop, left to right; learners belong to the search stage and come before it.
ORDER = [
    "spec", "data", "features", "learners", "search", "evaluate", "report", "recommend", "registry",
]  # fmt: skip
SHARED = {"errors", "_progress", "_interrupt", "_clock", "spec", "artifact"}
ALLOWED: dict[str, set[str]] = {stage: set(ORDER[:i]) for i, stage in enumerate(ORDER)}
ALLOWED["artifact"] = {"spec", "data", "features", "learners"}
ALLOWED["serve"] = {"spec", "data", "features", "learners", "recommend", "registry"}
ALLOWED["monitor"] = {*ORDER, "serve", "pipeline"}


def imported_packages(path: Path) -> set[str]:
    """First-level mlwright packages a module imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "mlwright" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_stage_imports_only_what_is_to_its_left(stage: str) -> None:
    allowed = ALLOWED[stage] | SHARED | {stage}
    for path in sorted((SRC / stage).rglob("*.py")):
        extra = imported_packages(path) - allowed
        assert not extra, f"{path.relative_to(SRC)} imports {sorted(extra)}"


def test_serve_never_imports_search_or_evaluate() -> None:
    assert not ALLOWED["serve"] & {"search", "evaluate"}


def test_nothing_imports_the_cli() -> None:
    for path in SRC.rglob("*.py"):
        if path.name in ("cli.py", "__main__.py"):
            continue
        assert "cli" not in imported_packages(path), path
