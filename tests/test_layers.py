"""The import rules of docs/architecture.md ("Layers"), held by a test.

Every module under src/mlwright belongs to one layer of ``LAYERS``: its first name below
``mlwright`` (``data`` for ``mlwright/data/_load.py``, ``api`` for ``mlwright/api.py``,
``__init__`` for the package root). A module may import its own package and any layer
strictly below its own; never a layer beside or above it. serve and monitor may import
less than their place allows (``ONLY``). Imports are read from the source, every kind of
them: ``import mlwright.x``, ``from mlwright.x import y``, relative imports resolved against
the module's package, and a string that names an mlwright module (``importlib.import_module
("mlwright.x")``, a lazy table, a loader kept in a tuple), which is an import by another
route.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mlwright"

# Bottom to top. The first layer is shared by everything and imports nothing of mlwright;
# spec/ (the task) and artifact/ (the saved model) are read by most stages, so they sit
# low: artifact/ above learners/ because it saves and loads their files.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "_clock", "_interrupt", "_progress", "_version"),
    ("spec",),
    ("data", "features"),
    ("learners",),
    ("artifact",),
    ("search",),
    ("evaluate",),
    ("report",),
    ("recommend",),  # the recommendation lane, with its own card and store
    ("registry",),  # loads both kinds of artifact, so it sits above recommend/
    ("serve", "pipeline"),  # neither needs the other
    ("monitor", "api"),
    ("__init__",),  # re-exports api (lazily)
    ("cli",),  # the top: nothing imports it but `python -m mlwright`
    ("__main__",),
]
LAYER = {name: i for i, layer in enumerate(LAYERS) for name in layer}
BASE = set(LAYERS[0])

# Narrower than their layer allows. A served model needs only the saved model and its
# prediction side, never the search or evaluation. monitor/ holds no training logic: it
# imports pipeline/ only to retrain, through the same main job as `mlwright run`.
ONLY: dict[str, set[str]] = {
    "serve": BASE | {"spec", "data", "features", "learners", "artifact", "recommend", "registry"},
    "monitor": BASE
    | {"spec", "data", "artifact", "evaluate", "report", "registry", "serve", "pipeline"},
}

# Imports against the order in the code today, each reported to the lead (issue 18). The
# test fails when a new one appears, and when one of these is fixed (remove it here).
KNOWN_VIOLATIONS = {
    # the load-in-child program loads a recommender through importlib, by name.
    ("artifact", "mlwright.recommend"),
}

# A submodule's name; a bare "mlwright" in a string is the distribution or a salt.
_MODULE_NAME = re.compile(r"mlwright(\.[A-Za-z_]\w*)+")


@dataclass(frozen=True)
class Import:
    source: str  # the importing file, relative to the package root
    line: int
    target: str  # the dotted module imported, e.g. "mlwright.serve._app"


def layer_of(dotted: str) -> str:
    """The layer name of an mlwright module: its first name below ``mlwright``."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([root.name, *parts])


