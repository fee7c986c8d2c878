"""The MCP server: a low-level `mcp.server.Server` whose catalog comes from the database.

- `build_server(settings)` → `Server` with handlers for tools, resources and `subscriptions/listen`;
  its lifespan (`app_state`) owns the database target, the pool, the catalog service (LISTEN/NOTIFY
  reload), the log writer and the provider clients (`AppState`).
- `serve_stdio(settings)`: what Claude Desktop and IDEs launch; advertises `tools.listChanged` to
  handshake-era clients.
- `http_app(settings)`: Streamable HTTP (SSE responses, so progress reaches the client) at `/mcp`, bearer
  JWT auth, `GET /health`.

Tool calls are routed by name through `TOOL_HANDLERS` (the read-only helpers); every other name is an
agent tool and goes to the pipeline. Handlers raise; `server.errors` answers what they raise, written once.

A catalog change is announced to every handshake-era connection (`notifications/tools/list_changed` and
`notifications/prompts/list_changed` on its standalone stream, to all of them at once, each bounded by
`NOTIFY_TIMEOUT_SECONDS`) and, for 2026-07-28 clients, on their `subscriptions/listen` streams.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import Future
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import mcp_types as types
from artificer.agents import document, git_mcp, mermaid, provider_tools, python
from artificer.agents.base import AgentSpec
from artificer.agents.providers.base import LLMProvider, UnsupportedFeature
from artificer.agents.providers.registry import provider_for
from artificer.common.providers import PROVIDERS
from artificer.common.settings import Settings
from artificer.server import admin, audit, client_features, prompts, resources, viewer
from artificer.server.catalog import Catalog, CatalogService, load_catalog
from artificer.server.client_features import ClientLogging
from artificer.server.errors import answer_request_failures, answer_tool_failures, unknown_tool
from artificer.server.events import ArtifactEvents
from artificer.server.identity import (
    Caller,
    IdentityError,
    JWTVerifier,
    caller_from_access_token,
    resolve_local_user,
)
from artificer.server.observability import Observability
from artificer.server.paging import cursor_key
from artificer.server.pipeline import PipelineDeps, run_agent_tool
from artificer.server.protocol import answer_malformed_lines, authorization_server, downlevel_results
from artificer.server.shutdown import CallGate, run_uvicorn, stoppable_stdio
from artificer.server.startup import prepare_database
from artificer.storage.database import DatabaseTarget, set_acquire_timeout
from artificer.storage.log_writer import LogWriter
from artificer.storage.maintenance import MaintenanceLoop
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import CallNext, ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, PromptsListChanged, ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

logger = logging.getLogger(__name__)

AGENTS: tuple[AgentSpec, ...] = (document.SPEC, python.SPEC, mermaid.SPEC, provider_tools.SPEC, git_mcp.SPEC)
"""Agent modules served as tools; python/mermaid/provider_tools/git_mcp plug in here."""

SERVER_NAME = "artificer"
INSTRUCTIONS = (
    "Artificer makes and edits artifacts (documents, code, diagrams) with AI agents and keeps every version. "
    "The artifact agents (document, python, mermaid) take an `operation`; results carry the artifact id "
    "and an artifact:// resource link. `provider_tools_agent` (web search, URL reading, code execution) and "
    "`git_mcp_agent` (read-only GitHub questions) take a free-form `input` and save nothing. "
    "Use `artifacts` to list or read your artifacts and `usage` to see your calls and cost."
)

NOTIFY_TIMEOUT_SECONDS = 5.0
"""Longest wait for one connection to take a list_changed notification; the others never wait for it."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("artificer")
    except PackageNotFoundError:
        return "0"


# --- providers ----------------------------------------------------------------------------------------


def make_provider(name: str, settings: Settings) -> LLMProvider:
    """The provider client for `name`, built from `Settings` (keys, base URLs, timeout, retries)."""
    if name not in PROVIDERS:
        raise UnsupportedFeature(f"unknown provider {name!r}; use one of {', '.join(PROVIDERS)}")
    return provider_for(name, settings)


