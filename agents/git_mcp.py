"""The git agent: read-only questions about GitHub, answered by a model that calls GitHub functions.

One free-form `input` (no `operation`). The system prompt is the agent row's `systemPrompt`; the model
gets the functions of the function groups the row enables (`tools.{repos,issues,pull_requests,users,
code_search,branches}.enabled`), each a read-only PyGithub call run off the event loop, with lists and
file contents trimmed so results stay small. Every owner/name, login, path and ref the model passes is
checked before it becomes part of a URL (no `..`, `?`, `#`, `%`), so no call reaches another endpoint.
A GitHub failure (404, bad credentials, rate limit, 5xx) goes back to the model as that function's
error; if the model call then fails, that provider error is the tool error, with the GitHub refusal and
what to do about it (set GITHUB_TOKEN, wait for the rate limit) appended. The repositories the agent
read are recorded in the caller's `github_repositories` (as the caller, under RLS; best effort). The
server never writes to GitHub, and the token (`GITHUB_TOKEN`) never reaches a prompt, a result or a log.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import requests
from artificer.agents.base import AgentCall, AgentInputError, AgentOutcome, AgentSpec, Operation
from artificer.agents.providers.base import FunctionTool, LLMRequest, ProviderError
from artificer.storage import github as repositories
from artificer.storage.database import as_user
from github import Auth, Github, GithubException
from github.GithubException import BadCredentialsException, RateLimitExceededException, UnknownObjectException
from github.Repository import Repository
from pydantic import BaseModel, ConfigDict, Field
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)

MAX_INPUT_CHARS = 20_000
MAX_STEPS = 8
"""Model round trips per call (each may ask for several functions)."""
MAX_ITEMS = 30
"""Most entries any list function returns (the model may ask for fewer with `limit`)."""
MAX_FILE_BYTES = 20_000
"""Most bytes of a file's content passed to the model."""
MAX_TEXT_CHARS = 2_000
"""Most characters of an issue or pull request body, a commit message, a code-search fragment."""
MAX_COMMENTS = 10
GITHUB_TIMEOUT_SECONDS = 15
DEFAULT_GITHUB_URL = "https://api.github.com"

GROUPS = ("repos", "issues", "pull_requests", "users", "code_search", "branches")
"""The function groups, by their toggle under the agent row's `tools`."""


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


# --- GitHub access -------------------------------------------------------------------------------


class GitHubCallFailed(Exception):
    """A GitHub call that failed; the message is what the model (and maybe the caller) reads."""

    def __init__(self, message: str, *, action: str | None = None) -> None:
        super().__init__(message)
        self.action = action
        """What the caller can do about it (set GITHUB_TOKEN, wait), when it is not the model's to fix."""


def _github_message(error: GithubException) -> str:
    data = error.data
    message = data.get("message") if isinstance(data, Mapping) else None
    return str(message)[:300] if message else f"HTTP {error.status}"


def describe_failure(error: Exception, *, authenticated: bool) -> GitHubCallFailed:
    """A GitHub or transport failure as a short message with no request details (and no token)."""
    if isinstance(error, BadCredentialsException) or (
        isinstance(error, GithubException) and error.status == 401
    ):
        if authenticated:
            return GitHubCallFailed(
                "GitHub rejected the configured token (401 bad credentials)",
                action="set GITHUB_TOKEN to a valid GitHub token",
            )
        return GitHubCallFailed(
            "GitHub requires authentication for this (401)",
            action="set GITHUB_TOKEN to a GitHub token",
        )
    if isinstance(error, RateLimitExceededException) or (
        isinstance(error, GithubException)
        and error.status in (403, 429)
        and "rate limit" in _github_message(error).lower()
    ):
        assert isinstance(error, GithubException)
        reset = (error.headers or {}).get("x-ratelimit-reset")
        when = f" (resets at unix time {reset})" if reset else ""
        action = "wait for the GitHub rate limit to reset"
        if not authenticated:
            action += ", or set GITHUB_TOKEN for a much higher limit"
        return GitHubCallFailed(f"GitHub rate limit exceeded{when}", action=action)
    if isinstance(error, UnknownObjectException) or (
        isinstance(error, GithubException) and error.status == 404
    ):
        hint = "" if authenticated else " (private repositories need GITHUB_TOKEN)"
        return GitHubCallFailed(
            f"not found on GitHub (404): check the owner/name, path, branch or number{hint}"
        )
    if isinstance(error, GithubException):
        if error.status == 403:
            return GitHubCallFailed(
                f"GitHub refused access (403): {_github_message(error)}",
                action="check that GITHUB_TOKEN may read this",
            )
        return GitHubCallFailed(f"GitHub answered {error.status}: {_github_message(error)}")
    if isinstance(error, requests.RequestException):
        return GitHubCallFailed(
            f"GitHub could not be reached ({type(error).__name__})",
            action="check GITHUB_BASE_URL and the network, then retry",
        )
    return GitHubCallFailed(f"the GitHub call failed ({type(error).__name__})")


