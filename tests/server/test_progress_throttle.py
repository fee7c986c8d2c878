"""pipeline.throttled_progress: the first report at once, then at most one per interval, and every
change of message."""

from __future__ import annotations

import anyio
import pytest
from artificer.server.pipeline import throttled_progress

pytestmark = pytest.mark.anyio


async def test_reports_are_throttled_but_message_changes_pass() -> None:
    sent: list[tuple[float, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        sent.append((done, message))

    report = throttled_progress(progress, interval=60.0)
    await report(1.0, None, "thinking")
    await report(2.0, None, "thinking")
    await report(3.0, None, "writing")
    for done in range(4, 20):
        await report(float(done), None, "writing")
    assert sent == [(1.0, "thinking"), (3.0, "writing")]


async def test_a_report_after_the_interval_goes_out() -> None:
    sent: list[float] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        sent.append(done)

    report = throttled_progress(progress, interval=0.02)
    await report(1.0, None, "writing")
    await anyio.sleep(0.03)
    await report(2.0, None, "writing")
    assert sent == [1.0, 2.0]

    unthrottled = throttled_progress(progress, interval=0.0)
    for done in (3.0, 4.0, 5.0):
        await unthrottled(done, None, "writing")
    assert sent[-3:] == [3.0, 4.0, 5.0]
