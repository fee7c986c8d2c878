"""The MCP server: a low-level `mcp.server.Server` whose catalog comes from the database.

- `build_server(settings)` → `Server` with handlers for tools, resources and `subscriptions/listen`;
  its lifespan owns the database target, the pool, the catalog service (LISTEN/NOTIFY reload), the log
  writer and the provider clients (`AppState`).
- `serve_stdio(settings)`: what Claude Desktop and IDEs launch; advertises `tools.listChanged` to
  handshake-era clients.
- `http_app(settings)`: Streamable HTTP (SSE responses, so progress reaches the client) at `/mcp`, bearer
  JWT auth, `GET /health`.

A catalog change is announced to every handshake-era connection (`notifications/tools/list_changed` on
its standalone stream) and, for 2026-07-28 clients, on their `subscriptions/listen` streams.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import anyio
import mcp_types as types
from artificer.agents import document, git_mcp, mermaid, provider_tools, python
from artificer.agents.base import AgentSpec
from artificer.agents.providers.base import LLMProvider, UnsupportedFeature
from artificer.agents.providers.registry import provider_for
from artificer.server import resources
from artificer.server.catalog import PROVIDERS, Catalog, CatalogService, build_catalog
from artificer.server.identity import (
    Caller,
    IdentityError,
    JWTVerifier,
    caller_from_access_token,
    local_caller,
)
from artificer.server.pipeline import (
    PipelineDeps,
    run_agent_tool,
    run_read_only_tool,
    tool_error,
    unexpected_failure_message,
)
from artificer.server.settings import Settings
from artificer.storage import configs, models, users
from artificer.storage.database import DatabaseTarget, resolve_database
from artificer.storage.log_writer import LogWriter
from artificer.storage.migrations import migrate
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import CallNext, ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("artificer")
    except PackageNotFoundError:
        return "0"


@dataclass
class AppState:
    settings: Settings
    pool: Any
    catalog: CatalogService
    logs: LogWriter
    deps: PipelineDeps
    local_user: Caller | None
    bus: InMemorySubscriptionBus
    sessions: dict[int, ServerSession] = field(default_factory=dict)
    """Handshake-era connections (by connection identity) that get list_changed notifications."""
    providers: dict[str, LLMProvider] = field(default_factory=dict)


# --- log sink -----------------------------------------------------------------------------------------


async def _close_log_writer(writer: LogWriter) -> None:
    """Flush and stop the log writer; a failing final flush is reported, never raised at shutdown."""
    try:
        await writer.aclose()
    except Exception:
        logger.exception("the log writer failed to flush at shutdown; some log rows were not written")


# --- providers ----------------------------------------------------------------------------------------


def make_provider(name: str, settings: Settings) -> LLMProvider:
    """The provider client for `name`, built from `Settings` (keys, base URLs, timeout, retries)."""
    if name not in PROVIDERS:
        raise UnsupportedFeature(f"unknown provider {name!r}; use one of {', '.join(PROVIDERS)}")
    return provider_for(name, settings)


# --- catalog loading ----------------------------------------------------------------------------------


async def load_catalog(pool: Any, settings: Settings, specs: tuple[AgentSpec, ...] = AGENTS) -> Catalog:
    """app_settings → the provider's rows and models → `build_catalog`."""
    provider = settings.provider
    admin_rows: dict[str, Mapping[str, Any]] = {}
    if provider is None:
        app_settings = await configs.get_config(pool, configs.APP_SETTINGS)
        if app_settings is not None:
            admin_rows[configs.APP_SETTINGS] = app_settings.data
            provider = app_settings.data.get("activeProvider")
    if provider is None:
        return build_catalog(specs, admin_rows, [], extra_tools=resources.READ_ONLY_TOOLS)
    loaded = await configs.load_provider(pool, str(provider))
    admin_rows[configs.APP_SETTINGS] = loaded.app_settings
    admin_rows[configs.LOGGING_SETTINGS] = loaded.logging_settings
    for agent_type, row in loaded.agents.items():
        admin_rows[f"{agent_type}_{provider}"] = row.data
    model_rows = [
        {
            "model_id": m.model_id,
            "provider": m.provider,
            "is_active": m.is_active,
            "is_default": m.is_default,
            "thinking_enabled": m.thinking_enabled,
            "input_pricing_per_million_tokens": m.pricing.input_per_million,
            "output_pricing_per_million_tokens": m.pricing.output_per_million,
        }
        for m in await models.active_models(pool, str(provider))
    ]
    return build_catalog(
        specs, admin_rows, model_rows, provider_override=str(provider), extra_tools=resources.READ_ONLY_TOOLS
    )


# --- identity -----------------------------------------------------------------------------------------


