"""The package's shape: no import cycles, the layers import only downwards, SQL lives in the workspace,
and the command line only parses, calls the application layer and prints."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "castvoice"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The castvoice modules `name` imports anywhere in its file, function-local imports included."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
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
                groups.append(sorted(group))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return groups


def _is_package_of(parent: str, child: str) -> bool:
    return child.startswith(parent + ".")


def test_no_import_cycles():
    # A package's __init__ importing its own submodules is how packages are built, not a cycle of logic.
    cycles = [group for group in _cycles()
              if not all(any(_is_package_of(m, other) or _is_package_of(other, m) for other in group if other != m)
                         for m in group)]
    assert cycles == []


def test_only_front_ends_import_the_benchmarks():
    offenders = {name: sorted(t for t in targets if t.startswith("castvoice.bench"))
                 for name, targets in GRAPH.items()
                 if not name.startswith(("castvoice.bench", "castvoice.cli"))}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_front_ends_import_the_application_layer():
    front_ends = ("castvoice.app", "castvoice.cli", "castvoice.service", "castvoice.studio", "castvoice.bench",
                  "castvoice.__main__")
    offenders = {name: sorted(t for t in targets if t.startswith("castvoice.app"))
                 for name, targets in GRAPH.items() if not name.startswith(front_ends)}
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith("castvoice.workspace")))
def test_sql_lives_in_the_workspace(name):
    source = MODULES[name].read_text(encoding="utf-8")
    assert ".execute(" not in source and ".executemany(" not in source and ".executescript(" not in source


def test_the_command_line_calls_the_application_layer():
    allowed = ("castvoice.app", "castvoice.cli", "castvoice.bench", "castvoice.console", "castvoice.errors",
               "castvoice.progress", "castvoice.workspace", "castvoice.service.server", "castvoice.studio.server")
    offenders = {name: sorted(t for t in targets if not t.startswith(allowed))
                 for name, targets in GRAPH.items() if name.startswith("castvoice.cli")}
    assert {k: v for k, v in offenders.items() if v} == {}
    for name, path in MODULES.items():
        if name.startswith("castvoice.cli"):
            source = path.read_text(encoding="utf-8")
            assert not re.search(r"/ [\"']", source), f"{name} decides where files go"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "castvoice.__main__"))
def test_every_module_imports(name):
    importlib.import_module(name)
