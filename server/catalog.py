"""The tool catalog, built from `admin_config` and `model_config`, and kept fresh by LISTEN/NOTIFY.

`build_catalog` is pure: rows in, `Catalog` out. The active provider is `Settings.provider` or
`app_settings.activeProvider`; each agent module's row is `{agent_type}_{provider}`. A tool is listed only
when that row is enabled and at least one of its operations is (an agent without an `operation` argument
decides through `AgentSpec.enabled_when`, e.g. one of its native tools is enabled); its `operation` enum
holds only the enabled operations; its description and parameter descriptions come from
`chat_model_agent_{provider}.tools.<chat_tool_key>`. The optional `model` argument is an enum of the active
`model_config` models of the provider.

`load_catalog` reads those rows for the active provider and builds the catalog. `CatalogService` holds
the current catalog, reloads it when the `artificer_config` channel fires (`storage.listen`: a dedicated
connection, reconnected after a database restart, reloading once after each connect, the first one too),
and calls its `on_change` callbacks when the listed tools or prompts changed (`server.prompts`: a prompt per
enabled operation, built here with the tools).
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from artificer.agents.base import AgentSpec, ModelChoice, Operation
from artificer.common.pricing import pricing_from_model_config
from artificer.common.providers import PROVIDERS
from artificer.common.settings import Settings
from artificer.server.prompts import PromptEntry, build_prompts
from artificer.storage import configs, models
from artificer.storage.listen import listen
from pydantic import BaseModel

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "artificer_config"
LISTEN_APPLICATION_NAME = "artificer-config-listener"


class CatalogError(Exception):
    """The configuration cannot serve tools (e.g. no active provider)."""


def _limit(value: Any) -> int | None:
    """A window's limit from `rateLimit`: a non-negative int, else None (that window is unlimited)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """One listed agent tool.

    What a call reads from the config (each operation's `tools.<key>` row, the per-window limits, the
    enabled operations by name) is derived once, when the catalog is built, not on every call.
    """

    spec: AgentSpec
    config: Mapping[str, Any]
    enabled_operations: tuple[Operation, ...]
    tool: types.Tool
    limits: tuple[int | None, int | None, int | None] = field(init=False)
    """`rateLimit` (perMinute, perHour, perDay) as the rate-limit check takes them."""
    operations_by_name: Mapping[str, Operation] = field(init=False)
    """The enabled operations by their `operation` argument."""
    _tool_configs: Mapping[str, Mapping[str, Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        tools = self.config.get("tools") or {}
        configs: dict[str, Mapping[str, Any]] = {}
        for op in self.spec.operations:
            value = tools.get(op.config_key) if isinstance(tools, Mapping) else None
            configs[op.config_key] = value if isinstance(value, Mapping) else {}
        limits = self.rate_limit
        object.__setattr__(self, "_tool_configs", configs)
        object.__setattr__(
            self,
            "limits",
            (_limit(limits.get("perMinute")), _limit(limits.get("perHour")), _limit(limits.get("perDay"))),
        )
        object.__setattr__(self, "operations_by_name", {op.name: op for op in self.enabled_operations})

    def tool_config(self, operation: Operation) -> Mapping[str, Any]:
        value = self._tool_configs.get(operation.config_key)
        if value is not None:
            return value
        tools = self.config.get("tools") or {}
        value = tools.get(operation.config_key) if isinstance(tools, Mapping) else None
        return value if isinstance(value, Mapping) else {}

    @property
    def rate_limit(self) -> Mapping[str, Any]:
        value = self.config.get("rateLimit")
        return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True)
class Catalog:
    provider: str
    agents: Mapping[str, AgentEntry]
    """Listed agent tools by tool name."""
    refusals: Mapping[str, str]
    """Known agent tools that are not listed, with the reason a call to them is refused."""
    models: tuple[ModelChoice, ...]
    extra_tools: tuple[types.Tool, ...] = ()
    """The read-only helper tools (always listed)."""
    logging_settings: Mapping[str, Any] = field(default_factory=dict)
    """`admin_config.logging_settings`, for the log writer."""
    prompts: Mapping[str, PromptEntry] = field(default_factory=dict)
    """A prompt per enabled operation of the listed agents, by name (`server.prompts`)."""

    def tools(self) -> list[types.Tool]:
        return [entry.tool for entry in self.agents.values()] + list(self.extra_tools)

    def model(self, model_id: str | None) -> ModelChoice | None:
        if model_id is not None:
            return next((m for m in self.models if m.model_id == model_id), None)
        return next((m for m in self.models if m.is_default), self.models[0] if self.models else None)

    def fingerprint(self) -> list[dict[str, Any]]:
        named = [*self.tools(), *(p.prompt for p in self.prompts.values())]
        return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in named]


def active_provider(admin_rows: Mapping[str, Mapping[str, Any]], override: str | None) -> str:
    if override:
        return override
    app_settings = admin_rows.get("app_settings") or {}
    provider = app_settings.get("activeProvider") if isinstance(app_settings, Mapping) else None
    if provider not in PROVIDERS:
        raise CatalogError(
            "no active provider: set app_settings.activeProvider in admin_config to one of "
            f"{', '.join(PROVIDERS)}, or set ARTIFICER_PROVIDER"
        )
    return str(provider)


def model_choices(model_rows: Sequence[Mapping[str, Any]], provider: str) -> tuple[ModelChoice, ...]:
    """Active `model_config` rows of `provider`, default first, then by model id."""
    rows = [r for r in model_rows if r.get("provider") == provider and r.get("is_active")]
    rows.sort(key=lambda r: (not r.get("is_default"), str(r["model_id"])))
    return tuple(
        ModelChoice(
            model_id=str(r["model_id"]),
            pricing=pricing_from_model_config(r),  # the cache prices from its metadata too
            thinking=bool(r.get("thinking_enabled")),
            is_default=bool(r.get("is_default")),
        )
        for r in rows
    )


def _enabled(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("enabled") is True


@functools.cache
def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON schema, generated once per process (callers copy it before changing it)."""
    return model.model_json_schema()