def make_client(token: str | None, base_url: str) -> Github:
    """A read-only PyGithub client: token auth when there is a token, else anonymous (public data).

    Retries only idempotent GETs on 5xx, a few times; a rate limit is never waited out (it is reported).
    """
    retry = Retry(
        total=2,
        backoff_factor=0.2,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,  # the last 5xx arrives as a GithubException with GitHub's status
    )
    return Github(
        auth=Auth.Token(token) if token else None,
        base_url=base_url.rstrip("/"),
        timeout=GITHUB_TIMEOUT_SECONDS,
        per_page=MAX_ITEMS,
        retry=retry,
        seconds_between_requests=None,
    )


def _positive_whole(value: Any, label: str) -> int:
    """A positive whole number from a model's argument (JSON numbers may arrive as 5.0)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GitHubCallFailed(f"{label} must be a positive whole number")
    return value


def _limit(value: Any, default: int = 10) -> int:
    if value is None:
        return default
    return min(_positive_whole(value, "limit"), MAX_ITEMS)


# PyGithub puts owner/name, logins and file paths into the URL path without escaping `/` or `.`, and
# the HTTP stack resolves `..`: every such argument is checked before it reaches a URL, so a model (or
# whoever wrote its input) cannot steer the server's token to another endpoint.
_REPO_PART = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_LOGIN = re.compile(r"[A-Za-z0-9-]{1,39}")
_PATH_FORBIDDEN = frozenset("?#%\\")
_REF_FORBIDDEN = frozenset(" ~^:?*[\\#%")


def _has_control(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def repository_name(value: Any) -> str:
    """`owner/name`, checked: letters, digits, `_`, `.`, `-` (1-100 each), never `.` or `..`."""
    if isinstance(value, str):
        parts = value.strip().split("/")
        if len(parts) == 2 and all(_REPO_PART.fullmatch(part) and part not in (".", "..") for part in parts):
            return "/".join(parts)
    raise GitHubCallFailed(
        "repo must be owner/name (letters, digits, '_', '.', '-'; 1-100 each), e.g. octo-org/widgets"
    )


def login_name(value: Any) -> str:
    """A GitHub login: letters, digits and `-`, 1-39 characters."""
    if isinstance(value, str) and _LOGIN.fullmatch(value.strip()):
        return value.strip()
    raise GitHubCallFailed("username must be a GitHub login (letters, digits and '-', at most 39)")


def repository_path(value: Any, label: str = "path") -> str:
    """A path inside a repository ('' is the root): no empty, `.` or `..` segment, none of ?#%\\."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise GitHubCallFailed(f"{label} must be a string")
    path = value.strip().strip("/")
    if not path:
        return ""
    if (
        len(path) > 1000
        or _has_control(path)
        or any(c in _PATH_FORBIDDEN for c in path)
        or any(segment in ("", ".", "..") for segment in path.split("/"))
    ):
        raise GitHubCallFailed(
            f"{label} must be a plain path in the repository (no '.', '..' or empty segments, "
            "none of ? # % \\), e.g. src/app.py"
        )
    return path


