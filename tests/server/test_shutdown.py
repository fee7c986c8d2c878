"""A clean stop on SIGTERM/SIGINT: real `artificer serve` subprocesses (embedded Postgres by default), real
signals, real HTTP; and the call gate that drains calls in flight."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx2
import psutil
import pytest
from artificer.server.shutdown import SHUTTING_DOWN, CallGate
from fakes.gemini import FakeGemini
from mcp.shared.exceptions import MCPError
from mcp_harness import doc_turn, server_env

pytestmark = pytest.mark.anyio

ARTIFICER = str(Path(sys.executable).parent / "artificer")
EXIT_WITHIN = 20.0


def embedded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFICER_") and k != "DATABASE_URL"}
    env.update(
        ARTIFICER_DATA_DIR=str(data_dir), ARTIFICER_LOG_LEVEL="INFO", GOOGLE_API_KEY="test-key", **extra
    )
    return env


def processes_using(folder: Path) -> list[psutil.Process]:
    """Processes (postgres and its children) whose command line names `folder`."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(str(folder) in part for part in cmdline):
            found.append(process)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def message(method: str, id: int | None = None, **params: Any) -> bytes:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if id is not None:
        body["id"] = id
    return (json.dumps(body) + "\n").encode()


INITIALIZE = message(
    "initialize",
    1,
    protocolVersion="2025-06-18",
    capabilities={},
    clientInfo={"name": "shutdown-test", "version": "1"},
)


