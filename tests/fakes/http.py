"""A tiny HTTP/1.1 server on 127.0.0.1 for the wire-level fakes (asyncio streams, no framework).

It runs its own event loop in a background thread, so it serves tests on any event loop (and
synchronous code such as the benchmark). A `handler` turns each `RecordedRequest` into a `Reply`:
a whole body (Content-Length), or server-sent events written as chunks, which can be cut in the
middle (connection dropped without the last chunk) or held open until the client goes away (to see
that a cancelled client really closes the connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    events: list[bytes] | None = None
    """Server-sent events (each already framed, e.g. b'data: {...}\\n\\n'), sent as chunks."""
    cut_after: int | None = None
    """Drop the connection after this many events (no terminating chunk)."""
    hang: bool = False
    """After the events, hold the response open until the client closes the connection."""
    event_delay: float = 0.0
    delay: float = 0.0
    """Seconds to wait before answering at all (to make a client time out)."""

    @classmethod
    def of_json(cls, value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(
            status=status,
            headers={"content-type": "application/json", **(headers or {})},
            body=json.dumps(value).encode(),
        )

    @classmethod
    def of_sse(cls, events: list[bytes], **options: Any) -> Reply:
        return cls(headers={"content-type": "text/event-stream"}, events=events, **options)


Handler = Callable[[RecordedRequest], Reply]


class FakeHTTPServer:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[RecordedRequest] = []
        self.client_disconnects = 0
        """Held-open streams whose client closed the connection."""
        self.disconnected = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHTTPServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._stop = asyncio.Event()
            try:
                self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            async with self._server:
                await self._stop.wait()
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(main())
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-http", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving --------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)  # type: ignore[arg-type]
            task.add_done_callback(self._tasks.discard)  # type: ignore[arg-type]
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                try:
                    reply = self._handler(request)
                except Exception as exc:  # a bug in a fake shows up as a 500 the test will see
                    reply = Reply.of_json({"error": {"message": f"fake failed: {exc!r}"}}, status=500)
                keep_open = await self._write_reply(reader, writer, reply)
                if not keep_open:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> RecordedRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(length) if length else b""
        parts = urlsplit(target)
        return RecordedRequest(method, parts.path, dict(parse_qsl(parts.query)), headers, body)

    async def _write_reply(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: Reply
    ) -> bool:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        reason = HTTPStatus(reply.status).phrase
        head = [f"HTTP/1.1 {reply.status} {reason}"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        if reply.events is None:
            head.append(f"content-length: {len(reply.body)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body)
            await writer.drain()
            return True
        head += ["transfer-encoding: chunked", "cache-control: no-cache"]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        for index, event in enumerate(reply.events):
            if reply.cut_after is not None and index >= reply.cut_after:
                writer.transport.abort()
                return False
            writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            await writer.drain()
            if reply.event_delay:
                await asyncio.sleep(reply.event_delay)
        if reply.cut_after is not None:
            writer.transport.abort()
            return False
        if reply.hang:
            # Hold the response open; the client closing the connection ends it.
            try:
                await asyncio.wait_for(reader.read(), timeout=30)
            except (TimeoutError, ConnectionError):
                return False
            self.client_disconnects += 1
            self.disconnected.set()
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
