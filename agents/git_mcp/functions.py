"""The GitHub functions the model may call: one pydantic model per function.

A function's model is both halves of its contract: the JSON schema the model is shown (`parameters()`)
and the check of the arguments it sends (`from_arguments`, which turns a validation failure into one
clear message fed back to the model). Owner/name, login, path and ref fields run the checks of
`client` before anything reaches a URL; lists and texts are trimmed so results stay small. `call` is
the PyGithub side, blocking: `function_tools` runs it on the GitHub thread limiter.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import anyio
from artificer.agents.git_mcp.client import (
    GITHUB_THREADS,
    MAX_ITEMS,
    GitHubCallFailed,
    GitHubSession,
    describe_failure,
    git_ref,
    login_name,
    positive_whole,
    repository_name,
    repository_path,
)
from artificer.agents.providers.base import FunctionTool
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

if TYPE_CHECKING:
    from github.Repository import Repository

MAX_FILE_BYTES = 20_000
"""Most bytes of a file's content passed to the model."""
MAX_TEXT_CHARS = 2_000
"""Most characters of an issue or pull request body, a commit message, a code-search fragment."""
MAX_COMMENTS = 10
DEFAULT_LIMIT = 10

Group = Literal["repos", "issues", "pull_requests", "users", "code_search", "branches"]
GROUPS: tuple[Group, ...] = ("repos", "issues", "pull_requests", "users", "code_search", "branches")
"""The function groups, by their toggle under the agent row's `tools`."""


# --- argument types --------------------------------------------------------------------------------


def _query(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("query is required")
    return value.strip()


def _limit(value: Any) -> int:
    return min(positive_whole(value, "limit"), MAX_ITEMS)


def _state(value: Any) -> str:
    if value == "":
        return "open"
    if value not in ("open", "closed", "all"):
        raise ValueError("state must be open, closed or all")
    return str(value)


def _ref(label: str) -> Callable[[Any], str | None]:
    return lambda value: git_ref(value, label)


Repo = Annotated[str, BeforeValidator(repository_name), Field(description="The repository as owner/name.")]
Query = Annotated[str, BeforeValidator(_query), Field(description="The search query.")]
Limit = Annotated[
    int,
    BeforeValidator(_limit),
    Field(description=f"Most results to return (1-{MAX_ITEMS}; default {DEFAULT_LIMIT})."),
]
Number = Annotated[
    int,
    BeforeValidator(lambda value: positive_whole(value, "number")),
    Field(description="The issue or pull request number."),
]
State = Annotated[
    Literal["open", "closed", "all"], BeforeValidator(_state), Field(description="Default: open.")
]


class _Declaration(GenerateJsonSchema):
    """The schema a model is shown: no titles, and an optional field is its type (not `anyOf null`)."""

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> JsonSchemaValue:
        declaration = super().generate(schema, mode)
        declaration.pop("title", None)
        return declaration

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        declaration = super().default_schema(schema)
        if declaration.get("default", ...) is None:
            del declaration["default"]
        return declaration


class GitHubFunction(BaseModel):
    """One function: its name, group and description, its arguments as fields, and its PyGithub call."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: ClassVar[str]
    group: ClassVar[Group]
    description: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        """A model may send null for an argument it leaves out."""
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if value is not None}
        return data

    @classmethod
    def parameters(cls) -> dict[str, Any]:
        """The JSON schema of the arguments, for the function's declaration."""
        return cls.model_json_schema(schema_generator=_Declaration)

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any]) -> GitHubFunction:
        """The model's arguments, checked; GitHubCallFailed says what is wrong with them."""
        try:
            return cls.model_validate(arguments)
        except ValidationError as error:
            raise GitHubCallFailed(_problems(error)) from None

    def call(self, github: GitHubSession) -> Any:
        """Run the function against GitHub (blocking) and return a small JSON-able result."""
        raise NotImplementedError


def _problems(error: ValidationError) -> str:
    problems = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "the arguments"
        if problem["type"] == "missing":
            problems.append(f"{where} is required")
        elif problem["type"] == "value_error":  # the checks above name their argument
            problems.append(str(problem["ctx"]["error"]))
        else:
            problems.append(f"{where}: {problem['msg']}")
    return "; ".join(problems)


# --- result shapes ---------------------------------------------------------------------------------


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


def _repo_summary(repo: Repository) -> dict[str, Any]:
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
        # from the listed JSON: `issue.pull_request` is absent for plain issues, and reading it would
        # make PyGithub fetch each issue again
        "is_pull_request": "/pull/" in (issue.html_url or ""),
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


