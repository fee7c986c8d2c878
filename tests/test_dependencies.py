"""pyproject.toml declares exactly what the code imports: nothing imported is undeclared, nothing declared
is unused. The code's third-party imports are runtime dependencies; the tests' own are in the dev group."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ("common", "server", "agents", "storage", "sql", "bench")
DEV_TOOLS = {"pytest-timeout", "ruff", "mypy"}  # run, never imported
OPTIONAL_IMPORTS = {"py_mini_racer": "mini-racer"}
"""Modules of the optional extras (`artificer[v8]`), which a plain `uv sync` does not install."""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return normalize(match[0])


def imported_modules(folders: list[Path]) -> dict[str, Path]:
    """Top-level modules imported by the Python files under `folders` (absolute imports only)."""
    modules: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    modules.setdefault(name.partition(".")[0], path)
    return modules


def local_modules() -> set[str]:
    """The tests' own top-level modules (`fakes`, `mcp_harness` …): pytest puts the folders of the tests
    (those without an __init__.py) on sys.path."""
    local: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        package = path.parent
        if not (package / "__init__.py").exists():
            local.add(path.stem)
        elif not (package.parent / "__init__.py").exists():
            local.add(package.name)
    return local


def third_party(modules: dict[str, Path]) -> dict[str, tuple[set[str], Path]]:
    """module -> (the distributions that provide it, a file importing it)."""
    provided = packages_distributions()
    local = local_modules()
    found: dict[str, tuple[set[str], Path]] = {}
    for module, path in modules.items():
        if module in sys.stdlib_module_names or module == "artificer" or module in local:
            continue
        distributions = {normalize(name) for name in provided.get(module, [])}
        if not distributions and module in OPTIONAL_IMPORTS:
            distributions = {OPTIONAL_IMPORTS[module]}
        assert distributions, f"{path} imports {module}, which no installed distribution provides"
        found[module] = (distributions, path)
    return found


def declared() -> tuple[set[str], set[str]]:
    """(runtime: [project] dependencies and the optional extras, the dev group)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = [r for extra in project["project"].get("optional-dependencies", {}).values() for r in extra]
    runtime = {requirement_name(r) for r in [*project["project"]["dependencies"], *extras]}
    dev = {requirement_name(r) for r in project["dependency-groups"]["dev"]}
    return runtime, dev


def test_runtime_dependencies_are_what_the_code_imports() -> None:
    runtime, _ = declared()
    used = third_party(imported_modules([ROOT / folder for folder in CODE]))
    undeclared = {m: str(path) for m, (dists, path) in used.items() if not dists & runtime}
    assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"
    unused = {d for d in runtime if not any(d in dists for dists, _ in used.values())}
    assert not unused, f"declared in [project] dependencies but imported nowhere: {sorted(unused)}"


def test_the_tests_imports_are_declared_and_the_dev_group_is_used() -> None:
    runtime, dev = declared()
    used = third_party(imported_modules([ROOT / "tests"]))
    undeclared = {m: str(path) for m, (dists, path) in used.items() if not dists & (runtime | dev)}
    assert not undeclared, f"imported by the tests but declared nowhere: {undeclared}"
    unused = {d for d in dev - DEV_TOOLS if not any(d in dists for dists, _ in used.values())}
    assert not unused, f"in the dev group but imported by no test: {sorted(unused)}"
