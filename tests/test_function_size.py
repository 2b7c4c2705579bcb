"""No function or method in src/mlwright is longer than MAX_LINES (docs/architecture.md,
"Regression guards for refactoring"): a longer one is split by meaning into named helpers."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "mlwright"
MAX_LINES = 80


def long_functions(root: Path, limit: int) -> list[tuple[str, int, str, int]]:
    """(file, line, name, length) of every function or method under ``root`` longer than
    ``limit`` lines, from its ``def`` to its last line, nested functions included."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(
                        (str(path.relative_to(root.parent)), node.lineno, node.name, length)
                    )
    return sorted(found, key=lambda row: -row[3])


def test_the_counter_measures_from_def_to_last_line(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(4))
    (tmp_path / "m.py").write_text(f"@decorated\ndef five():\n{body}\ndef one(): ...\n")
    assert long_functions(tmp_path, 4) == [(f"{tmp_path.name}/m.py", 2, "five", 5)]
    assert long_functions(tmp_path, 5) == []


def test_no_function_is_longer_than_the_limit() -> None:
    found = long_functions(SRC, MAX_LINES)
    assert not found, f"{len(found)} functions over {MAX_LINES} lines:\n" + "\n".join(
        f"src/{file}:{line} {name} ({length} lines)" for file, line, name, length in found
    )
