"""Resource events: a caller's artifact list changed, a subscribed artifact was updated.

Every new version of a document is announced by Postgres (`sql/0070_document_events.sql`: a trigger on
"Document" NOTIFYs `artificer_documents` with the owner, the document id and the version), so the replica
that stored it and every other replica hear it alike. `ArtifactEvents.run` LISTENs (`storage.listen`:
reconnect with backoff) and tells only the owner's sessions:

- handshake era: `notifications/resources/list_changed` to each of the owner's connections, and
  `notifications/resources/updated` for `artifact://{id}` to those that `resources/subscribe`d it;
- 2026-07-28: `ResourcesListChanged` and `ResourceUpdated(artifact://{id})` on the owner's
  `subscriptions/listen` streams (each stream gets what its filter asked for: `ListenHandler`).

A notification sent while the LISTEN connection was down reached no one; after a reconnect every session
is told its list changed and every subscribed artifact was updated (a client refetches; nothing is lost).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import anyio
from artificer.agents.document import artifact_uri
from artificer.storage.listen import listen
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
)
from mcp_types import SubscriptionsListenRequestParams, SubscriptionsListenResult

logger = logging.getLogger(__name__)

CHANNEL = "artificer_documents"
LISTEN_APPLICATION_NAME = "artificer-document-events"
SEND_TIMEOUT_SECONDS = 5.0
"""Longest wait for one connection to take a notification; the others never wait for it."""

CallerId = Callable[[ServerRequestContext[Any, Any]], UUID]
ListenFn = Callable[
    [ServerRequestContext[Any, Any], SubscriptionsListenRequestParams], Awaitable[SubscriptionsListenResult]
]


class _UserBus:
    """The `SubscriptionBus` one listen stream of `user` subscribes to: the server-wide events (tools
    changed) and that user's own resource events."""

    def __init__(self, events: ArtifactEvents, user: UUID) -> None:
        self._events = events
        self._user = user

    async def publish(self, event: ServerEvent) -> None:
        await self._events.bus_of(self._user).publish(event)

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        everyone = self._events.bus.subscribe(listener)
        users = self._events.user_buses
        entry = users.setdefault(self._user, (InMemorySubscriptionBus(), set()))
        token = object()
        entry[1].add(token)
        mine = entry[0].subscribe(listener)

        def unsubscribe() -> None:
            everyone()
            mine()
            entry[1].discard(token)
            if not entry[1] and users.get(self._user) is entry:
                users.pop(self._user, None)

        return unsubscribe


@dataclass
class ArtifactEvents:
    bus: InMemorySubscriptionBus
    """The server-wide bus (`ToolsListChanged` goes to every listen stream)."""
    listen_dsn: str | None
    user_buses: dict[UUID, tuple[InMemorySubscriptionBus, set[object]]] = field(default_factory=dict)
    """Per user: the bus of their listen streams and one token per open stream."""
    sessions: dict[UUID, dict[int, ServerSession]] = field(default_factory=dict)
    """Handshake-era connections by user, by connection key."""
    subscriptions: dict[int, set[str]] = field(default_factory=dict)
    """`resources/subscribe`d URIs by connection key."""
    listening: anyio.Event = field(default_factory=anyio.Event)
    """Set once LISTEN is in place."""
    seconds_each: float = SEND_TIMEOUT_SECONDS

    def bus_of(self, user: UUID) -> InMemorySubscriptionBus:
        entry = self.user_buses.get(user)
        return entry[0] if entry is not None else InMemorySubscriptionBus()

    # --- handshake-era connections ---------------------------------------------------------------

    def add_session(self, user: UUID, key: int, session: ServerSession, exit_stack: Any | None) -> None:
        """Note `session` (connection `key`) as one of `user`'s; forgotten when its connection closes."""
        by_key = self.sessions.setdefault(user, {})
        if key in by_key:
            by_key[key] = session  # the newest request's session; same connection
            return
        by_key[key] = session
        if exit_stack is not None:
            exit_stack.callback(self.forget, user, key)

    def forget(self, user: UUID, key: int) -> None:
        by_key = self.sessions.get(user)
        if by_key is not None:
            by_key.pop(key, None)
            if not by_key:
                self.sessions.pop(user, None)
        self.subscriptions.pop(key, None)

    def subscribe(self, key: int, uri: str) -> None:
        self.subscriptions.setdefault(key, set()).add(uri)

    def unsubscribe(self, key: int, uri: str) -> None:
        uris = self.subscriptions.get(key)
        if uris is not None:
            uris.discard(uri)

    # --- delivery ---------------------------------------------------------------------------------

    async def document_changed(self, user: UUID, document_id: UUID) -> None:
        """Tell `user`'s sessions their list changed and `artifact://{document_id}` was updated."""
        await self._tell(user, {artifact_uri(document_id)})

    async def _tell(self, user: UUID, uris: set[str] | None) -> None:
        """`uris` None: every URI a session subscribed to (after a reconnect)."""
        entry = self.user_buses.get(user)
        if entry is not None:
            await entry[0].publish(ResourcesListChanged())
            for uri in sorted(uris or ()):
                await entry[0].publish(ResourceUpdated(uri=uri))
        async with anyio.create_task_group() as tg:
            for key, session in list(self.sessions.get(user, {}).items()):
                subscribed = self.subscriptions.get(key, set())
                updated = subscribed if uris is None else subscribed & uris
                tg.start_soon(self._send, user, key, session, sorted(updated))

    async def _send(self, user: UUID, key: int, session: ServerSession, updated: list[str]) -> None:
        with anyio.move_on_after(self.seconds_each) as scope:
            try:
                await session.send_resource_list_changed()
                for uri in updated:
                    await session.send_resource_updated(uri)
            except Exception:  # the connection is gone
                self.forget(user, key)
        if scope.cancelled_caught:
            logger.warning(
                "a client took no resource notification within %.1f s; skipped it", self.seconds_each
            )

    async def _payload(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            user, document_id = UUID(str(data["user"])), UUID(str(data["id"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("ignored a malformed %s notification", CHANNEL)
            return
        try:
            await self.document_changed(user, document_id)
        except Exception:  # delivery must not end the listening
            logger.exception("delivering a resource event failed")

    async def _connected(self) -> None:
        if self.listening.is_set():  # a reconnect: what was sent meanwhile reached no one
            users = set(self.sessions) | set(self.user_buses)
            for user in users:
                try:
                    await self._tell(user, None)
                except Exception:
                    logger.exception("announcing resource changes after a reconnect failed")
        self.listening.set()

    async def run(self) -> None:
        """LISTEN for document versions and deliver them, until cancelled."""
        if self.listen_dsn is None:
            return
        await listen(
            self.listen_dsn,
            CHANNEL,
            self._connected,
            on_payload=self._payload,
            application_name=LISTEN_APPLICATION_NAME,
        )

    # --- 2026-07-28 -------------------------------------------------------------------------------

    def listen_handler(self, caller_id: CallerId) -> ListenFn:
        """The `subscriptions/listen` handler: each stream hears server-wide events and its caller's own."""

        async def handle(
            ctx: ServerRequestContext[Any, Any], params: SubscriptionsListenRequestParams
        ) -> SubscriptionsListenResult:
            user = caller_id(ctx)
            return await ListenHandler(_UserBus(self, user))(ctx, params)

        return handle
