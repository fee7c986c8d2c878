"""The git agent through the MCP server: real PyGithub against a fake GitHub REST API, a fake Gemini
that asks for functions, real Postgres."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from fakes.gemini import FakeGemini
from fakes.github import FakeGitHub
from fakes.llm import Failure, Turn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from mcp_harness import in_process, make_settings

pytestmark = pytest.mark.anyio

TOOL = "git_mcp_agent"
TOKEN = "ghp_testtoken_0123456789abcdefABCDEF"
ISSUE_FUNCTIONS = {"list_issues", "get_issue", "search_issues"}
ALL_FUNCTIONS = {
    "search_repositories",
    "get_repository",
    "get_file_contents",
    "list_commits",
    *ISSUE_FUNCTIONS,
    "list_pull_requests",
    "get_pull_request",
    "get_user",
    "search_code",
    "list_branches",
}
LOG_TABLES = ("agent_activity_logs", "usage_logs", "error_logs", "user_activity_logs")


@pytest.fixture
def gemini():
    fake = FakeGemini().start()
    yield fake
    fake.stop()


@pytest.fixture
def github():
    fake = FakeGitHub(
        token=TOKEN,
        repos={
            "octo-org/widgets": {
                "description": "Widgets for everyone",
                "default_branch": "trunk",
                "issues": [
                    {"number": 1, "title": "Crash on start", "labels": ["bug"], "body": "It crashes."},
                    {"number": 2, "title": "Add dark mode", "labels": ["feature"]},
                    {"number": 3, "title": "Old bug", "state": "closed"},
                ],
                "branches": ["trunk", "release-1.x"],
            }
        },
        users={"octocat": {"name": "The Octocat", "bio": "Mascot"}},
        code=[{"repo": "octo-org/widgets", "path": "src/parse_config.py"}],
    ).start()
    yield fake
    fake.stop()


def settings(database_url: str, user: uuid.UUID, gemini: FakeGemini, github: FakeGitHub, **extra: Any):
    values = {"github_token": TOKEN, "github_base_url": github.url, **extra}
    return make_settings(database_url, user, gemini, **values)


def offered(gemini: FakeGemini, index: int = -1) -> set[str]:
    body = gemini.bodies()[index]
    return {f["name"] for tool in body.get("tools", []) for f in tool.get("functionDeclarations", [])}


def function_responses(gemini: FakeGemini, index: int = -1) -> list[dict[str, Any]]:
    """The functionResponse parts of the last user turn of a model request."""
    contents = gemini.bodies()[index]["contents"]
    return [p["functionResponse"] for p in contents[-1]["parts"] if "functionResponse" in p]


async def set_tool(pool, group: str, enabled: bool) -> None:
    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, array['tools', $1, 'enabled'], "
        "to_jsonb($2::boolean)) where config_key = 'git_mcp_agent_google'",
        group,
        enabled,
    )


async def enable_activity_logs(pool) -> None:
    await pool.execute(
        "update admin_config set config_data = config_data || "
        """'{"agent_activity_logging_enabled": true}'::jsonb where config_key = 'logging_settings'"""
    )


async def test_answers_with_github_functions_and_records_the_repository(
    database_url, make_user, gemini, github, pool, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    await enable_activity_logs(pool)
    user = await make_user()
    row = json.loads(
        await pool.fetchval(
            "select config_data::text from admin_config where config_key = 'git_mcp_agent_google'"
        )
    )
    answer = "octo-org/widgets has 2 open issues: #1 Crash on start and #2 Add dark mode."
    gemini.script(
        Turn(text="", function_calls=[("list_issues", {"repo": "octo-org/widgets", "state": "open"})]),
        Turn(text=answer),
    )
    async with in_process(settings(database_url, user, gemini, github)) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        tool = listed[TOOL]
        assert set(tool.input_schema["properties"]) == {"input", "model"}
        assert "operation" not in tool.input_schema["properties"]
        assert tool.input_schema["properties"]["input"]["description"].startswith(
            "A natural-language request"
        )
        assert tool.annotations.read_only_hint is True and tool.annotations.open_world_hint is True

        result = await client.call_tool(TOOL, {"input": "Which issues are open in octo-org/widgets?"})
        assert not result.is_error, result.content

    out = result.structured_content
    assert out == {
        "answer": answer,
        "toolCalls": [
            {"name": "list_issues", "arguments": {"repo": "octo-org/widgets", "state": "open"}, "ok": True}
        ],
    }
    # the model saw the row's system prompt, the caller's input and every enabled function
    first = gemini.bodies()[0]
    assert first["systemInstruction"]["parts"][0]["text"] == row["systemPrompt"]
    assert first["contents"][0]["parts"][0]["text"] == "Which issues are open in octo-org/widgets?"
    assert offered(gemini, 0) == ALL_FUNCTIONS
    # PyGithub sent the token, and read the repository and its open issues
    paths = [(r.path, r.query.get("state")) for r in github.requests]
    assert ("/repos/octo-org/widgets/issues", "open") in paths
    assert all(r.headers.get("authorization") == f"token {TOKEN}" for r in github.requests)
    # the function result went back to the model: the open issues, not the closed one
    [response] = function_responses(gemini)
    assert response["name"] == "list_issues"
    issues = json.loads(response["response"]["result"])
    assert [(i["number"], i["title"], i["labels"]) for i in issues] == [
        (1, "Crash on start", ["bug"]),
        (2, "Add dark mode", ["feature"]),
    ]
    # the repository is recorded for the caller (as the caller: RLS makes the row theirs)
    repos = await pool.fetch(
        "select user_id, repo_owner, repo_name, repo_url, default_branch, last_accessed "
        "from github_repositories"
    )
    assert [(r["user_id"], r["repo_owner"], r["repo_name"], r["default_branch"]) for r in repos] == [
        (user, "octo-org", "widgets", "trunk")
    ]
    assert repos[0]["repo_url"] == "https://github.com/octo-org/widgets" and repos[0]["last_accessed"]
    # activity and usage rows
    activity = await pool.fetch("select * from agent_activity_logs where user_id = $1", user)
    assert [(a["agent_type"], a["operation_type"], a["success"]) for a in activity] == [
        (TOOL, "mcp_operation", True)
    ]
    meta = activity[0]["operation_metadata"]
    assert meta["function_calls"] == 1 and meta["repositories"] == ["octo-org/widgets"]
    assert activity[0]["input_tokens"] == 24  # two model round trips of 12
    usage = await pool.fetch("select agent_type, input_tokens from usage_logs where user_id = $1", user)
    assert [(u["agent_type"], u["input_tokens"]) for u in usage] == [(TOOL, 24)]
    # the token is nowhere: not in a log table, not in the server's log records, not sent to the model
    for table in LOG_TABLES:
        assert (
            await pool.fetchval(f"select count(*) from {table} t where t::text like '%' || $1 || '%'", TOKEN)
            == 0
        )
    assert TOKEN not in caplog.text
    assert all(TOKEN.encode() not in r.body for r in gemini.requests)


async def test_functions_follow_the_toggles(database_url, make_user, gemini, github, pool) -> None:
    user = await make_user()
    await set_tool(pool, "issues", False)
    gemini.script(Turn(text="I can list branches: trunk and release-1.x."))
    async with in_process(settings(database_url, user, gemini, github)) as client:
        result = await client.call_tool(TOOL, {"input": "branches of octo-org/widgets"})
        assert not result.is_error, result.content
        assert offered(gemini) == ALL_FUNCTIONS - ISSUE_FUNCTIONS
        assert result.structured_content == {
            "answer": "I can list branches: trunk and release-1.x.",
            "toolCalls": [],
        }

    for group in ("repos", "pull_requests", "users", "code_search"):
        await set_tool(pool, group, False)
    async with in_process(settings(database_url, user, gemini, github)) as client:
        gemini.script(Turn(text="Only branches."))
        result = await client.call_tool(TOOL, {"input": "branches of octo-org/widgets"})
        assert not result.is_error, result.content
        assert offered(gemini) == {"list_branches"}
    assert not github.requests  # the model asked for nothing, so GitHub was never called


async def test_a_disabled_agent_is_not_listed(database_url, make_user, gemini, github, pool) -> None:
    user = await make_user()
    async with in_process(settings(database_url, user, gemini, github)) as client:
        assert TOOL in {t.name for t in (await client.list_tools()).tools}
    for group in ("repos", "issues", "pull_requests", "users", "code_search", "branches"):
        await set_tool(pool, group, False)
    async with in_process(settings(database_url, user, gemini, github)) as client:
        assert TOOL not in {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool(TOOL, {"input": "anything"})
        assert result.is_error and "disabled" in result.content[0].text
    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{enabled}', 'false') "
        "where config_key = 'git_mcp_agent_google'"
    )
    for group in ("repos", "issues"):
        await set_tool(pool, group, True)
    async with in_process(settings(database_url, user, gemini, github)) as client:
        assert TOOL not in {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool(TOOL, {"input": "anything"})
        assert result.is_error and "disabled" in result.content[0].text
    assert not gemini.requests and not github.requests


async def test_a_github_404_is_a_function_error_the_model_sees(
    database_url, make_user, gemini, github, pool
) -> None:
    user = await make_user()
    gemini.script(
        Turn(
            text="",
            function_calls=[
                ("get_repository", {"repo": "octo-org/missing"}),
                ("get_user", {"username": "octocat"}),
            ],
        ),
        Turn(text="octo-org/missing does not exist; octocat is The Octocat."),
    )
    async with in_process(settings(database_url, user, gemini, github)) as client:
        result = await client.call_tool(TOOL, {"input": "What is octo-org/missing, and who is octocat?"})
        assert not result.is_error, result.content
    assert result.structured_content["toolCalls"] == [
        {"name": "get_repository", "arguments": {"repo": "octo-org/missing"}, "ok": False},
        {"name": "get_user", "arguments": {"username": "octocat"}, "ok": True},
    ]
    missing, octocat = function_responses(gemini)
    assert "not found on GitHub (404)" in missing["response"]["error"]
    assert json.loads(octocat["response"]["result"])["name"] == "The Octocat"
    assert ("/repos/octo-org/missing") in [r.path for r in github.requests]
    assert await pool.fetchval("select count(*) from github_repositories") == 0


async def test_github_refusals_say_what_to_do(database_url, make_user, gemini, github, pool) -> None:
    user = await make_user()
    # no token and rate-limited: the model sees the function error; when the loop then fails, the tool
    # error names the way out
    github.rate_limited = True
    gemini.script(
        Turn(text="", function_calls=[("list_branches", {"repo": "octo-org/widgets"})]),
        Failure(400, message="bad request"),
    )
    async with in_process(settings(database_url, user, gemini, github, github_token=None)) as client:
        result = await client.call_tool(TOOL, {"input": "branches of octo-org/widgets"})
    assert result.is_error
    text = result.content[0].text
    assert "GitHub rate limit exceeded" in text and "GITHUB_TOKEN" in text
    assert "authorization" not in github.requests[0].headers  # anonymous: public data only
    [response] = function_responses(gemini)
    assert "rate limit" in response["response"]["error"]

    # a wrong token: 401 Bad credentials, fed to the model
    github.rate_limited = False
    gemini.script(
        Turn(text="", function_calls=[("get_user", {"username": "octocat"})]),
        Turn(text="GitHub rejected the token."),
    )
    async with in_process(settings(database_url, user, gemini, github, github_token="ghp_wrong")) as client:
        result = await client.call_tool(TOOL, {"input": "who is octocat"})
    assert not result.is_error, result.content
    assert result.structured_content["toolCalls"][0]["ok"] is False
    [response] = function_responses(gemini)
    assert "401 bad credentials" in response["response"]["error"]
    assert "ghp_wrong" not in response["response"]["error"]


async def test_bad_input_is_a_tool_error_and_runs_nothing(
    database_url, make_user, gemini, github, pool
) -> None:
    user = await make_user()
    async with in_process(settings(database_url, user, gemini, github)) as client:
        for arguments in (
            {},
            {"input": ""},
            {"input": "x" * 20_001},
            {"input": "hi", "operation": "create"},
            {"input": "hi", "model": "no-such-model"},
        ):
            result = await client.call_tool(TOOL, arguments)
            assert result.is_error, arguments
            text = result.content[0].text
            assert "invalid arguments for git_mcp_agent" in text or "not an active google model" in text
    assert not gemini.requests and not github.requests
    assert await pool.fetchval("select count(*) from rate_limit_tracking") == 0
