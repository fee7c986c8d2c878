"""`CallerStore`: the store one agent call gets, bound to its caller (implements `agents.store.Store`).

Reads run inside `as_user(...)`, so row-level security decides what is visible; a version is written in
one statement by `artificer_save_document_version`, which switches to the caller for its own duration.
The pool itself never leaves this object: an agent cannot query as the server. Driver failures come out
as the typed errors of `common.records`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from artificer.common.records import Document, DocumentKind, RepositoryRef, Suggestion, SuggestionDraft
from artificer.storage import documents, github
from artificer.storage.database import as_user
from artificer.storage.errors import typed_errors
from asyncpg.pool import Pool


class CallerStore:
    """The caller's artifacts and repositories; `claims` are the caller's JWT claims (`sub`, `role`)."""

    __slots__ = ("_claims", "_pool")

    def __init__(self, pool: Pool, claims: Mapping[str, Any]) -> None:
        self._pool = pool
        self._claims = dict(claims)

    def __repr__(self) -> str:
        return f"CallerStore(user={self._claims.get('sub')!r})"

    async def latest(self, document_id: UUID) -> Document:
        with typed_errors():
            async with as_user(self._pool, self._claims) as conn:
                return await documents.get_latest(conn, document_id)

    async def version(self, document_id: UUID, version_number: int) -> Document:
        with typed_errors():
            async with as_user(self._pool, self._claims) as conn:
                return await documents.get_version(conn, document_id, version_number)

    async def save_version(
        self,
        *,
        document_id: UUID | None,
        content: str,
        title: str | None = None,
        kind: DocumentKind | None = None,
        metadata: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
        svg: str | None = None,
    ) -> Document:
        with typed_errors():
            return await documents.store_version(
                self._pool,
                self._claims,
                document_id=document_id,
                content=content,
                title=title,
                kind=kind,
                metadata=dict(metadata) if metadata is not None else None,
                expected_version=expected_version,
                svg=svg,
            )

    async def save_suggestions(
        self, document: Document, drafts: Sequence[SuggestionDraft]
    ) -> list[Suggestion]:
        with typed_errors():
            async with as_user(self._pool, self._claims) as conn:
                return await documents.save_suggestions(conn, document, list(drafts))

    async def resolve_suggestion(
        self,
        suggestion_id: UUID,
        *,
        accept: bool,
        kind: DocumentKind | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> tuple[Suggestion, Document]:
        with typed_errors():
            async with as_user(self._pool, self._claims) as conn:
                return await documents.resolve_suggestion(
                    conn,
                    suggestion_id,
                    accept=accept,
                    kind=kind,
                    metadata=dict(metadata) if metadata is not None else None,
                )

    async def record_repositories(self, repositories: Sequence[RepositoryRef]) -> None:
        if not repositories:
            return
        with typed_errors():
            async with as_user(self._pool, self._claims) as conn:
                await github.record_repositories(conn, repositories)
