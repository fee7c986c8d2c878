"""What storage hands agents and what it raises: the record types and typed errors both sides speak.

Storage (`artificer.storage`) produces these; agents (`artificer.agents`) consume them through the store
the pipeline binds to the caller; neither imports the other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

DocumentKind = Literal["text", "python code", "mermaid code", "sheet"]
DOCUMENT_KINDS: tuple[str, ...] = get_args(DocumentKind)


# --- errors -----------------------------------------------------------------------------------------


class StorageError(Exception):
    """A storage operation failed; the message says why (never driver text)."""


class DatabaseUnavailable(StorageError):
    """The database cannot serve right now: down, restarting, connections gone, pool exhausted."""


class UnknownUser(StorageError):
    """The caller's user id is not in this database's `auth.users`."""


class DocumentError(StorageError):
    """A document operation failed; the message says why."""


class DocumentNotFound(DocumentError):
    """No such document (or version) is visible to the caller."""


class VersionConflict(DocumentError):
    """The document changed since the caller read it (`expected_version` is not the latest)."""


class InvalidDocument(DocumentError):
    """Bad input (kind, title, identity): nothing was written."""


# --- records ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    """One version of a document."""

    id: uuid.UUID
    created_at: datetime
    title: str
    content: str | None
    kind: str
    user_id: uuid.UUID
    chat_id: uuid.UUID | None
    parent_version_id: uuid.UUID | None
    parent_version_number: int | None
    version_number: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One line of a document's history."""

    version_number: int
    created_at: datetime
    update_type: str | None
    length: int
    title: str


@dataclass(frozen=True, slots=True)
class Suggestion:
    id: uuid.UUID
    document_id: uuid.UUID
    document_created_at: datetime
    original_text: str
    suggested_text: str
    description: str | None
    is_resolved: bool
    user_id: uuid.UUID
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SuggestionDraft:
    """A suggestion to save: the text to replace, its replacement and why."""

    original_text: str
    suggested_text: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RepositoryRef:
    """A GitHub repository an agent read, to record for the caller (`github_repositories`)."""

    owner: str
    name: str
    url: str | None = None
    default_branch: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"