def git_ref(value: Any, label: str) -> str | None:
    """A branch, tag or commit name as git allows it (no `..`, `@{`, spaces or ~^:?*[\\), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        ref = value.strip()
        if (
            0 < len(ref) <= 255
            and not _has_control(ref)
            and not any(c in _REF_FORBIDDEN for c in ref)
            and ".." not in ref
            and "@{" not in ref
            and "//" not in ref
            and not ref.startswith(("/", "-", "."))
            and not ref.endswith(("/", "."))
        ):
            return ref
    raise GitHubCallFailed(f"{label} must be a branch, tag or commit name, e.g. main")


def _text(value: str | None, limit: int = MAX_TEXT_CHARS) -> str | None:
    if value is None or len(value) <= limit:
        return value
    return value[:limit] + f"… [{len(value) - limit} more characters]"


def _first(items: Iterable[Any], limit: int) -> list[Any]:
    return list(itertools.islice(items, limit))


def _login(user: Any) -> str | None:
    return getattr(user, "login", None) if user is not None else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _repo_summary(repo: Any) -> dict[str, Any]:
    return {
        "full_name": repo.full_name,
        "description": _text(repo.description, 500),
        "url": repo.html_url,
        "default_branch": repo.default_branch,
        "private": repo.private,
        "language": repo.language,
        "stars": repo.stargazers_count,
        "forks": repo.forks_count,
        "open_issues": repo.open_issues_count,
        "archived": repo.archived,
        "updated_at": _iso(repo.updated_at),
    }


def _issue_summary(issue: Any) -> dict[str, Any]:
    return {
        "number": issue.number,
        "title": issue.title,
        "state": issue.state,
        "author": _login(issue.user),
        "labels": [label.name for label in issue.labels],
        "comments": issue.comments,
        "is_pull_request": issue.pull_request is not None,
        "url": issue.html_url,
        "created_at": _iso(issue.created_at),
        "updated_at": _iso(issue.updated_at),
    }


def _pull_summary(pull: Any) -> dict[str, Any]:
    return {
        "number": pull.number,
        "title": pull.title,
        "state": pull.state,
        "draft": pull.draft,
        "author": _login(pull.user),
        "base": pull.base.ref,
        "head": pull.head.ref,
        "url": pull.html_url,
        "created_at": _iso(pull.created_at),
        "updated_at": _iso(pull.updated_at),
    }


@dataclass
class GitHubSession:
    """The GitHub side of one agent call: the client, and the repositories it read."""

    client: Github
    authenticated: bool
    repositories: dict[str, Repository] = field(default_factory=dict)
    """Repositories read in this call, by lower-case full name (each fetched once)."""
    failures: list[GitHubCallFailed] = field(default_factory=list)

    # Every method below is synchronous (PyGithub) and runs in a worker thread.

    def repository(self, full_name: Any) -> Repository:
        name = repository_name(full_name)
        key = name.lower()
        cached = self.repositories.get(key)
        if cached is not None:
            return cached
        repo = self.client.get_repo(name)
        if isinstance(repo.full_name, str):  # only well-formed answers are kept (and recorded later)
            self.repositories[key] = repo
        return repo

    # repos
    def search_repositories(self, args: Mapping[str, Any]) -> dict[str, Any]:
        found = self.client.search_repositories(_query(args))
        items = [_repo_summary(r) for r in _first(found, _limit(args.get("limit")))]
        # iterating fetched the first page, which carries total_count: no second request
        return {"total_count": found.totalCount, "items": items}

    def get_repository(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return _repo_summary(self.repository(args.get("repo")))

    def get_file_contents(self, args: Mapping[str, Any]) -> dict[str, Any]:
        path = repository_path(args.get("path"))
        ref = git_ref(args.get("ref"), "ref")
        repo = self.repository(args.get("repo"))
        contents = repo.get_contents(path, ref=ref) if ref else repo.get_contents(path)
        if isinstance(contents, list):
            entries = [{"name": c.name, "path": c.path, "type": c.type, "size": c.size} for c in contents]
            return {
                "path": path,
                "type": "dir",
                "entries": entries[:100],
                "truncated": len(entries) > 100,
            }
        result: dict[str, Any] = {"path": contents.path, "type": contents.type, "size": contents.size}
        result["url"] = contents.html_url
        if contents.encoding != "base64":
            result["content"] = None
            result["note"] = "the file is too large for the contents API; open its URL instead"
            return result
        raw = contents.decoded_content
        if b"\x00" in raw[:8000]:
            result["content"] = None
            result["note"] = "binary file"
            return result
        result["content"] = raw[:MAX_FILE_BYTES].decode("utf-8", errors="replace")
        result["truncated"] = len(raw) > MAX_FILE_BYTES
        return result

    def list_commits(self, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        options: dict[str, Any] = {}
        if sha := git_ref(args.get("sha"), "sha"):
            options["sha"] = sha
        if path := repository_path(args.get("path")):
            options["path"] = path
        limit = _limit(args.get("limit"))
        repo = self.repository(args.get("repo"))
        commits = _first(repo.get_commits(**options), limit)
        return [
            {
                "sha": c.sha,
                "message": _text(c.commit.message, 500),
                "author": _login(c.author) or c.commit.author.name,
                "date": _iso(c.commit.author.date),
                "url": c.html_url,
            }
            for c in commits
        ]

    # issues
    def list_issues(self, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        options: dict[str, Any] = {"state": _state(args.get("state"))}
        labels = args.get("labels")
        if isinstance(labels, list) and labels:
            options["labels"] = [str(label) for label in labels]
        limit = _limit(args.get("limit"))
        repo = self.repository(args.get("repo"))
        issues = _first(repo.get_issues(**options), limit)
        return [_issue_summary(i) for i in issues]

    def get_issue(self, args: Mapping[str, Any]) -> dict[str, Any]:
        number = _number(args.get("number"))
        issue = self.repository(args.get("repo")).get_issue(number)
        result = _issue_summary(issue)
        result["body"] = _text(issue.body)
        if issue.comments:
            result["comment_list"] = [
                {"author": _login(c.user), "body": _text(c.body, 1000), "created_at": _iso(c.created_at)}
                for c in _first(issue.get_comments(), MAX_COMMENTS)
            ]
        return result

    def search_issues(self, args: Mapping[str, Any]) -> dict[str, Any]:
        found = self.client.search_issues(_query(args))
        limit = _limit(args.get("limit"))
        items = []
        for issue in _first(found, limit):
            summary = _issue_summary(issue)
            summary["repository"] = issue.repository_url.rsplit("/repos/", 1)[-1]
            items.append(summary)
        return {"total_count": found.totalCount, "items": items}

    # pull requests
    def list_pull_requests(self, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        state, limit = _state(args.get("state")), _limit(args.get("limit"))
        pulls = _first(self.repository(args.get("repo")).get_pulls(state=state), limit)
        return [_pull_summary(p) for p in pulls]

    def get_pull_request(self, args: Mapping[str, Any]) -> dict[str, Any]:
        number = _number(args.get("number"))
        pull = self.repository(args.get("repo")).get_pull(number)
        result = _pull_summary(pull)
        result.update(
            body=_text(pull.body),
            merged=pull.merged,
            additions=pull.additions,
            deletions=pull.deletions,
            changed_files=pull.changed_files,
            files=[
                {
                    "filename": f.filename,
                    "status": f.status,
                    "additions": f.additions,
                    "deletions": f.deletions,
                }
                for f in _first(pull.get_files(), MAX_ITEMS)
            ],
        )
        return result

    # users
    def get_user(self, args: Mapping[str, Any]) -> dict[str, Any]:
        user = self.client.get_user(login_name(args.get("username")))
        return {
            "login": user.login,
            "name": user.name,
            "type": user.type,
            "bio": _text(user.bio, 500),
            "company": user.company,
            "location": user.location,
            "blog": user.blog,
            "public_repos": user.public_repos,
            "followers": user.followers,
            "url": user.html_url,
            "created_at": _iso(user.created_at),
        }

    # code search
    def search_code(self, args: Mapping[str, Any]) -> dict[str, Any]:
        found = self.client.search_code(_query(args))
        items = [
            {"repository": c.repository.full_name, "path": c.path, "url": c.html_url, "sha": c.sha}
            for c in _first(found, _limit(args.get("limit")))
        ]
        return {"total_count": found.totalCount, "items": items}  # from the page just read

    # branches
    def list_branches(self, args: Mapping[str, Any]) -> list[dict[str, Any]]:
        limit = _limit(args.get("limit"), MAX_ITEMS)
        branches = _first(self.repository(args.get("repo")).get_branches(), limit)
        return [{"name": b.name, "sha": b.commit.sha, "protected": b.protected} for b in branches]


def _query(args: Mapping[str, Any]) -> str:
    query = args.get("query")
    if not isinstance(query, str) or not query.strip():
        raise GitHubCallFailed("query is required")
    return query.strip()


def _number(value: Any) -> int:
    return _positive_whole(value, "number")


def _state(value: Any) -> str:
    if value in (None, ""):
        return "open"
    if value not in ("open", "closed", "all"):
        raise GitHubCallFailed("state must be open, closed or all")
    return str(value)


# --- the functions the model sees ------------------------------------------------------------------

_REPO = {"type": "string", "description": "The repository as owner/name."}
_LIMIT = {"type": "integer", "description": f"Most results to return (1-{MAX_ITEMS}; default 10)."}
_STATE = {"type": "string", "enum": ["open", "closed", "all"], "description": "Default: open."}
_NUMBER = {"type": "integer", "description": "The issue or pull request number."}


def _schema(required: Sequence[str], **properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": dict(properties), "required": list(required)}


@dataclass(frozen=True, slots=True)
class FunctionDefinition:
    name: str
    group: str
    description: str
    parameters: Mapping[str, Any]
    method: Callable[[GitHubSession, Mapping[str, Any]], Any]


FUNCTIONS: tuple[FunctionDefinition, ...] = (
    FunctionDefinition(
        "search_repositories",
        "repos",
        "Search GitHub repositories (GitHub search syntax, e.g. 'widgets org:octo-org language:go').",
        _schema(["query"], query={"type": "string", "description": "The search query."}, limit=_LIMIT),
        GitHubSession.search_repositories,
    ),
    FunctionDefinition(
        "get_repository",
        "repos",
        "Read a repository's details: description, default branch, language, stars, open issues.",
        _schema(["repo"], repo=_REPO),
        GitHubSession.get_repository,
    ),
    FunctionDefinition(
        "get_file_contents",
        "repos",
        f"Read a file (first {MAX_FILE_BYTES} bytes) or list a directory of a repository.",
        _schema(
            ["repo", "path"],
            repo=_REPO,
            path={"type": "string", "description": "Path in the repository; '' for the root directory."},
            ref={"type": "string", "description": "Branch, tag or commit; default: the default branch."},
        ),
        GitHubSession.get_file_contents,
    ),
    FunctionDefinition(
        "list_commits",
        "repos",
        "List the latest commits of a repository, newest first.",
        _schema(
            ["repo"],
            repo=_REPO,
            sha={"type": "string", "description": "Branch, tag or commit to start from."},
            path={"type": "string", "description": "Only commits touching this path."},
            limit=_LIMIT,
        ),
        GitHubSession.list_commits,
    ),
    FunctionDefinition(
        "list_issues",
        "issues",
        "List a repository's issues (GitHub includes pull requests; see is_pull_request), newest first.",
        _schema(
            ["repo"],
            repo=_REPO,
            state=_STATE,
            labels={
                "type": "array",
                "items": {"type": "string"},
                "description": "Only issues with all these.",
            },
            limit=_LIMIT,
        ),
        GitHubSession.list_issues,
    ),
    FunctionDefinition(
        "get_issue",
        "issues",
        f"Read one issue with its body and first {MAX_COMMENTS} comments.",
        _schema(["repo", "number"], repo=_REPO, number=_NUMBER),
        GitHubSession.get_issue,
    ),
    FunctionDefinition(
        "search_issues",
        "issues",
        "Search issues and pull requests (GitHub search syntax, e.g. 'repo:o/r is:issue is:open crash').",
        _schema(["query"], query={"type": "string", "description": "The search query."}, limit=_LIMIT),
        GitHubSession.search_issues,
    ),
    FunctionDefinition(
        "list_pull_requests",
        "pull_requests",
        "List a repository's pull requests, newest first.",
        _schema(["repo"], repo=_REPO, state=_STATE, limit=_LIMIT),
        GitHubSession.list_pull_requests,
    ),
    FunctionDefinition(
        "get_pull_request",
        "pull_requests",
        "Read one pull request: body, merge state, size and changed files.",
        _schema(["repo", "number"], repo=_REPO, number=_NUMBER),
        GitHubSession.get_pull_request,
    ),
    FunctionDefinition(
        "get_user",
        "users",
        "Look up a GitHub user or organisation by login.",
        _schema(["username"], username={"type": "string", "description": "The login."}),
        GitHubSession.get_user,
    ),
    FunctionDefinition(
        "search_code",
        "code_search",
        "Search code across GitHub (code search syntax, e.g. 'parse_config repo:o/r language:python').",
        _schema(["query"], query={"type": "string", "description": "The search query."}, limit=_LIMIT),
        GitHubSession.search_code,
    ),
    FunctionDefinition(
        "list_branches",
        "branches",
        "List a repository's branches.",
        _schema(["repo"], repo=_REPO, limit=_LIMIT),
        GitHubSession.list_branches,
    ),
)


def enabled_groups(tools: Any) -> tuple[str, ...]:
    """The function groups the agent row's `tools` switch on (`tools.<group>.enabled` is true)."""
    tools = tools if isinstance(tools, Mapping) else {}
    return tuple(
        group
        for group in GROUPS
        if isinstance(tools.get(group), Mapping) and tools[group].get("enabled") is True
    )


