"""The user-activity audit trail (`user_activity_logs`): one row per tool call and artifact read.

Rows go to the log writer (`log_user_activity`), which writes them only when `logging_settings` turn
user-activity logging on (and the row's category toggle is not off), batched, off the call's path. An
agent call's row carries the call's `correlation_id`, the same as its `agent_activity_logs` row
(`server.accounting.log_call` builds both).

Activity types, from the seed's list:
- `create` → `document_create` (document agent) or `artifact_create` (code, diagram); `generate` (nothing
  saved) → `artifact_create` without a resource id;
- `update`, `fix`, `revert` → `document_update`;
- `suggest`, `explain`, the `artifacts` tool's read and history, a resource read → `document_view`;
- the `artifacts` list and the `usage` tool → `history_access`;
- agents that touch no artifact (`provider_tools_agent`, `git_mcp_agent`) → `chat_message_send`.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from artificer.server.identity import Caller
from artificer.storage.logs import UserActivityRow

logger = logging.getLogger(__name__)

_VIEWS = frozenset({"suggest", "explain"})
_UPDATES = frozenset({"update", "fix", "revert"})
_CATEGORY = {
    "document_create": "document",
    "document_update": "document",
    "document_view": "document",
    "artifact_create": "artifact",
    "history_access": "history",
    "chat_message_send": "chat",
}
_ARTIFACT_URI = re.compile(r"^artifact://(?P<id>[0-9a-fA-F-]{36})(?:/v/(?P<version>[0-9]{1,9}))?$")


class ActivitySink(Protocol):
    def log_user_activity(self, row: UserActivityRow) -> bool: ...


def agent_activity_type(operation: str, resource_type: str | None) -> str:
    """The `activity_type` of one agent operation."""
    if resource_type is None:
        return "chat_message_send"
    if operation in ("create", "generate"):
        return (
            "document_create" if resource_type == "document" and operation == "create" else "artifact_create"
        )
    if operation in _UPDATES:
        return "document_update"
    if operation in _VIEWS:
        return "document_view"
    return "document_update"


def record(
    logs: Any,
    caller: Caller,
    activity_type: str,
    *,
    correlation_id: uuid.UUID | None = None,
    resource_id: uuid.UUID | None = None,
    resource_type: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    success: bool = True,
    error_message: str | None = None,
) -> None:
    """Hand one audit row to the log writer (which drops it when user-activity logging is off)."""
    log = getattr(logs, "log_user_activity", None)
    if log is None:
        return
    try:
        log(
            UserActivityRow(
                user_id=caller.user_id,
                activity_type=activity_type,
                activity_category=_CATEGORY.get(activity_type, "document"),
                correlation_id=correlation_id or uuid.uuid4(),
                activity_metadata={"transport": caller.transport, **(metadata or {})},
                resource_id=resource_id,
                resource_type=resource_type,
                success=success,
                error_message=error_message,
            )
        )
    except Exception:  # the audit trail must never fail the call
        logger.exception("could not enqueue the user activity row")


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def read_only_tool_call(
    logs: Any, caller: Caller, name: str, arguments: Mapping[str, Any], *, failed: bool
) -> None:
    """The audit row of an `artifacts` / `usage` call."""
    action = arguments.get("action") if name == "artifacts" else None
    if name == "artifacts" and action in ("read", "history"):
        record(
            logs,
            caller,
            "document_view",
            resource_id=_uuid(arguments.get("documentId")),
            resource_type="document",
            metadata={"tool": name, "action": action, "version": arguments.get("version")},
            success=not failed,
        )
    else:
        record(logs, caller, "history_access", metadata={"tool": name, "action": action}, success=not failed)


def resource_read(logs: Any, caller: Caller, uri: str) -> None:
    """The audit row of a `resources/read` of an artifact."""
    match = _ARTIFACT_URI.match(uri)
    record(
        logs,
        caller,
        "document_view",
        resource_id=_uuid(match["id"]) if match else None,
        resource_type="document",
        metadata={"uri": uri},
    )
