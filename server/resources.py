"""Artifacts as MCP resources, and the read-only helper tools for clients that do not show resources.

Resources (read as the caller, so RLS decides what exists):
- `artifact://{id}`        the latest version of a document (text/markdown, or the kind's MIME type);
- `artifact://{id}/v/{n}`  version n;
- `artifact://{id}/v/{n}/diagram.svg` | `…/diagram.png`  the drawing of a diagram version (the SVG saved with
  it; the PNG rasterized from it on demand);
- `resources/list`         the caller's documents (latest version of each).

Tools (read-only, not rate limited, no model call):
- `artifacts`  action `list` | `read` (a version, default latest) | `history`;
- `usage`      the caller's calls, tokens and cost (`get_current_user_usage_summary`, run as the caller).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal
from uuid import UUID

import mcp_types as types
from artificer.agents import artifacts, diagrams, mermaid
from artificer.agents.artifacts import MAX_VERSION
from artificer.agents.document import artifact_uri
from artificer.server import paging
from artificer.server.errors import Refused, ToolRefused, describe_validation_error
from artificer.server.identity import Caller
from artificer.storage import documents, usage
from artificer.storage.database import as_user
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MIME_TYPES = artifacts.MIME_TYPES
URI_PATTERN = re.compile(r"^artifact://(?P<id>[0-9a-fA-F-]{36})(?:/v/(?P<version>[0-9]{1,9}))?$")
DIAGRAM_PATTERN = re.compile(
    r"^artifact://(?P<id>[0-9a-fA-F-]{36})/v/(?P<version>[0-9]{1,9})/diagram\.(?P<fmt>svg|png)$"
)


TEMPLATES = [
    types.ResourceTemplate(
        name="artifact",
        title="Artifact (latest version)",
        uri_template="artifact://{id}",
        description="The latest version of one of your artifacts.",
    ),
    types.ResourceTemplate(
        name="artifact_version",
        title="Artifact version",
        uri_template="artifact://{id}/v/{version}",
        description="One version of one of your artifacts.",
    ),
    types.ResourceTemplate(
        name="diagram_svg",
        title="Diagram drawing (SVG)",
        uri_template="artifact://{id}/v/{version}/diagram.svg",
        description="The SVG Mermaid drew for one version of one of your diagrams.",
        mime_type=mermaid.DIAGRAM_FORMATS["svg"],
    ),
    types.ResourceTemplate(
        name="diagram_png",
        title="Diagram drawing (PNG)",
        uri_template="artifact://{id}/v/{version}/diagram.png",
        description="One version of one of your diagrams as a PNG image.",
        mime_type=mermaid.DIAGRAM_FORMATS["png"],
    ),
]


class ResourceNotFound(Refused):
    pass


def _mime(kind: str) -> str:
    return artifacts.mime_type(kind)


PAGE_SIZE = 100
"""Artifacts per `resources/list` page; `nextCursor` leads to the next page."""


async def _page(
    pool: Any, caller: Caller, key: bytes, cursor: str | None, limit: int
) -> tuple[list[documents.Document], str | None]:
    """One page of the caller's documents (newest first) after `cursor`, and the cursor of the next page
    (None on the last page)."""
    after = None
    if cursor:
        position = paging.decode_cursor(key, caller.user_id, cursor)
        after = (position.created_at, position.id)
    async with as_user(pool, caller.rls_claims) as conn:
        docs = await documents.list_documents(conn, limit=limit + 1, after=after)
    if len(docs) <= limit:
        return docs, None
    docs = docs[:limit]
    last = docs[-1]
    return docs, paging.encode_cursor(key, caller.user_id, paging.Position(last.created_at, last.id))


async def list_resources_page(
    pool: Any, caller: Caller, key: bytes, cursor: str | None, limit: int = PAGE_SIZE
) -> tuple[list[types.Resource], str | None]:
    """`resources/list`: a page of the caller's artifacts and the next page's cursor."""
    docs, next_cursor = await _page(pool, caller, key, cursor, limit)
    listed = [
        types.Resource(
            name=str(doc.id),
            title=f"{doc.title} (v{doc.version_number})",
            uri=artifact_uri(doc.id),
            mime_type=_mime(doc.kind),
            description=f"{doc.kind} artifact, version {doc.version_number}",
            size=len((doc.content or "").encode()),
            annotations=types.Annotations(last_modified=doc.created_at.isoformat()),
        )
        for doc in docs
    ]
    return listed, next_cursor


async def list_resources(pool: Any, caller: Caller, limit: int = 200) -> list[types.Resource]:
    """The first `limit` of the caller's artifacts (`list_resources_page` pages through all of them)."""
    return (await list_resources_page(pool, caller, paging.cursor_key(None), None, limit))[0]


