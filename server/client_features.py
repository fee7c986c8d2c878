"""The smaller client-facing features: completions, logging to the client, the server's icon.

- `complete`: `completion/complete` for the `artifact://{id}` and `artifact://{id}/v/{version}` templates:
  `id` completes to the caller's artifact ids whose title (or id) starts with what was typed, newest
  first; `version` to the versions of the artifact named in the context. For prompts (`server.prompts`):
  the artifact id argument to the caller's artifacts of that agent's kind, by title (or id) prefix;
  `model` to the active provider's models; `targetVersion` to the versions of the artifact in the context.
- Logging (handshake era: `logging/setLevel`, then `notifications/message` at or above that level;
  2026-07-28: the SDK delivers only what a request opted in to in its `_meta`). The spec deprecates
  logging as of 2026-07-28; it is served for the clients that still show it. Until a client sets a
  level, only warnings and worse are sent.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any, get_args
from uuid import UUID

import mcp_types as types
from artificer.server.identity import Caller
from artificer.storage import documents
from artificer.storage.database import as_user
from mcp.server.context import ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

if TYPE_CHECKING:
    from artificer.server.catalog import Catalog

logger = logging.getLogger(__name__)

MAX_COMPLETIONS = 100
"""The spec's cap on `completion.values`."""

ICON = types.Icon(
    src=(
        "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAz"
        "MiAzMiI+PHJlY3Qgd2lkdGg9IjMyIiBoZWlnaHQ9IjMyIiByeD0iNiIgZmlsbD0iIzJkM2E4YyIvPjxwYXRoIGQ9Ik0xMCAy"
        "NGw2LTE2IDYgMTZtLTEwLTVoOCIgc3Ryb2tlPSIjZmZmIiBzdHJva2Utd2lkdGg9IjIuNSIgZmlsbD0ibm9uZSIvPjwvc3Zn"
        "Pg=="
    ),
    mime_type="image/svg+xml",
    sizes=["any"],
)
"""The server's icon (an "A" on a blue square), inline so it needs no host."""

LEVELS: tuple[str, ...] = get_args(types.LoggingLevel)
"""debug … emergency, least severe first."""
DEFAULT_LEVEL = "warning"


# --- completions ----------------------------------------------------------------------------------------


async def complete(
    pool: Any, caller: Caller, params: types.CompleteRequestParams, catalog: Catalog | None = None
) -> types.CompleteResult:
    """Completions for the artifact templates' and the prompts' arguments (none for anything else)."""
    values: list[str] = []
    ref = params.ref
    if isinstance(ref, types.PromptReference) and catalog is not None:
        values = await _prompt_values(pool, caller, params, catalog)
    if isinstance(ref, types.ResourceTemplateReference) and ref.uri.startswith("artifact://"):
        typed = params.argument.value
        async with as_user(pool, caller.rls_claims) as conn:
            if params.argument.name == "id":
                docs = await documents.complete_document_ids(conn, typed, MAX_COMPLETIONS + 1)
                values = [str(doc.id) for doc in docs]
            elif params.argument.name == "version":
                chosen = (params.context.arguments or {}).get("id") if params.context else None
                values = await _versions(conn, chosen, typed)
    has_more = len(values) > MAX_COMPLETIONS
    return types.CompleteResult(
        completion=types.Completion(values=values[:MAX_COMPLETIONS], has_more=has_more or None)
    )


async def _prompt_values(
    pool: Any, caller: Caller, params: types.CompleteRequestParams, catalog: Catalog
) -> list[str]:
    assert isinstance(params.ref, types.PromptReference)
    entry = catalog.prompts.get(params.ref.name)
    if entry is None:
        return []
    name, typed = params.argument.name, params.argument.value
    if name == "model":
        return [m.model_id for m in catalog.models if m.model_id.lower().startswith(typed.lower())]
    if name == entry.id_argument:
        async with as_user(pool, caller.rls_claims) as conn:
            docs = await documents.complete_document_ids(conn, typed, 10 * MAX_COMPLETIONS)
        return [str(doc.id) for doc in docs if entry.kind is None or doc.kind == entry.kind]
    if name == "targetVersion" and entry.id_argument:
        chosen = (params.context.arguments or {}).get(entry.id_argument) if params.context else None
        async with as_user(pool, caller.rls_claims) as conn:
            return await _versions(conn, chosen, typed)
    return []


async def _versions(conn: Any, document_id: str | None, typed: str) -> list[str]:
    try:
        doc = UUID(str(document_id))
    except ValueError:
        return []
    versions = await documents.list_versions(conn, doc)
    return [str(v.version_number) for v in reversed(versions) if str(v.version_number).startswith(typed)]


# --- logging --------------------------------------------------------------------------------------------


def connection_key(ctx: ServerRequestContext[Any, Any]) -> int:
    connection = getattr(ctx.session, "_connection", None)
    return id(connection) if connection is not None else id(ctx.session)


class ClientLogging:
    """Per handshake-era connection, the level a client asked for (`logging/setLevel`)."""

    def __init__(self) -> None:
        self.levels: dict[int, str] = {}

    async def set_level(
        self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        key = connection_key(ctx)
        if key not in self.levels:
            connection = getattr(ctx.session, "_connection", None)
            if connection is not None:
                connection.exit_stack.callback(self.levels.pop, key, None)
        self.levels[key] = params.level
        return types.EmptyResult()

    def wants(self, ctx: ServerRequestContext[Any, Any], level: str) -> bool:
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return True  # the SDK applies the request's own opt-in
        threshold = self.levels.get(connection_key(ctx), DEFAULT_LEVEL)
        return LEVELS.index(level) >= LEVELS.index(threshold)

    async def log(self, ctx: ServerRequestContext[Any, Any], level: types.LoggingLevel, data: Any) -> None:
        """Send `data` to the client as a `notifications/message`, if it asked for `level`; a client
        that cannot take it costs the call nothing."""
        if not self.wants(ctx, level):
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # logging is deprecated as of 2026-07-28; still served
                await ctx.session.send_log_message(
                    level, data, logger="artificer", related_request_id=ctx.request_id
                )
        except Exception:
            logger.debug("a log message to the client was not delivered", exc_info=True)
