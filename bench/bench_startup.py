"""How fast `artificer serve` answers `initialize` over stdio, against bare MCP servers in the same run.

    uv run python bench/bench_startup.py [--runs 7] [--data-dir DIR]

Every server is launched as a subprocess speaking stdio; a start is timed from spawn to the `initialize`
response (the request is written at spawn, so the server reads it as soon as it listens). The baselines
are two bare `mcp` servers with one no-op tool: the high-level `MCPServer` and the low-level `Server`
(what Artificer is built on). The three are started interleaved, round-robin, so drift of the machine
hits them alike; the figures are medians. The CPU time (user + system) the server process spent up to the
`initialize` response is printed too: on a busy machine it is steadier than the wall time. After
`initialize` a `tools/list` round trip makes sure the server is serving, then the resident memory (VmRSS)
of the server process alone is read. Neither counts the embedded Postgres processes Artificer starts or
joins.

Artificer runs on an embedded cluster in a fresh folder (`--data-dir`, default a temporary one), started
once before measuring (initdb + migrations), so every measured start is a warm start: the stopped cluster
is started again, the migrations are checked, nothing is applied.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BARE_HIGH_LEVEL = """\
from mcp.server import MCPServer

server = MCPServer("bare")


@server.tool()
def noop() -> str:
    return "ok"


server.run()
"""

BARE_LOW_LEVEL = """\
import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

TOOL = types.Tool(name="noop", input_schema={"type": "object"})


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=[TOOL])


async def call_tool(ctx, params):
    return types.CallToolResult(content=[types.TextContent(type="text", text="ok")])


server = Server("bare", on_list_tools=list_tools, on_call_tool=call_tool)


async def main():
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


anyio.run(main)
"""

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
TIMEOUT_SECONDS = 60.0


@dataclass
class Figures:
    label: str
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)


def line(message: Mapping[str, object]) -> bytes:
    return (json.dumps(message) + "\n").encode()


def rss_kib(pid: int) -> int:
    """VmRSS of one process (not its children), in KiB."""
    for entry in Path(f"/proc/{pid}/status").read_text().splitlines():
        if entry.startswith("VmRSS:"):
            return int(entry.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (not its children) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def response(stdout: asyncio.StreamReader, request_id: int) -> dict[str, object]:
    while True:
        raw = await stdout.readline()
        if not raw:
            raise RuntimeError(f"the server closed stdout before answering request {request_id}")
        message = json.loads(raw)
        if message.get("id") == request_id:
            if "error" in message:
                raise RuntimeError(f"request {request_id} failed: {message['error']}")
            return dict(message)


async def one_start(command: list[str], env: dict[str, str], figures: Figures) -> None:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(line(INITIALIZE))
        await process.stdin.drain()
        await asyncio.wait_for(response(process.stdout, 1), TIMEOUT_SECONDS)
        figures.seconds.append(time.perf_counter() - started)
        figures.cpu_seconds.append(cpu_seconds(process.pid))
        process.stdin.write(line(INITIALIZED) + line(LIST_TOOLS))
        await process.stdin.drain()
        await asyncio.wait_for(response(process.stdout, 2), TIMEOUT_SECONDS)
        figures.rss_kib.append(rss_kib(process.pid))
        process.stdin.close()  # end of input: the server shuts down (and releases the cluster)
        await asyncio.wait_for(process.wait(), TIMEOUT_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def artificer_env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ARTIFICER_", "DATABASE_URL", "GOOGLE_", "OPENAI_", "ANTHROPIC_"))
    }
    env.update(ARTIFICER_DATA_DIR=str(data_dir), ARTIFICER_LOG_LEVEL="WARNING")
    return env


def report(figures: Figures, baselines: list[Figures]) -> None:
    median = statistics.median(figures.seconds)
    ms = [s * 1000 for s in figures.seconds]
    ratios = "   ".join(
        f"{median / statistics.median(b.seconds):.2f}x {b.label}" for b in baselines if b is not figures
    )
    print(
        f"  {figures.label:<24} median {median * 1000:7.0f} ms  (min {min(ms):.0f}, max {max(ms):.0f}, "
        f"n={len(ms)})   CPU {statistics.median(figures.cpu_seconds) * 1000:5.0f} ms   "
        f"idle RSS {statistics.median(figures.rss_kib) / 1024:5.1f} MiB   {ratios}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="starts of each server (default 7)")
    parser.add_argument("--data-dir", type=Path, help="embedded cluster folder (default: a temporary one)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="artificer-bench-startup-", dir="/tmp"))
    data_dir = args.data_dir or scratch / "pg"
    artificer = shutil.which("artificer") or str(Path(sys.executable).with_name("artificer"))
    try:
        (scratch / "high.py").write_text(BARE_HIGH_LEVEL)
        (scratch / "low.py").write_text(BARE_LOW_LEVEL)
        servers = [
            (Figures("MCPServer (bare)"), [sys.executable, str(scratch / "high.py")], dict(os.environ)),
            (Figures("low-level Server (bare)"), [sys.executable, str(scratch / "low.py")], dict(os.environ)),
            (Figures("artificer serve"), [artificer, "serve"], artificer_env(data_dir)),
        ]
        print(f"warming up (embedded cluster in {data_dir}: initdb + migrations on first start) ...")
        for figures, command, env in servers:
            await one_start(command, env, Figures(figures.label))  # also warms the page cache
        for _ in range(args.runs):
            for figures, command, env in servers:
                await one_start(command, env, figures)
        print(f"spawn -> initialize over stdio, {args.runs} interleaved starts each, {os.cpu_count()} CPUs")
        baselines = [figures for figures, _, _ in servers[:2]]
        for figures, _, _ in servers:
            report(figures, baselines)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