@dataclass
class Providers:
    """Provider clients, each built on first use and closed with the server."""

    settings: Settings
    clients: dict[str, LLMProvider] = field(default_factory=dict)

    def get(self, name: str) -> LLMProvider:
        if name not in self.clients:
            self.clients[name] = make_provider(name, self.settings)
        return self.clients[name]

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


# --- state --------------------------------------------------------------------------------------------


@dataclass
class AppState:
    settings: Settings
    pool: Any
    catalog: CatalogService
    logs: LogWriter
    deps: PipelineDeps
    local_user: Caller | None
    bus: InMemorySubscriptionBus
    providers: Providers
    sessions: dict[int, ServerSession] = field(default_factory=dict)
    """Handshake-era connections (by connection identity) that get list_changed notifications."""
    events: ArtifactEvents | None = None
    """Resource events to the owner's sessions (`server.events`)."""
    cursor_key: bytes = b""
    """Signs list cursors (`server.paging`)."""
    client_logging: ClientLogging = field(default_factory=ClientLogging)
    """The log level each handshake-era client asked for (`logging/setLevel`)."""


async def _close_log_writer(writer: LogWriter) -> None:
    """Flush and stop the log writer; a failing final flush is reported, never raised at shutdown."""
    try:
        await writer.aclose()
    except Exception:
        logger.exception("the log writer failed to flush at shutdown; some log rows were not written")


async def _open_database(
    stack: AsyncExitStack, settings: Settings, target: DatabaseTarget | None
) -> tuple[DatabaseTarget, Any]:
    """`target` (or the database `settings` names, resolved, migrated and closed here) and its pool."""
    db = target
    if db is None:
        db = await prepare_database(settings)
        stack.push_async_callback(db.close)
    pool = await db.create_pool(min_size=settings.pool_min_size, max_size=settings.pool_max_size)
    set_acquire_timeout(pool, settings.pool_acquire_timeout_seconds)
    stack.push_async_callback(pool.close)
    return db, pool


@asynccontextmanager
async def app_state(
    server: Server[AppState],
    *,
    settings: Settings,
    target: DatabaseTarget | None,
    local_user: bool,
    bus: InMemorySubscriptionBus,
    events: ArtifactEvents,
) -> AsyncIterator[AppState]:
    """The server's lifespan. The LISTEN connection opens in the background, not before the server answers:
    it reloads the catalog once it listens, so nothing committed in the meantime is missed."""
    async with AsyncExitStack() as stack:
        db, pool = await _open_database(stack, settings, target)
        logs = LogWriter(pool)
        await logs.start()
        stack.push_async_callback(_close_log_writer, logs)

        async def loader() -> Catalog:
            loaded = await load_catalog(pool, settings, AGENTS, extra_tools=resources.READ_ONLY_TOOLS)
            logs.apply_settings(dict(loaded.logging_settings))
            return loaded

        catalog = CatalogService(loader=loader, listen_dsn=db.session_dsn)
        await catalog.reload()
        if isinstance(server, ArtificerServer):  # /ready and /metrics see this pool, writer and catalog
            server.observability.attach(pool=pool, logs=logs, catalog=catalog)
            stack.callback(server.observability.detach)
        caller = None
        if local_user:
            caller = await resolve_local_user(pool, settings, embedded=db.embedded is not None)
        providers = Providers(settings)
        stack.push_async_callback(providers.aclose)
        deps = PipelineDeps(
            pool=pool, catalog=catalog, logs=logs, provider_for=providers.get, settings=settings
        )
        state = AppState(
            settings=settings,
            pool=pool,
            catalog=catalog,
            logs=logs,
            deps=deps,
            local_user=caller,
            bus=bus,
            providers=providers,
            events=events,
            cursor_key=cursor_key(settings.jwt_secret.get_secret_value() if settings.jwt_secret else None),
        )
        events.listen_dsn = db.session_dsn

        async def on_change(_: Catalog) -> None:
            await announce_tools_changed(bus, state.sessions)

        catalog.on_change.append(on_change)
        async with anyio.create_task_group() as tg:
            tg.start_soon(catalog.run)
            tg.start_soon(events.run)
            # partitions ahead, retention; one replica at a time; not in the first seconds of a server
            tg.start_soon(MaintenanceLoop(pool, first_delay=5.0).run)
            try:
                yield state
            finally:
                tg.cancel_scope.cancel()


