"""Installed the way users install MCP servers: the wheel `uv build --wheel` makes installs with pip into a
fresh virtual environment and serves over stdio with nothing from this checkout: migrations (package data)
run on an embedded Postgres in a temp `ARTIFICER_DATA_DIR`, with a fake Gemini key.

The wheel is built from a copy of only what `pyproject.toml` packages, so a module or data file that the
build leaves out fails here rather than on a user's machine. pip keeps its own cache (and this machine's
configured wheel folders), so a rerun installs without downloading; the test takes ~45 s, most of it pip
installing the dependencies, and it stays in CI because no other test covers the packaging.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ("pyproject.toml", "README.md", "common", "server", "agents", "storage", "sql")
"""What the build reads: the project file and the package folders `[tool.setuptools.package-dir]` maps."""
UV = shutil.which("uv") or str(Path.home() / ".local/bin/uv")


def run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **options)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{command[:4]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel pip-installed; its `bin` folder."""
    if not Path(UV).exists():
        pytest.skip("uv is not installed (CI installs it in .ci/run)")
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    for name in PACKAGED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run([UV, "build", "--wheel", "--out-dir", str(work / "dist"), str(source)], timeout=300)
    (wheel,) = (work / "dist").glob("artificer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    migrations = sorted(p.name for p in (ROOT / "sql").glob("*.sql"))
    assert migrations and all(f"artificer/sql/{name}" in names for name in migrations), (
        "migrations not shipped"
    )
    assert "artificer/sql/manifest.py" in names

    venv = work / "venv"
    base = getattr(sys, "_base_executable", sys.executable)  # a real interpreter, not this checkout's venv
    run([base, "-m", "venv", str(venv)], timeout=120)
    run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--prefer-binary", str(wheel)],
        timeout=540,
        env={
            k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PIP_NO_CACHE_DIR")
        },
    )
    return venv / "bin"


def clean_env(data_dir: Path) -> dict[str, str]:
    """The environment a user's MCP client gives the server: no checkout, no database URL, a key."""
    dropped = ("ARTIFICER_", "GOOGLE_", "OPENAI_", "ANTHROPIC_", "DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(
        ARTIFICER_DATA_DIR=str(data_dir), GOOGLE_API_KEY="fake-gemini-key", ARTIFICER_LOG_LEVEL="WARNING"
    )
    return env


async def test_the_wheel_installs_in_a_fresh_venv_and_serves_over_stdio(
    installed: Path, tmp_path: Path
) -> None:
    env = clean_env(tmp_path / "data")
    where = run(
        [str(installed / "python"), "-c", "import artificer.server.app as m; print(m.__file__)"],
        env=env,
        cwd=tmp_path,
    ).stdout.strip()
    assert where.startswith(str(installed.parent)), where  # the installed copy, not this checkout

    params = StdioServerParameters(
        command=str(installed / "artificer"), args=["serve"], env=env, cwd=tmp_path
    )
    with anyio.fail_after(180):
        async with Client(params, read_timeout_seconds=120) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert {"document_agent", "python_agent", "mermaid_agent", "artifacts", "usage"} <= tools
            prompts = {p.name for p in (await client.list_prompts()).prompts}
            assert "python_create" in prompts
            listed = await client.call_tool("artifacts", {"action": "list"})
            assert not listed.is_error, listed.content
    assert (tmp_path / "data" / "PG_VERSION").exists()  # the embedded Postgres, migrated from package data