def _input_schema(
    spec: AgentSpec,
    enabled: tuple[Operation, ...],
    chat_entry: Mapping[str, Any],
    models: tuple[ModelChoice, ...],
) -> dict[str, Any]:
    schema = copy.deepcopy(_model_schema(spec.input_model))
    schema.pop("title", None)
    props: dict[str, Any] = schema.setdefault("properties", {})
    tool_input = chat_entry.get("tool_input")
    tool_input = tool_input if isinstance(tool_input, Mapping) else {}
    if isinstance(tool_input.get("parameter_name"), str):  # one free-form parameter, described flat
        tool_input = {tool_input["parameter_name"]: tool_input}
    for prop, key in spec.parameter_keys.items():
        described = tool_input.get(key)
        if prop in props and isinstance(described, Mapping) and described.get("parameter_description"):
            props[prop]["description"] = str(described["parameter_description"])
    if "operation" in props:
        props["operation"] = {
            "type": "string",
            "enum": [op.name for op in enabled],
            "description": props["operation"].get("description", "What to do."),
        }
    if "model" in props:
        if models:
            props["model"] = {
                "type": "string",
                "enum": [m.model_id for m in models],
                "description": "Model to use; omit for the default "
                f"({next((m.model_id for m in models if m.is_default), models[0].model_id)}).",
            }
        else:
            props.pop("model")
    for prop in props.values():
        prop.pop("title", None)
    return schema


def _output_schema(spec: AgentSpec) -> dict[str, Any]:
    schema = copy.deepcopy(_model_schema(spec.output_model))
    schema.pop("title", None)
    return schema


def _description(spec: AgentSpec, chat_entry: Mapping[str, Any], enabled: tuple[Operation, ...]) -> str:
    base = str(chat_entry.get("description") or spec.title)
    if "operation" not in spec.input_model.model_fields:  # one implicit operation: nothing to choose
        return base
    return f"{base}\n\nOperations: {', '.join(op.name for op in enabled)}."