# --- identity -----------------------------------------------------------------------------------------


def caller_of(state: AppState, ctx: ServerRequestContext[Any, Any]) -> Caller:
    """The verified bearer token's user on HTTP, the local user on stdio."""
    if isinstance(ctx.request, Request):
        user = ctx.request.scope.get("user")
        token = getattr(user, "access_token", None)
        if token is None:
            raise IdentityError("this request carries no verified bearer token")
        return caller_from_access_token(token)
    if state.local_user is None:
        raise IdentityError("no local user is configured for this transport")
    return state.local_user


# --- notifications ------------------------------------------------------------------------------------


async def announce_tools_changed(
    bus: InMemorySubscriptionBus,
    sessions: dict[int, ServerSession],
    *,
    seconds_each: float = NOTIFY_TIMEOUT_SECONDS,
) -> None:
    """Tell every listener the tool list changed: the 2026-07-28 `subscriptions/listen` streams on `bus`,
    and every handshake-era connection in `sessions` at once, each given at most `seconds_each` seconds
    (a stuck client delays nobody). A connection whose send fails is gone: it leaves `sessions`."""
    await bus.publish(ToolsListChanged())
    await bus.publish(PromptsListChanged())  # prompts follow the catalog's enabled operations
    async with anyio.create_task_group() as tg:
        for key, session in list(sessions.items()):
            tg.start_soon(_send_list_changed, sessions, key, session, seconds_each)


async def _send_list_changed(
    sessions: dict[int, ServerSession], key: int, session: ServerSession, seconds: float
) -> None:
    with anyio.move_on_after(seconds) as scope:
        try:
            await session.send_tool_list_changed()
            await session.send_prompt_list_changed()
        except Exception:  # the connection is gone
            sessions.pop(key, None)
    if scope.cancelled_caught:
        logger.warning("a client took no list_changed notification within %.1f s; skipped it", seconds)


def _remember_session(state: AppState, ctx: ServerRequestContext[Any, Any]) -> None:
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return
    connection = getattr(ctx.session, "_connection", None)  # the per-connection object behind the session
    key = id(connection) if connection is not None else id(ctx.session)
    if key not in state.sessions:
        state.sessions[key] = ctx.session
        if connection is not None:
            connection.exit_stack.callback(state.sessions.pop, key, None)


def _remember_caller_session(state: AppState, ctx: ServerRequestContext[Any, Any]) -> None:
    """Note a handshake-era connection as its caller's, for resource events (`server.events`)."""
    if state.events is None or ctx.protocol_version in MODERN_PROTOCOL_VERSIONS or ctx.method == "initialize":
        return
    try:
        caller = caller_of(state, ctx)
    except IdentityError:
        return
    connection = getattr(ctx.session, "_connection", None)
    key = id(connection) if connection is not None else id(ctx.session)
    exit_stack = connection.exit_stack if connection is not None else None
    state.events.add_session(caller.user_id, key, ctx.session, exit_stack)


def connection_key(ctx: ServerRequestContext[Any, Any]) -> int:
    connection = getattr(ctx.session, "_connection", None)
    return id(connection) if connection is not None else id(ctx.session)


async def remember_sessions(ctx: ServerRequestContext[AppState, Any], call_next: CallNext) -> Any:
    """Middleware: note each handshake-era connection, to announce catalog and resource changes to it."""
    if isinstance(ctx.lifespan_context, AppState):
        _remember_session(ctx.lifespan_context, ctx)
        _remember_caller_session(ctx.lifespan_context, ctx)
    return await call_next(ctx)


# --- handlers -----------------------------------------------------------------------------------------