async def read_diagram(pool: Any, caller: Caller, uri: str, match: re.Match[str]) -> types.ReadResourceResult:
    """The drawing of a diagram version: the SVG saved with it (drawn again if it has none, e.g. a version
    saved before drawings were kept), or its PNG rasterized from that SVG. Another user's: not found."""
    document_id, version, fmt = UUID(match["id"]), int(match["version"]), match["fmt"]
    if version < 1:
        raise ResourceNotFound(f"{uri!r}: versions start at 1")
    try:
        async with as_user(pool, caller.rls_claims) as conn:
            doc, svg = await documents.get_rendering(conn, document_id, version)
    except documents.DocumentNotFound:
        raise ResourceNotFound(f"{uri} not found (it does not exist or is not yours)") from None
    if doc.kind != mermaid.AGENT.artifact.kind:
        raise ResourceNotFound(f"{uri} not found: artifact {document_id} is a {doc.kind!r}, not a diagram")
    try:
        if svg is None:
            svg = await diagrams.render_svg(doc.content or "")
        mime = mermaid.DIAGRAM_FORMATS[fmt]
        if fmt == "svg":
            return types.ReadResourceResult(
                contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=svg)]
            )
        png = await diagrams.rasterize(svg)
    except diagrams.InvalidDiagram as error:
        raise ResourceNotFound(f"{uri}: Mermaid cannot draw version {version} ({error})") from None
    except diagrams.DiagramEngineError as error:
        raise ResourceNotFound(f"{uri}: the diagram could not be drawn right now ({error})") from None
    blob = base64.b64encode(png).decode("ascii")
    return types.ReadResourceResult(contents=[types.BlobResourceContents(uri=uri, mime_type=mime, blob=blob)])


async def read_resource(pool: Any, caller: Caller, uri: str) -> types.ReadResourceResult:
    diagram = DIAGRAM_PATTERN.match(uri)
    if diagram is not None:
        try:
            UUID(diagram["id"])
        except ValueError:
            raise ResourceNotFound(f"{uri!r} does not name an artifact: its id is not a uuid") from None
        return await read_diagram(pool, caller, uri, diagram)
    match = URI_PATTERN.match(uri)
    usage = (
        "artifacts are artifact://{id} or artifact://{id}/v/{n} (id a uuid, n from 1); a diagram's drawing "
        "is artifact://{id}/v/{n}/diagram.svg or .png"
    )
    if match is None:
        raise ResourceNotFound(f"unknown resource {uri!r}; {usage}")
    try:
        document_id = UUID(match["id"])
    except ValueError:
        raise ResourceNotFound(f"{uri!r} does not name an artifact: its id is not a uuid; {usage}") from None
    version = int(match["version"]) if match["version"] else None
    if version is not None and version < 1:
        raise ResourceNotFound(f"{uri!r}: versions start at 1; {usage}")
    try:
        async with as_user(pool, caller.rls_claims) as conn:
            if version is None:
                doc = await documents.get_latest(conn, document_id)
            else:
                doc = await documents.get_version(conn, document_id, version)
    except documents.DocumentNotFound:
        raise ResourceNotFound(f"{uri} not found (it does not exist or is not yours)") from None
    return types.ReadResourceResult(
        contents=[types.TextResourceContents(uri=uri, mime_type=_mime(doc.kind), text=doc.content or "")]
    )