def build_catalog(
    specs: Sequence[AgentSpec],
    admin_rows: Mapping[str, Mapping[str, Any]],
    model_rows: Sequence[Mapping[str, Any]],
    *,
    provider_override: str | None = None,
    extra_tools: Sequence[types.Tool] = (),
) -> Catalog:
    provider = active_provider(admin_rows, provider_override)
    models = model_choices(model_rows, provider)
    chat_row = admin_rows.get(f"chat_model_agent_{provider}") or {}
    chat_tools = chat_row.get("tools") if isinstance(chat_row, Mapping) else None
    chat_tools = chat_tools if isinstance(chat_tools, Mapping) else {}
    agents: dict[str, AgentEntry] = {}
    refusals: dict[str, str] = {}
    for spec in specs:
        key = f"{spec.agent_type}_{provider}"
        row = admin_rows.get(key)
        if not isinstance(row, Mapping):
            refusals[spec.agent_type] = (
                f"{spec.agent_type} has no configuration for provider {provider} ({key})"
            )
            continue
        if row.get("enabled") is not True:
            refusals[spec.agent_type] = (
                f"{spec.agent_type} is disabled for provider {provider} (admin_config {key})"
            )
            continue
        tools_value = row.get("tools")
        tools: Mapping[str, Any] = tools_value if isinstance(tools_value, Mapping) else {}
        if spec.enabled_when is not None:
            enabled = spec.operations if spec.enabled_when(provider, tools) else ()
        else:
            enabled = tuple(op for op in spec.operations if _enabled(tools.get(op.config_key)))
        if not enabled:
            what = "tool" if spec.enabled_when is not None else "operation"
            refusals[spec.agent_type] = f"every {what} of {spec.agent_type} is disabled (admin_config {key})"
            continue
        if any(op.calls_model for op in enabled) and not models:
            refusals[spec.agent_type] = (
                f"{spec.agent_type} needs a model but model_config has no active {provider} model"
            )
            continue
        chat_entry = chat_tools.get(spec.chat_tool_key)
        chat_entry = chat_entry if isinstance(chat_entry, Mapping) else {}
        tool = types.Tool(
            name=spec.agent_type,
            title=spec.title,
            description=_description(spec, chat_entry, enabled),
            input_schema=_input_schema(spec, enabled, chat_entry, models),
            output_schema=_output_schema(spec),
            annotations=types.ToolAnnotations(title=spec.title, **spec.annotations_for(enabled)),
        )
        agents[spec.agent_type] = AgentEntry(spec=spec, config=row, enabled_operations=enabled, tool=tool)
    logging_settings = admin_rows.get("logging_settings")
    return Catalog(
        provider=provider,
        agents=agents,
        refusals=refusals,
        models=models,
        extra_tools=tuple(extra_tools),
        logging_settings=logging_settings if isinstance(logging_settings, Mapping) else {},
        prompts=build_prompts(agents.values(), models, provider),
    )


async def load_catalog(
    pool: Any, settings: Settings, specs: Sequence[AgentSpec], *, extra_tools: Sequence[types.Tool] = ()
) -> Catalog:
    """app_settings → the provider's rows and models → `build_catalog`."""
    provider = settings.provider
    admin_rows: dict[str, Mapping[str, Any]] = {}
    if provider is None:
        app_settings = await configs.get_config(pool, configs.APP_SETTINGS)
        if app_settings is not None:
            admin_rows[configs.APP_SETTINGS] = app_settings.data
            provider = app_settings.data.get("activeProvider")
    if provider is None:
        return build_catalog(specs, admin_rows, [], extra_tools=extra_tools)
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
            "metadata": m.metadata,  # its cache prices
        }
        for m in await models.active_models(pool, str(provider))
    ]
    return build_catalog(
        specs, admin_rows, model_rows, provider_override=str(provider), extra_tools=extra_tools
    )


Loader = Callable[[], Awaitable[Catalog]]
ChangeCallback = Callable[[Catalog], Awaitable[None]]


@dataclass
class CatalogService:
    """The current catalog, reloaded on `artificer_config` notifications."""

    loader: Loader
    listen_dsn: str | None
    current: Catalog | None = None
    on_change: list[ChangeCallback] = field(default_factory=list)
    listening: anyio.Event = field(default_factory=anyio.Event)
    """Set once LISTEN is in place and the catalog was reloaded after it."""
    _lock: anyio.Lock = field(default_factory=anyio.Lock)

    async def reload(self) -> Catalog:
        """Load the catalog now; tell `on_change` when the listed tools or prompts changed."""
        async with self._lock:
            previous = self.current
            catalog = await self.loader()
            self.current = catalog
        if previous is not None and previous.fingerprint() != catalog.fingerprint():
            for callback in list(self.on_change):
                try:
                    await callback(catalog)
                except Exception:  # one failing subscriber must not stop the others
                    logger.exception("catalog change callback failed")
        return catalog

    def get(self) -> Catalog:
        if self.current is None:
            raise CatalogError("the tool catalog is not loaded yet")
        return self.current

    async def run(self) -> None:
        """Reload after each LISTEN (re)connect and on every notification, until cancelled.

        The first connect reloads too: a change committed between the startup load and LISTEN sent its
        notification before anyone listened, so only a load made after LISTEN is sure to include it.
        """
        if self.listen_dsn is None:
            return
        await listen(self.listen_dsn, NOTIFY_CHANNEL, self._changed, application_name=LISTEN_APPLICATION_NAME)

    async def _changed(self) -> None:
        try:
            await self.reload()
        except Exception:  # keep serving the previous catalog; the next notification retries
            logger.exception("catalog reload failed; keeping the previous catalog")
        self.listening.set()
