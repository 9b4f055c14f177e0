"""Imports point one way, down (docs/architecture.md, "Layers").

Every module under magic_cube/ is parsed (not imported) and each of its imports of our own
modules, at the top or inside a function, is checked against what its layer may use.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "magic_cube"

# The layers above the engine: they reach data only through it.
UPPER = ("api", "console", "worker", "shopper", "cli", "demo", "hammer")
# layer -> the layers of ours it must never import
FORBIDDEN: dict[str, set[str]] = {
    **{layer: {"store", "rules"} for layer in UPPER},
    "engine": {*UPPER, "app"},
    "store": {"engine", "catalog", "rules", *UPPER, "app"},
    "catalog": {"engine", "store", *UPPER, "app"},
    "scenarios": {"engine", "store", *UPPER, "app"},
    "scaffold": {"engine", "store", *UPPER, "app"},
    # forecasts run the pure rules on catalog templates: nothing else of ours but errors
    "forecast": {"engine", "store", "scenarios", "scaffold", "settings", "metrics", "logs",
                 *UPPER, "app"},
}
# Modules that measure the store itself, and so must see it: the hammer's bare-SQL floor (the
# same statements with none of our code) and its statement counter (it wraps transactions).
MEASURES_THE_STORE = {"magic_cube.hammer.floor", "magic_cube.hammer.statements"}
# Rules are pure: nothing of ours but the base error class.
RULES_MAY_IMPORT = {"rules", "errors"}


def layer_of(module: str) -> str:
    """`magic_cube.api.participants` -> `api`; `magic_cube.cli` -> `cli`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_imports(path: Path, name: str) -> list[tuple[int, str]]:
    """(line, module) of every import of a magic_cube module in the file of module `name`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # `from magic_cube import store` names a layer too
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names
                      if base == "magic_cube"]
    return [(line, name) for line, name in found
            if name == "magic_cube" or name.startswith("magic_cube.")]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_checked():
    layers = {layer_of(module_name(p)) for p in MODULES}
    assert {"api", "console", "worker", "engine", "store", "catalog", "rules"} <= layers


def wrong_imports(path: Path, package: Path = PACKAGE) -> list[str]:
    name = module_name(path, package)
    layer = layer_of(name)
    wrong = []
    for line, imported in our_imports(path, name):
        target = layer_of(imported)
        if not target or target == layer:
            continue
        if layer == "rules" and target not in RULES_MAY_IMPORT:
            wrong.append(f"line {line}: {imported} (rules import only magic_cube.errors)")
        elif target == "store" and name in MEASURES_THE_STORE:
            continue
        elif target in FORBIDDEN.get(layer, set()):
            wrong.append(f"line {line}: {imported} ({layer} must not import {target})")
    return wrong


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path):
    assert wrong_imports(path) == []


@pytest.mark.parametrize(("where", "text", "bad"), [
    ("console/page.py", "def f():\n    from magic_cube.store.records import Merchant\n", 1),
    ("api/view.py", "from magic_cube import rules\n", 1),
    ("api/view.py", "from ..engine import Engine\nfrom ..store import open_store\n", 1),
    ("store/thing.py", "import magic_cube.rules.model\n", 1),
    ("rules/pure.py", "from magic_cube.errors import MagicCubeError\n", 0),
    ("rules/pure.py", "from magic_cube.settings import Settings\n", 1),
    ("catalog/c.py", "from magic_cube.rules.jsonlogic import truthy\n", 0),
    ("engine/e.py", "from magic_cube.store import Tx\nfrom magic_cube.api import x\n", 1),
])
def test_the_checker_refuses_what_it_must(tmp_path, where, text, bad):
    package = tmp_path / "magic_cube"
    path = package / where
    path.parent.mkdir(parents=True)
    path.write_text(text)
    assert len(wrong_imports(path, package)) == bad


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the modules of ours it imports (`from pkg import mod` names the module)."""
    files = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files
                            else node.module for a in node.names}
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_round_a_circle():
    # A circle makes import order matter and hides which module owns a name; a package's
    # __init__ gathering its modules' names is no circle, as long as they don't import it.
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_one(tmp_path):
    package = tmp_path / "magic_cube"
    (package / "a").mkdir(parents=True)
    (package / "a" / "x.py").write_text("from magic_cube.a.y import f\n")
    (package / "a" / "y.py").write_text("def f():\n    from magic_cube.a import x\n")
    (package / "a" / "z.py").write_text("from magic_cube.a.x import g\n")
    assert circles(import_graph(package)) == [["magic_cube.a.x", "magic_cube.a.y"]]