# --- repos -----------------------------------------------------------------------------------------


class SearchRepositories(GitHubFunction):
    name = "search_repositories"
    group = "repos"
    description = (
        "Search GitHub repositories (GitHub search syntax, e.g. 'widgets org:octo-org language:go')."
    )
    query: Query
    limit: Limit = DEFAULT_LIMIT

    def call(self, github: GitHubSession) -> dict[str, Any]:
        found = github.client.search_repositories(self.query)
        items = [_repo_summary(r) for r in _first(found, self.limit)]
        # iterating fetched the first page, which carries total_count: no second request
        return {"total_count": found.totalCount, "items": items}


class GetRepository(GitHubFunction):
    name = "get_repository"
    group = "repos"
    description = "Read a repository's details: description, default branch, language, stars, open issues."
    repo: Repo

    def call(self, github: GitHubSession) -> dict[str, Any]:
        return _repo_summary(github.repository(self.repo))


class GetFileContents(GitHubFunction):
    name = "get_file_contents"
    group = "repos"
    description = f"Read a file (first {MAX_FILE_BYTES} bytes) or list a directory of a repository."
    repo: Repo
    path: Annotated[
        str,
        BeforeValidator(repository_path),
        Field(description="Path in the repository; '' for the root directory."),
    ]
    ref: Annotated[
        str | None,
        BeforeValidator(_ref("ref")),
        Field(description="Branch, tag or commit; default: the default branch."),
    ] = None

    def call(self, github: GitHubSession) -> dict[str, Any]:
        repo = github.repository(self.repo)
        contents = repo.get_contents(self.path, ref=self.ref) if self.ref else repo.get_contents(self.path)
        if isinstance(contents, list):
            entries = [{"name": c.name, "path": c.path, "type": c.type, "size": c.size} for c in contents]
            return {
                "path": self.path,
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


class ListCommits(GitHubFunction):
    name = "list_commits"
    group = "repos"
    description = "List the latest commits of a repository, newest first."
    repo: Repo
    sha: Annotated[
        str | None,
        BeforeValidator(_ref("sha")),
        Field(description="Branch, tag or commit to start from."),
    ] = None
    path: Annotated[
        str, BeforeValidator(repository_path), Field(description="Only commits touching this path.")
    ] = ""
    limit: Limit = DEFAULT_LIMIT

    def call(self, github: GitHubSession) -> list[dict[str, Any]]:
        options: dict[str, Any] = {}
        if self.sha:
            options["sha"] = self.sha
        if self.path:
            options["path"] = self.path
        commits = _first(github.repository(self.repo).get_commits(**options), self.limit)
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


# --- issues ----------------------------------------------------------------------------------------


class ListIssues(GitHubFunction):
    name = "list_issues"
    group = "issues"
    description = (
        "List a repository's issues (GitHub includes pull requests; see is_pull_request), newest first."
    )
    repo: Repo
    state: State = "open"
    labels: list[str] = Field(default_factory=list, description="Only issues with all these.")
    limit: Limit = DEFAULT_LIMIT

    def call(self, github: GitHubSession) -> list[dict[str, Any]]:
        options: dict[str, Any] = {"state": self.state}
        if self.labels:
            options["labels"] = list(self.labels)
        issues = _first(github.repository(self.repo).get_issues(**options), self.limit)
        return [_issue_summary(i) for i in issues]


class GetIssue(GitHubFunction):
    name = "get_issue"
    group = "issues"
    description = f"Read one issue with its body and first {MAX_COMMENTS} comments."
    repo: Repo
    number: Number

    def call(self, github: GitHubSession) -> dict[str, Any]:
        issue = github.repository(self.repo).get_issue(self.number)
        result = _issue_summary(issue)
        result["body"] = _text(issue.body)
        if issue.comments:
            result["comment_list"] = [
                {"author": _login(c.user), "body": _text(c.body, 1000), "created_at": _iso(c.created_at)}
                for c in _first(issue.get_comments(), MAX_COMMENTS)
            ]
        return result


class SearchIssues(GitHubFunction):
    name = "search_issues"
    group = "issues"
    description = (
        "Search issues and pull requests (GitHub search syntax, e.g. 'repo:o/r is:issue is:open crash')."
    )
    query: Query
    limit: Limit = DEFAULT_LIMIT

    def call(self, github: GitHubSession) -> dict[str, Any]:
        found = github.client.search_issues(self.query)
        items = []
        for issue in _first(found, self.limit):
            summary = _issue_summary(issue)
            summary["repository"] = issue.repository_url.rsplit("/repos/", 1)[-1]
            items.append(summary)
        return {"total_count": found.totalCount, "items": items}


# --- pull requests ---------------------------------------------------------------------------------


class ListPullRequests(GitHubFunction):
    name = "list_pull_requests"
    group = "pull_requests"
    description = "List a repository's pull requests, newest first."
    repo: Repo
    state: State = "open"
    limit: Limit = DEFAULT_LIMIT

    def call(self, github: GitHubSession) -> list[dict[str, Any]]:
        pulls = _first(github.repository(self.repo).get_pulls(state=self.state), self.limit)
        return [_pull_summary(p) for p in pulls]


class GetPullRequest(GitHubFunction):
    name = "get_pull_request"
    group = "pull_requests"
    description = "Read one pull request: body, merge state, size and changed files."
    repo: Repo
    number: Number

    def call(self, github: GitHubSession) -> dict[str, Any]:
        pull = github.repository(self.repo).get_pull(self.number)
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


# --- users, code search, branches ------------------------------------------------------------------


class GetUser(GitHubFunction):
    name = "get_user"
    group = "users"
    description = "Look up a GitHub user or organisation by login."
    username: Annotated[str, BeforeValidator(login_name), Field(description="The login.")]

    def call(self, github: GitHubSession) -> dict[str, Any]:
        user = github.client.get_user(self.username)
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


class SearchCode(GitHubFunction):
    name = "search_code"
    group = "code_search"
    description = (
        "Search code across GitHub (code search syntax, e.g. 'parse_config repo:o/r language:python')."
    )
    query: Query
    limit: Limit = DEFAULT_LIMIT

    def call(self, github: GitHubSession) -> dict[str, Any]:
        found = github.client.search_code(self.query)
        items = [
            {"repository": c.repository.full_name, "path": c.path, "url": c.html_url, "sha": c.sha}
            for c in _first(found, self.limit)
        ]
        return {"total_count": found.totalCount, "items": items}  # from the page just read


class ListBranches(GitHubFunction):
    name = "list_branches"
    group = "branches"
    description = "List a repository's branches."
    repo: Repo
    limit: Annotated[
        int,
        BeforeValidator(_limit),
        Field(description=f"Most results to return (1-{MAX_ITEMS}; default {MAX_ITEMS})."),
    ] = MAX_ITEMS

    def call(self, github: GitHubSession) -> list[dict[str, Any]]:
        branches = _first(github.repository(self.repo).get_branches(), self.limit)
        return [{"name": b.name, "sha": b.commit.sha, "protected": b.protected} for b in branches]


FUNCTIONS: tuple[type[GitHubFunction], ...] = (
    SearchRepositories,
    GetRepository,
    GetFileContents,
    ListCommits,
    ListIssues,
    GetIssue,
    SearchIssues,
    ListPullRequests,
    GetPullRequest,
    GetUser,
    SearchCode,
    ListBranches,
)


# --- as the provider's function tools --------------------------------------------------------------


def enabled_groups(tools: Any) -> tuple[Group, ...]:
    """The function groups the agent row's `tools` switch on (`tools.<group>.enabled` is true)."""
    tools = tools if isinstance(tools, Mapping) else {}
    return tuple(
        group
        for group in GROUPS
        if isinstance(tools.get(group), Mapping) and tools[group].get("enabled") is True
    )


def function_tools(session: GitHubSession, groups: Sequence[str]) -> list[FunctionTool]:
    """The functions of the enabled groups: arguments checked on the event loop, then the PyGithub
    call in a worker thread of the GitHub limiter; a GitHub failure becomes a clear GitHubCallFailed."""

    def handler(function: type[GitHubFunction]) -> Callable[[dict[str, Any]], Any]:
        async def run(arguments: dict[str, Any]) -> Any:
            checked = function.from_arguments(arguments)
            try:
                return await anyio.to_thread.run_sync(
                    checked.call, session, limiter=GITHUB_THREADS, abandon_on_cancel=True
                )
            except Exception as error:
                failure = describe_failure(error, authenticated=session.authenticated)
                session.failures.append(failure)
                raise failure from None

        return run

    return [
        FunctionTool(
            name=function.name,
            description=function.description,
            parameters=function.parameters(),
            handler=handler(function),
        )
        for function in FUNCTIONS
        if function.group in groups
    ]
