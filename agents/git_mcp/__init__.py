"""The git agent (`git_mcp_agent`): read-only GitHub questions answered by a model calling GitHub.

`client` holds the PyGithub client, the argument checks and the failure messages; `functions` one
pydantic model per GitHub function (its schema and its argument checks); `agent` the agent itself.
PyGithub is imported on first use only.
"""

from artificer.agents.git_mcp.agent import SPEC, FunctionUse, GitMcpAgentInput, GitMcpResult, run
from artificer.agents.git_mcp.client import (
    GITHUB_THREADS,
    GitHubCallFailed,
    GitHubSession,
    describe_failure,
    git_ref,
    login_name,
    make_client,
    repository_name,
    repository_path,
)
from artificer.agents.git_mcp.functions import (
    FUNCTIONS,
    GROUPS,
    GitHubFunction,
    enabled_groups,
    function_tools,
)

__all__ = [
    "FUNCTIONS",
    "GITHUB_THREADS",
    "GROUPS",
    "SPEC",
    "FunctionUse",
    "GitHubCallFailed",
    "GitHubFunction",
    "GitHubSession",
    "GitMcpAgentInput",
    "GitMcpResult",
    "describe_failure",
    "enabled_groups",
    "function_tools",
    "git_ref",
    "login_name",
    "make_client",
    "repository_name",
    "repository_path",
    "run",
]