async def resolve_local_user(pool: Any, settings: Settings, *, embedded: bool) -> Caller:
    """The stdio user: ARTIFICER_USER_ID (created when missing on the embedded default)."""
    if settings.user_id:
        try:
            user_id = UUID(settings.user_id)
        except ValueError:
            raise IdentityError(f"ARTIFICER_USER_ID is not a uuid: {settings.user_id!r}") from None
    elif embedded:
        user_id = UUID(int=1)  # the one local user of the embedded database
    else:
        raise IdentityError(
            "set ARTIFICER_USER_ID to your auth.users id: "
            "with DATABASE_URL the stdio server acts as that user"
        )
    exists = await users.ensure_user(pool, user_id, settings.user_email, create=embedded)
    user = await users.get_user(pool, user_id) if exists else None
    if user is None:
        raise IdentityError(f"ARTIFICER_USER_ID {user_id} is not a user in auth.users of this database")
    return local_caller(user_id, settings.user_email or user.email, user.app_metadata)


def caller_of(state: AppState, ctx: ServerRequestContext[Any, Any]) -> Caller:
    request = ctx.request
    if isinstance(request, Request):
        user = request.scope.get("user")
        token = getattr(user, "access_token", None)
        if token is None:
            raise IdentityError("this request carries no verified bearer token")
        return caller_from_access_token(token)
    if state.local_user is None:
        raise IdentityError("no local user is configured for this transport")
    return state.local_user


# --- notifications ------------------------------------------------------------------------------------


async def announce_tools_changed(state: AppState, catalog: Catalog) -> None:
    await state.bus.publish(ToolsListChanged())
    for key, session in list(state.sessions.items()):
        try:
            await session.send_tool_list_changed()
        except Exception:  # the connection is gone
            state.sessions.pop(key, None)


def _remember_session(state: AppState, ctx: ServerRequestContext[Any, Any]) -> None:
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return
    connection = getattr(ctx.session, "_connection", None)  # the per-connection object behind the session
    key = id(connection) if connection is not None else id(ctx.session)
    if key not in state.sessions:
        state.sessions[key] = ctx.session
        if connection is not None:
            connection.exit_stack.callback(state.sessions.pop, key, None)


# --- the server ---------------------------------------------------------------------------------------


class ArtificerServer(Server[AppState]):
    """A low-level server that advertises `tools.listChanged` to handshake-era clients on every transport.

    The SDK's stdio and Streamable HTTP runners both fall back to `create_initialization_options()`
    without notification options, which would advertise `listChanged: false` although the server does
    send `notifications/tools/list_changed`.
    """

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True),
            experimental_capabilities,
            extensions,
        )


async def migrate_on_start(db: DatabaseTarget) -> None:
    """Apply pending migrations before serving (idempotent; waits for a concurrent migrate)."""
    conn = await db.connect()
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    for migration in applied:
        logger.info("applied migration %s (%d ms)", migration.filename, migration.duration_ms)