# --- read-only tools ----------------------------------------------------------------------------------


class ArtifactsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["list", "read", "history", "suggestions"] = Field(
        description="list: your artifacts; read: one version (default latest); history: its versions; "
        "suggestions: its open suggestions."
    )
    documentId: UUID | None = Field(default=None, description="The artifact (read, history, suggestions).")
    version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Version to read (read); default: latest."
    )
    limit: int = Field(default=50, ge=1, le=200, description="How many artifacts to list (list).")
    cursor: str | None = Field(
        default=None, description="list: the nextCursor of the previous page, to list older artifacts."
    )


class ArtifactSummary(BaseModel):
    id: UUID
    title: str
    kind: str
    version: int
    updatedAt: str
    uri: str


class VersionEntry(BaseModel):
    version: int
    createdAt: str
    updateType: str | None
    length: int
    title: str
    uri: str


class SuggestionEntry(BaseModel):
    id: UUID
    originalText: str
    suggestedText: str
    description: str | None = None
    createdAt: str


class ArtifactsOutput(BaseModel):
    action: str
    artifacts: list[ArtifactSummary] | None = None
    id: UUID | None = None
    title: str | None = None
    kind: str | None = None
    version: int | None = None
    content: str | None = None
    versions: list[VersionEntry] | None = None
    suggestions: list[SuggestionEntry] | None = None
    """suggestions: the open (unresolved) suggestions of the artifact, oldest first."""
    nextCursor: str | None = None
    """list: pass it as `cursor` for the next (older) page; absent on the last page."""


class UsageInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    startDate: date | None = Field(default=None, description="First day (YYYY-MM-DD); default 30 days ago.")
    endDate: date | None = Field(default=None, description="Last day (YYYY-MM-DD); default today.")


class UsageOutput(BaseModel):
    totalCalls: int
    totalInputTokens: int
    totalOutputTokens: int
    totalTokens: int
    totalCost: float
    byAgent: dict[str, Any] = Field(default_factory=dict)


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


READ_ONLY = types.ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

ARTIFACTS_TOOL = types.Tool(
    name="artifacts",
    title="Your artifacts",
    description=(
        "List your artifacts, read one (latest version or a given version), show its version history, "
        "or list its open suggestions. "
        "Read-only; the same content is available as resources artifact://{id} and artifact://{id}/v/{n}."
    ),
    input_schema=_schema(ArtifactsInput),
    output_schema=_schema(ArtifactsOutput),
    annotations=READ_ONLY.model_copy(update={"title": "Your artifacts"}),
)

USAGE_TOOL = types.Tool(
    name="usage",
    title="Your usage and cost",
    description="Your agent calls, tokens and cost over a date range (default: the last 30 days). Read-only.",
    input_schema=_schema(UsageInput),
    output_schema=_schema(UsageOutput),
    annotations=READ_ONLY.model_copy(update={"title": "Your usage and cost", "idempotent_hint": True}),
)

READ_ONLY_TOOLS = (ARTIFACTS_TOOL, USAGE_TOOL)


def _structured(model: BaseModel, text: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json", exclude_none=True),
    )


