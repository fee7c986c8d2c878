"""What each protocol revision may see, and the protocol errors the SDK's transports leave unanswered.

- `downlevel(method, version, result)`: a wire result shaped for the revision the client negotiated. The
  SDK sieves every handshake-era result through the 2025-11-25 shapes, whatever the connection's
  revision (`mcp_types.methods.SERVER_RESULTS` maps 2024-11-05 … 2025-11-25 to the same models), so a
  2025-03-26 client would get `resource_link` content, `structuredContent`, `outputSchema`, `title` and
  `icons` it has no schema for (the TypeScript SDK 1.12 rejects the whole `tools/call` result, after the
  tool ran). Here content a revision does not know is translated (a resource link becomes text naming
  its URI; audio on 2024-11-05 becomes text) and fields it does not know are left out.
  `downlevel_results` is the server middleware that applies it to every result.
- `answer_malformed_lines(read, write)`: the stdio transport hands a line that is not a JSON-RPC message
  to the server as an exception, which the dispatcher drops silently; this relay answers it with a
  JSON-RPC error (`-32700` for text that is not JSON, `-32600` for JSON that is not a message — a batch
  array among them) with `id: null`, as JSON-RPC 2.0 requires.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
import mcp_types as types
from mcp.server.context import CallNext, ServerRequestContext
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage
from mcp_types.version import KNOWN_PROTOCOL_VERSIONS, is_version_at_least
from pydantic import ValidationError

logger = logging.getLogger(__name__)

STRUCTURED_OUTPUT_SINCE = "2025-06-18"
"""`structuredContent`, `outputSchema`, `resource_link` content, `title` on named things, `_meta` on more
types, `lastModified` in annotations."""
ANNOTATIONS_SINCE = "2025-03-26"
"""Tool annotations, audio content, the completions capability."""
ICONS_SINCE = "2025-11-25"
"""`icons`, `websiteUrl` and `description` on the server's `Implementation`, tool `execution`."""

_NAMED_LISTS = {
    "tools/list": "tools",
    "resources/list": "resources",
    "resources/templates/list": "resourceTemplates",
    "prompts/list": "prompts",
}


def _known(version: str) -> bool:
    return version in KNOWN_PROTOCOL_VERSIONS


def _link_as_text(link: Mapping[str, Any]) -> dict[str, Any]:
    name = link.get("title") or link.get("name") or link.get("uri")
    text = f"Resource: {name} ({link.get('uri')})" if name != link.get("uri") else f"Resource: {name}"
    if link.get("description"):
        text += f" - {link['description']}"
    return {"type": "text", "text": text}


def _annotations(value: Any, version: str) -> Any:
    if not isinstance(value, Mapping) or is_version_at_least(version, STRUCTURED_OUTPUT_SINCE):
        return value
    return {k: v for k, v in value.items() if k != "lastModified"} or None


def _content_item(item: Any, version: str) -> Any:
    if not isinstance(item, Mapping):
        return item
    kind = item.get("type")
    if kind == "resource_link" and not is_version_at_least(version, STRUCTURED_OUTPUT_SINCE):
        return _link_as_text(item)
    if kind == "audio" and not is_version_at_least(version, ANNOTATIONS_SINCE):
        return {"type": "text", "text": f"[audio content ({item.get('mimeType', 'audio')}) omitted]"}
    out = dict(item)
    if "annotations" in out:
        annotations = _annotations(out["annotations"], version)
        if annotations is None:
            out.pop("annotations")
        else:
            out["annotations"] = annotations
    if not is_version_at_least(version, STRUCTURED_OUTPUT_SINCE) and kind == "resource":
        resource = out.get("resource")
        if isinstance(resource, Mapping):
            out["resource"] = {k: v for k, v in resource.items() if k != "_meta"}
    return out


def _named(item: Any, version: str) -> Any:
    """A tool, resource, resource template or prompt, without the fields `version` does not know."""
    if not isinstance(item, Mapping):
        return item
    out = dict(item)
    if not is_version_at_least(version, ICONS_SINCE):
        out.pop("icons", None)
        out.pop("execution", None)
    if not is_version_at_least(version, STRUCTURED_OUTPUT_SINCE):
        for key in ("title", "outputSchema", "_meta"):
            out.pop(key, None)
        if "annotations" in out and "inputSchema" not in out:  # a resource's annotations
            annotations = _annotations(out["annotations"], version)
            if annotations is None:
                out.pop("annotations")
            else:
                out["annotations"] = annotations
    if not is_version_at_least(version, ANNOTATIONS_SINCE):
        if "inputSchema" in out:
            out.pop("annotations", None)  # tool annotations came with 2025-03-26
        out.pop("size", None)
    return out


def _initialize(result: dict[str, Any], version: str) -> dict[str, Any]:
    info = result.get("serverInfo")
    if isinstance(info, Mapping):
        info = dict(info)
        if not is_version_at_least(version, ICONS_SINCE):
            for key in ("icons", "websiteUrl", "description"):
                info.pop(key, None)
        if not is_version_at_least(version, STRUCTURED_OUTPUT_SINCE):
            info.pop("title", None)
        result["serverInfo"] = info
    capabilities = result.get("capabilities")
    if isinstance(capabilities, Mapping) and not is_version_at_least(version, ANNOTATIONS_SINCE):
        result["capabilities"] = {k: v for k, v in capabilities.items() if k != "completions"}
    return result


