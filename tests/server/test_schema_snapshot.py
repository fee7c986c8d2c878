"""Every listed tool's input and output schema, per provider, against a snapshot in the repository.

The tools come from the seeded admin_config and model_config rows, as an MCP client sees them (`tools/list`
on an in-process server with ARTIFICER_PROVIDER set). The openai and anthropic agent rows are seeded
disabled; the test enables them (nothing else changes), so their schemas are covered too. A schema change
fails here and shows in review as a change of tests/server/snapshots/tool_schemas_<provider>.json. After
an intended change, write the snapshots again with

    ARTIFICER_UPDATE_SNAPSHOTS=1 uv run pytest tests/server/test_schema_snapshot.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from artificer.common.providers import PROVIDERS
from fakes.gemini import FakeGemini  # type: ignore[import-not-found]
from mcp_harness import in_process, make_settings  # type: ignore[import-not-found]

pytestmark = pytest.mark.anyio

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("ARTIFICER_UPDATE_SNAPSHOTS") == "1"


def render(schemas: dict[str, Any]) -> str:
    return json.dumps(schemas, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_every_provider_has_a_snapshot() -> None:
    assert sorted(PROVIDERS) == ["anthropic", "google", "openai"]
    if not UPDATE:
        assert sorted(path.name for path in SNAPSHOTS.glob("tool_schemas_*.json")) == sorted(
            f"tool_schemas_{provider}.json" for provider in PROVIDERS
        )


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_tool_schemas_match_the_snapshot(
    database_url: str, make_user, gemini: FakeGemini, pool, provider: str
) -> None:
    user = await make_user()
    await pool.execute(
        "update admin_config set config_data = config_data || '{\"enabled\": true}' "
        "where config_key like '%\\_' || $1 and config_data ? 'enabled'",
        provider,
    )
    settings = make_settings(database_url, user, gemini, provider=provider)
    async with in_process(settings) as client:
        tools = (await client.list_tools()).tools
    assert tools, f"no tool is listed for {provider}"
    schemas = {
        tool.name: {"inputSchema": tool.input_schema, "outputSchema": tool.output_schema} for tool in tools
    }
    path = SNAPSHOTS / f"tool_schemas_{provider}.json"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(render(schemas))
        return
    assert path.exists(), f"no snapshot {path}: write it with ARTIFICER_UPDATE_SNAPSHOTS=1"
    expected = json.loads(path.read_text())
    assert sorted(schemas) == sorted(expected), f"the {provider} tools changed; see {path}"
    for name, schema in schemas.items():
        assert schema == expected[name], (
            f"the {provider} schema of {name} changed; if intended, write the snapshots again with "
            "ARTIFICER_UPDATE_SNAPSHOTS=1"
        )
    assert render(schemas) == path.read_text()  # also the order of the tools, and the file's form
