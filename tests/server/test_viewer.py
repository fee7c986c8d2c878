"""The artifact viewer app (`ui://artificer/viewer`): served, linked from the artifact tools, and, in a
real browser (Debian's chromium driven by playwright-core) inside a minimal MCP Apps host page whose
tool calls run against the real server: what a person sees."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from fakes.llm import Turn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mcp_harness import in_process, make_settings

pytestmark = pytest.mark.anyio

VIEWER = "ui://artificer/viewer"
APP_MIME = "text/html;profile=mcp-app"
BROWSER_DIR = Path(__file__).resolve().parents[1] / "browser"
CHROMIUM = Path("/usr/bin/chromium")

V1 = """# Release notes

Some **bold words** and a list:

- first item
- second item

<script>window.__pwned = true</script>
<img src="x" onerror="window.__pwned = true">
[a trap](javascript:window.__pwned=true) and [a real link](https://example.com/a?b=1&c=2)

The old sentence stays here for now.
"""
V2 = V1.replace("The old sentence stays here for now.", "The new sentence replaced the old one.")


async def test_viewer_is_served_and_linked_from_the_artifact_tools(database_url, make_user, gemini) -> None:
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        read = await client.read_resource(VIEWER)
    linked = {name for name, tool in tools.items() if (tool.meta or {}).get("ui", {}).get("resourceUri")}
    assert linked == {"document_agent", "python_agent", "mermaid_agent", "artifacts"}
    assert all(tools[n].meta["ui"]["resourceUri"] == VIEWER for n in linked)
    (content,) = read.contents
    assert content.mime_type == APP_MIME
    html = content.text
    assert len(html.encode()) <= 200_000
    # self-contained: no external script, style or fetch; the CSP allows exactly the one inline script
    assert not re.search(r"<(script|link)[^>]+(src|href)=", html)
    (script,) = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in html and "default-src 'none'" in html


def _browser_skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return "needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium; .ci/run does)"
    if shutil.which("node") is None:
        return "needs node for playwright-core"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "needs playwright-core: npm ci --prefix tests/browser (.ci/run does)"
    return None


async def test_viewer_in_a_browser_renders_diffs_and_accepts(
    database_url, make_user, gemini, pool, tmp_path
) -> None:
    reason = _browser_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text=V1))
        created = await client.call_tool("document_agent", {"operation": "create", "instruction": "notes"})
        doc_id = created.structured_content["id"]
        gemini.script(Turn(text=V2))
        updated = await client.call_tool(
            "document_agent", {"operation": "update", "documentId": doc_id, "instruction": "change"}
        )
        assert not updated.is_error, updated.content
        answer = {
            "suggestions": [
                {"originalText": "some **bold words**", "suggestedText": "x", "description": "not in text"},
                {"originalText": "first item", "suggestedText": "opening item", "description": "clearer"},
            ]
        }
        gemini.script(Turn(text=json.dumps(answer)))
        suggested = await client.call_tool("document_agent", {"operation": "suggest", "documentId": doc_id})
        assert not suggested.is_error, suggested.content
        html_file = tmp_path / "viewer.html"
        html_file.write_text((await client.read_resource(VIEWER)).contents[0].text)
        report = await _drive(client, html_file, suggested.model_dump(mode="json", by_alias=True))

    assert report["pageErrors"] == []
    assert report["heading"] == "Release notes"
    assert report["strong"] == ["bold words"]
    assert report["listItems"] == ["first item", "second item"]
    assert report["links"] == ["https://example.com/a?b=1&c=2"]  # the javascript: link is text only
    assert (
        report["scriptsInArtifact"] == 0 and "<script>window.__pwned = true</script>" in report["literalText"]
    )
    assert report["pwned"] is False and report["pwnedHost"] is False
    assert report["theme"] == "dark"
    assert report["suggestionsShown"] == 1
    assert report["timeline"] == 2
    assert report["diffStats"] == "+1 −1"
    assert report["diffAdded"] == ["The new sentence replaced the old one."]
    assert report["diffRemoved"] == ["The old sentence stays here for now."]
    assert "Accepted suggestion" in report["status"]
    assert "opening item" in report["afterAccept"] and "first item" not in report["afterAccept"]
    assert "version 3" in report["metaAfterAccept"] and report["suggestionsAfterAccept"] == 0
    rows = await pool.fetch(
        'select version_number, content from "Document" where id = $1 order by version_number',
        uuid.UUID(doc_id),
    )
    assert [r["version_number"] for r in rows] == [1, 2, 3]
    assert rows[2]["content"] == rows[1]["content"].replace("first item", "opening item", 1)
    assert rows[2]["content"] != rows[1]["content"]
    assert await pool.fetchval('select bool_and("isResolved") from "Suggestion"') is True


async def _drive(client: Any, html_file: Path, tool_result: dict[str, Any]) -> dict[str, Any]:
    """Runs the host page in chromium; answers its tools/call and resources/read with the real server."""
    script = BROWSER_DIR / "viewer_host.mjs"
    report: dict[str, Any] | None = None
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    async with await anyio.open_process(
        ["node", str(script), str(html_file)], cwd=BROWSER_DIR, env=env
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        stdin = process.stdin
        await stdin.send((json.dumps(tool_result) + "\n").encode())

        async def answer(request: dict[str, Any]) -> None:
            params = request["params"]
            try:
                if request["method"] == "tools/call":
                    result = await client.call_tool(params["name"], params.get("arguments") or {})
                else:
                    result = await client.read_resource(params["uri"])
                body: dict[str, Any] = {"result": result.model_dump(mode="json", by_alias=True)}
            except Exception as error:  # the host passes the failure on to the app as a JSON-RPC error
                body = {"error": {"code": -32603, "message": str(error)}}
            await stdin.send((json.dumps({"id": request["id"], **body}) + "\n").encode())

        buffer = b""
        with anyio.fail_after(90):
            async with anyio.create_task_group() as tg:
                async for chunk in process.stdout:
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        message = json.loads(line)
                        if "request" in message:
                            tg.start_soon(answer, message["request"])
                        elif "report" in message:
                            report = message["report"]
                await process.wait()
        if report is None:
            stderr = await process.stderr.receive() if process.stderr else b""
            raise AssertionError(f"the host page gave no report (exit {process.returncode}): {stderr!r}")
    return report
