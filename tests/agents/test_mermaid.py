"""The mermaid agent: its syntax check (Mermaid's own parser, through `artificer.agents.diagrams`), and the
tool through the MCP server (in-process client, real Postgres, fake Gemini on 127.0.0.1)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from artificer.agents.mermaid import syntax_problem
from fakes.gemini import FakeGemini
from fakes.llm import Turn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from mcp_harness import count_rows, in_process, make_settings, sent_prompts, tool_config

V1 = "flowchart LR\n  A[Start] --> B{Ready?}\n  B -->|yes| C((Done))"
V2 = "flowchart LR\n  A[Start] --> B{Ready?}\n  B -->|yes| C((Done))\n  B -->|no| A"
V3 = 'flowchart LR\n  A["Start (now)"] --> B{Ready?}\n  B -->|yes| C((Done))\n  B -->|no| A'
BROKEN = "flowchart LR\n  A[Start --> B{Ready?}"

VALID = {
    "flowchart": V3,
    "graph on one line": "graph TD; A-->B",
    "asymmetric shape and edge text": "flowchart TD\n  A>Flag] -- go --> B[(Database)]",
    "front matter and directives": "---\ntitle: T\n---\n%%{init: {'theme': 'dark'}}%%\n"
    "%% note\ngraph LR\n  A-->B",
    "sequence with async arrows": "sequenceDiagram\n  Alice->>John: Hello (John\n"
    "  John--)Alice: Hi\n  Alice-)John: Bye",
    "class with block and lollipop": "classDiagram\n  Animal <|-- Duck\n  Animal : +mate()\n"
    "  class Duck{\n    +swim()\n  }\n  Foo ()-- Bar",
    "state": "stateDiagram-v2\n  [*] --> Still\n  Still --> Moving : push (hard\n"
    "  state Moving {\n    a --> b\n  }",
    "er cardinalities": "erDiagram\n  CUSTOMER ||--o{ ORDER : places\n  CUSTOMER }|..|{ ADDRESS : uses\n"
    "  CUSTOMER {\n    string name\n  }",
    "pie": 'pie title Pets\n  "Dogs" : 386\n  "Cats" : 85',
    "gantt free text": "gantt\n  title Plan (draft\n  dateFormat YYYY-MM-DD\n"
    "  section S\n  Task :a1, 2024-01-01, 3d",
    "mindmap shapes": "mindmap\n  root((Topic))\n    a)cloud(\n    b))bang((",
    "gitGraph": 'gitGraph\n  commit id: "Alpha"\n  branch dev\n  checkout dev\n  commit',
    "C4": 'C4Context\n  Person(a, "Customer", "A customer (retail)")\n'
    '  Boundary(b, "Bank") {\n    System(s, "Banking")\n  }',
    "xychart": "xychart-beta\n  x-axis [jan, feb]\n  bar [1, 2]",
    "sankey": "sankey-beta\nA,B,10",
    "journey": "journey\n  title Day\n  section Work\n    Code: 5: Me",
    "timeline": "timeline\n  title History\n  2004 : Facebook",
    "quadrant": "quadrantChart\n  title Reach\n  Campaign A: [0.3, 0.6]",
    # The old heuristic rejected this ("nothing after"); Mermaid accepts it and draws an empty chart.
    "header only": "flowchart TD",
}
# The expected texts are Mermaid's own messages (the old heuristic's wording is gone with it).
INVALID = {
    "no diagram type": ("A --> B", "No diagram type detected"),
    "prose first": ("Here is your diagram:\ngraph TD\n  A-->B", "No diagram type detected"),
    "wrong case": ("Flowchart LR\n  A-->B", "No diagram type detected"),
    "bad direction": ("graph XY\n  A-->B", "Lexical error on line 1"),
    "blank": ("  \n", "empty"),
    "only a comment": ("%% nothing here\n", "No diagram type detected"),
    "unclosed bracket": (BROKEN, "Parse error on line 2"),
    "crossed brackets": ("flowchart TD\n  A(Start] --> B", "got 'SQE'"),
    "stray close": ("flowchart TD\n  A --> B]", "Lexical error on line 2"),
    "unbalanced quote": ('flowchart TD\n  A["Start] --> B', "Parse error"),
    "unclosed entity": ("erDiagram\n  CUSTOMER {\n    string name", "Expecting 'BLOCK_STOP'"),
    "unclosed front matter": ("---\ntitle: x\ngraph TD\n  A-->B", "front-matter"),
}


@pytest.mark.anyio
@pytest.mark.parametrize("source", VALID.values(), ids=VALID.keys())
async def test_valid_diagrams_pass(source: str) -> None:
    assert await syntax_problem(source) is None


@pytest.mark.anyio
@pytest.mark.parametrize(("source", "expected"), INVALID.values(), ids=INVALID.keys())
async def test_invalid_diagrams_say_what_is_wrong(source: str, expected: str) -> None:
    problem = await syntax_problem(source)
    assert problem is not None and expected in problem, problem


async def allow_many_calls(pool) -> None:
    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{rateLimit,perMinute}', '100') "
        "where config_key = 'mermaid_agent_google'"
    )


async def snapshot(pool) -> list:
    rows = await pool.fetch('select id, version_number, content from "Document" order by id, version_number')
    return [tuple(r) for r in rows]


async def create(client, gemini: FakeGemini, diagram: str = V1) -> dict:
    gemini.script(Turn(text=diagram))
    result = await client.call_tool("mermaid_agent", {"operation": "create", "instruction": "Release flow"})
    assert not result.is_error, result.content
    return result.structured_content


@pytest.mark.anyio
async def test_every_operation_saves_versions_with_metadata(database_url, make_user, gemini, pool) -> None:
    await allow_many_calls(pool)
    user = await make_user()
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text=["```mermaid\n", V1[:15], V1[15:], "\n```"]))
        created = await client.call_tool(
            "mermaid_agent",
            {"operation": "create", "instruction": "Release flow", "title": "Release"},
            progress_callback=on_progress,
        )
        assert not created.is_error, created.content
        out = created.structured_content
        assert (out["diagram"], out["version"], out["kind"], out["title"]) == (
            V1,
            1,
            "mermaid code",
            "Release",
        )
        assert progress, "no progress notification while the diagram streamed"
        assert sent_prompts(gemini) == (
            (await tool_config(pool, "mermaid_agent_google", "create"))["systemPrompt"],
            "Release flow",
        )
        diagram_id = out["id"]

        gemini.script(Turn(text=V2))
        updated = await client.call_tool(
            "mermaid_agent", {"operation": "update", "diagramId": diagram_id, "instruction": "loop back"}
        )
        assert updated.structured_content["version"] == 2, updated.content
        config = await tool_config(pool, "mermaid_agent_google", "update")
        assert sent_prompts(gemini) == (
            config["systemPrompt"],
            config["userPromptTemplate"]
            .replace("{currentContent}", V1)
            .replace("{updateInstruction}", "loop back"),
        )

        error = "Parse error on line 2: Expecting 'SQE', got 'PS'"
        gemini.script(Turn(text=V3))
        fixed = await client.call_tool(
            "mermaid_agent", {"operation": "fix", "diagramId": diagram_id, "instruction": error}
        )
        assert fixed.structured_content["version"] == 3, fixed.content
        config = await tool_config(pool, "mermaid_agent_google", "fix")
        assert sent_prompts(gemini) == (
            config["systemPrompt"],
            config["userPromptTemplate"].replace("{currentContent}", V2).replace("{errorInfo}", error),
        )

        calls = len(gemini.model_requests())
        reverted = await client.call_tool("mermaid_agent", {"operation": "revert", "diagramId": diagram_id})
        assert not reverted.is_error, reverted.content
        assert len(gemini.model_requests()) == calls, "revert must not call the model"
        out = reverted.structured_content
        assert (out["version"], out["diagram"], out["revertedFrom"], out["revertedTo"]) == (4, V2, 3, 2)
        latest = await client.read_resource(f"artifact://{diagram_id}")
        assert latest.contents[0].text == V2 and latest.contents[0].mime_type == "text/vnd.mermaid"

    rows = await pool.fetch(
        'select version_number, kind, content, metadata from "Document" '
        "where id = $1 order by version_number",
        uuid.UUID(diagram_id),
    )
    assert [(r["kind"], r["content"]) for r in rows] == [("mermaid code", v) for v in (V1, V2, V3, V2)]
    meta = [r["metadata"] for r in rows]
    assert [m["updateType"] for m in meta] == ["create", "update", "fix", "revert"]
    assert all(m["agent"] == "mermaid-agent" for m in meta)
    assert meta[0]["modelUsed"] == "gemini-2.0-flash" and "createdAt" in meta[0]
    assert meta[1]["previousVersion"] == 1 and "updatedAt" in meta[1]
    assert meta[2]["previousVersion"] == 2 and meta[2]["errorFixed"] == error and "fixedAt" in meta[2]
    assert (meta[3]["revertedFrom"], meta[3]["revertedTo"], meta[3]["modelUsed"]) == (3, 2, None)


@pytest.mark.anyio
async def test_generate_returns_a_checked_diagram_and_saves_nothing(
    database_url, make_user, gemini, pool
) -> None:
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text=V1))
        result = await client.call_tool("mermaid_agent", {"operation": "generate", "instruction": "a flow"})
        assert not result.is_error, result.content
        assert result.structured_content == {"operation": "generate", "diagram": V1, "generated": True}
        assert sent_prompts(gemini) == (
            (await tool_config(pool, "mermaid_agent_google", "generate"))["systemPrompt"],
            "a flow",
        )
        gemini.script(*[Turn(text="Sure! Here is a diagram of the flow.")] * 2)  # answer and repair
        result = await client.call_tool("mermaid_agent", {"operation": "generate", "instruction": "a flow"})
        assert result.is_error and "not valid Mermaid" in result.content[0].text
    assert await count_rows(database_url, "Document") == 0


@pytest.mark.anyio
async def test_invalid_diagram_is_a_tool_error_and_saves_nothing(
    database_url, make_user, gemini, pool
) -> None:
    await allow_many_calls(pool)
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text=BROKEN), Turn(text=BROKEN))  # the answer, and the repaired answer
        result = await client.call_tool("mermaid_agent", {"operation": "create", "instruction": "x"})
        assert result.is_error
        text = result.content[0].text
        assert "not valid Mermaid" in text and "Parse error on line 2" in text, text
        assert await count_rows(database_url, "Document") == 0

        doc = await create(client, gemini)
        before = await snapshot(pool)
        gemini.script(Turn(text=BROKEN), Turn(text=BROKEN))
        result = await client.call_tool(
            "mermaid_agent", {"operation": "update", "diagramId": doc["id"], "instruction": "x"}
        )
        assert result.is_error and "nothing was saved" in result.content[0].text
        gemini.script(Turn(text=BROKEN), Turn(text=BROKEN))
        result = await client.call_tool(
            "mermaid_agent", {"operation": "fix", "diagramId": doc["id"], "instruction": "Parse error"}
        )
        assert result.is_error and "still fails the check" in result.content[0].text
        assert await snapshot(pool) == before


@pytest.mark.anyio
async def test_bad_arguments_are_tool_errors_and_change_nothing(
    database_url, make_user, gemini, pool
) -> None:
    await allow_many_calls(pool)
    user = await make_user()
    other = await make_user()
    async with in_process(make_settings(database_url, other, gemini)) as client:
        foreign = await create(client, gemini)
    async with in_process(make_settings(database_url, user, gemini)) as client:
        mine = await create(client, gemini)
        gemini.script(Turn(text="print('hi')"))
        code = await client.call_tool("python_agent", {"operation": "create", "instruction": "hi"})
        assert not code.is_error, code.content
        before = await snapshot(pool)
        requests_before = len(gemini.model_requests())
        cases = [
            ({"operation": "update", "instruction": "x"}, "diagramId"),
            ({"operation": "fix", "diagramId": mine["id"]}, "instruction"),
            ({"operation": "revert"}, "diagramId"),
            ({"operation": "create"}, "instruction"),
            ({"operation": "explain", "diagramId": mine["id"]}, "operation"),
            ({"operation": "update", "diagramId": "nope", "instruction": "x"}, "diagramId"),
            ({"operation": "update", "diagramId": str(uuid.uuid4()), "instruction": "x"}, "not found"),
            ({"operation": "update", "diagramId": foreign["id"], "instruction": "x"}, "not found"),
            ({"operation": "revert", "diagramId": foreign["id"]}, "not found"),
            ({"operation": "revert", "diagramId": code.structured_content["id"]}, "'python code' artifact"),
            ({"operation": "revert", "diagramId": mine["id"]}, "nothing to revert"),
            ({"operation": "revert", "diagramId": mine["id"], "targetVersion": 1}, "nothing to revert"),
            ({"operation": "update", "codeId": mine["id"], "instruction": "x"}, "codeId"),
        ]
        for arguments, expected in cases:
            result = await client.call_tool("mermaid_agent", arguments)
            assert result.is_error, arguments
            text = result.content[0].text
            assert expected in text, (arguments, text)
            assert "Traceback" not in text
        assert await snapshot(pool) == before
        assert len(gemini.model_requests()) == requests_before, "no bad call may reach the model"


@pytest.mark.anyio
async def test_listed_with_enabled_operations_only(database_url, make_user, gemini, pool) -> None:
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "mermaid_agent")
    props = tool.input_schema["properties"]
    assert props["operation"]["enum"] == ["generate", "create", "update", "fix", "revert"]
    chat = await pool.fetchval(
        "select config_data -> 'tools' -> 'mermaidAgent' from admin_config "
        "where config_key = 'chat_model_agent_google'"
    )
    assert tool.description.startswith(chat["description"])
    assert props["diagramId"]["description"] == chat["tool_input"]["diagramId"]["parameter_description"]

    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{tools,fix,enabled}', 'false') "
        "where config_key = 'mermaid_agent_google'"
    )
    async with in_process(make_settings(database_url, user, gemini)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["mermaid_agent"].input_schema["properties"]["operation"]["enum"] == [
            "generate",
            "create",
            "update",
            "revert",
        ]
        refused = await client.call_tool(
            "mermaid_agent", {"operation": "fix", "diagramId": str(uuid.uuid4()), "instruction": "x"}
        )
        assert refused.is_error and "disabled" in refused.content[0].text

    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{enabled}', 'false') "
        "where config_key = 'mermaid_agent_google'"
    )
    async with in_process(make_settings(database_url, user, gemini)) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert "mermaid_agent" not in names and "python_agent" in names
    assert gemini.model_requests() == []