Ctx = ServerRequestContext[AppState, Any]
ToolHandler = Callable[[Ctx, Caller, types.CallToolRequestParams], Awaitable[types.CallToolResult]]
ReadOnlyTool = Callable[[Any, Caller, Mapping[str, Any]], Awaitable[types.CallToolResult]]


async def call_agent_tool(
    ctx: Ctx, caller: Caller, params: types.CallToolRequestParams
) -> types.CallToolResult:
    async def progress(done: float, total: float | None, message: str | None) -> None:
        await ctx.session.report_progress(done, total, message)

    result = await run_agent_tool(ctx.lifespan_context.deps, caller, params.name, params.arguments, progress)
    text = next((c.text for c in result.content if isinstance(c, types.TextContent)), "")
    level: types.LoggingLevel = "warning" if result.is_error else "info"
    await ctx.lifespan_context.client_logging.log(ctx, level, {"tool": params.name, "message": text[:500]})
    return result


def read_only(tool: ReadOnlyTool) -> ToolHandler:
    """A read-only helper tool (`resources`), run as the caller on the pool."""

    async def call(ctx: Ctx, caller: Caller, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await tool(ctx.lifespan_context.pool, caller, dict(params.arguments or {}))

    return call


async def artifacts_tool(
    ctx: Ctx, caller: Caller, params: types.CallToolRequestParams
) -> types.CallToolResult:
    """The `artifacts` tool, its list cursors signed with the server's key."""
    state = ctx.lifespan_context
    return await resources.artifacts_tool(state.pool, caller, dict(params.arguments or {}), state.cursor_key)


TOOL_HANDLERS: dict[str, ToolHandler] = {
    resources.ARTIFACTS_TOOL.name: artifacts_tool,
    resources.USAGE_TOOL.name: read_only(resources.usage_tool),
}
"""Tools served outside the agent pipeline, by name; any other name is an agent tool (`call_agent_tool`)."""


async def list_tools(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    tools = [viewer.with_viewer(tool) for tool in ctx.lifespan_context.catalog.get().tools()]
    return types.ListToolsResult(tools=tools + admin_tools(ctx))


def admin_tools(ctx: Ctx) -> list[types.Tool]:
    """The `admin_…` tools, for a caller whose role is admin (`server.admin`); none for anyone else."""
    try:
        return list(admin.TOOLS) if admin.is_admin(caller_of(ctx.lifespan_context, ctx)) else []
    except IdentityError:
        return []


async def call_admin_tool(
    ctx: Ctx, caller: Caller, params: types.CallToolRequestParams
) -> types.CallToolResult:
    state = ctx.lifespan_context
    deps = admin.AdminDeps(pool=state.pool, settings=state.settings)
    return await admin.call_admin_tool(deps, caller, params.name, params.arguments)


async def call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
    caller = caller_of(ctx.lifespan_context, ctx)
    handler = TOOL_HANDLERS.get(params.name)
    if handler is None and admin.is_admin_tool(params.name) and admin.is_admin(caller):
        handler = call_admin_tool  # for anyone else an admin tool is an unknown tool
    if handler is None:
        catalog = ctx.lifespan_context.catalog.current
        if catalog is not None and params.name not in catalog.agents and params.name not in catalog.refusals:
            raise unknown_tool(params.name)  # a known agent that is disabled: a tool error that says why
        handler = call_agent_tool
    result = await handler(ctx, caller, params)
    if params.name in TOOL_HANDLERS:  # agent calls write their audit row with their activity row
        args = params.arguments or {}
        audit.read_only_tool_call(
            ctx.lifespan_context.logs, caller, params.name, args, failed=bool(result.is_error)
        )
    return result


async def list_resources(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
    state = ctx.lifespan_context
    listed, next_cursor = await resources.list_resources_page(
        state.pool, caller_of(state, ctx), state.cursor_key, params.cursor if params else None
    )
    return types.ListResourcesResult(resources=listed, next_cursor=next_cursor)


async def subscribe_resource(ctx: Ctx, params: types.SubscribeRequestParams) -> types.EmptyResult:
    """`resources/subscribe` (handshake era): `notifications/resources/updated` when it changes."""
    state = ctx.lifespan_context
    caller_of(state, ctx)  # no identity, no subscription
    if state.events is not None:
        state.events.subscribe(connection_key(ctx), str(params.uri))
    return types.EmptyResult()


async def unsubscribe_resource(ctx: Ctx, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    state = ctx.lifespan_context
    if state.events is not None:
        state.events.unsubscribe(connection_key(ctx), str(params.uri))
    return types.EmptyResult()


def _caller_id(ctx: ServerRequestContext[Any, Any]) -> Any:
    return caller_of(ctx.lifespan_context, ctx).user_id


async def complete(ctx: Ctx, params: types.CompleteRequestParams) -> types.CompleteResult:
    state = ctx.lifespan_context
    return await client_features.complete(state.pool, caller_of(state, ctx), params, state.catalog.current)


async def set_logging_level(ctx: Ctx, params: types.SetLevelRequestParams) -> types.EmptyResult:
    return await ctx.lifespan_context.client_logging.set_level(ctx, params)


async def list_resource_templates(
    ctx: Ctx, params: types.PaginatedRequestParams | None
) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(resource_templates=resources.TEMPLATES)


async def read_resource(ctx: Ctx, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    state = ctx.lifespan_context
    caller = caller_of(state, ctx)
    if str(params.uri) == viewer.VIEWER_URI:  # the artifact viewer app: the same page for everyone
        return viewer.read_viewer()
    result = await resources.read_resource(state.pool, caller, str(params.uri))
    audit.resource_read(state.logs, caller, str(params.uri))
    return result


async def list_prompts(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
    """A prompt per enabled operation of the active provider's agents (`server.prompts`)."""
    catalog = ctx.lifespan_context.catalog.get()
    return types.ListPromptsResult(prompts=[entry.prompt for entry in catalog.prompts.values()])


async def get_prompt(ctx: Ctx, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    entry = ctx.lifespan_context.catalog.get().prompts.get(params.name)
    try:
        if entry is None:
            raise prompts.PromptError(f"unknown prompt {params.name!r}; prompts/list names the prompts")
        return prompts.render_prompt(entry, params.arguments)
    except prompts.PromptError as error:
        raise MCPError(types.INVALID_PARAMS, str(error)) from error


def tool_input_schema(name: str) -> Mapping[str, Any] | None:
    return None  # schemas vary with the catalog; arguments are validated by the pipeline


# --- the server ---------------------------------------------------------------------------------------


class ArtificerServer(Server[AppState]):
    """A low-level server that advertises `tools.listChanged` to handshake-era clients on every transport.

    The SDK's stdio and Streamable HTTP runners both fall back to `create_initialization_options()`
    without notification options, which would advertise `listChanged: false` although the server does
    send `notifications/tools/list_changed`.
    """

    calls: CallGate
    observability: Observability
    """Metrics of the calls, the pool and the log writer; `/ready` and `/metrics` on HTTP."""
    """Counts tool calls in flight and refuses new ones once a signal asks the server to stop."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options
            or NotificationOptions(tools_changed=True, resources_changed=True, prompts_changed=True),
            experimental_capabilities,
            extensions,
        )


def build_server(
    settings: Settings, *, target: DatabaseTarget | None = None, local_user: bool = True
) -> ArtificerServer:
    """The MCP server. `target` overrides the database resolution (tests); `local_user=False` (HTTP)
    serves only callers with a verified bearer token."""
    bus = InMemorySubscriptionBus()
    events = ArtifactEvents(bus=bus, listen_dsn=None)
    server = ArtificerServer(
        SERVER_NAME,
        version=_version(),
        title="Artificer",
        instructions=INSTRUCTIONS,
        website_url=settings.public_url,
        icons=[client_features.ICON],
        lifespan=partial(
            app_state, settings=settings, target=target, local_user=local_user, bus=bus, events=events
        ),
        get_tool_input_schema=tool_input_schema,
        on_list_tools=list_tools,
        on_call_tool=answer_tool_failures(call_tool),
        on_list_resources=answer_request_failures("listing artifacts", list_resources),
        on_list_resource_templates=list_resource_templates,
        on_read_resource=answer_request_failures("reading artifacts", read_resource),
        on_subscribe_resource=answer_request_failures("subscribing to an artifact", subscribe_resource),
        on_unsubscribe_resource=unsubscribe_resource,
        on_subscriptions_listen=answer_request_failures(
            "listening for changes", events.listen_handler(_caller_id)
        ),
        on_completion=answer_request_failures("completing an argument", complete),
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )
    # logging/setLevel (handshake era only), registered directly: the constructor argument warns that
    # logging is deprecated as of 2026-07-28 (it is, and the SDK refuses it on that revision)
    server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_logging_level)
    server.middleware.append(remember_sessions)
    server.observability = Observability()  # counts and times every call (server.observability)
    server.middleware.append(server.observability)
    server.calls = CallGate()  # refuses calls while shutting down (server.shutdown)
    server.middleware.append(server.calls)
    server.middleware.append(downlevel_results)  # innermost: shapes the wire result the handler produced
    return server


# --- transports ---------------------------------------------------------------------------------------


async def serve_stdio(settings: Settings, *, database: Future[DatabaseTarget] | None = None) -> None:
    """Resolve and migrate the database, then serve over stdio until the client closes stdin.

    `database`: the database being prepared already (`startup.prepare_database_in_thread`: the CLI starts
    it before it imports this module, so it gets ready while the imports run); it is closed here.
    """
    db = await (anyio.to_thread.run_sync(database.result) if database else prepare_database(settings))
    try:
        server = build_server(settings, target=db)
        stdio = stoppable_stdio(server.calls)  # ends at EOF, or cleanly on SIGTERM/SIGINT (server.shutdown)
        async with stdio as (read, write), answer_malformed_lines(read, write) as checked:
            await server.run(checked, write, server.create_initialization_options())
    finally:
        await db.close()


def http_app(
    settings: Settings, *, target: DatabaseTarget | None = None, verifier: JWTVerifier | None = None
) -> Starlette:
    """Streamable HTTP at /mcp (bearer JWT required), plus GET /health. `verifier` defaults to
    `JWTVerifier.from_settings(settings)` (an `IdentityError` when token verification is not configured)."""
    if verifier is None:
        verifier = JWTVerifier.from_settings(settings)
    server = build_server(settings, target=target, local_user=False)
    public_url = (settings.public_url or f"http://{settings.http_host}:{settings.http_port}").rstrip("/")

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "server": SERVER_NAME, "version": _version()})

    # Protected-resource metadata (and `resource_metadata` in WWW-Authenticate) only when there is a real
    # authorization server to name; `issuer_url` is then unused by the SDK (it serves no AS routes here).
    issuer = authorization_server(settings.auth_issuer_url, settings.jwks_url)
    app = server.streamable_http_app(
        host=settings.http_host,
        token_verifier=verifier,
        auth=AuthSettings(
            issuer_url=issuer or public_url,  # type: ignore[arg-type]
            resource_server_url=f"{public_url}/mcp" if issuer else None,  # type: ignore[arg-type]
            validate_token_resource=False,
        ),
        custom_starlette_routes=[Route("/health", health, methods=["GET"]), *server.observability.routes()],
    )
    app.state.calls = server.calls
    return app


async def serve_http(settings: Settings) -> None:
    """Check the token verification settings, then resolve and migrate the database before uvicorn
    starts, so a startup failure is one clear line from the CLI rather than a traceback from inside
    uvicorn's lifespan, and a server that cannot verify tokens touches no database."""
    import uvicorn

    verifier = JWTVerifier.from_settings(settings)  # IdentityError: nothing resolved, nothing migrated
    db = await prepare_database(settings)
    try:
        app = http_app(settings, target=db, verifier=verifier)
        config = uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_level=settings.log_level.lower(),
            log_config=None,  # uvicorn's records go to the CLI's handler, which redacts secrets
            lifespan="on",
        )
        await run_uvicorn(config, app.state.calls)  # stops cleanly on SIGTERM/SIGINT
    finally:
        await db.close()
