"""A fake GitHub REST API on 127.0.0.1, answering the read endpoints the git agent uses with JSON
shaped as GitHub returns it (the fields PyGithub reads), 404s as GitHub words them, a 401 for a token
it does not know, a 403 rate-limit answer when `rate_limited` is set, and `fail_status` (e.g. 502) for
every request when that is set.

Point PyGithub at it with `base_url=fake.url`. `fake.requests` holds what PyGithub sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .http import FakeHTTPServer, RecordedRequest, Reply

DOCS = "https://docs.github.com/rest"
CREATED = "2020-01-02T03:04:05Z"
UPDATED = "2024-05-06T07:08:09Z"


def not_found() -> Reply:
    return Reply.of_json({"message": "Not Found", "documentation_url": DOCS, "status": "404"}, 404)


@dataclass
class FakeGitHub(FakeHTTPServer):
    token: str | None = None
    """The one token accepted; any other `Authorization` header gets 401 Bad credentials."""
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    """owner/name → {"description", "default_branch", "issues": [..], "branches": [..], "json": {..}}
    ("json": fields that override the repository's JSON as served, e.g. a malformed full_name; an issue
    with "pull": True is a pull request, listed with GitHub's `pull_request` key)"""
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    code: list[dict[str, Any]] = field(default_factory=list)
    """Code search hits: {"repo", "path"}."""
    rate_limited: bool = False
    fail_status: int | None = None
    """Answer every request with this status (a GitHub outage: 500, 502, 503)."""

    def __post_init__(self) -> None:
        super().__init__(self._handle)

    # --- wire shapes ------------------------------------------------------------------------------

    def _api(self, path: str) -> str:
        return f"{self.url}{path}"

    def user_json(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": abs(hash(login)) % 10_000_000,
            "node_id": "U_" + login,
            "type": "Organization" if login.endswith("-org") else "User",
            "site_admin": False,
            "url": self._api(f"/users/{login}"),
            "html_url": f"https://github.com/{login}",
            "avatar_url": f"https://avatars.example/{login}",
        }

    def repo_json(self, full_name: str) -> dict[str, Any]:
        repo = self.repos[full_name]
        owner, name = full_name.split("/")
        return {
            "id": abs(hash(full_name)) % 10_000_000,
            "node_id": "R_" + full_name,
            "name": name,
            "full_name": full_name,
            "owner": self.user_json(owner),
            "private": False,
            "html_url": f"https://github.com/{full_name}",
            "description": repo.get("description"),
            "fork": False,
            "url": self._api(f"/repos/{full_name}"),
            "language": repo.get("language", "Python"),
            "stargazers_count": repo.get("stars", 42),
            "watchers_count": 42,
            "forks_count": 3,
            "open_issues_count": len(repo.get("issues", [])),
            "default_branch": repo.get("default_branch", "main"),
            "archived": False,
            "disabled": False,
            "visibility": "public",
            "created_at": CREATED,
            "updated_at": UPDATED,
            "pushed_at": UPDATED,
            **repo.get("json", {}),
        }

    def issue_json(self, full_name: str, issue: dict[str, Any]) -> dict[str, Any]:
        number = issue["number"]
        kind = "pull" if issue.get("pull") else "issues"
        return {
            "id": 1000 + number,
            "node_id": f"I_{number}",
            "url": self._api(f"/repos/{full_name}/issues/{number}"),
            "repository_url": self._api(f"/repos/{full_name}"),
            "html_url": f"https://github.com/{full_name}/{kind}/{number}",
            "number": number,
            "state": issue.get("state", "open"),
            "title": issue["title"],
            "body": issue.get("body", ""),
            "user": self.user_json(issue.get("author", "octocat")),
            "labels": [
                {"id": i, "name": label, "color": "d73a4a", "default": False}
                for i, label in enumerate(issue.get("labels", []))
            ],
            "comments": 0,
            "locked": False,
            "created_at": CREATED,
            "updated_at": UPDATED,
            "closed_at": None,
            "author_association": "OWNER",
            **(
                {"pull_request": {"url": self._api(f"/repos/{full_name}/pulls/{number}")}}
                if issue.get("pull")
                else {}
            ),
        }

    # --- routing ----------------------------------------------------------------------------------

    def _handle(self, request: RecordedRequest) -> Reply:
        auth = request.headers.get("authorization")
        if auth is not None and auth != f"token {self.token}" and auth != f"Bearer {self.token}":
            return Reply.of_json(
                {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}, 401
            )
        if self.fail_status is not None:
            return Reply.of_json({"message": "Server Error", "documentation_url": DOCS}, self.fail_status)
        if self.rate_limited:
            return Reply.of_json(
                {
                    "message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: "
                    "Authenticated requests get a higher rate limit.)",
                    "documentation_url": DOCS,
                },
                403,
                headers={
                    "x-ratelimit-limit": "60",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": "1700000000",
                },
            )
        if request.method != "GET":
            return Reply.of_json({"message": "read-only fake", "documentation_url": DOCS}, 405)
        path = request.path.rstrip("/")
        if match := re.fullmatch(r"/users/([^/]+)", path):
            login = match[1]
            if login not in self.users:
                return not_found()
            return Reply.of_json(
                {
                    **self.user_json(login),
                    "public_repos": 2,
                    "followers": 7,
                    "created_at": CREATED,
                    **self.users[login],
                }
            )
        if path == "/search/code":
            items = [
                {
                    "name": hit["path"].rsplit("/", 1)[-1],
                    "path": hit["path"],
                    "sha": "a" * 40,
                    "url": self._api(f"/repos/{hit['repo']}/contents/{hit['path']}"),
                    "html_url": f"https://github.com/{hit['repo']}/blob/main/{hit['path']}",
                    "repository": self.repo_json(hit["repo"]),
                    "score": 1.0,
                }
                for hit in self.code
                if request.query.get("q", "").split()[0] in hit["path"]
            ]
            return Reply.of_json({"total_count": len(items), "incomplete_results": False, "items": items})
        match = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if match is None or match[1] not in self.repos:
            return not_found()
        full_name, rest = match[1], match[2] or ""
        repo = self.repos[full_name]
        if rest == "":
            return Reply.of_json(self.repo_json(full_name))
        if rest == "/issues":
            state = request.query.get("state", "open")
            issues = [
                self.issue_json(full_name, i)
                for i in repo.get("issues", [])
                if state == "all" or i.get("state", "open") == state
            ]
            return Reply.of_json(issues)
        if number := re.fullmatch(r"/issues/(\d+)", rest):
            issue = next((i for i in repo.get("issues", []) if i["number"] == int(number[1])), None)
            return Reply.of_json(self.issue_json(full_name, issue)) if issue else not_found()
        if rest == "/branches":
            return Reply.of_json(
                [
                    {
                        "name": branch,
                        "commit": {
                            "sha": f"{i:040x}",
                            "url": self._api(f"/repos/{full_name}/commits/{i:040x}"),
                        },
                        "protected": branch == repo.get("default_branch", "main"),
                    }
                    for i, branch in enumerate(repo.get("branches", ["main"]), start=1)
                ]
            )
        return not_found()
