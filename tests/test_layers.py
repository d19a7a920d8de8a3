"""The folder tree is the layer diagram: every import points down a layer, no module cycles.

This test is the source of truth for what may import what (docs/architecture.md
draws the same picture). Imports inside functions count; imports under
``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "actors_wf"

# Bottom to top; a module directly in actors_wf/ is a face (the top layer).
LAYERS = ("_core", "_validation", "_registry", "_state", "_observe", "_runtime")
FACES = len(LAYERS)


def layer_of(module: str) -> int:
    """The layer of ``actors_wf.X.Y``: its package's place in LAYERS, or the faces'."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return FACES


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package under ``root``, by dotted name."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports when it runs."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _running(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            # `from pkg import name`: name may be a module of pkg, or a name in it.
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        found.update(name for name in names if name in known and name != module)
    return found


def _running(tree: ast.AST):
    """Every node but those under ``if TYPE_CHECKING:``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules it imports."""
    known = modules(root)
    return {module: imports(module, path, known) for module, path in known.items()}


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Every import that points up a layer, as ``a -> b``."""
    return sorted(
        f"{src} ({_name(layer_of(src))}) -> {dst} ({_name(layer_of(dst))})"
        for src, targets in edges.items()
        for dst in targets
        if layer_of(dst) > layer_of(src)
    )


def _name(layer: int) -> str:
    return LAYERS[layer] if layer < FACES else "faces"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other, round and round (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_import_points_down_a_layer():
    assert upward(graph(PACKAGE)) == []


def test_no_modules_import_each_other_in_a_circle():
    assert cycles(graph(PACKAGE)) == []


def test_every_module_lives_in_a_layer_package_or_is_a_face():
    faces = {"actors_wf", "actors_wf._cli", "actors_wf._engine", "actors_wf._job_manager"}
    faces |= {"actors_wf._orchestrator", "actors_wf.testing", "actors_wf._handle"}
    faces |= {"actors_wf._server", "actors_wf._client", "actors_wf._async_client"}
    faces |= {"actors_wf._cli_remote", "actors_wf._cli_run"}
    kit = {m for m in modules(PACKAGE) if m.startswith("actors_wf.testing.")}  # a face package
    loose = {m for m in modules(PACKAGE) if layer_of(m) == FACES} - faces - kit
    assert not loose, f"modules loose at the top, in no layer: {sorted(loose)}"


@pytest.mark.parametrize(
    ("source", "wanted"),
    [
        ("from .._runtime._job_actor import JobActor\n", "upward"),
        ("def f():\n    from .._engine import Engine\n", "upward"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .._engine import E\n",
            "",
        ),
        ("from . import _b\n", "cycle"),
    ],
)
def test_the_checks_catch_what_they_are_for(tmp_path, source, wanted):
    root = tmp_path / "actors_wf"
    for pkg in ("", "_core", "_runtime"):
        (root / pkg).mkdir(exist_ok=True)
        (root / pkg / "__init__.py").write_text("")
    (root / "_engine.py").write_text("")
    (root / "_runtime" / "_job_actor.py").write_text("")
    (root / "_core" / "_a.py").write_text(source.replace("from .._runtime", "from .._runtime"))
    (root / "_core" / "_b.py").write_text("from . import _a\n")
    edges = graph(root)
    assert bool(upward(edges)) == (wanted == "upward"), upward(edges)
    assert bool(cycles(edges)) == (wanted == "cycle"), cycles(edges)
