"""Dependencies point one way: server → agents → storage → common. Checked on the source's imports, so a
new upward import fails here before review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "common": ("artificer.server", "artificer.agents", "artificer.storage", "asyncpg"),
    "storage": ("artificer.server", "artificer.agents"),
    "agents": ("artificer.server", "artificer.storage", "asyncpg"),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports (absolute names), with its line, type-checking-only imports included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def violations(folder: str) -> list[str]:
    banned = FORBIDDEN[folder]
    bad: list[str] = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, module in imported_modules(path):
            if any(module == b or module.startswith(b + ".") for b in banned):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_imports_point_one_way(folder: str) -> None:
    assert violations(folder) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from artificer.storage import documents\nimport asyncpg.pool\n")
    assert [m for _, m in imported_modules(module)] == ["artificer.storage.documents", "asyncpg.pool"]
