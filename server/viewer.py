"""The artifact viewer: an MCP App (`io.modelcontextprotocol/ui`) at `ui://artificer/viewer`.

One self-contained HTML page (`server/viewer.html`: inline script and styles, no network) that a host
with MCP Apps support renders in a sandboxed iframe next to the results of the artifact tools. It shows
the artifact of the tool result (Markdown rendered and sanitized, Python highlighted, a diagram as the SVG
the server drew), its version timeline, two versions side by side with a line diff, revert, and the open
suggestions with accept / reject. Every action is a tool call the host proxies (`tools/call`,
`resources/read`), so it runs as the caller through the same pipeline as a model's call.

The page's Content-Security-Policy allows exactly its own inline script (by hash), inline styles and
`data:` images, and nothing else: no network, and no script that artifact content could smuggle in.
Tools link it through `_meta.ui.resourceUri`; a client without Apps support ignores the key and gets
the same results as before.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from importlib import resources as package_files

from mcp import types
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

VIEWER_URI = "ui://artificer/viewer"
VIEWER_TOOLS = frozenset({"document_agent", "python_agent", "mermaid_agent", "artifacts"})
"""The tools whose results the viewer shows."""
MAX_BYTES = 200_000

__all__ = ["APP_MIME_TYPE", "EXTENSION_ID", "VIEWER_RESOURCE", "VIEWER_TOOLS", "VIEWER_URI"]

_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@functools.cache
def viewer_html() -> str:
    """The page, its CSP carrying the SHA-256 of its one inline script."""
    html = package_files.files("artificer.server").joinpath("viewer.html").read_text(encoding="utf-8")
    scripts = _SCRIPT.findall(html)
    if len(scripts) != 1:
        raise RuntimeError("viewer.html must hold exactly one inline <script>")
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode("utf-8")).digest()).decode("ascii")
    html = html.replace("{{SCRIPT_HASH}}", f"'sha256-{digest}'")
    if len(html.encode("utf-8")) > MAX_BYTES:
        raise RuntimeError(f"viewer.html is over {MAX_BYTES} bytes")
    return html


VIEWER_RESOURCE = types.Resource(
    uri=VIEWER_URI,
    name="artifact-viewer",
    title="Artifact viewer",
    description="An MCP App that shows an artifact, its versions, diffs and open suggestions.",
    mime_type=APP_MIME_TYPE,
    _meta={"ui": {"prefersBorder": True}},
)


def read_viewer() -> types.ReadResourceResult:
    return types.ReadResourceResult(
        contents=[
            types.TextResourceContents(
                uri=VIEWER_URI,
                mime_type=APP_MIME_TYPE,
                text=viewer_html(),
                _meta={"ui": {"prefersBorder": True}},
            )
        ]
    )


def with_viewer(tool: types.Tool) -> types.Tool:
    """`tool` with `_meta.ui.resourceUri` pointing at the viewer when the viewer shows its results."""
    if tool.name not in VIEWER_TOOLS:
        return tool
    meta = dict(tool.meta or {})
    meta["ui"] = {**dict(meta.get("ui") or {}), "resourceUri": VIEWER_URI}
    return tool.model_copy(update={"meta": meta})
