"""The arrows that must never exist (shared whiteboard): the engine and publishing know no API surface."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse(path: Path) -> ast.Module:
    """ast.parse, retried: CPython 3.11 before 3.11.8 keeps the AST converter's recursion depth in state shared
    by every thread, so a parse in a leftover thread of an earlier test (torch and inspect parse source too) can
    make this one fail with "AST constructor recursion depth mismatch" (python/cpython gh-106905)."""
    for attempt in range(5):
        try:
            return ast.parse(path.read_text(), filename=str(path))
        except SystemError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offenders(folder: str, forbidden: str, skip: str | None = None) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if skip and rel.startswith(skip) or "/migrations/" in rel:
            continue
        bad = sorted(m for m in imported_modules(path) if m == forbidden or m.startswith(forbidden + "."))
        if bad:
            found.append(f"{rel}: {', '.join(bad)}")
    return found


def test_the_engine_imports_no_surface():
    assert offenders("runs", "runs.api", skip="runs/api/") == []


def test_publishing_imports_no_surface():
    assert offenders("pipelines", "runs.api") == []


def test_nodes_know_no_run():
    assert offenders("pipelines/nodes", "runs") == []
    assert offenders("pipelines/ml", "runs") == []


def test_training_knows_no_surface():
    assert offenders("training", "runs.api") == []
    assert offenders("pipelines/ml", "training") == []  # model code knows no training job


def test_accounts_is_the_base_layer():
    for other in ("pipelines", "runs", "shaders"):
        assert offenders("accounts", other) == []


def test_publishing_knows_no_run():
    """surfaces -> runs -> pipelines -> nodes -> ml: what pipelines needs of runs is registered by runs."""
    assert offenders("pipelines", "runs") == []


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def import_graph(folder: str) -> dict[str, set[str]]:
    """Module -> the modules of ``folder`` it imports, at the top or inside a function alike (an import inside
    a function still makes a cycle, it only hides it from the interpreter)."""
    modules = {
        module_name(p): p for p in (ROOT / folder).rglob("*.py") if "/migrations/" not in p.as_posix()
    }
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in imported_modules(path) if m in modules and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_runs_has_no_import_cycle():
    graph = import_graph("runs")
    assert "runs.engine" in graph and "runs.api.fizzly" in graph
    assert find_cycle(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []
