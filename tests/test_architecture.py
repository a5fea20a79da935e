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


def test_accounts_is_the_base_layer():
    for other in ("pipelines", "runs", "shaders"):
        assert offenders("accounts", other) == []
