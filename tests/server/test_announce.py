"""A catalog change reaches every connection at once: a client that does not take it delays nobody."""

from __future__ import annotations

import anyio
import pytest
from artificer.server.app import announce_tools_changed
from mcp.server.subscriptions import InMemorySubscriptionBus, PromptsListChanged, ToolsListChanged

pytestmark = pytest.mark.anyio


class StuckSession:
    """A connection whose send never completes (a client that stopped reading)."""

    def __init__(self) -> None:
        self.entered = anyio.Event()
        self.cancelled = False

    async def send_tool_list_changed(self) -> None:
        self.entered.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.cancelled = True
            raise


class Session:
    def __init__(self) -> None:
        self.notified = anyio.Event()

    async def send_tool_list_changed(self) -> None:
        pass

    async def send_prompt_list_changed(self) -> None:  # prompts follow the catalog: sent after the tools'
        self.notified.set()


class GoneSession:
    async def send_tool_list_changed(self) -> None:
        raise anyio.ClosedResourceError


async def test_a_stuck_session_delays_nobody() -> None:
    bus = InMemorySubscriptionBus()
    events: list[object] = []
    bus.subscribe(events.append)
    stuck, first, second = StuckSession(), Session(), Session()
    sessions = {1: stuck, 2: first, 3: GoneSession(), 4: second}  # the stuck one is asked first
    done = anyio.Event()

    async def announce() -> None:
        await announce_tools_changed(bus, sessions, seconds_each=0.5)  # type: ignore[arg-type]
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(announce)
        with anyio.fail_after(0.4):  # well inside the stuck send's limit
            await first.notified.wait()
            await second.notified.wait()
        assert stuck.entered.is_set() and not stuck.cancelled and not done.is_set()
        with anyio.fail_after(5):
            await done.wait()
    assert stuck.cancelled, "the stuck send was given up after its limit"
    assert sorted(sessions) == [1, 2, 4], "a connection whose send failed is forgotten; a slow one is kept"
    assert [type(e) for e in events] == [ToolsListChanged, PromptsListChanged]


async def test_no_sessions_still_publishes() -> None:
    bus = InMemorySubscriptionBus()
    events: list[object] = []
    bus.subscribe(events.append)
    await announce_tools_changed(bus, {})
    assert [type(e) for e in events] == [ToolsListChanged, PromptsListChanged]
