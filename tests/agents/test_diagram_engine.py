"""The Mermaid engine (`artificer.agents.diagrams`): validation, SVG and PNG rendering, the time limit, the
worker pool, and what importing it costs. The shared engine is the one the whole test session warms up."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest
from artificer.agents import diagrams
from artificer.agents.diagrams import DiagramEngine, DiagramTimeout, InvalidDiagram

pytestmark = pytest.mark.anyio

FLOW = "flowchart LR\n  A[Order received] --> B{In stock?}\n  B -->|yes| C[Ship]"
BROKEN = "flowchart LR\n  A[Load config (yaml)] --> B"


def big_flowchart(nodes: int) -> str:
    lines = ["flowchart TD"]
    lines += [f"  n{i}[Step number {i}] --> n{i + 1}[Step number {i + 1}]" for i in range(nodes)]
    return "\n".join(lines)


async def test_validate_reports_type_and_mermaids_message() -> None:
    ok = await diagrams.validate(FLOW)
    assert (ok.valid, ok.type, ok.error) == (True, "flowchart-v2", None)
    bad = await diagrams.validate(BROKEN)
    assert not bad.valid and bad.type == "flowchart-v2"
    assert bad.error is not None and bad.error.startswith("Parse error on line 2") and "got 'PS'" in bad.error
    unknown = await diagrams.validate("Here is your diagram:\nflowchart LR\n  A --> B")
    assert (unknown.valid, unknown.type) == (False, None)
    assert unknown.error is not None and "No diagram type detected" in unknown.error


async def test_render_svg_and_png() -> None:
    svg = await diagrams.render_svg(FLOW)
    assert svg.startswith("<svg") and "Order received" in svg and "In stock?" in svg
    png = await diagrams.render_png(FLOW)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    with pytest.raises(InvalidDiagram) as raised:
        await diagrams.render_svg(BROKEN)
    assert raised.value.verdict.valid is False and "Parse error" in str(raised.value)
    checked = await diagrams.shared_engine().check(BROKEN, render="svg")
    assert checked.svg is None and checked.verdict == await diagrams.validate(BROKEN)


async def test_a_too_long_source_is_refused_without_the_engine() -> None:
    verdict = await diagrams.validate("flowchart LR\n" + "  A --> B\n" * 30_000)
    assert not verdict.valid and verdict.error is not None and "too long" in verdict.error


async def test_the_event_loop_runs_while_the_engine_works() -> None:
    render = asyncio.ensure_future(diagrams.render_svg(big_flowchart(8)))
    ticks = 0
    while not render.done():
        ticks += 1
        await asyncio.sleep(0.005)
    assert "Step number 8" in render.result()
    assert ticks > 1


async def test_a_diagram_over_the_time_limit_is_stopped_and_the_engine_recovers() -> None:
    engine = DiagramEngine(time_limit=4.0)
    try:
        await engine.start()
        [first] = engine.worker_pids()
        with pytest.raises(DiagramTimeout, match="within 4 s"):
            await engine.render_svg(big_flowchart(1000))
        assert engine.worker_pids() == []  # killed, not left running
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)
        verdict = await engine.validate(FLOW)  # a fresh worker answers
        assert verdict.valid and engine.worker_pids() not in ([], [first])

        # A worker that died between calls is replaced without an error.
        [second] = engine.worker_pids()
        os.kill(second, signal.SIGKILL)
        assert (await engine.validate(BROKEN)).valid is False
        assert engine.worker_pids() not in ([], [second])
    finally:
        await engine.aclose()
    assert engine.worker_pids() == []


async def test_concurrency_is_bounded_by_the_workers() -> None:
    engine = DiagramEngine(workers=2)
    try:
        sources = [FLOW, BROKEN] * 4
        verdicts = await asyncio.gather(*(engine.validate(s) for s in sources))
        assert [v.valid for v in verdicts] == [True, False] * 4
        assert len(set(engine.worker_pids())) == 2
    finally:
        engine.close()


def test_importing_the_agents_does_not_import_the_engine() -> None:
    code = (
        "import sys, artificer.agents.mermaid, artificer.agents.diagrams\n"
        "print(sorted(m for m in ('mermaidx', 'quickjs', 'py_mini_racer') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown Mermaid engine"):
        DiagramEngine(backend="node")  # type: ignore[arg-type]


async def test_the_v8_engine_gives_the_same_verdicts() -> None:
    pytest.importorskip("py_mini_racer", reason="the v8 extra (mini-racer) is not installed")
    engine = DiagramEngine(backend="v8")
    try:
        for source in (FLOW, BROKEN):
            assert await engine.validate(source) == await diagrams.validate(source)
        svg = await engine.render_svg(FLOW)
        assert svg.startswith("<svg") and "Order received" in svg
    finally:
        await engine.aclose()