def is_module(root: Path, dotted: str) -> bool:
    """Whether ``dotted`` names a module or package in the tree at ``root``."""
    parts = dotted.split(".")
    if parts[0] != root.name:
        return False
    where = root.joinpath(*parts[1:])
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def _from_base(root: Path, path: Path, node: ast.ImportFrom) -> str:
    """The module an ``ImportFrom`` reads from, a relative one resolved against the
    importing module's package."""
    if node.level == 0:
        return node.module or ""
    package = module_name(root, path).split(".")
    if path.name != "__init__.py":
        package.pop()
    if node.level - 1 >= len(package):
        raise ValueError(f"{path}:{node.lineno}: relative import beyond {root.name}")
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _targets(root: Path, path: Path, node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = _from_base(root, path, node)
        # `from mlwright import api` imports the module mlwright.api, not the root.
        return [
            f"{base}.{alias.name}" if is_module(root, f"{base}.{alias.name}") else base
            for alias in node.names
        ]
    text = node.value if isinstance(node, ast.Constant) else None
    if isinstance(text, str) and _MODULE_NAME.fullmatch(text) and is_module(root, text):
        return [text]
    return []


def read_imports(root: Path, path: Path) -> list[Import]:
    """Every import of a module of ``root`` (the ``mlwright`` directory) in ``path``."""
    source = str(path.relative_to(root))
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        for target in _targets(root, path, node):
            if target == root.name or target.startswith(root.name + "."):
                found.append(Import(source, getattr(node, "lineno", 0), target))
    return found


def allowed(importer: str, target: str) -> bool:
    if importer == target:
        return True
    if importer in ONLY:
        return target in ONLY[importer]
    return LAYER[target] < LAYER[importer]


def all_imports(root: Path) -> list[tuple[str, Import]]:
    """(the importer's layer, the import) for every module under ``root``."""
    return [
        (layer_of(module_name(root, path)), found)
        for path in sorted(root.rglob("*.py"))
        for found in read_imports(root, path)
    ]


def violations(root: Path) -> dict[tuple[str, str], list[Import]]:
    """Imports against the order, keyed by (importer's layer, imported module)."""
    bad: dict[tuple[str, str], list[Import]] = {}
    for importer, found in all_imports(root):
        if not allowed(importer, layer_of(found.target)):
            bad.setdefault((importer, found.target), []).append(found)
    return bad


def _where(imports: list[Import]) -> str:
    return ", ".join(f"{i.source}:{i.line} -> {i.target}" for i in imports)


def test_every_module_has_a_layer() -> None:
    layers = {layer_of(module_name(SRC, path)) for path in SRC.rglob("*.py")}
    missing = layers - set(LAYER)
    assert not missing, f"modules with no place in LAYERS: {sorted(missing)}; add them"


def test_every_import_follows_the_layer_order() -> None:
    bad = violations(SRC)
    new = {key: found for key, found in bad.items() if key not in KNOWN_VIOLATIONS}
    assert not new, "imports against the layer order: " + "; ".join(
        _where(found) for found in new.values()
    )
    fixed = KNOWN_VIOLATIONS - set(bad)
    assert not fixed, f"no longer imported, remove from KNOWN_VIOLATIONS: {sorted(fixed)}"


def test_the_architecture_page_lists_the_same_layers() -> None:
    page = (SRC.parents[1] / "docs" / "architecture.md").read_text()
    section = page.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\d+\. (.+?)(?: —|$)", section, flags=re.MULTILINE)
    names = [tuple(re.findall(r"`(\w+)`", item)) for item in listed]
    assert names == LAYERS


def test_serve_never_imports_search_or_evaluate() -> None:
    reached = {
        layer_of(found.target) for importer, found in all_imports(SRC) if importer == "serve"
    }
    assert "artifact" in reached  # the reader sees serve's imports at all
    assert not reached & {"search", "evaluate"}, sorted(reached)


def test_nothing_imports_the_cli() -> None:
    importers = {
        found.source
        for importer, found in all_imports(SRC)
        if layer_of(found.target) == "cli" and importer not in ("cli", "__main__")
    }
    assert not importers


def _package(root: Path, files: dict[str, str]) -> Path:
    package = root / "mlwright"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


SMALL_TREE = {
    "__init__.py": "from .api import fit\n",
    "api.py": "from .pipeline import train\n",
    "errors.py": "",
    "pipeline.py": "def train(): ...\n",
    "spec/__init__.py": "from ._model import TaskSpec\n",
    "spec/_model.py": "from ..errors import SpecError\nclass TaskSpec: ...\n",
    "serve/__init__.py": "from . import _app\n",
    "serve/_app.py": "from .. import spec\nfrom mlwright.spec import TaskSpec\n",
}


def test_the_reader_resolves_relative_imports(tmp_path: Path) -> None:
    package = _package(tmp_path, SMALL_TREE)
    targets = {i.target for i in read_imports(package, package / "serve" / "_app.py")}
    assert targets == {"mlwright.spec"}
    targets = {i.target for i in read_imports(package, package / "serve" / "__init__.py")}
    assert targets == {"mlwright.serve._app"}
    targets = {i.target for i in read_imports(package, package / "spec" / "_model.py")}
    assert targets == {"mlwright.errors"}
    assert not violations(package)


@pytest.mark.parametrize(
    ("path", "text", "key"),
    [
        ("spec/_bad.py", "from ..serve import _app\n", ("spec", "mlwright.serve._app")),
        ("spec/_bad.py", "from ..pipeline import train\n", ("spec", "mlwright.pipeline")),
        ("errors.py", "from .spec import TaskSpec\n", ("errors", "mlwright.spec")),
        ("serve/_bad.py", "from ..pipeline import train\n", ("serve", "mlwright.pipeline")),
        ("spec/_bad.py", "import mlwright.serve\n", ("spec", "mlwright.serve")),
        (
            "spec/_bad.py",
            "import importlib\nimportlib.import_module('mlwright.serve._app')\n",
            ("spec", "mlwright.serve._app"),
        ),
        ("spec/_bad.py", "LOADER = ('mlwright.serve', 'load')\n", ("spec", "mlwright.serve")),
    ],
)
def test_the_reader_catches_an_import_against_the_order(
    tmp_path: Path, path: str, text: str, key: tuple[str, str]
) -> None:
    package = _package(tmp_path, {**SMALL_TREE, path: text})
    assert set(violations(package)) == {key}
