"""Smoke test with the MCP Inspector CLI over stdio (skipped when `npx` is missing, or within seconds when
the npm registry cannot be reached to install the Inspector).

The command it runs (Node 20 resolves @modelcontextprotocol/inspector 0.15.0):

    npx -y @modelcontextprotocol/inspector --cli -e DATABASE_URL=… -e ARTIFICER_USER_ID=… \
        -e GOOGLE_API_KEY=… -e GOOGLE_BASE_URL=… artificer serve --method tools/list
    npx -y @modelcontextprotocol/inspector --cli … artificer serve --method tools/call \
        --tool-name document_agent --tool-arg operation=create --tool-arg instruction=Hello
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import anyio
import httpx2
import pytest
from fakes.llm import Turn
from mcp_harness import count_rows, server_env
from test_transports import ARTIFICER

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("npx") is None, reason="npx is not installed"),
]

INSPECTOR = ["npx", "-y", "@modelcontextprotocol/inspector", "--cli"]
PROBE_TIMEOUT = 5.0


def npm_registry() -> str:
    """The registry npx installs from (npm's configuration: .npmrc, npm_config_registry …)."""
    try:
        configured = subprocess.run(
            ["npm", "config", "get", "registry"], capture_output=True, text=True, timeout=15, check=False
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        configured = ""
    return configured if configured.startswith("http") else "https://registry.npmjs.org/"


@pytest.fixture(scope="session", autouse=True)  # session: it runs before the database fixtures
def npm_registry_reachable() -> None:
    """Skip at once when the registry does not answer: npx would otherwise hang until its own timeouts."""
    registry = npm_registry()
    url = registry.rstrip("/") + "/@modelcontextprotocol%2Finspector"
    try:
        answer = httpx2.get(
            url, timeout=PROBE_TIMEOUT, headers={"Accept": "application/vnd.npm.install-v1+json"}
        )
    except httpx2.HTTPError as error:
        pytest.skip(f"the npm registry {registry} is unreachable ({type(error).__name__}: {error})")
    if answer.status_code != 200:  # (a proxy may answer for a registry that is not there)
        pytest.skip(f"the npm registry {registry} does not serve the Inspector (HTTP {answer.status_code})")


async def inspector(env: dict[str, str], *method: str) -> dict:
    server_vars = {k: v for k, v in env.items() if k.startswith(("DATABASE_URL", "ARTIFICER_", "GOOGLE_"))}
    command = [*INSPECTOR]
    for key, value in server_vars.items():
        command += ["-e", f"{key}={value}"]
    command += [ARTIFICER, "serve", *method]
    with anyio.fail_after(180):
        result = await anyio.run_process(command, check=False, env={**os.environ, "npm_config_yes": "true"})
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return json.loads(result.stdout)


async def test_inspector_lists_and_calls_over_stdio(database_url, make_user, gemini) -> None:
    user = await make_user()
    env = server_env(database_url, user, gemini)
    listed = await inspector(env, "--method", "tools/list")
    names = [tool["name"] for tool in listed["tools"]]
    assert "document_agent" in names
    gemini.script(Turn(text="# Hello\n\nFrom the Inspector."))
    called = await inspector(
        env,
        "--method",
        "tools/call",
        "--tool-name",
        "document_agent",
        "--tool-arg",
        "operation=create",
        "--tool-arg",
        "instruction=Hello",
    )
    assert called.get("isError") is not True, called
    assert called["structuredContent"]["content"] == "# Hello\n\nFrom the Inspector."
    assert await count_rows(database_url, "Document") == 1
