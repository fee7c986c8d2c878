"""build_catalog: rows in, tools out (no database needed for the rules themselves)."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from artificer.agents.document import SPEC
from artificer.server.catalog import CatalogError, build_catalog

CHAT_ENTRY = {
    "description": "Create and edit text documents.",
    "enabled": True,
    "tool_input": {
        "operation": {"parameter_name": "operation", "parameter_description": "DB: which operation"},
        "instruction": {"parameter_name": "instruction", "parameter_description": "DB: what to write"},
        "documentId": {"parameter_name": "documentId", "parameter_description": "DB: the document id"},
        "targetVersion": {
            "parameter_name": "targetVersion",
            "parameter_description": "DB: version to restore",
        },
    },
}
AGENT_ROW = {
    "enabled": True,
    "rateLimit": {"perMinute": 5, "perHour": 50, "perDay": 200},
    "tools": {
        "create": {"enabled": True, "systemPrompt": "s", "userPromptTemplate": "t"},
        "update": {"enabled": True, "systemPrompt": "s", "userPromptTemplate": "t"},
        "suggestion": {"enabled": True, "systemPrompt": "s", "userPromptTemplate": "t"},
        "revert": {"enabled": True},
    },
}
MODELS = [
    {"model_id": "m-default", "provider": "google", "is_active": True, "is_default": True,
     "input_pricing_per_million_tokens": Decimal("0.1"), "output_pricing_per_million_tokens": Decimal("0.4")},
    {"model_id": "m-other", "provider": "google", "is_active": True, "is_default": False},
    {"model_id": "m-off", "provider": "google", "is_active": False, "is_default": False},
    {"model_id": "gpt", "provider": "openai", "is_active": True, "is_default": True},
]  # fmt: skip


def rows(provider: str = "google", **agent_changes) -> dict:
    agent = copy.deepcopy(AGENT_ROW)
    agent.update(agent_changes)
    return {
        "app_settings": {"activeProvider": provider},
        f"chat_model_agent_{provider}": {"tools": {"documentAgent": CHAT_ENTRY}},
        f"document_agent_{provider}": agent,
    }


def test_tool_from_rows() -> None:
    catalog = build_catalog([SPEC], rows(), MODELS)
    (tool,) = catalog.tools()
    assert tool.name == "document_agent"
    assert tool.description.startswith("Create and edit text documents.")
    props = tool.input_schema["properties"]
    assert props["operation"]["enum"] == ["create", "update", "suggest", "revert"]
    assert props["operation"]["description"] == "DB: which operation"
    assert props["instruction"]["description"] == "DB: what to write"
    assert props["documentId"]["description"] == "DB: the document id"
    assert props["model"]["enum"] == ["m-default", "m-other"]
    assert tool.input_schema["required"] == ["operation"]
    assert tool.output_schema["properties"]["id"]["format"] == "uuid"
    ann = tool.annotations
    assert (ann.read_only_hint, ann.destructive_hint, ann.idempotent_hint, ann.open_world_hint) == (
        False, False, False, False,
    )  # fmt: skip
    assert catalog.model(None).model_id == "m-default"
    assert catalog.model("m-off") is None


def test_suggestion_toggle_controls_suggest() -> None:
    data = rows()
    data["document_agent_google"]["tools"]["suggestion"]["enabled"] = False
    catalog = build_catalog([SPEC], data, MODELS)
    assert catalog.tools()[0].input_schema["properties"]["operation"]["enum"] == [
        "create",
        "update",
        "revert",
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"enabled": False}, "disabled"),
        ({"tools": {k: {"enabled": False} for k in AGENT_ROW["tools"]}}, "every operation"),
    ],
)
def test_disabled_agent_is_not_listed_and_says_why(change: dict, reason: str) -> None:
    catalog = build_catalog([SPEC], rows(**change), MODELS)
    assert catalog.tools() == []
    assert reason in catalog.refusals["document_agent"]


def test_provider_override_and_missing_rows() -> None:
    catalog = build_catalog([SPEC], rows(), MODELS, provider_override="openai")
    assert catalog.provider == "openai" and catalog.tools() == []
    assert "document_agent_openai" in catalog.refusals["document_agent"]
    with pytest.raises(CatalogError, match="activeProvider"):
        build_catalog([SPEC], {}, MODELS)


def test_no_active_model_refuses_model_operations() -> None:
    catalog = build_catalog([SPEC], rows(), [m for m in MODELS if m["provider"] != "google"])
    assert catalog.tools() == [] and "no active google model" in catalog.refusals["document_agent"]
