"""Documents (versioned artifacts) and their suggestions.

Every function takes a connection that runs as the caller (`as_user(...)`), so the RLS policies decide
what is visible: another user's document is simply not found. `store_version` is the exception: it takes
the pool (or a connection of the server role) plus the caller's claims, and stores in ONE statement through
`artificer_save_document_version`, which switches to the caller for its own duration.

Versions: all versions of a document share `id`; `version_number` counts 1, 2, 3 … with no gap. Appending
takes a per-document advisory lock inside the database, so concurrent updates queue up instead of
colliding; `UNIQUE (id, version_number)` backs it. `expected_version` (optional) is an optimistic check:
pass the version the agent read, and a `VersionConflict` is raised if another update landed in between;
leave it out to simply append.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg
from artificer.common.records import (
    DOCUMENT_KINDS,
    Document,
    DocumentError,
    DocumentKind,
    DocumentNotFound,
    InvalidDocument,
    Suggestion,
    SuggestionDraft,
    VersionConflict,
    VersionInfo,
)
from artificer.storage.database import acquire_connection
from asyncpg.pool import Pool

__all__ = [  # the record types and errors live in the leaf `common.records`; re-exported for callers here
    "DOCUMENT_KINDS",
    "Document",
    "DocumentError",
    "DocumentKind",
    "DocumentNotFound",
    "InvalidDocument",
    "Suggestion",
    "SuggestionDraft",
    "VersionConflict",
    "VersionInfo",
]

_NOT_FOUND = "ART01"
_CONFLICT = "ART02"
_INVALID = "ART03"

_COLUMNS = (
    'id, "createdAt", title, content, kind, user_id, chat_id, parent_version_id, '
    "parent_version_number, version_number, metadata"
)

_D_COLUMNS = ", ".join(f"d.{column.strip()}" for column in _COLUMNS.split(","))
"""`_COLUMNS` of `"Document" d` (for joins)."""


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):  # a connection without the json codec
        return json.loads(value)
    return dict(value)


def _document(record: asyncpg.Record) -> Document:
    return Document(
        id=record["id"],
        created_at=record["createdAt"],
        title=record["title"],
        content=record["content"],
        kind=record["kind"],
        user_id=record["user_id"],
        chat_id=record["chat_id"],
        parent_version_id=record["parent_version_id"],
        parent_version_number=record["parent_version_number"],
        version_number=record["version_number"],
        metadata=_metadata(record["metadata"]),
    )


def _suggestion(record: asyncpg.Record) -> Suggestion:
    return Suggestion(
        id=record["id"],
        document_id=record["documentId"],
        document_created_at=record["documentCreatedAt"],
        original_text=record["originalText"],
        suggested_text=record["suggestedText"],
        description=record["description"],
        is_resolved=record["isResolved"],
        user_id=record["user_id"],
        created_at=record["createdAt"],
    )


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in DOCUMENT_KINDS:
        raise InvalidDocument(f"kind must be one of {', '.join(DOCUMENT_KINDS)}; got {kind!r}")


def _translate(error: asyncpg.PostgresError) -> DocumentError | None:
    code = getattr(error, "sqlstate", None)
    message = getattr(error, "message", None) or str(error)
    if code == _NOT_FOUND:
        return DocumentNotFound(message)
    if code == _CONFLICT:
        return VersionConflict(message)
    if code == _INVALID:
        return InvalidDocument(message)
    if isinstance(error, asyncpg.InsufficientPrivilegeError) and (
        "row-level security" in message or "belong to another user" in message
    ):
        return DocumentNotFound(f"document not found or not yours ({message})")
    if isinstance(error, asyncpg.UniqueViolationError):
        # The per-document lock orders writers, so this only happens when the caller's snapshot predates
        # a version another writer saved (e.g. a repeatable-read transaction): the caller's view is stale.
        return VersionConflict(
            "another version of the document was saved at the same time: read the latest version and retry"
        )
    if isinstance(error, asyncpg.CheckViolationError):
        return InvalidDocument(message)
    return None


async def _call_append(conn: asyncpg.Connection, sql: str, *args: Any) -> Document:
    try:
        record = await conn.fetchrow(sql, *args)
    except asyncpg.PostgresError as error:
        translated = _translate(error)
        if translated is None:
            raise
        raise translated from None
    assert record is not None
    return _document(record)


_APPEND_SQL = f"select {_COLUMNS} from public.artificer_append_document_version($1, $2, $3, $4, $5, $6, $7)"
_SAVE_CALL = "public.artificer_save_document_version($1, $2, $3, $4, $5, $6, $7, $8)"
_SAVE_SQL = f"select {_COLUMNS} from {_SAVE_CALL}"
_SAVE_ASYNC_COMMIT_SQL = (
    f"select {_COLUMNS} from set_config('synchronous_commit', 'off', true) as async_commit, {_SAVE_CALL}"
)
"""The same store, committing without waiting for the WAL flush (`durable=False`, own transaction only)."""
_SAVE_RENDERED_SQL = (
    f"select {_COLUMNS} from public.artificer_save_rendered_version($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
"""The store of a version together with its SVG rendering (`document_renderings`), in one statement."""


async def create(
    conn: asyncpg.Connection,
    *,
    title: str,
    kind: DocumentKind,
    content: str,
    metadata: dict[str, Any] | None = None,
    chat_id: uuid.UUID | None = None,
) -> Document:
    """Version 1 of a new document (new id) owned by the caller."""
    _check_kind(kind)
    return await _call_append(conn, _APPEND_SQL, None, title, kind, content, metadata or {}, None, chat_id)


async def add_version(
    conn: asyncpg.Connection,
    document_id: uuid.UUID,
    *,
    content: str,
    metadata: dict[str, Any] | None = None,
    title: str | None = None,
    kind: DocumentKind | None = None,
    expected_version: int | None = None,
) -> Document:
    """The next version of `document_id` (title/kind default to the latest version's)."""
    _check_kind(kind)
    return await _call_append(
        conn, _APPEND_SQL, document_id, title, kind, content, metadata or {}, expected_version, None
    )


async def store_version(
    pool_or_conn: Pool | asyncpg.Connection,
    claims: dict[str, Any],
    *,
    document_id: uuid.UUID | None,
    content: str,
    title: str | None = None,
    kind: DocumentKind | None = None,
    metadata: dict[str, Any] | None = None,
    expected_version: int | None = None,
    chat_id: uuid.UUID | None = None,
    durable: bool = True,
    svg: str | None = None,
) -> Document:
    """Create (document_id=None) or append a version as the user `claims` names, in ONE statement.

    Use the pool or a connection of the server role (not one inside `as_user`): the SQL function sets the
    claims and role itself, for its own duration only, so RLS applies to the write.

    `durable=False` commits the statement's own transaction with `synchronous_commit = off` (as the rate
    limiter does): the call does not wait for the WAL flush, which is most of the statement's time on slow
    disks (bench/bench_statements.py), but a *database* crash within ~3 × `wal_writer_delay` of the commit
    loses the version (with everything committed after it, so versions stay 1..n without a gap). Inside a
    caller's transaction the caller's setting is left alone.

    `svg`: the drawing of a diagram version, saved with it (`document_renderings`) in the same statement
    (always durable).
    """
    _check_kind(kind)
    if document_id is None and not title:
        raise InvalidDocument("a new document needs a title")
    if svg is not None and not svg:
        raise InvalidDocument("a rendering needs its SVG")
    args: tuple[Any, ...] = (
        claims,
        document_id,
        title,
        kind,
        content,
        metadata or {},
        expected_version,
        chat_id,
    )
    sql = _SAVE_SQL if durable else _SAVE_ASYNC_COMMIT_SQL
    if svg is not None:
        sql, args = _SAVE_RENDERED_SQL, (*args, svg)
    if isinstance(pool_or_conn, Pool):
        async with acquire_connection(pool_or_conn) as conn:
            return await _call_append(conn, sql, *args)
    if pool_or_conn.is_in_transaction() and sql == _SAVE_ASYNC_COMMIT_SQL:
        sql = _SAVE_SQL
    return await _call_append(pool_or_conn, sql, *args)


async def get_rendering(
    conn: asyncpg.Connection, document_id: uuid.UUID, version_number: int
) -> tuple[Document, str | None]:
    """One version of a document and the SVG saved with it (None when it has none), as the caller (RLS):
    `DocumentNotFound` when the version is not visible."""
    record = await conn.fetchrow(
        f'select {_D_COLUMNS}, r.svg from "Document" d '
        "left join document_renderings r on r.document_id = d.id and r.version_number = d.version_number "
        "where d.id = $1 and d.version_number = $2",
        document_id,
        version_number,
    )
    if record is None:
        raise DocumentNotFound(f"document {document_id} has no version {version_number}")
    return _document(record), record["svg"]


async def get_latest(conn: asyncpg.Connection, document_id: uuid.UUID) -> Document:
    record = await conn.fetchrow(
        f'select {_COLUMNS} from "Document" where id = $1 order by version_number desc limit 1',
        document_id,
    )
    if record is None:
        raise DocumentNotFound(f"document {document_id} not found")
    return _document(record)


async def get_version(conn: asyncpg.Connection, document_id: uuid.UUID, version_number: int) -> Document:
    record = await conn.fetchrow(
        f'select {_COLUMNS} from "Document" where id = $1 and version_number = $2',
        document_id,
        version_number,
    )
    if record is None:
        raise DocumentNotFound(f"document {document_id} has no version {version_number}")
    return _document(record)


async def list_versions(conn: asyncpg.Connection, document_id: uuid.UUID) -> list[VersionInfo]:
    """The history of a document, oldest first (empty when it is not visible)."""
    records = await conn.fetch(
        "select version_number, \"createdAt\", metadata ->> 'updateType' as update_type, "
        "coalesce(length(content), 0) as length, title "
        'from "Document" where id = $1 order by version_number',
        document_id,
    )
    return [
        VersionInfo(
            version_number=r["version_number"],
            created_at=r["createdAt"],
            update_type=r["update_type"],
            length=r["length"],
            title=r["title"],
        )
        for r in records
    ]


async def list_documents(
    conn: asyncpg.Connection,
    *,
    kind: DocumentKind | None = None,
    limit: int = 100,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Document]:
    """The caller's documents (RLS), latest version of each, most recently changed first (then by id,
    descending). `after`: a keyset position (`createdAt`, id) of the previous page's last document; the
    page starts after it."""
    _check_kind(kind)
    after_at, after_id = after if after is not None else (None, None)
    records = await conn.fetch(
        f"select {_COLUMNS} from ("
        f'  select distinct on (id) {_COLUMNS} from "Document"'
        "  where ($1::text is null or kind = $1) order by id, version_number desc"
        ') latest where ($3::timestamptz is null or ("createdAt", id) < ($3::timestamptz, $4::uuid))'
        ' order by "createdAt" desc, id desc limit $2',
        kind,
        limit,
        after_at,
        after_id,
    )
    return [_document(r) for r in records]


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def complete_document_ids(conn: asyncpg.Connection, prefix: str, limit: int = 100) -> list[Document]:
    """The caller's documents (RLS, latest version of each) whose title starts with `prefix` (any case)
    or whose id does, most recently changed first, at most `limit`."""
    records = await conn.fetch(
        f"select {_COLUMNS} from ("
        f'  select distinct on (id) {_COLUMNS} from "Document" order by id, version_number desc'
        ") latest where title ilike $1 or id::text like lower($1)"
        ' order by "createdAt" desc, id desc limit $2',
        _like_prefix(prefix),
        limit,
    )
    return [_document(r) for r in records]


async def save_suggestions(
    conn: asyncpg.Connection, document: Document, drafts: list[SuggestionDraft]
) -> list[Suggestion]:
    """Save suggestions for one document version, owned by the caller, in one statement."""
    if not drafts:
        return []
    for draft in drafts:
        if not draft.original_text or not draft.suggested_text:
            raise InvalidDocument("a suggestion needs originalText and suggestedText")
    try:
        records = await conn.fetch(
            'insert into "Suggestion" ("documentId", "documentCreatedAt", "originalText", '
            '"suggestedText", description, user_id) '
            "select $1, $2, o, s, d, auth.uid() "
            "from unnest($3::text[], $4::text[], $5::text[]) as x(o, s, d) "
            'returning id, "documentId", "documentCreatedAt", "originalText", "suggestedText", description, '
            '"isResolved", user_id, "createdAt"',
            document.id,
            document.created_at,
            [d.original_text for d in drafts],
            [d.suggested_text for d in drafts],
            [d.description for d in drafts],
        )
    except asyncpg.ForeignKeyViolationError:
        missing = f"document {document.id} version {document.version_number} not found"
        raise DocumentNotFound(missing) from None
    except asyncpg.PostgresError as error:
        translated = _translate(error)
        if translated is None:
            raise
        raise translated from None
    return [_suggestion(r) for r in records]


async def list_suggestions(
    conn: asyncpg.Connection, document_id: uuid.UUID, *, version_number: int | None = None
) -> list[Suggestion]:
    """Suggestions of a document (all versions, or one), oldest first."""
    records = await conn.fetch(
        'select s.id, s."documentId", s."documentCreatedAt", s."originalText", s."suggestedText", '
        's.description, s."isResolved", s.user_id, s."createdAt" from "Suggestion" s '
        'where s."documentId" = $1 and ($2::int is null or s."documentCreatedAt" = '
        '  (select d."createdAt" from "Document" d where d.id = $1 and d.version_number = $2)) '
        'order by s."createdAt", s.id',
        document_id,
        version_number,
    )
    return [_suggestion(r) for r in records]


_SUGGESTION_COLUMNS = (
    'id, "documentId", "documentCreatedAt", "originalText", "suggestedText", description, "isResolved", '
    'user_id, "createdAt"'
)


async def resolve_suggestion(
    conn: asyncpg.Connection,
    suggestion_id: uuid.UUID,
    *,
    accept: bool,
    kind: DocumentKind | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[Suggestion, Document]:
    """Accept or reject one of the caller's open suggestions; `conn` runs as the caller inside ONE
    transaction (`as_user(...)`), which the caller rolls back when this raises.

    Accept: the latest version of the suggestion's document, with the first occurrence of its original
    text replaced by the suggested text, becomes the next version (`metadata`, plus `previousVersion` and
    `suggestionId`), and the suggestion is marked resolved. Reject: the suggestion is marked resolved and
    no version is written. Returns the resolved suggestion and the document's latest version (the new one
    when accepted). `DocumentNotFound` when the suggestion is not the caller's (or its document is not of
    `kind`); `InvalidDocument` when it is resolved already or, on accept, its original text no longer
    occurs in the latest version.
    """
    try:
        record = await conn.fetchrow(
            f'select {_SUGGESTION_COLUMNS} from "Suggestion" where id = $1 for update', suggestion_id
        )
        if record is None:
            raise DocumentNotFound(f"suggestion {suggestion_id} not found")
        suggestion = _suggestion(record)
        latest = await get_latest(conn, suggestion.document_id)
        if kind is not None and latest.kind != kind:
            raise DocumentNotFound(f"suggestion {suggestion_id} is not on a {kind} document")
        if suggestion.is_resolved:
            raise InvalidDocument(f"suggestion {suggestion_id} is already resolved")
        document = latest
        if accept:
            content = latest.content or ""
            if suggestion.original_text not in content:
                raise InvalidDocument(
                    f"the original text of suggestion {suggestion_id} no longer occurs in the latest "
                    f"version (v{latest.version_number}) of document {latest.id}; reject it, or ask "
                    "for new suggestions"
                )
            document = await add_version(
                conn,
                latest.id,
                content=content.replace(suggestion.original_text, suggestion.suggested_text, 1),
                metadata={
                    **(metadata or {}),
                    "previousVersion": latest.version_number,
                    "suggestionId": str(suggestion_id),
                },
                expected_version=latest.version_number,
            )
        resolved = await conn.fetchrow(
            f'update "Suggestion" set "isResolved" = true where id = $1 returning {_SUGGESTION_COLUMNS}',
            suggestion_id,
        )
    except asyncpg.PostgresError as error:
        translated = _translate(error)
        if translated is None:
            raise
        raise translated from None
    assert resolved is not None
    return _suggestion(resolved), document
