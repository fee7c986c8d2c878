"""LISTEN on one Postgres channel over a dedicated connection, kept alive across database restarts.

`listen(dsn, channel, on_change)` runs until cancelled. It connects, LISTENs, then awaits `on_change()`:
once after each (re)connect, as soon as LISTEN is in place (a change committed while nobody listened sent
its notification to nobody, so only a read made after LISTEN is sure to include it), and once after each
notification. Notifications that arrive while `on_change()` runs are coalesced into one further call. A
lost connection is reconnected with backoff; an idle connection is pinged, because a dead TCP peer never
fires an event.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import anyio
import asyncpg
from artificer.storage.health import ping

logger = logging.getLogger(__name__)

RECONNECT_DELAYS: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0)
"""Seconds before each retry of a failed connect; the last one repeats."""
IDLE_CHECK_SECONDS = 5.0
"""How long the connection may sit without a notification before it is pinged."""
CONNECT_TIMEOUT_SECONDS = 10.0

OnChange = Callable[[], Awaitable[None]]
OnPayload = Callable[[str], Awaitable[None]]


class ListenConnectionLost(Exception):
    """The LISTEN connection closed or stopped answering."""


async def listen(
    dsn: str,
    channel: str,
    on_change: OnChange,
    *,
    application_name: str,
    reconnect_delays: Sequence[float] = RECONNECT_DELAYS,
    idle_check_seconds: float = IDLE_CHECK_SECONDS,
    on_payload: OnPayload | None = None,
) -> None:
    """Call `on_change()` after each (re)connect and after notifications on `channel`, until cancelled.

    `application_name` names the connection in `pg_stat_activity`. An exception from `on_change` ends the
    listening (it is the caller's to handle): keep the callback from raising.

    `on_payload`: when given, each notification's payload is passed to it, in order (nothing coalesced),
    instead of calling `on_change`; `on_change` then runs only after each (re)connect.
    """
    attempt = 0
    while True:
        try:
            conn = await asyncpg.connect(
                dsn, timeout=CONNECT_TIMEOUT_SECONDS, server_settings={"application_name": application_name}
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            delay = reconnect_delays[min(attempt, len(reconnect_delays) - 1)]
            attempt += 1
            logger.warning("LISTEN %s: connecting failed (%s); retrying in %.1f s", channel, error, delay)
            await anyio.sleep(delay)
            continue
        attempt = 0
        try:
            await _serve(conn, channel, on_change, idle_check_seconds, on_payload)
        except (ListenConnectionLost, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            logger.warning("LISTEN %s: connection lost (%s); reconnecting", channel, error)
        finally:
            if not conn.is_closed():
                with anyio.CancelScope(shield=True):
                    await conn.close(timeout=2)


async def _serve(
    conn: asyncpg.Connection,
    channel: str,
    on_change: OnChange,
    idle_check: float,
    on_payload: OnPayload | None = None,
) -> None:
    """LISTEN on `conn` and call `on_change` until the connection is lost (raises)."""
    wake = anyio.Event()
    lost = anyio.Event()
    payloads: list[str] = []

    def on_notify(_conn: object, _pid: object, _channel: object, payload: object) -> None:
        if on_payload is not None:
            payloads.append(str(payload))
        wake.set()

    def on_terminate(*_: object) -> None:
        lost.set()
        wake.set()

    conn.add_termination_listener(on_terminate)
    await conn.add_listener(channel, on_notify)
    await on_change()  # after LISTEN: nothing committed before this point is missed
    while True:
        with anyio.move_on_after(idle_check):
            await wake.wait()
        if lost.is_set() or conn.is_closed():
            raise ListenConnectionLost("the connection closed")
        if not wake.is_set():
            await ping(conn)  # idle: raises when the connection is dead
            continue
        wake = anyio.Event()
        if on_payload is None:
            await on_change()
            continue
        while payloads:
            await on_payload(payloads.pop(0))
