"""The git agent through the MCP server: real PyGithub against a fake GitHub REST API, a fake Gemini
that asks for functions, real Postgres."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
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
    seeded_description = await pool.fetchval(
        "select config_data #>> '{tools,gitMcpAgent,tool_input,parameter_description}' "
        "from admin_config where config_key = 'chat_model_agent_google'"
    )
    assert seeded_description
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
        # the chat agent's flat tool_input describes the one parameter (not the model's own default)
        assert tool.input_schema["properties"]["input"]["description"] == seeded_description
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
    # no token and rate-limited: the model sees the function error; when the model call then fails,
    # the tool error is the provider's failure, with the GitHub refusal and its way out appended
    github.rate_limited = True
    gemini.script(
        Turn(text="", function_calls=[("list_branches", {"repo": "octo-org/widgets"})]),
        Failure(400, message="bad request"),
    )
    async with in_process(settings(database_url, user, gemini, github, github_token=None)) as client:
        result = await client.call_tool(TOOL, {"input": "branches of octo-org/widgets"})
    assert result.is_error
    text = result.content[0].text
    assert text.startswith("the model call failed: ") and "bad request" in text
    assert "GitHub rate limit exceeded" in text and "GITHUB_TOKEN" in text
    # logged as the provider's failure (api), not as the caller's (user)
    errors = await pool.fetch("select error_type, error_message from error_logs where user_id = $1", user)
    assert [e["error_type"] for e in errors] == ["api"]
    assert "bad request" in errors[0]["error_message"]
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


TRAVERSALS: list[tuple[str, dict[str, Any], str]] = [
    ("get_file_contents", {"repo": "octo-org/widgets", "path": "../../../../users/octocat"}, "path"),
    ("get_file_contents", {"repo": "octo-org/widgets", "path": "src/%2e%2e/%2e%2e/x"}, "path"),
    ("get_file_contents", {"repo": "octo-org/widgets", "path": "src/a.py?ref=x"}, "path"),
    ("get_file_contents", {"repo": "octo-org/widgets", "path": "src//a.py"}, "path"),
    ("get_file_contents", {"repo": "octo-org/widgets", "path": "src\\..\\..\\x"}, "path"),
    ("get_file_contents", {"repo": "octo-org/widgets", "path": "README.md", "ref": "../../x"}, "ref"),
    ("get_user", {"username": "../users/octocat"}, "username"),
    ("get_user", {"username": "octocat/../../search/code"}, "username"),
    ("get_repository", {"repo": "../users"}, "repo"),
    ("get_repository", {"repo": "../.."}, "repo"),
    ("get_repository", {"repo": "octo-org/widgets?x=1"}, "repo"),
    ("get_repository", {"repo": "octo-org/widgets#x"}, "repo"),
    ("get_repository", {"repo": "octo-org/widgets/../../../users/octocat"}, "repo"),
    ("list_issues", {"repo": "octo-org/.."}, "repo"),
    ("list_commits", {"repo": "octo-org/widgets", "sha": "main..evil"}, "sha"),
    ("list_commits", {"repo": "octo-org/widgets", "path": "../x"}, "path"),
    ("get_issue", {"repo": "octo-org/widgets/issues", "number": 1}, "repo"),
]


async def test_traversal_arguments_never_reach_github(database_url, make_user, gemini, github, pool) -> None:
    user = await make_user()
    calls = [(name, arguments) for name, arguments, _ in TRAVERSALS]
    gemini.script(
        Turn(text="", function_calls=[*calls, ("get_repository", {"repo": "octo-org/widgets"})]),
        Turn(text="Only octo-org/widgets could be read."),
    )
    async with in_process(settings(database_url, user, gemini, github)) as client:
        result = await client.call_tool(TOOL, {"input": "read everything"})
        assert not result.is_error, result.content
    uses = result.structured_content["toolCalls"]
    assert [u["ok"] for u in uses] == [False] * len(TRAVERSALS) + [True]
    *responses, valid = function_responses(gemini)
    assert valid["name"] == "get_repository" and "result" in valid["response"]
    for (name, arguments, argument), response in zip(TRAVERSALS, responses, strict=True):
        assert response["name"] == name
        assert f"Error: {argument} must be" in response["response"]["error"], (arguments, response)
    # the only request GitHub saw is the valid one
    assert [r.path for r in github.requests] == ["/repos/octo-org/widgets"]


def test_argument_checks_accept_real_names() -> None:
    from artificer.agents.git_mcp import git_ref, login_name, repository_name, repository_path

    assert repository_name(" octo-org/my.repo_v2 ") == "octo-org/my.repo_v2"
    assert repository_name("o/.github") == "o/.github"
    assert login_name("octo-cat-42") == "octo-cat-42"
    assert repository_path("/docs/Read Me (v2).md/") == "docs/Read Me (v2).md"
    assert repository_path("") == "" and repository_path(None) == ""
    assert repository_path(".github/workflows/ci.yml") == ".github/workflows/ci.yml"
    assert git_ref("release/1.x", "ref") == "release/1.x" and git_ref("a" * 40, "sha") == "a" * 40
    assert git_ref(None, "ref") is None


async def test_a_malformed_repository_answer_or_a_failed_recording_keeps_the_answer(
    database_url, make_user, gemini, github, pool, caplog
) -> None:
    user = await make_user()
    github.repos["octo-org/odd"] = {"json": {"full_name": None}}
    gemini.script(
        Turn(text="", function_calls=[("get_repository", {"repo": "octo-org/odd"})]),
        Turn(text="octo-org/odd exists."),
    )
    async with in_process(settings(database_url, user, gemini, github)) as client:
        result = await client.call_tool(TOOL, {"input": "what is octo-org/odd"})
    assert not result.is_error, result.content
    assert result.structured_content["answer"] == "octo-org/odd exists."
    assert await pool.fetchval("select count(*) from github_repositories") == 0

    # the database refuses the recording: logged, and the answer still reaches the caller
    await pool.execute("revoke insert on github_repositories from authenticated")
    gemini.script(
        Turn(text="", function_calls=[("get_repository", {"repo": "octo-org/widgets"})]),
        Turn(text="octo-org/widgets makes widgets."),
    )
    caplog.set_level(logging.WARNING, logger="artificer.agents.git_mcp")
    async with in_process(settings(database_url, user, gemini, github)) as client:
        result = await client.call_tool(TOOL, {"input": "what is octo-org/widgets"})
    assert not result.is_error, result.content
    assert result.structured_content["answer"] == "octo-org/widgets makes widgets."
    assert "could not record the repositories" in caplog.text
    assert await pool.fetchval("select count(*) from github_repositories") == 0


async def test_a_github_outage_is_reported_with_its_status(database_url, make_user, gemini, github) -> None:
    user = await make_user()
    github.fail_status = 502
    gemini.script(
        Turn(text="", function_calls=[("get_user", {"username": "octocat"})]),
        Turn(text="GitHub is down."),
    )
    async with in_process(settings(database_url, user, gemini, github)) as client:
        result = await client.call_tool(TOOL, {"input": "who is octocat"})
    assert not result.is_error, result.content
    [response] = function_responses(gemini)
    assert response["response"]["error"] == "Error: GitHub answered 502: Server Error"
    assert [r.path for r in github.requests] == ["/users/octocat"] * 3  # the GET and two retries


async def test_searches_read_github_once_and_limits_take_whole_floats(
    database_url, make_user, gemini, github
) -> None:
    user = await make_user()
    gemini.script(
        Turn(
            text="",
            function_calls=[
                ("search_code", {"query": "parse_config"}),
                ("list_branches", {"repo": "octo-org/widgets", "limit": 1.0}),
            ],
        ),
        Turn(text="Found it."),
    )
    async with in_process(settings(database_url, user, gemini, github)) as client:
        result = await client.call_tool(TOOL, {"input": "where is parse_config"})
    assert not result.is_error, result.content
    search, branches = function_responses(gemini)
    found = json.loads(search["response"]["result"])
    assert found["total_count"] == 1 and [i["path"] for i in found["items"]] == ["src/parse_config.py"]
    assert [r.path for r in github.requests].count("/search/code") == 1
    assert [b["name"] for b in json.loads(branches["response"]["result"])] == ["trunk"]


async def test_adding_a_repository_twice_keeps_one_row(database_url, make_user, pool) -> None:
    import anyio
    from artificer.storage import github as repositories
    from artificer.storage.database import as_user

    user = await make_user()
    claims = {"sub": str(user), "role": "authenticated"}

    async def add(owner: str, name: str, url: str | None) -> None:
        async with as_user(pool, claims) as conn:
            await repositories.add_repository(conn, owner=owner, name=name, url=url, default_branch="dev")

    async with anyio.create_task_group() as group:  # concurrent adds, differing only in case
        for owner, name in (("Octo-Org", "Widgets"), ("octo-org", "widgets"), ("OCTO-ORG", "WIDGETS")):
            group.start_soon(add, owner, name, None)
    await add("octo-org", "widgets", "https://github.example/octo-org/widgets")
    rows = await pool.fetch("select user_id, repo_url, default_branch, is_active from github_repositories")
    assert [(r["user_id"], r["repo_url"], r["default_branch"], r["is_active"]) for r in rows] == [
        (user, "https://github.example/octo-org/widgets", "dev", True)
    ]
    other = await make_user()
    async with as_user(pool, {"sub": str(other), "role": "authenticated"}) as conn:
        await repositories.add_repository(conn, owner="octo-org", name="widgets")
    assert await pool.fetchval("select count(*) from github_repositories") == 2  # one per user


def test_github_base_url_must_be_https_unless_local() -> None:
    from artificer.common.settings import Settings
    from pydantic import ValidationError

    for url in (
        "https://api.github.com",
        "https://ghe.example/api/v3",
        "http://127.0.0.1:9",
        "http://[::1]:80",
    ):
        assert Settings(github_base_url=url).github_base_url == url
    assert Settings(github_base_url="http://localhost:8080/").github_base_url == "http://localhost:8080/"
    for url in ("http://api.github.com", "ftp://api.github.com", "api.github.com", "http://127.0.0.1.evil"):
        with pytest.raises(ValidationError, match="GITHUB_BASE_URL"):
            Settings(github_base_url=url)


# --- the function models: schema and argument checks ---------------------------------------------

REQUIRED = {
    "search_repositories": ["query"],
    "get_repository": ["repo"],
    "get_file_contents": ["repo", "path"],
    "list_commits": ["repo"],
    "list_issues": ["repo"],
    "get_issue": ["repo", "number"],
    "search_issues": ["query"],
    "list_pull_requests": ["repo"],
    "get_pull_request": ["repo", "number"],
    "get_user": ["username"],
    "search_code": ["query"],
    "list_branches": ["repo"],
}

BAD_ARGUMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("get_issue", {"repo": "octo-org/widgets", "number": "seven"}, "number must be a positive whole number"),
    ("get_issue", {"number": 0}, "repo is required; number must be a positive whole number"),
    ("get_issue", {"repo": None, "number": 1}, "repo is required"),
    ("list_issues", {"repo": "octo-org/widgets", "state": "merged"}, "state must be open, closed or all"),
    ("list_issues", {"repo": "octo-org/widgets", "labels": "bug"}, "labels: Input should be a valid list"),
    ("search_code", {"query": "   "}, "query is required"),
    ("get_user", {}, "username is required"),
    ("list_branches", {"repo": "octo-org/widgets", "limit": True}, "limit must be a positive whole number"),
    ("list_branches", {"repo": "octo-org/widgets", "limit": 2.5}, "limit must be a positive whole number"),
    ("get_file_contents", {"repo": "octo-org/widgets", "path": 7}, "path must be a string"),
]


def session_for(github: FakeGitHub, token: str | None = TOKEN):
    from artificer.agents.git_mcp import GitHubSession, make_client

    return GitHubSession(client=make_client(token, github.url), authenticated=token is not None)


def test_each_function_declares_the_schema_of_its_model() -> None:
    from artificer.agents.git_mcp import FUNCTIONS, GROUPS

    assert {f.name: f.parameters()["required"] for f in FUNCTIONS} == REQUIRED
    assert {f.group for f in FUNCTIONS} == set(GROUPS)
    for function in FUNCTIONS:
        schema = function.parameters()
        assert schema["type"] == "object" and "title" not in schema, function.name
        assert set(schema["properties"]) == set(function.model_fields), function.name
        for name, prop in schema["properties"].items():
            # every argument is typed and described; an optional one is its type, not "anyOf null"
            assert prop.get("type") and prop.get("description"), (function.name, name)
            assert "anyOf" not in prop and "title" not in prop, (function.name, name)
            assert prop.get("default", "") is not None, (function.name, name)
    issues = {f.name: f for f in FUNCTIONS}["list_issues"].parameters()["properties"]
    assert issues["state"]["enum"] == ["open", "closed", "all"]
    assert issues["labels"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": "Only issues with all these.",
    }


async def test_bad_arguments_get_the_models_message_and_reach_no_github(github) -> None:
    from artificer.agents.git_mcp import GROUPS, GitHubCallFailed, function_tools

    github.repos["octo-org/widgets"]["issues"].append({"number": 4, "title": "Fix crash", "pull": True})
    session = session_for(github)
    tools = {t.name: t for t in function_tools(session, GROUPS)}
    try:
        for name, arguments, message in BAD_ARGUMENTS:
            with pytest.raises(GitHubCallFailed) as failed:
                await tools[name].handler(arguments)
            assert str(failed.value) == message, (name, arguments)
        assert not github.requests and not session.failures
        # null means "not given", whole floats are whole numbers, a large limit is capped
        issues = await tools["list_issues"].handler(
            {"repo": " octo-org/widgets ", "state": None, "labels": ["bug"], "limit": 100.0}
        )
        # (the fake does not filter by label)
        assert [(i["number"], i["is_pull_request"]) for i in issues] == [(1, False), (2, False), (4, True)]
    finally:
        await session.close()
    [repo, listing] = github.requests  # the listed issues were not fetched again one by one
    assert repo.path == "/repos/octo-org/widgets"
    assert listing.path == "/repos/octo-org/widgets/issues"
    assert listing.query["state"] == "open" and listing.query["labels"] == "bug"


async def test_a_bad_argument_from_the_model_is_fed_back_as_the_models_error(
    database_url, make_user, gemini, github, pool
) -> None:
    from artificer.agents.git_mcp import FUNCTIONS

    user = await make_user()
    gemini.script(
        Turn(text="", function_calls=[("get_issue", {"number": "seven"})]),
        Turn(text="I need the repository."),
    )
    async with in_process(settings(database_url, user, gemini, github)) as client:
        result = await client.call_tool(TOOL, {"input": "read issue seven"})
        assert not result.is_error, result.content
    assert result.structured_content["toolCalls"] == [
        {"name": "get_issue", "arguments": {"number": "seven"}, "ok": False}
    ]
    [response] = function_responses(gemini)
    assert response["response"]["error"] == (
        "Error: repo is required; number must be a positive whole number"
    )
    # the declarations the model got are the models' schemas
    declarations = {
        f["name"]: f for tool in gemini.bodies()[0]["tools"] for f in tool.get("functionDeclarations", [])
    }
    for function in FUNCTIONS:
        declared = declarations[function.name]
        assert declared["description"] == function.description
        assert set(declared) == {"name", "description", "parameters_json_schema"}, set(declared)
        assert declared["parameters_json_schema"] == function.parameters()
    assert not github.requests
    assert await pool.fetchval("select count(*) from github_repositories") == 0


# --- threads and imports ----------------------------------------------------------------------------


async def test_github_calls_run_on_their_own_thread_limiter(github) -> None:
    from artificer.agents.git_mcp import GITHUB_THREADS, GROUPS, function_tools

    session = session_for(github)
    [get_user] = [t for t in function_tools(session, GROUPS) if t.name == "get_user"]
    default = anyio.to_thread.current_default_thread_limiter()
    results: list[Any] = []

    async def ask() -> None:
        results.append(await get_user.handler({"username": "octocat"}))

    # every default worker thread busy (e.g. slow token verification): GitHub calls still run
    busy = [object() for _ in range(int(default.total_tokens))]
    for borrower in busy:
        default.acquire_on_behalf_of_nowait(borrower)
    try:
        with anyio.fail_after(10):  # on the default limiter it would wait for ever
            await ask()
    finally:
        for borrower in busy:
            default.release_on_behalf_of(borrower)
    assert results[-1]["name"] == "The Octocat"

    # every GitHub thread busy (slow GitHub): other thread work still runs, the next GitHub call waits
    slow = [object() for _ in range(int(GITHUB_THREADS.total_tokens))]
    for borrower in slow:
        GITHUB_THREADS.acquire_on_behalf_of_nowait(borrower)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            assert GITHUB_THREADS.statistics().tasks_waiting == 1
            assert len(github.requests) == 1  # only the first call's
            assert await anyio.to_thread.run_sync(lambda: "other work") == "other work"
            GITHUB_THREADS.release_on_behalf_of(slow.pop())
    finally:
        for borrower in slow:
            GITHUB_THREADS.release_on_behalf_of(borrower)
        await session.close()
    assert [r["name"] for r in results] == ["The Octocat"] * 2
    assert [r.path for r in github.requests] == ["/users/octocat"] * 2


def test_pygithub_is_imported_on_first_use_only() -> None:
    import subprocess

    code = (
        "import sys, artificer.server.app, artificer.agents.git_mcp\n"
        "loaded = [m for m in ('github', 'requests', 'urllib3') if m in sys.modules]\n"
        "assert 'github' not in sys.modules, loaded\n"
        "print(loaded)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"  # nor requests/urllib3, which PyGithub pulls in


# --- recording repositories: one upsert ---------------------------------------------------------------


def ref(owner: str, name: str, **fields: Any):
    from artificer.common.records import RepositoryRef

    return RepositoryRef(owner=owner, name=name, **fields)


async def record(pool, user: uuid.UUID, refs: list[Any]) -> list[str]:
    """Record as `user`; the statements the connection ran for it."""
    from artificer.storage import github as repositories
    from artificer.storage.database import as_user

    statements: list[str] = []
    async with as_user(pool, {"sub": str(user), "role": "authenticated"}) as conn:
        with conn.query_logger(lambda logged: statements.append(logged.query)):
            await repositories.record_repositories(conn, refs)
            await anyio.lowlevel.checkpoint()  # the logger is called soon after the statement
    return statements


async def repository_rows(pool) -> list[Any]:
    return await pool.fetch(
        "select user_id, repo_owner, repo_name, repo_url, default_branch, is_active, last_accessed "
        "from github_repositories order by user_id, lower(repo_owner), lower(repo_name)"
    )


async def test_recording_a_repository_twice_keeps_one_row_and_updates_last_accessed(make_user, pool) -> None:
    user = await make_user()
    widgets = ref("octo-org", "widgets", url="https://github.com/octo-org/widgets", default_branch="trunk")
    statements = await record(pool, user, [widgets, ref("octocat", "hello")])
    assert len(statements) == 1 and statements[0].lstrip().lower().startswith("insert")
    [first, hello] = sorted(await repository_rows(pool), key=lambda r: r["repo_owner"])
    assert (first["user_id"], first["repo_owner"], first["repo_name"]) == (user, "octo-org", "widgets")
    assert (first["repo_url"], first["default_branch"], first["is_active"]) == (
        "https://github.com/octo-org/widgets",
        "trunk",
        True,
    )
    assert first["last_accessed"] is not None
    # defaults for what GitHub did not say
    assert (hello["repo_url"], hello["default_branch"]) == ("https://github.com/octocat/hello", "main")

    # again, in another case and twice in one list: the same row, only last_accessed moves
    statements = await record(
        pool, user, [ref("OCTO-ORG", "Widgets", url="https://elsewhere.example", default_branch="dev")] * 2
    )
    assert len(statements) == 1
    [again, _] = sorted(await repository_rows(pool), key=lambda r: r["repo_owner"])
    assert again["last_accessed"] > first["last_accessed"]
    assert {k: v for k, v in again.items() if k != "last_accessed"} == {
        k: v for k, v in first.items() if k != "last_accessed"
    }


async def test_recording_keeps_each_users_rows_their_own(make_user, pool) -> None:
    from artificer.storage import github as repositories
    from artificer.storage.database import as_user

    alice, bob = await make_user(), await make_user()
    await record(pool, alice, [ref("octo-org", "widgets")])
    [alices] = await repository_rows(pool)
    await record(pool, bob, [ref("Octo-Org", "widgets")])
    rows = await repository_rows(pool)
    assert sorted((r["user_id"], r["repo_owner"]) for r in rows) == sorted(
        [(alice, "octo-org"), (bob, "Octo-Org")]
    )
    # bob's recording neither touched alice's row nor made bob see it
    assert next(r for r in rows if r["user_id"] == alice) == alices
    async with as_user(pool, {"sub": str(bob), "role": "authenticated"}) as conn:
        visible = await repositories.list_repositories(conn, active_only=False)
    assert [(r.user_id, r.owner) for r in visible] == [(bob, "Octo-Org")]


async def test_concurrent_recordings_of_one_repository_make_one_row(make_user, pool) -> None:
    user = await make_user()
    async with anyio.create_task_group() as group:
        for owner in ("octo-org", "Octo-Org", "OCTO-ORG"):
            group.start_soon(record, pool, user, [ref(owner, "widgets")])
    assert len(await repository_rows(pool)) == 1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (ref("octo-org/x", "widgets"), "owner must be"),
        (ref("octo-org", ""), "name must be"),
        (ref("octo-org", " widgets"), "name must be"),
        (ref("octo-org", "widgets", default_branch="b" * 101), "default_branch must be"),
    ],
)
async def test_recording_bad_names_raises_and_records_nothing(make_user, pool, bad, message) -> None:
    user = await make_user()
    with pytest.raises(ValueError, match=message):
        await record(pool, user, [ref("octocat", "hello"), bad])
    assert await repository_rows(pool) == []