def downlevel(method: str, version: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """`result` (the wire form of `method`'s result) as the client of `version` can parse it.

    Only handshake-era revisions older than 2025-11-25 change; an unknown `version` string is left alone
    (the SDK negotiates only known ones)."""
    out = dict(result)
    if not _known(version) or is_version_at_least(version, ICONS_SINCE):
        return out
    if method == "initialize":
        return _initialize(out, str(out.get("protocolVersion") or version))
    if method == "tools/call":
        if isinstance(out.get("content"), list):
            out["content"] = [_content_item(c, version) for c in out["content"]]
        if not is_version_at_least(version, STRUCTURED_OUTPUT_SINCE):
            out.pop("structuredContent", None)
    elif method == "prompts/get" and isinstance(out.get("messages"), list):
        out["messages"] = [
            {**m, "content": _content_item(m.get("content"), version)} if isinstance(m, Mapping) else m
            for m in out["messages"]
        ]
    elif method in _NAMED_LISTS and isinstance(out.get(_NAMED_LISTS[method]), list):
        key = _NAMED_LISTS[method]
        out[key] = [_named(item, version) for item in out[key]]
    elif (
        method == "resources/read"
        and isinstance(out.get("contents"), list)
        and not is_version_at_least(version, STRUCTURED_OUTPUT_SINCE)
    ):
        out["contents"] = [
            {k: v for k, v in c.items() if k != "_meta"} if isinstance(c, Mapping) else c
            for c in out["contents"]
        ]
    return out


async def downlevel_results(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
    """Server middleware: every result shaped for the connection's negotiated revision (`downlevel`).

    `initialize` runs before the connection records its revision, so its result is shaped for the
    revision it answers with (`protocolVersion`)."""
    result = await call_next(ctx)
    if not isinstance(result, Mapping):
        return result
    version = ctx.protocol_version
    if ctx.method == "initialize":
        version = str(result.get("protocolVersion") or version)
    if not version or not _known(version) or is_version_at_least(version, ICONS_SINCE):
        return result
    return downlevel(ctx.method, version, result)


# --- stdio: lines that are not a message --------------------------------------------------------------


def parse_failure(error: Exception) -> types.JSONRPCError:
    """The JSON-RPC error answering a line the transport could not read as a message."""
    message = "Invalid Request: not a JSON-RPC 2.0 message"
    code = types.INVALID_REQUEST
    errors = error.errors() if isinstance(error, ValidationError) else []
    if not isinstance(error, ValidationError) or any(item.get("type") == "json_invalid" for item in errors):
        code, message = types.PARSE_ERROR, "Parse error: the line is not valid JSON"
    elif any(isinstance(item.get("input"), list) for item in errors):
        message = "Invalid Request: JSON-RPC batches are not supported; send one message per line"
    return types.JSONRPCError(jsonrpc="2.0", id=None, error=types.ErrorData(code=code, message=message))


@asynccontextmanager
async def answer_malformed_lines(read_stream: Any, write_stream: Any) -> AsyncIterator[Any]:
    """A read stream relaying `read_stream`'s messages; each exception on it (a line the stdio transport
    could not parse) is answered on `write_stream` with `parse_failure` instead of being passed on."""
    send, receive = create_context_streams[SessionMessage | Exception](0)

    async def relay() -> None:
        async with send:
            try:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        logger.warning("answered a malformed line: %s", type(item).__name__)
                        try:
                            await write_stream.send(SessionMessage(parse_failure(item)))
                        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                            return
                        continue
                    await send.send(item)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(relay)
        try:
            yield receive
        finally:
            tg.cancel_scope.cancel()


# --- HTTP: the authorization server the protected-resource metadata names -------------------------------

_SUPABASE_JWKS_SUFFIX = "/auth/v1/.well-known/jwks.json"


def authorization_server(issuer_url: str | None, jwks_url: str | None) -> str | None:
    """The authorization server that issues this server's bearer tokens: `ARTIFICER_AUTH_ISSUER_URL`, else
    the Supabase Auth issuer a Supabase JWKS URL belongs to (`https://<ref>.supabase.co/auth/v1/.well-known/
    jwks.json` → `https://<ref>.supabase.co/auth/v1`), else None: there is none to name (HS256 tokens
    minted elsewhere), and naming this server instead would send OAuth clients to a login that cannot
    finish."""
    if issuer_url:
        return issuer_url.rstrip("/")
    if jwks_url:
        parts = urlsplit(jwks_url)
        if parts.scheme == "https" and parts.netloc and parts.path.endswith(_SUPABASE_JWKS_SUFFIX):
            path = parts.path[: -len("/.well-known/jwks.json")]
            return f"https://{parts.netloc}{path}"
    return None
