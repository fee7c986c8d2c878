"""A saved diagram version keeps the SVG Mermaid drew (saved in the same statement as the version), served as
the resources artifact://{id}/v/{n}/diagram.svg and …/diagram.png to its owner only; the tool result links
them, and embeds a small PNG when the settings ask. Real Postgres, Mermaid's engine, the fake Gemini."""

from __future__ import annotations

import base64
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fakes.llm import Turn
from mcp.shared.exceptions import MCPError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from mcp_harness import in_process, make_settings

pytestmark = pytest.mark.anyio

V1 = "flowchart LR\n  A[Start] --> B{Ready?}\n  B -->|yes| C((Done))"
V2 = "sequenceDiagram\n  Alice->>Bob: Ready?\n  Bob-->>Alice: Yes"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def svg_root(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
    return root


def svg_text(root: ET.Element) -> str:
    return " ".join(t for t in root.itertext() if t.strip())


async def test_saved_versions_serve_their_drawing_to_the_owner_only(
    database_url, make_user, gemini, pool
) -> None:
    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{rateLimit,perMinute}', '100') "
        "where config_key in ('mermaid_agent_google', 'python_agent_google')"
    )
    user = await make_user()
    other = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text=V1))
        created = await client.call_tool(
            "mermaid_agent", {"operation": "create", "instruction": "Release", "title": "Release"}
        )
        assert not created.is_error, created.content
        diagram_id = created.structured_content["id"]
        base = f"artifact://{diagram_id}/v/1"
        links = {str(c.uri): c for c in created.content if c.type == "resource_link"}
        assert set(links) == {base, f"{base}/diagram.svg", f"{base}/diagram.png"}
        assert links[f"{base}/diagram.svg"].mime_type == "image/svg+xml"
        assert links[f"{base}/diagram.png"].mime_type == "image/png"
        assert not [c for c in created.content if c.type == "image"], "no image unless the setting asks"

        svg = await client.read_resource(f"{base}/diagram.svg")
        (content,) = svg.contents
        assert content.mime_type == "image/svg+xml"
        assert "Ready?" in svg_text(svg_root(content.text))
        stored = await pool.fetchval(
            "select svg from document_renderings where document_id = $1 and version_number = 1",
            uuid.UUID(diagram_id),
        )
        assert stored == content.text, "the SVG served is the one saved with the version"

        png = await client.read_resource(f"{base}/diagram.png")
        (content,) = png.contents
        assert content.mime_type == "image/png"
        data = base64.b64decode(content.blob)
        assert data.startswith(PNG_SIGNATURE) and len(data) > 100

        # update: the new version has its own drawing; the old one keeps its own
        gemini.script(Turn(text=V2))
        updated = await client.call_tool(
            "mermaid_agent", {"operation": "update", "diagramId": diagram_id, "instruction": "sequence"}
        )
        assert not updated.is_error, updated.content
        v2 = svg_root(
            (await client.read_resource(f"artifact://{diagram_id}/v/2/diagram.svg")).contents[0].text
        )
        assert "Alice" in svg_text(v2)
        v1 = svg_root((await client.read_resource(f"{base}/diagram.svg")).contents[0].text)
        assert "Alice" not in svg_text(v1) and "Ready?" in svg_text(v1)

        # revert copies version 1 forward, drawing and all
        reverted = await client.call_tool("mermaid_agent", {"operation": "revert", "diagramId": diagram_id})
        assert not reverted.is_error, reverted.content
        assert f"artifact://{diagram_id}/v/3/diagram.svg" in {
            str(c.uri) for c in reverted.content if c.type == "resource_link"
        }
        v3 = svg_root(
            (await client.read_resource(f"artifact://{diagram_id}/v/3/diagram.svg")).contents[0].text
        )
        assert "Ready?" in svg_text(v3) and "Alice" not in svg_text(v3)

        # code artifacts have no drawing; nor has a version that does not exist
        gemini.script(Turn(text="print('hi')"))
        code = await client.call_tool("python_agent", {"operation": "create", "instruction": "hi"})
        assert not [c for c in code.content if c.type == "resource_link" and "diagram" in str(c.uri)]
        missing = {
            f"artifact://{code.structured_content['id']}/v/1/diagram.svg": "not a diagram",
            f"artifact://{diagram_id}/v/9/diagram.png": "not found",
            f"artifact://{uuid.uuid4()}/v/1/diagram.svg": "not found",
        }
        for uri, expected in missing.items():
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
            assert expected in str(caught.value), (uri, str(caught.value))

        templates = {t.uri_template: t for t in (await client.list_resource_templates()).resource_templates}
        assert templates["artifact://{id}/v/{version}/diagram.svg"].mime_type == "image/svg+xml"
        assert templates["artifact://{id}/v/{version}/diagram.png"].mime_type == "image/png"

    # another user: simply not found, for both drawings (RLS), and the same words as a missing one
    async with in_process(make_settings(database_url, other, gemini)) as client:
        for fmt in ("svg", "png"):
            with pytest.raises(MCPError) as caught:
                await client.read_resource(f"{base}/diagram.{fmt}")
            assert "not found (it does not exist or is not yours)" in str(caught.value)


async def test_the_embed_setting_puts_a_small_png_in_the_result(database_url, make_user, gemini) -> None:
    user = await make_user()
    async with in_process(
        make_settings(database_url, user, gemini, diagram_inline_png_max_bytes=5_000_000)
    ) as client:
        gemini.script(Turn(text=V1))
        created = await client.call_tool("mermaid_agent", {"operation": "create", "instruction": "Release"})
        assert not created.is_error, created.content
        (image,) = [c for c in created.content if c.type == "image"]
        assert image.mime_type == "image/png"
        assert base64.b64decode(image.data).startswith(PNG_SIGNATURE)
        # the links are still there
        assert len([c for c in created.content if c.type == "resource_link"]) == 3
    async with in_process(
        make_settings(database_url, user, gemini, diagram_inline_png_max_bytes=100)
    ) as client:
        gemini.script(Turn(text=V1))
        created = await client.call_tool("mermaid_agent", {"operation": "create", "instruction": "Release"})
        assert not created.is_error, created.content
        assert not [c for c in created.content if c.type == "image"], "a PNG over the limit is not embedded"


async def test_a_version_saved_without_a_drawing_is_drawn_on_demand(
    database_url, make_user, gemini, pool
) -> None:
    """Versions saved before drawings were kept (or written by another client) have no row of their own."""
    user = await make_user()
    doc_id = uuid.uuid4()
    await pool.execute(
        'insert into "Document" (id, "createdAt", title, kind, content, user_id, version_number) '
        "values ($1, now() - interval '1 hour', 'Old', 'mermaid code', $2, $3, 1), "
        "($1, now(), 'Old', 'mermaid code', 'graph XY', $3, 2)",
        doc_id,
        V2,
        user,
    )
    async with in_process(make_settings(database_url, user, gemini)) as client:
        svg = await client.read_resource(f"artifact://{doc_id}/v/1/diagram.svg")
        assert "Alice" in svg_text(svg_root(svg.contents[0].text))
        with pytest.raises(MCPError) as caught:
            await client.read_resource(f"artifact://{doc_id}/v/2/diagram.png")
        assert "Mermaid cannot draw version 2" in str(caught.value)
    assert await pool.fetchval("select count(*) from document_renderings") == 0, "reading writes nothing"
