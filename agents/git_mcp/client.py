"""The GitHub side of the git agent: the PyGithub client, the argument checks, and failures as messages.

PyGithub (and `requests`/`urllib3` under it) is imported on first use, not when the server starts, and
its blocking calls run on their own bounded thread limiter (`GITHUB_THREADS`), so slow GitHub answers
cannot take the worker threads other code (token verification) runs on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from github import Github, GithubException
    from github.Repository import Repository

MAX_ITEMS = 30
"""Most entries any list function returns (the model may ask for fewer with `limit`)."""
GITHUB_TIMEOUT_SECONDS = 15
DEFAULT_GITHUB_URL = "https://api.github.com"

GITHUB_THREADS = anyio.CapacityLimiter(8)
"""Worker threads PyGithub calls may hold at once, apart from anyio's default limiter."""


class GitHubCallFailed(Exception):
    """A GitHub call that failed, or arguments that cannot become one; the message is what the model
    (and maybe the caller) reads."""

    def __init__(self, message: str, *, action: str | None = None) -> None:
        super().__init__(message)
        self.action = action
        """What the caller can do about it (set GITHUB_TOKEN, wait), when it is not the model's to fix."""


# --- the client ------------------------------------------------------------------------------------


def make_client(token: str | None, base_url: str) -> Github:
    """A read-only PyGithub client: token auth when there is a token, else anonymous (public data).

    Retries only idempotent GETs on 5xx, a few times; a rate limit is never waited out (it is reported).
    """
    from github import Auth, Github
    from urllib3.util.retry import Retry

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


@dataclass
class GitHubSession:
    """The GitHub side of one agent call: the client, and the repositories it read."""

    client: Github
    authenticated: bool
    repositories: dict[str, Repository] = field(default_factory=dict)
    """Repositories read in this call, by lower-case full name (each fetched once)."""
    failures: list[GitHubCallFailed] = field(default_factory=list)

    def repository(self, name: str) -> Repository:
        """The repository `name` (a checked owner/name), fetched once per call. Blocking: run it in
        a worker thread."""
        key = name.lower()
        cached = self.repositories.get(key)
        if cached is not None:
            return cached
        repo = self.client.get_repo(name)
        if isinstance(repo.full_name, str):  # only well-formed answers are kept (and recorded later)
            self.repositories[key] = repo
        return repo

    async def close(self) -> None:
        """Close the HTTP session, even when the call is being cancelled."""
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.client.close, limiter=GITHUB_THREADS)


# --- failures --------------------------------------------------------------------------------------


def _github_message(error: GithubException) -> str:
    data = error.data
    message = data.get("message") if isinstance(data, Mapping) else None
    return str(message)[:300] if message else f"HTTP {error.status}"


def describe_failure(error: Exception, *, authenticated: bool) -> GitHubCallFailed:
    """A GitHub or transport failure as a short message with no request details (and no token)."""
    # already loaded: the failure came from a PyGithub call
    import requests
    from github import GithubException
    from github.GithubException import (
        BadCredentialsException,
        RateLimitExceededException,
        UnknownObjectException,
    )

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


# --- argument checks -------------------------------------------------------------------------------
# PyGithub puts owner/name, logins and file paths into the URL path without escaping `/` or `.`, and
# the HTTP stack resolves `..`: every such argument is checked before it reaches a URL, so a model (or
# whoever wrote its input) cannot steer the server's token to another endpoint. Each check raises
# ValueError with a message naming the argument (pydantic passes it on as the field's error).

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
    raise ValueError(
        "repo must be owner/name (letters, digits, '_', '.', '-'; 1-100 each), e.g. octo-org/widgets"
    )


def login_name(value: Any) -> str:
    """A GitHub login: letters, digits and `-`, 1-39 characters."""
    if isinstance(value, str) and _LOGIN.fullmatch(value.strip()):
        return value.strip()
    raise ValueError("username must be a GitHub login (letters, digits and '-', at most 39)")


def repository_path(value: Any, label: str = "path") -> str:
    """A path inside a repository ('' is the root): no empty, `.` or `..` segment, none of ?#%\\."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{label} must be a string")
    path = value.strip().strip("/")
    if not path:
        return ""
    if (
        len(path) > 1000
        or _has_control(path)
        or any(c in _PATH_FORBIDDEN for c in path)
        or any(segment in ("", ".", "..") for segment in path.split("/"))
    ):
        raise ValueError(
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
    raise ValueError(f"{label} must be a branch, tag or commit name, e.g. main")


def positive_whole(value: Any, label: str) -> int:
    """A positive whole number from a model's argument (JSON numbers may arrive as 5.0)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{label} must be a positive whole number")
    return value
