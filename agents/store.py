"""The store an agent call gets: the caller's artifacts and repositories, bound to the caller.

The pipeline builds one per call (`storage.caller_store.CallerStore`) in the caller's row-level-security
context; agents read and write only through it, never through a pool or a driver. Failures are the typed
errors of `common.records` (`DocumentNotFound`, `VersionConflict`, `DatabaseUnavailable`, …).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

from artificer.common.records import Document, DocumentKind, RepositoryRef, Suggestion, SuggestionDraft


class Store(Protocol):
    """What an agent may read and write, always as the caller."""

    async def latest(self, document_id: UUID) -> Document:
        """The latest version of one of the caller's documents (`DocumentNotFound` otherwise)."""
        ...

    async def version(self, document_id: UUID, version_number: int) -> Document:
        """One version of one of the caller's documents (`DocumentNotFound` otherwise)."""
        ...

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
        """Create (`document_id=None`) or append a version in one statement; `VersionConflict` when
        `expected_version` is no longer the latest. `svg`: the diagram's drawing, saved with the version
        in the same statement (read back as `artifact://{id}/v/{n}/diagram.svg`)."""
        ...

    async def save_suggestions(
        self, document: Document, drafts: Sequence[SuggestionDraft]
    ) -> list[Suggestion]:
        """Save suggestions for one version of one of the caller's documents, in one statement."""
        ...

    async def resolve_suggestion(
        self,
        suggestion_id: UUID,
        *,
        accept: bool,
        kind: DocumentKind | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> tuple[Suggestion, Document]:
        """Accept (the next version, with the suggested text in place of the original, in the same
        transaction) or reject one of the caller's open suggestions, and mark it resolved, in ONE
        transaction. Returns the resolved suggestion and the document's latest version. `DocumentNotFound`
        when it is not the caller's (or not on a `kind` document); `InvalidDocument` when it is resolved
        already or its original text no longer occurs in the latest version (nothing changes)."""
        ...

    async def record_repositories(self, repositories: Sequence[RepositoryRef]) -> None:
        """Note GitHub repositories the caller's call read (new rows, or `last_accessed`), one upsert."""
        ...