async def artifacts_tool(
    pool: Any, caller: Caller, arguments: Mapping[str, Any], key: bytes | None = None
) -> types.CallToolResult:
    """`key` signs list cursors (`server.paging`); default: this process's key."""
    try:
        args = ArtifactsInput.model_validate(dict(arguments))
    except ValidationError as error:
        raise ToolRefused(describe_validation_error("artifacts", error)) from None
    if args.action == "list":
        try:
            docs, next_cursor = await _page(
                pool, caller, key or paging.cursor_key(None), args.cursor, args.limit
            )
        except paging.InvalidCursor as error:
            raise ToolRefused(str(error)) from None
        items = [
            ArtifactSummary(
                id=d.id,
                title=d.title,
                kind=d.kind,
                version=d.version_number,
                updatedAt=d.created_at.isoformat(),
                uri=artifact_uri(d.id),
            )
            for d in docs
        ]
        text = "\n".join(f"[{i.id}] {i.title!r} (v{i.version}, {i.kind})" for i in items) or (
            "You have no artifacts." if args.cursor is None else "No older artifacts."
        )
        if next_cursor is not None:
            text += f"\nMore (older) artifacts: call list again with cursor={next_cursor!r}."
        out = ArtifactsOutput(action="list", artifacts=items, nextCursor=next_cursor)
        return _structured(out, text)
    if args.documentId is None:
        raise ToolRefused(f"action {args.action} needs `documentId` (list your artifacts with action=list)")
    async with as_user(pool, caller.rls_claims) as conn:
        if args.action == "read":
            if args.version is None:
                doc = await documents.get_latest(conn, args.documentId)
            else:
                doc = await documents.get_version(conn, args.documentId, args.version)
            out = ArtifactsOutput(
                action="read",
                id=doc.id,
                title=doc.title,
                kind=doc.kind,
                version=doc.version_number,
                content=doc.content or "",
            )
            return _structured(out, doc.content or "")
        if args.action == "suggestions":
            await documents.get_latest(conn, args.documentId)  # DocumentNotFound when not the caller's
            found = await documents.list_suggestions(conn, args.documentId)
            open_ = [
                SuggestionEntry(
                    id=s.id,
                    originalText=s.original_text,
                    suggestedText=s.suggested_text,
                    description=s.description,
                    createdAt=s.created_at.isoformat(),
                )
                for s in found
                if not s.is_resolved
            ]
            text = "\n".join(f"[{e.id}] {e.originalText!r} -> {e.suggestedText!r}" for e in open_)
            out = ArtifactsOutput(action="suggestions", id=args.documentId, suggestions=open_)
            return _structured(out, text or "No open suggestions.")
        versions = await documents.list_versions(conn, args.documentId)
    if not versions:
        raise documents.DocumentNotFound(f"document {args.documentId} not found")
    entries = [
        VersionEntry(
            version=v.version_number,
            createdAt=v.created_at.isoformat(),
            updateType=v.update_type,
            length=v.length,
            title=v.title,
            uri=artifact_uri(args.documentId, v.version_number),
        )
        for v in versions
    ]
    text = "\n".join(f"v{e.version} {e.createdAt} {e.updateType or ''} ({e.length} chars)" for e in entries)
    return _structured(ArtifactsOutput(action="history", id=args.documentId, versions=entries), text)


async def usage_tool(pool: Any, caller: Caller, arguments: Mapping[str, Any]) -> types.CallToolResult:
    try:
        args = UsageInput.model_validate(dict(arguments))
    except ValidationError as error:
        raise ToolRefused(describe_validation_error("usage", error)) from None
    if args.startDate and args.endDate and args.startDate > args.endDate:
        raise ToolRefused("startDate must not be after endDate")
    summary = await usage_summary(pool, caller, args.startDate, args.endDate)
    out = UsageOutput(
        totalCalls=summary.total_calls,
        totalInputTokens=summary.total_input_tokens,
        totalOutputTokens=summary.total_output_tokens,
        totalTokens=summary.total_tokens,
        totalCost=float(summary.total_cost),
        byAgent=summary.by_agent,
    )
    text = f"{out.totalCalls} calls, {out.totalTokens} tokens, ${out.totalCost:.6f}"
    return _structured(out, text)


async def usage_summary(
    pool: Any, caller: Caller, start: date | None, end: date | None
) -> usage.UsageSummary:
    """The caller's usage summary (`storage.usage`), run as the caller (RLS)."""
    async with as_user(pool, caller.rls_claims) as conn:
        return await usage.current_user_summary(conn, start, end)
