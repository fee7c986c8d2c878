"""`github_repositories`: the repositories a user connected, for the git agent.

Every function takes a connection that runs as the caller (`as_user(...)`); RLS limits each user to their
own rows, and new rows belong to `auth.uid()`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from artificer.common.records import RepositoryRef

_COLUMNS = (
    "id, user_id, repo_owner, repo_name, repo_url, default_branch, is_active, last_accessed, created_at"
)


class RepositoryNotFound(Exception):
    """No such repository is visible to the caller."""


@dataclass(frozen=True, slots=True)
class Repository:
    id: uuid.UUID
    user_id: uuid.UUID
    owner: str
    name: str
    url: str | None
    default_branch: str | None
    is_active: bool
    last_accessed: datetime | None
    created_at: datetime | None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


def _repository(record: asyncpg.Record) -> Repository:
    return Repository(
        id=record["id"],
        user_id=record["user_id"],
        owner=record["repo_owner"],
        name=record["repo_name"],
        url=record["repo_url"],
        default_branch=record["default_branch"],
        is_active=bool(record["is_active"]),
        last_accessed=record["last_accessed"],
        created_at=record["created_at"],
    )


def _check_part(label: str, value: str) -> None:
    if not value or len(value) > 100 or "/" in value or value.strip() != value:
        raise ValueError(f"{label} must be 1-100 characters without '/' or surrounding spaces; got {value!r}")


async def add_repository(
    conn: asyncpg.Connection,
    *,
    owner: str,
    name: str,
    url: str | None = None,
    default_branch: str = "main",
) -> Repository:
    """Connect a repository for the caller (or return the existing row for the same owner/name)."""
    _check_part("owner", owner)
    _check_part("name", name)
    # one statement: a concurrent add of the same owner/name (any case) updates the one row
    record = await conn.fetchrow(
        "insert into github_repositories (user_id, repo_owner, repo_name, repo_url, default_branch) "
        "values (auth.uid(), $1::text, $2::text, "
        "coalesce($3::text, 'https://github.com/' || $1::text || '/' || $2::text), $4::text) "
        "on conflict (user_id, lower(repo_owner), lower(repo_name)) do update set is_active = true, "
        "repo_url = coalesce($3::text, github_repositories.repo_url), "
        "default_branch = excluded.default_branch "
        f"returning {_COLUMNS}",
        owner,
        name,
        url,
        default_branch,
    )
    assert record is not None
    return _repository(record)


async def record_repositories(conn: asyncpg.Connection, refs: Sequence[RepositoryRef]) -> None:
    """Note repositories the caller's call read, in one statement: a new row (the caller's, with
    `last_accessed = now()`) for each repository the caller has no row for, `last_accessed = now()` on
    the existing row (owner/name compared case-insensitively) otherwise. A repeated repository counts
    once; an owner or name that is not a plain GitHub name raises ValueError and records nothing."""
    for ref in refs:
        _check_part("owner", ref.owner)
        _check_part("name", ref.name)
        if ref.default_branch is not None and not 0 < len(ref.default_branch) <= 100:
            raise ValueError(f"default_branch must be 1-100 characters; got {ref.default_branch!r}")
    if not refs:
        return
    await conn.execute(
        "insert into github_repositories "
        "(user_id, repo_owner, repo_name, repo_url, default_branch, last_accessed) "
        "select distinct on (lower(r.owner), lower(r.name)) auth.uid(), r.owner, r.name, "
        "coalesce(r.url, 'https://github.com/' || r.owner || '/' || r.name), "
        "coalesce(r.branch, 'main'), now() "
        "from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as r(owner, name, url, branch) "
        "order by lower(r.owner), lower(r.name) "
        "on conflict (user_id, lower(repo_owner), lower(repo_name)) "
        "do update set last_accessed = now()",
        [ref.owner for ref in refs],
        [ref.name for ref in refs],
        [ref.url for ref in refs],
        [ref.default_branch for ref in refs],
    )


async def list_repositories(conn: asyncpg.Connection, *, active_only: bool = True) -> list[Repository]:
    """The caller's repositories, most recently used first."""
    records = await conn.fetch(
        f"select {_COLUMNS} from github_repositories where ($1 = false or is_active) "
        "order by last_accessed desc nulls last, created_at desc",
        active_only,
    )
    return [_repository(r) for r in records]


async def get_repository(conn: asyncpg.Connection, repository_id: uuid.UUID) -> Repository:
    record = await conn.fetchrow(f"select {_COLUMNS} from github_repositories where id = $1", repository_id)
    if record is None:
        raise RepositoryNotFound(f"repository {repository_id} not found")
    return _repository(record)


async def touch_repository(conn: asyncpg.Connection, repository_id: uuid.UUID) -> Repository:
    """Record that the repository was just used."""
    record = await conn.fetchrow(
        f"update github_repositories set last_accessed = now() where id = $1 returning {_COLUMNS}",
        repository_id,
    )
    if record is None:
        raise RepositoryNotFound(f"repository {repository_id} not found")
    return _repository(record)


async def set_active(conn: asyncpg.Connection, repository_id: uuid.UUID, active: bool) -> Repository:
    record = await conn.fetchrow(
        f"update github_repositories set is_active = $2 where id = $1 returning {_COLUMNS}",
        repository_id,
        active,
    )
    if record is None:
        raise RepositoryNotFound(f"repository {repository_id} not found")
    return _repository(record)


async def remove_repository(conn: asyncpg.Connection, repository_id: uuid.UUID) -> None:
    status = await conn.execute("delete from github_repositories where id = $1", repository_id)
    if status.split()[-1] == "0":
        raise RepositoryNotFound(f"repository {repository_id} not found")
