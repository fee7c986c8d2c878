"""The git agent: read-only questions about GitHub, answered by a model that calls GitHub functions.

One free-form `input` (no `operation`). The system prompt is the agent row's `systemPrompt`; the model
gets the functions of the function groups the row enables (`tools.{repos,issues,pull_requests,users,
code_search,branches}.enabled`), each a read-only PyGithub call (see `functions`). A GitHub failure
(404, bad credentials, rate limit, 5xx) goes back to the model as that function's error; if the model
call then fails, that provider error is the tool error, with the GitHub refusal and what to do about it
(set GITHUB_TOKEN, wait for the rate limit) appended. The repositories the agent read are recorded for
the caller through `call.store` (best effort). The server never writes to GitHub, and the token
(`GITHUB_TOKEN`) never reaches a prompt, a result or a log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from artificer.agents.base import AgentCall, AgentInputError, AgentOutcome, AgentSpec, Operation
from artificer.agents.git_mcp.client import DEFAULT_GITHUB_URL, GitHubSession, make_client, repository_name
from artificer.agents.git_mcp.functions import enabled_groups, function_tools
from artificer.agents.providers.base import LLMRequest, ProviderError
from artificer.common.records import RepositoryRef
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from github.Repository import Repository

logger = logging.getLogger(__name__)

MAX_INPUT_CHARS = 20_000
MAX_STEPS = 8
"""Model round trips per call (each may ask for several functions)."""


class GitMcpAgentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str = Field(
        min_length=1,
        max_length=MAX_INPUT_CHARS,
        description="A natural-language request about GitHub (name repositories as owner/name).",
    )
    model: str | None = Field(default=None, description="Model to use.")


class FunctionUse(BaseModel):
    name: str
    arguments: dict[str, Any]
    ok: bool


class GitMcpResult(BaseModel):
    answer: str = Field(description="The model's answer.")
    toolCalls: list[FunctionUse] = Field(
        default_factory=list, description="The GitHub functions the model called, in order."
    )


def _github_settings(call: AgentCall) -> tuple[str | None, str]:
    settings = call.settings
    token = settings.github_token.get_secret_value() if settings and settings.github_token else None
    base_url = settings.github_base_url if settings else DEFAULT_GITHUB_URL
    return token or None, base_url or DEFAULT_GITHUB_URL


def repository_refs(touched: Sequence[Repository]) -> list[RepositoryRef]:
    """The repositories read, as records to note for the caller; one whose full name GitHub did not
    give as a plain owner/name is skipped."""
    refs = []
    for repo in touched:
        try:
            owner, name = repository_name(repo.full_name).split("/")
        except ValueError:
            logger.warning("git_mcp_agent: not recording a repository without a plain owner/name")
            continue
        url, branch = repo.html_url, repo.default_branch
        refs.append(
            RepositoryRef(
                owner=owner,
                name=name,
                url=url if isinstance(url, str) else None,
                default_branch=branch if isinstance(branch, str) else None,
            )
        )
    return refs


async def run(call: AgentCall) -> AgentOutcome:
    args = call.arguments
    assert isinstance(args, GitMcpAgentInput)
    assert call.provider is not None and call.model is not None
    groups = enabled_groups(call.agent_config.get("tools"))
    if not groups:
        raise AgentInputError(
            "every GitHub function group of git_mcp_agent is disabled; ask an admin to enable one "
            "(admin_config tools.repos / issues / pull_requests / users / code_search / branches)"
        )
    token, base_url = _github_settings(call)
    session = GitHubSession(client=make_client(token, base_url), authenticated=token is not None)
    system = call.agent_config.get("systemPrompt")
    request = LLMRequest(
        model=call.model.model_id,
        prompt=args.input,
        system=str(system) if system else None,
        thinking=call.model.thinking,
        pricing=call.model.pricing,
    )
    await call.progress(0, None, "asking GitHub")
    try:
        result = await call.provider.run_functions(
            request, function_tools(session, groups), max_steps=MAX_STEPS
        )
    except ProviderError as error:
        # The model call failed: that stays the error (logged as the provider's, with its partial
        # usage). When GitHub refused earlier in the loop in a way the caller can fix, say so too.
        last = next((f for f in reversed(session.failures) if f.action), None)
        if last is not None:
            error.message = f"{error.message} (earlier, GitHub: {last}; {last.action})"
        raise
    finally:
        await session.close()
    call.llm_calls.append(result)
    uses = [
        FunctionUse(name=c.name, arguments=dict(c.arguments), ok=not c.error)
        for c in result.tool_calls
        if not c.native
    ]
    touched = list(session.repositories.values())
    refs = repository_refs(touched)
    if refs:
        try:
            await call.store.record_repositories(refs)
        except Exception:  # a side note only: the answer is already there
            logger.warning("git_mcp_agent could not record the repositories it read", exc_info=True)
    return AgentOutcome(
        result=GitMcpResult(answer=result.text, toolCalls=uses),
        summary=result.text,
        metadata={
            "function_calls": len(uses),
            "failed_function_calls": sum(not u.ok for u in uses),
            "repositories": sorted(r.full_name for r in touched),
            "steps": result.steps,
            "authenticated": token is not None,
        },
    )


SPEC = AgentSpec(
    agent_type="git_mcp_agent",
    chat_tool_key="gitMcpAgent",
    title="Git agent",
    operations=(
        Operation(
            "query",
            "",
            "mcp_operation",
            "tool_use",
            read_only=True,
            idempotent=True,
            open_world=True,
        ),
    ),
    input_model=GitMcpAgentInput,
    output_model=GitMcpResult,
    run=run,
    parameter_keys={"input": "input"},
    enabled_when=lambda provider, tools: bool(enabled_groups(tools)),
)