def function_tools(session: GitHubSession, groups: Sequence[str]) -> list[FunctionTool]:
    """The functions of the enabled groups, each running its PyGithub call in a worker thread."""

    def handler(definition: FunctionDefinition) -> Callable[[dict[str, Any]], Any]:
        async def run(arguments: dict[str, Any]) -> Any:
            try:
                return await anyio.to_thread.run_sync(
                    partial(definition.method, session, arguments), abandon_on_cancel=True
                )
            except GitHubCallFailed:
                raise
            except Exception as error:
                failure = describe_failure(error, authenticated=session.authenticated)
                session.failures.append(failure)
                raise failure from None

        return run

    return [
        FunctionTool(name=d.name, description=d.description, parameters=d.parameters, handler=handler(d))
        for d in FUNCTIONS
        if d.group in groups
    ]


# --- the agent -------------------------------------------------------------------------------------


def _github_settings(call: AgentCall) -> tuple[str | None, str]:
    settings = call.settings
    token = settings.github_token.get_secret_value() if settings and settings.github_token else None
    base_url = settings.github_base_url if settings else DEFAULT_GITHUB_URL
    return token or None, base_url or DEFAULT_GITHUB_URL


async def _record_repositories(call: AgentCall, touched: Sequence[Repository]) -> None:
    """Note the repositories read in the caller's `github_repositories` (new rows, or last_accessed).

    A repository whose full name GitHub did not give as a plain owner/name is skipped."""
    names: list[tuple[str, Repository]] = []
    for repo in touched:
        try:
            names.append((repository_name(repo.full_name), repo))
        except GitHubCallFailed:
            logger.warning("git_mcp_agent: not recording a repository without a plain owner/name")
    if not names:
        return
    async with as_user(call.pool, dict(call.claims)) as conn:
        known = {
            r.full_name.lower(): r for r in await repositories.list_repositories(conn, active_only=False)
        }
        for full_name, repo in names:
            row = known.get(full_name.lower())
            if row is None:
                owner, name = full_name.split("/", 1)
                html_url = repo.html_url
                default_branch = repo.default_branch
                row = await repositories.add_repository(
                    conn,
                    owner=owner,
                    name=name,
                    url=html_url if isinstance(html_url, str) else None,
                    default_branch=default_branch if isinstance(default_branch, str) else "main",
                )
            await repositories.touch_repository(conn, row.id)


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
        with anyio.CancelScope(shield=True):  # close the HTTP session even when the call is cancelled
            await anyio.to_thread.run_sync(session.client.close)
    call.llm_calls.append(result)
    uses = [
        FunctionUse(name=c.name, arguments=dict(c.arguments), ok=not c.error)
        for c in result.tool_calls
        if not c.native
    ]
    touched = list(session.repositories.values())
    if touched:
        try:
            await _record_repositories(call, touched)
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