def build_server(
    settings: Settings, *, target: DatabaseTarget | None = None, local_user: bool = True
) -> Server[AppState]:
    """The MCP server. `target` overrides the database resolution (tests); `local_user=False` (HTTP)
    serves only callers with a verified bearer token."""

    @asynccontextmanager
    async def lifespan(_: Server[AppState]) -> AsyncIterator[AppState]:
        async with AsyncExitStack() as stack:
            db = target or await resolve_database(settings)
            if target is None:
                stack.push_async_callback(db.close)
                if settings.auto_migrate:
                    await migrate_on_start(db)
            pool = await db.create_pool(min_size=settings.pool_min_size, max_size=settings.pool_max_size)
            stack.push_async_callback(pool.close)
            logs = LogWriter(pool)
            await logs.start()
            stack.push_async_callback(_close_log_writer, logs)

            async def loader() -> Catalog:
                loaded = await load_catalog(pool, settings)
                logs.apply_settings(dict(loaded.logging_settings))
                return loaded

            catalog = CatalogService(loader=loader, listen_dsn=db.session_dsn)
            await catalog.reload()
            local_caller_ = None
            if local_user:
                local_caller_ = await resolve_local_user(pool, settings, embedded=db.embedded is not None)
            providers: dict[str, LLMProvider] = {}

            def provider_for(name: str) -> LLMProvider:
                if name not in providers:
                    providers[name] = make_provider(name, settings)
                return providers[name]

            state = AppState(
                settings=settings,
                pool=pool,
                catalog=catalog,
                logs=logs,
                deps=PipelineDeps(
                    pool=pool, catalog=catalog, logs=logs, provider_for=provider_for, settings=settings
                ),
                local_user=local_caller_,
                bus=bus,
                providers=providers,
            )

            async def on_change(new: Catalog) -> None:
                await announce_tools_changed(state, new)

            catalog.on_change.append(on_change)

            async def close_providers() -> None:
                for provider in providers.values():
                    await provider.aclose()

            stack.push_async_callback(close_providers)
            async with anyio.create_task_group() as tg:
                tg.start_soon(catalog.run)
                with anyio.move_on_after(5):
                    await catalog.listening.wait()
                try:
                    yield state
                finally:
                    tg.cancel_scope.cancel()

    bus = InMemorySubscriptionBus()

    async def on_list_tools(
        ctx: ServerRequestContext[AppState, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=ctx.lifespan_context.catalog.get().tools())

    async def on_call_tool(
        ctx: ServerRequestContext[AppState, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        state = ctx.lifespan_context
        try:
            caller = caller_of(state, ctx)
        except IdentityError as error:
            return tool_error(str(error))

        async def progress(done: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(done, total, message)

        if params.name == resources.ARTIFACTS_TOOL.name:
            return await run_read_only_tool(
                lambda c, a: resources.artifacts_tool(state.pool, c, a), caller, params.arguments
            )
        if params.name == resources.USAGE_TOOL.name:
            return await run_read_only_tool(
                lambda c, a: resources.usage_tool(state.pool, c, a), caller, params.arguments
            )
        return await run_agent_tool(state.deps, caller, params.name, params.arguments, progress)

    async def on_list_resources(
        ctx: ServerRequestContext[AppState, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        state = ctx.lifespan_context
        try:
            caller = caller_of(state, ctx)
        except IdentityError as error:
            raise MCPError(types.INVALID_REQUEST, str(error)) from None
        try:
            listed = await resources.list_resources(state.pool, caller)
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as error:
            logger.exception("resources/list failed")
            raise MCPError(
                types.INTERNAL_ERROR, unexpected_failure_message("listing artifacts", error)
            ) from None
        return types.ListResourcesResult(resources=listed)

    async def on_list_resource_templates(
        ctx: ServerRequestContext[AppState, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=resources.TEMPLATES)

    async def on_read_resource(
        ctx: ServerRequestContext[AppState, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        state = ctx.lifespan_context
        try:
            caller = caller_of(state, ctx)
            return await resources.read_resource(state.pool, caller, str(params.uri))
        except (IdentityError, resources.ResourceNotFound) as error:
            raise MCPError(types.INVALID_PARAMS, str(error)) from None
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as error:
            logger.exception("resources/read failed")
            message = unexpected_failure_message("reading artifacts", error)
            raise MCPError(types.INTERNAL_ERROR, message) from None

    def tool_input_schema(name: str) -> Mapping[str, Any] | None:
        return None  # schemas vary with the catalog; arguments are validated by the pipeline

    server = ArtificerServer(
        SERVER_NAME,
        version=_version(),
        title="Artificer",
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        get_tool_input_schema=tool_input_schema,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        on_list_resources=on_list_resources,
        on_list_resource_templates=on_list_resource_templates,
        on_read_resource=on_read_resource,
        on_subscriptions_listen=ListenHandler(bus),
    )

    async def remember_sessions(ctx: ServerRequestContext[AppState, Any], call_next: CallNext) -> Any:
        if isinstance(ctx.lifespan_context, AppState):
            _remember_session(ctx.lifespan_context, ctx)
        return await call_next(ctx)

    server.middleware.append(remember_sessions)
    return server


async def serve_stdio(settings: Settings) -> None:
    server = build_server(settings)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


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

    return server.streamable_http_app(
        host=settings.http_host,
        token_verifier=verifier,
        auth=AuthSettings(
            issuer_url=settings.auth_issuer_url or public_url,  # type: ignore[arg-type]
            resource_server_url=f"{public_url}/mcp",  # type: ignore[arg-type]
            validate_token_resource=False,
        ),
        custom_starlette_routes=[Route("/health", health, methods=["GET"])],
    )


async def serve_http(settings: Settings) -> None:
    """Check the token verification settings, then resolve and migrate the database before uvicorn
    starts, so a startup failure is one clear line from the CLI rather than a traceback from inside
    uvicorn's lifespan, and a server that cannot verify tokens touches no database."""
    import uvicorn

    verifier = JWTVerifier.from_settings(settings)  # IdentityError: nothing resolved, nothing migrated
    db = await resolve_database(settings)
    try:
        if settings.auto_migrate:
            await migrate_on_start(db)
        app = http_app(settings, target=db, verifier=verifier)
        config = uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_level=settings.log_level.lower(),
            lifespan="on",
        )
        await uvicorn.Server(config).serve()
    finally:
        await db.close()
