"""No import cycle among the project's own modules (flows, tasks, mlops_core).

The graph is built from the source with ``ast``, not by importing: an edge
``a -> b`` is an ``import`` or ``from ... import`` in module ``a`` that loads
module ``b`` (or one of ``b``'s parent packages, which Python loads first).

Two kinds of edge count:

- module-level imports run when the module is first imported; a cycle among
  them makes the import order decide whether a name exists yet.
- imports inside a function run when it is called; the project uses them to
  keep ``mlops --help`` and the CLI instant, never to hide a cycle, so a cycle
  through them fails as well.

Imports under ``if TYPE_CHECKING:`` never run and are left out. Dynamic imports
(``importlib.import_module`` with a computed name) are not seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("flows", "tasks", "mlops_core")


@dataclass(frozen=True)
class Edge:
    """One import: ``source`` loads ``target`` at ``line``, at module level or in a function."""

    source: str
    target: str
    line: int
    in_function: bool


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import that can run, with whether it sits inside a function."""

    def visit(
        node: ast.AST, in_function: bool
    ) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(node, ast.If) and _is_type_checking(node.test) and child in node.body:
                continue  # never runs
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, in_function
            inside = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            yield from visit(child, inside)

    yield from visit(tree, False)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """Dotted names the import loads (a ``from`` import's names may be submodules)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def import_graph(sources: Mapping[str, tuple[str, bool]]) -> list[Edge]:
    """Edges among ``sources`` (module name -> (source text, is a package))."""
    edges: list[Edge] = []
    for module, (text, is_package) in sources.items():
        for node, in_function in _imports(ast.parse(text)):
            targets: set[str] = set()
            for name in _imported(node, module, is_package):
                parts = name.split(".")
                # Loading a.b.c loads the packages a and a.b first.
                targets.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
            edges.extend(
                Edge(module, target, node.lineno, in_function)
                for target in sorted(targets & sources.keys() - {module})
            )
    return edges


def find_cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(groups)


def _describe(groups: list[list[str]], edges: list[Edge]) -> str:
    lines = []
    for group in groups:
        members = set(group)
        lines.append(" <-> ".join(group))
        lines.extend(
            f"    {e.source}:{e.line} imports {e.target}"
            f"{' (in a function)' if e.in_function else ''}"
            for e in edges
            if e.source in members and e.target in members
        )
    return "\n".join(lines)


def project_sources(root: Path = ROOT) -> dict[str, tuple[str, bool]]:
    return {
        module_name(path, root): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
    }


@pytest.fixture(scope="module")
def project_edges() -> list[Edge]:
    return import_graph(project_sources())


def test_the_graph_covers_the_project(project_edges: list[Edge]) -> None:
    sources = {e.source for e in project_edges}
    assert {"flows.cli", "flows.cycle", "tasks.steps", "tasks.validation"} <= sources
    edges = {(e.source, e.target, e.in_function) for e in project_edges}
    assert ("tasks.validation", "tasks.gx_adapter", False) in edges
    assert ("flows.cli", "flows.cycle", True) in edges


def test_no_cycle_among_module_level_imports(project_edges: list[Edge]) -> None:
    module_level = [e for e in project_edges if not e.in_function]
    cycles = find_cycles(module_level)
    assert not cycles, "import cycles at module level:\n" + _describe(cycles, module_level)


def test_no_cycle_even_through_imports_inside_functions(project_edges: list[Edge]) -> None:
    cycles = find_cycles(project_edges)
    assert not cycles, "import cycles:\n" + _describe(cycles, project_edges)


# -------------------------------------------------------- the check can fail
def test_a_cycle_through_a_function_level_import_is_found() -> None:
    sources = {
        "flows": ("", True),
        "flows.cli": ("from flows.reporting import report\n", False),
        "flows.reporting": ("def report():\n    from flows.cli import check\n", False),
        "tasks": ("", True),
        "tasks.steps": ("import flows.cli\n", False),
    }
    edges = import_graph(sources)

    assert find_cycles([e for e in edges if not e.in_function]) == []
    assert find_cycles(edges) == [["flows.cli", "flows.reporting"]]
    assert "flows.reporting:2 imports flows.cli (in a function)" in _describe(
        find_cycles(edges), edges
    )


def test_relative_submodule_and_package_imports_are_edges() -> None:
    sources = {
        "tasks": ("", True),
        "tasks.a": ("from . import b\nfrom .c import thing\n", False),
        "tasks.b": ("from tasks import a\n", False),
        "tasks.c": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import tasks.a\n",
            False,
        ),
    }
    edges = import_graph(sources)

    assert {(e.source, e.target) for e in edges} == {
        ("tasks.a", "tasks"),
        ("tasks.a", "tasks.b"),
        ("tasks.a", "tasks.c"),
        ("tasks.b", "tasks"),
        ("tasks.b", "tasks.a"),
    }
    assert find_cycles(edges) == [["tasks.a", "tasks.b"]]
