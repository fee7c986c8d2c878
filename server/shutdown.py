"""A clean stop on SIGTERM and SIGINT, over stdio and Streamable HTTP.

On the first signal the server stops taking tool calls (a new `tools/call` gets a JSON-RPC error saying the
server is shutting down), gives the calls in flight up to `grace` seconds to finish, then cancels those left
(each answers with an error; a cancelled call's database work is rolled back, one statement at a time, so
nothing is half-written). Then the transport stops: stdio as if the client had closed stdin, HTTP as uvicorn
does on a signal. The server's lifespan closes next (the log writer flushes, the pool closes) and, last, the
database target (the embedded Postgres stops when this was its last user). A second signal cuts the grace
short; it never skips the cleanup. After SIGINT the process then ends as an interrupted command (exit 130),
after SIGTERM with 0.

    gate = CallGate()                    # Server.middleware: counts calls, refuses them while draining
    async with stoppable_stdio(gate) as (read, write):   # until EOF, or a signal
        await server.run(read, write, ...)
    await run_uvicorn(config, gate)      # uvicorn, stopped by our signal handling instead of its own
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from typing import IO, Any, cast

import anyio
import mcp_types as types
from mcp.server.context import CallNext, ServerRequestContext
from mcp.shared.exceptions import MCPError

logger = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 20.0
"""How long calls in flight may take to finish after a signal (under Kubernetes' default 30 s)."""
UNWIND_SECONDS = 5.0
"""How long cancelled calls get to unwind (roll back, answer) before the transport stops anyway."""
HTTP_CONNECTIONS_SECONDS = 2.0
"""How long uvicorn waits for open connections (e.g. idle SSE streams) once the calls are done."""
SHUTTING_DOWN = -32000
"""JSON-RPC error code (implementation-defined range) of a call refused or cut off by the shutdown."""
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class CallGate:
    """Server middleware: tracks `tools/call` requests in flight; `drain` refuses new ones, ends the rest."""

    def __init__(self) -> None:
        self.draining = False
        self.stopped_by: int | None = None
        """The signal that stopped the server, once one has."""
        self._scopes: set[anyio.CancelScope] = set()
        self._idle = anyio.Event()
        self._idle.set()
        self.track_answers = False
        """Set by a transport that reports answers (`answered`): then `drain` also waits until every call's
        answer is on the wire, since the SDK cancels the handlers still sending once the transport stops."""
        self._unanswered: set[Any] = set()
        self._all_answered = anyio.Event()
        self._all_answered.set()

    @property
    def in_flight(self) -> int:
        return len(self._scopes)

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        if self.draining:
            raise MCPError(SHUTTING_DOWN, "the server is shutting down and takes no new calls; try again")
        scope = anyio.CancelScope()
        if not self._scopes:
            self._idle = anyio.Event()
        self._scopes.add(scope)
        if self.track_answers and ctx.request_id is not None:
            if not self._unanswered:
                self._all_answered = anyio.Event()
            self._unanswered.add(ctx.request_id)
        try:
            with scope:
                return await call_next(ctx)
            raise MCPError(
                SHUTTING_DOWN,
                "the server shut down before this call finished; the call was cancelled (whatever it had not "
                "yet saved was not saved)",
            )
        finally:
            self._scopes.discard(scope)
            if not self._scopes:
                self._idle.set()

    async def drain(self, grace: float) -> int:
        """Refuse new calls, wait up to `grace` seconds for those in flight, then cancel the rest and wait for
        them to unwind (at most `UNWIND_SECONDS`). Returns how many were cancelled."""
        self.draining = True
        with anyio.move_on_after(grace):
            await self._idle.wait()
        cancelled = await self.cancel_all()
        with anyio.move_on_after(UNWIND_SECONDS):
            await self._all_answered.wait()
        return cancelled

    def answered(self, request_id: Any) -> None:
        """The answer to request `request_id` went out (called by the transport's write side)."""
        if request_id in self._unanswered:
            self._unanswered.discard(request_id)
            if not self._unanswered:
                self._all_answered.set()

    async def cancel_all(self) -> int:
        left = list(self._scopes)
        for scope in left:
            scope.cancel()
        if left:
            logger.warning("cancelled %d tool call(s) still running at shutdown", len(left))
            with anyio.move_on_after(UNWIND_SECONDS):
                await self._idle.wait()
        return len(left)


async def watch_signals(
    gate: CallGate, stop: Callable[[], None], grace: float = DEFAULT_GRACE_SECONDS
) -> None:
    """On SIGTERM/SIGINT: drain `gate`, then `stop()` the transport. A second signal cuts the grace
    short. Keeps the signals handled until cancelled, so the cleanup is never killed."""
    with anyio.open_signal_receiver(*SIGNALS) as signals:
        async for signum in signals:
            gate.stopped_by = signum
            logger.warning(
                "%s: shutting down; calls in flight have up to %g s to finish",
                signal.Signals(signum).name,
                grace,
            )
            break
        else:  # pragma: no cover - the receiver never ends by itself
            return
        async with anyio.create_task_group() as tg:

            async def cut_short() -> None:
                async for again in signals:
                    logger.warning("%s again: cancelling the calls in flight now", signal.Signals(again).name)
                    await gate.cancel_all()

            tg.start_soon(cut_short)
            await gate.drain(grace)
            stop()
            await anyio.sleep_forever()  # signals stay handled until the transport has stopped


# --- stdio --------------------------------------------------------------------------------------------


class StdinLines:
    """stdin as an async iterator of lines that a shutdown can end (`close()`), as EOF would.

    The SDK reads stdin on a worker thread that a cancellation has to wait for, and a client keeps stdin
    open, so a signal could never stop the server. Here a daemon thread reads the wire (a private copy of
    fd 0; fd 0 itself points at /dev/null while serving, so child processes read nothing of the wire) and
    hands lines to the event loop; `close()` ends the iteration at once, and the thread never holds up exit.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._closed = False
        try:
            self._wire_fd = os.dup(0)
        except OSError:  # no stdin at all: as if the client had closed it
            self._wire_fd = -1
            self._queue.put_nowait(None)
            return
        os.set_inheritable(self._wire_fd, False)
        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            os.dup2(devnull, 0)
        finally:
            os.close(devnull)
        self._wire: IO[bytes] = os.fdopen(self._wire_fd, "rb", closefd=False)
        threading.Thread(target=self._read, name="artificer-stdin", daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in self._wire:
                line = raw.decode("utf-8", errors="replace")
                self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
        except (OSError, ValueError):
            pass
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is reading any more
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)

    def close(self) -> None:
        """End the iteration now (the client's stdin stays open; we just stop reading it)."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)
            if self._wire_fd >= 0:
                with contextlib.suppress(OSError):
                    os.dup2(self._wire_fd, 0)  # fd 0 is the wire again, as it was

    def __aiter__(self) -> StdinLines:
        return self

    async def __anext__(self) -> str:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        line = await self._queue.get()
        if line is None:
            self.close()
            raise StopAsyncIteration
        return line


@contextlib.asynccontextmanager
async def stoppable_stdio(
    gate: CallGate, grace: float = DEFAULT_GRACE_SECONDS
) -> AsyncIterator[tuple[Any, Any]]:
    """The SDK's `stdio_server()` streams, whose read side ends when the client closes stdin or when a signal
    has drained `gate` (then `server.run` returns as on EOF: its lifespan closes cleanly)."""
    from mcp.server.stdio import stdio_server

    stdin = StdinLines()
    gate.track_answers = True
    try:
        async with stdio_server(stdin=cast(Any, stdin)) as (read, write), anyio.create_task_group() as tg:
            tg.start_soon(watch_signals, gate, stdin.close, grace)
            yield read, ReportAnswers(write, gate)
            tg.cancel_scope.cancel()
    finally:
        stdin.close()
    interrupted(gate)


def interrupted(gate: CallGate) -> None:
    """After a clean stop on SIGINT, end as an interrupted command does (the CLI: `interrupted`, exit 130)."""
    if gate.stopped_by == signal.SIGINT:
        raise KeyboardInterrupt


class ReportAnswers:
    """A write stream that tells `gate` which requests' answers (responses, errors) it has sent."""

    def __init__(self, inner: Any, gate: CallGate) -> None:
        self._inner = inner
        self._gate = gate

    async def send(self, item: Any) -> None:
        await self._inner.send(item)
        message = getattr(item, "message", None)
        if isinstance(message, types.JSONRPCResponse | types.JSONRPCError):
            self._gate.answered(message.id)

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()

    def clone(self) -> ReportAnswers:
        return ReportAnswers(self._inner.clone(), self._gate)

    async def __aenter__(self) -> ReportAnswers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# --- HTTP ---------------------------------------------------------------------------------------------


async def run_uvicorn(config: Any, gate: CallGate, grace: float = DEFAULT_GRACE_SECONDS) -> None:
    """`uvicorn.Server(config).serve()`, stopped by `watch_signals` rather than by uvicorn's own handlers,
    which re-raise the signal once uvicorn is done and so kill the process before the caller's cleanup."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield

    if config.timeout_graceful_shutdown is None:
        config.timeout_graceful_shutdown = HTTP_CONNECTIONS_SECONDS
    server = Server(config)

    def stop() -> None:
        server.should_exit = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_signals, gate, stop, grace)
        await server.serve()
        tg.cancel_scope.cancel()
    interrupted(gate)