class StdioServer:
    """`artificer serve` on pipes, spoken to line by line."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.stderr_path = cwd / "stderr.log"
        self.responses: dict[Any, dict[str, Any]] = {}
        self.process = subprocess.Popen(
            [ARTIFICER, "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr_path.open("wb"),
            env=env,
            cwd=cwd,
        )

    def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    async def response(self, id: int) -> dict[str, Any]:
        """The response with this id (notifications are skipped; other responses kept for later)."""
        assert self.process.stdout is not None
        stdout = self.process.stdout
        with anyio.fail_after(60):
            while id not in self.responses:
                line = await anyio.to_thread.run_sync(stdout.readline)
                assert line, f"the server closed stdout; stderr:\n{self.stderr}"
                data = json.loads(line)
                if "id" in data and "method" not in data:
                    self.responses[data["id"]] = data
        return self.responses.pop(id)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def stop(self, signum: int) -> float:
        """Send `signum`; the seconds it took to exit (fails after EXIT_WITHIN)."""
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            await anyio.to_thread.run_sync(self.process.wait, EXIT_WITHIN)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(
                f"the server did not exit within {EXIT_WITHIN} s of the signal; stderr:\n{self.stderr}"
            )
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_stdio_stops_on_a_signal_with_the_embedded_postgres(tmp_path: Path, signum: int) -> None:
    data_dir = Path(f"/tmp/artificer-shutdown-{os.getpid()}-{signum}-{tmp_path.name}")
    server = StdioServer(embedded_env(data_dir), tmp_path)
    try:
        server.send(INITIALIZE)
        assert "result" in await server.response(1)
        assert processes_using(data_dir), "the embedded Postgres is not running"
        took = await server.stop(signum)
        assert server.process.returncode == (130 if signum == signal.SIGINT else 0), server.stderr
        assert took < 10, took
        assert processes_using(data_dir) == [], "the embedded Postgres outlived the server"
        assert not (data_dir / "postmaster.pid").exists()
        assert "Traceback" not in server.stderr
        assert f"{signal.Signals(signum).name}: shutting down" in server.stderr
    finally:
        server.kill()
        for process in processes_using(data_dir):
            process.kill()


async def test_http_stops_on_sigterm_with_the_embedded_postgres(tmp_path: Path) -> None:
    data_dir = Path(f"/tmp/artificer-shutdown-http-{os.getpid()}-{tmp_path.name}")
    port = free_port()
    env = embedded_env(data_dir, ARTIFICER_JWT_SECRET="x" * 32, ARTIFICER_HTTP_PORT=str(port))
    stderr = (tmp_path / "stderr.log").open("wb")
    process = subprocess.Popen(  # noqa: ASYNC220 — a server for the whole test, waited on via a thread
        [ARTIFICER, "serve", "--transport", "http"],
        stdin=subprocess.DEVNULL,
        stderr=stderr,
        env=env,
        cwd=tmp_path,
    )
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            with anyio.fail_after(60):
                while True:  # until uvicorn listens: there is no event to wait on across processes
                    try:
                        if (await http.get("/health")).status_code == 200:
                            break
                    except httpx2.TransportError:
                        assert process.poll() is None, (tmp_path / "stderr.log").read_text()
                    await anyio.sleep(0.05)
        assert processes_using(data_dir)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await anyio.to_thread.run_sync(process.wait, EXIT_WITHIN)
        log = (tmp_path / "stderr.log").read_text(errors="replace")
        assert process.returncode == 0, log
        assert time.monotonic() - started < 10
        assert processes_using(data_dir) == [], "the embedded Postgres outlived the server"
        assert "Traceback" not in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for leftover in processes_using(data_dir):
            leftover.kill()


async def test_a_call_in_flight_finishes_new_calls_are_refused_and_logs_are_flushed(
    database_url: str, make_user, gemini: FakeGemini, tmp_path: Path
) -> None:
    user = await make_user()
    gemini.script(doc_turn("# Slow\n\nIt took a while.", delay=1.5))
    server = StdioServer(server_env(database_url, user, gemini), tmp_path)
    try:
        server.send(INITIALIZE)
        await server.response(1)
        server.send(message("notifications/initialized"))
        arguments = {"operation": "create", "instruction": "Slow"}
        server.send(message("tools/call", 2, name="document_agent", arguments=arguments))
        with anyio.fail_after(30):
            while not gemini.model_requests():  # noqa: ASYNC110 — the fake records requests; no event to await
                await anyio.sleep(0.02)
        server.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            while "SIGTERM: shutting down" not in server.stderr:  # noqa: ASYNC110 — another process's log
                await anyio.sleep(0.02)
        server.send(message("tools/call", 3, name="document_agent", arguments=arguments))
        refused = await server.response(3)
        assert refused["error"]["code"] == SHUTTING_DOWN
        assert "shutting down" in refused["error"]["message"]
        finished = await server.response(2)
        assert finished["result"].get("isError") is not True, finished
        await anyio.to_thread.run_sync(server.process.wait, EXIT_WITHIN)
        assert server.process.returncode == 0, server.stderr
    finally:
        server.kill()
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval('select count(*) from "Document" where user_id = $1', user) == 1
        # the log writer flushed before the process exited (its interval is seconds)
        assert await conn.fetchval("select count(*) from agent_activity_logs where user_id = $1", user) == 1
        assert await conn.fetchval("select count(*) from usage_logs where user_id = $1", user) == 1
    finally:
        await conn.close()


class Ctx:
    def __init__(self, method: str) -> None:
        self.method = method


async def test_the_gate_waits_for_calls_then_cancels_those_left() -> None:
    gate = CallGate()
    quick_done = anyio.Event()
    results: dict[str, Any] = {}

    async def quick(_: Any) -> str:
        await quick_done.wait()
        return "quick"

    async def stuck(_: Any) -> str:
        await anyio.sleep_forever()
        return "never"

    async def call(name: str, handler: Any) -> None:
        try:
            results[name] = await gate(Ctx("tools/call"), handler)  # type: ignore[arg-type]
        except MCPError as error:
            results[name] = error

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "quick", quick)
        tg.start_soon(call, "stuck", stuck)
        await anyio.wait_all_tasks_blocked()
        assert gate.in_flight == 2
        async with anyio.create_task_group() as draining:
            draining.start_soon(gate.drain, 0.5)
            await anyio.wait_all_tasks_blocked()
            # draining: new calls are refused, other requests still pass
            with pytest.raises(MCPError, match="shutting down"):
                await gate(Ctx("tools/call"), quick)  # type: ignore[arg-type]
            assert await gate(Ctx("tools/list"), lambda _: _ok()) == "listed"  # type: ignore[arg-type]
            quick_done.set()
    assert results["quick"] == "quick"
    stuck_result = results["stuck"]
    assert isinstance(stuck_result, MCPError) and stuck_result.code == SHUTTING_DOWN
    assert "cancelled" in stuck_result.message
    assert gate.in_flight == 0


async def _ok() -> str:
    return "listed"
