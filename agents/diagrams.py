"""Mermaid's own engine, mermaid.js 11 run by `mermaidx`, as the diagram validator and renderer.

`mermaidx` (pinned in pyproject.toml) bundles mermaid.js and runs it in an embedded JavaScript engine:
QuickJS-ng by default, V8 through the optional `mini-racer` (`pip install artificer[v8]`). No Node, npm or
browser. This module keeps that engine warm and safe to call from a server:

- The engine lives in **worker processes** (`python -m artificer.agents.diagrams`), not in the server:
  a JavaScript context is not thread-safe, a QuickJS evaluation cannot be interrupted while mermaid.js calls
  back into Python for text metrics, and a pathological diagram may run for ever or exhaust memory. A worker
  that overruns the time limit, or dies, is killed (SIGKILL) and a fresh one is started on the next call; the
  caller gets a clear `DiagramEngineError` and the server is never blocked or brought down.
- A worker loads mermaid.js once (≈1–3 s) and keeps its context for every later diagram; while idle it warms
  up each diagram type (mermaid.js loads a type's code on first use). Contexts are reused, so ids inside an
  SVG (`actor3`, …) count on from earlier renders in the same worker, as on a browser page that renders
  several diagrams.
- Concurrency is bounded by the number of workers (default 1): one thread per worker drives it over a pipe
  (JSON lines), so nothing blocks the event loop; calls beyond that wait in a queue.
- Nothing is imported or started until the first call (`mermaidx` is imported only inside the workers).

The asyncio-facing API is `validate`, `render_svg`, `render_png` and `check` on a `DiagramEngine`, and the
same as module functions on the process's shared engine (`shared_engine()`).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

Backend = Literal["quickjs", "v8"]
BACKENDS: tuple[Backend, ...] = ("quickjs", "v8")

DEFAULT_TIME_LIMIT = 20.0
"""Seconds one diagram may take in the engine (validation, or validation and rendering) before its worker is
killed. Warm renders of ordinary diagrams take well under a second (see bench/bench_diagrams.py)."""
BOOT_TIME_LIMIT = 120.0
"""Seconds a worker may take to start and load mermaid.js."""
MAX_SOURCE_CHARS = 200_000
"""A longer source is refused before it reaches the engine."""
MAX_SVG_CHARS = 20_000_000
"""A larger SVG is not rasterized."""
MAX_ERROR_CHARS = 2_000
"""Mermaid's messages can quote the whole diagram; longer ones are cut."""
_MAX_REPLY_BYTES = 256 * 1024 * 1024

Operation = Literal["validate", "svg", "png", "raster"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What Mermaid's parser says about a source."""

    valid: bool
    type: str | None
    """The diagram type Mermaid detected (`flowchart-v2`, `sequence`, `er`, …); None if it found none."""
    error: str | None
    """Mermaid's message when the source is not valid."""


@dataclass(frozen=True, slots=True)
class Checked:
    """A verdict, plus the drawing when one was asked for and the diagram is valid."""

    verdict: Verdict
    svg: str | None = None
    png: bytes | None = None


class DiagramEngineError(Exception):
    """The engine gave no answer (time limit, crash, failed start); the message says which, in one line."""


class DiagramTimeout(DiagramEngineError):
    """The diagram overran the time limit; its worker was killed and will be replaced."""


class _WorkerDied(Exception):
    """The worker's pipe closed: it exited or was killed."""


class InvalidDiagram(ValueError):
    """Mermaid rejects the source (raised by `render_svg` / `render_png`)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.error or "not a valid Mermaid diagram")
        self.verdict = verdict


# --- the parent side: workers driven from threads ------------------------------------------------------


class _Worker:
    """One worker process and the pipe to it; used by one thread at a time."""

    def __init__(self, backend: Backend, time_limit: float) -> None:
        self.backend = backend
        self.time_limit = time_limit
        self.process: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "artificer.agents.diagrams", "--worker", "--backend", self.backend],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C at the terminal is the server's to handle, not the worker's
        )
        self.process = process
        self._buffer = b""
        try:
            ready = self._read_line(process, BOOT_TIME_LIMIT)
        except DiagramTimeout:
            self.kill()
            raise DiagramEngineError(
                f"the Mermaid engine ({self.backend}) did not start within {BOOT_TIME_LIMIT:.0f} s"
            ) from None
        except _WorkerDied:
            code = process.wait()
            self.kill()
            raise DiagramEngineError(
                f"the Mermaid engine ({self.backend}) exited while starting (exit code {code}); "
                "is mermaidx installed?"
            ) from None
        if ready.get("ready") is not True:
            self.kill()
            raise DiagramEngineError(
                f"the Mermaid engine ({self.backend}) failed to start: {ready.get('error')}"
            )
        return process

    def _read_line(self, process: subprocess.Popen[bytes], limit: float) -> dict[str, Any]:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + limit
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DiagramTimeout(f"over {limit:g} s")
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise _WorkerDied
            self._buffer += chunk
            if len(self._buffer) > _MAX_REPLY_BYTES:
                raise DiagramEngineError("the Mermaid engine's answer is too large")
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Sends one request and waits for its reply. A worker that is found dead is started again and the
        request sent once more (it may have died between calls); a second death is the diagram's error."""
        for attempt in (1, 2):
            process = self.process
            if process is None or process.poll() is not None:
                process = self._start()
            try:
                return self._exchange(process, message)
            except _WorkerDied:
                self.kill()
                if attempt == 2:
                    raise DiagramEngineError(
                        f"the Mermaid engine ({self.backend}) stopped while working on this diagram; "
                        "it will be restarted"
                    ) from None
        raise AssertionError("unreachable")

    def _exchange(self, process: subprocess.Popen[bytes], message: dict[str, Any]) -> dict[str, Any]:
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(message).encode() + b"\n")
            process.stdin.flush()
            return self._read_line(process, self.time_limit)
        except (_WorkerDied, BrokenPipeError):
            raise _WorkerDied from None
        except DiagramTimeout:
            self.kill()
            raise DiagramTimeout(
                f"Mermaid did not finish this diagram within {self.time_limit:g} s (too large or too deeply "
                "nested?); the engine was restarted"
            ) from None
        except (DiagramEngineError, OSError, ValueError) as error:
            self.kill()
            raise DiagramEngineError(
                f"the Mermaid engine failed on this diagram and was restarted ({error})"
            ) from None

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    def stop(self) -> None:
        """Asks the worker to exit (closing its stdin), then kills it if it does not."""
        process = self.process
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        self.kill()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid


class DiagramEngine:
    """A pool of `workers` engine processes of one backend; call it from any event loop or thread.

    Workers start on first use (`start()` starts them all now). `close()` stops them; the engine can be used
    again afterwards (workers start again).
    """

    def __init__(
        self, *, backend: Backend = "quickjs", workers: int = 1, time_limit: float = DEFAULT_TIME_LIMIT
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown Mermaid engine {backend!r}: use one of {', '.join(BACKENDS)}")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.backend: Backend = backend
        self.workers = workers
        self.time_limit = time_limit
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._all: list[_Worker] = []

    def _worker(self) -> _Worker:
        """The calling executor thread's own worker."""
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is None:
            worker = _Worker(self.backend, self.time_limit)
            self._local.worker = worker
            with self._lock:
                self._all.append(worker)
        return worker

    def _submit(self, fn: Callable[[_Worker], Any]) -> Future[Any]:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="mermaid-engine")
            executor = self._executor
        return executor.submit(lambda: fn(self._worker()))

    async def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        source = message.get("source", "")
        if len(source) > MAX_SOURCE_CHARS:
            return {
                "valid": False,
                "type": None,
                "error": f"the diagram is too long ({len(source)} characters; at most {MAX_SOURCE_CHARS})",
            }
        reply: dict[str, Any] = await asyncio.wrap_future(self._submit(lambda w: w.request(message)))
        if "crash" in reply:  # the worker caught an unexpected Python error; it is still usable
            raise DiagramEngineError(f"the Mermaid engine failed on this diagram: {reply['crash']}")
        return reply

    async def start(self) -> None:
        """Starts every worker now (loads mermaid.js) instead of on first use."""

        # One boot per executor thread: each waits for the others, so that every thread gets one.
        barrier = threading.Barrier(self.workers)

        def boot(worker: _Worker) -> None:
            if worker.process is None or worker.process.poll() is not None:
                worker.request({"op": "ping"})
            with contextlib.suppress(threading.BrokenBarrierError):  # a thread busy elsewhere: on first use
                barrier.wait(BOOT_TIME_LIMIT)

        futures = [self._submit(boot) for _ in range(self.workers)]
        for future in futures:
            await asyncio.wrap_future(future)

    async def validate(self, source: str) -> Verdict:
        """Mermaid's parser's verdict on `source`."""
        return _verdict(await self._call({"op": "validate", "source": source}))

    async def check(self, source: str, *, render: Literal[None, "svg", "png"] = None) -> Checked:
        """The verdict, and the drawing if `render` asks for one and the diagram is valid (one round trip).

        A diagram that parses but that mermaid.js then fails to draw is reported invalid, with its message.
        """
        if render is None:
            return Checked(await self.validate(source))
        reply = await self._call({"op": render, "source": source})
        png = base64.b64decode(reply["png"]) if reply.get("png") else None
        return Checked(_verdict(reply), svg=reply.get("svg"), png=png)

    async def render_svg(self, source: str) -> str:
        """The SVG Mermaid draws for `source`; `InvalidDiagram` if Mermaid rejects it."""
        checked = await self.check(source, render="svg")
        if not checked.verdict.valid or checked.svg is None:
            raise InvalidDiagram(checked.verdict)
        return checked.svg

    async def render_png(self, source: str) -> bytes:
        """The PNG of `source` (the SVG rasterized by novasvg, in the worker); `InvalidDiagram` if invalid."""
        checked = await self.check(source, render="png")
        if not checked.verdict.valid or checked.png is None:
            raise InvalidDiagram(checked.verdict)
        return checked.png

    async def rasterize(self, svg: str) -> bytes:
        """The PNG of an SVG Mermaid drew (novasvg, in a worker, under the same time limit)."""
        if len(svg) > MAX_SVG_CHARS:
            raise DiagramEngineError(f"the SVG is too large to rasterize ({len(svg)} characters)")
        reply: dict[str, Any] = await asyncio.wrap_future(
            self._submit(lambda w: w.request({"op": "raster", "svg": svg}))
        )
        if "crash" in reply:
            raise DiagramEngineError(f"the Mermaid engine could not rasterize this SVG: {reply['crash']}")
        return base64.b64decode(reply["png"])

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [pid for pid in (w.pid for w in self._all) if pid is not None]

    def close(self) -> None:
        """Stops the workers (blocking, a few ms each); safe to call more than once."""
        with self._lock:
            executor, self._executor = self._executor, None
            workers, self._all = self._all, []
            self._local = threading.local()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        for worker in workers:
            worker.stop()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)


def _verdict(reply: dict[str, Any]) -> Verdict:
    return Verdict(valid=bool(reply["valid"]), type=reply.get("type"), error=reply.get("error"))


_shared: DiagramEngine | None = None
_shared_lock = threading.Lock()


def shared_engine() -> DiagramEngine:
    """The process's engine (QuickJS, one worker), created on first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = DiagramEngine()
            atexit.register(_shared.close)
        return _shared


async def validate(source: str) -> Verdict:
    return await shared_engine().validate(source)


async def render_svg(source: str) -> str:
    return await shared_engine().render_svg(source)


async def render_png(source: str) -> bytes:
    return await shared_engine().render_png(source)


async def check(source: str, *, render: Literal[None, "svg", "png"] = None) -> Checked:
    return await shared_engine().check(source, render=render)


async def rasterize(svg: str) -> bytes:
    return await shared_engine().rasterize(svg)


# --- the worker process ----------------------------------------------------------------------------------

_WARMUP = (
    "flowchart LR\n  A[Start] --> B{Ok?}\n  B -->|yes| C([Done])",
    "sequenceDiagram\n  Alice->>Bob: Hi\n  Bob-->>Alice: Hello",
    "classDiagram\n  Animal <|-- Duck\n  class Duck{\n    +swim()\n  }",
    "stateDiagram-v2\n  [*] --> Still\n  Still --> [*]",
    "erDiagram\n  CUSTOMER ||--o{ ORDER : places",
    "gantt\n  dateFormat YYYY-MM-DD\n  section S\n  Task :a1, 2024-01-01, 3d",
    'pie title Pets\n  "Dogs" : 3\n  "Cats" : 2',
    "journey\n  title Day\n  section Work\n    Code: 5: Me",
    "mindmap\n  root((Topic))\n    A\n    B",
    "timeline\n  title History\n  2004 : Facebook",
    "sankey-beta\nA,B,10\nB,C,5",
)
"""Small diagrams of the common types, drawn while a new worker is idle so that their code is loaded."""

_HELPERS_JS = """
globalThis.__artificerMessage = (e) => {
  if (e && typeof e === 'object' && e.message !== undefined) {
    return (e.name && e.name !== 'Error' ? e.name + ': ' : '') + String(e.message);
  }
  return String(e);
};
globalThis.__artificerType = (code) => {
  try { const found = mermaid.detectType(code); return found ? ('' + found).slice(0) : null; }
  catch (e) { return null; }
};
"""


def _parse_script(code: str) -> str:
    """Leaves `__renderResult` ('ok') or `__renderError` (Mermaid's message) once mermaid.parse settles, so
    mermaidx's event loop and result collection serve a parse as they serve a render."""
    return (
        "globalThis.__renderResult = null;\n"
        "globalThis.__renderError = null;\n"
        f"mermaid.parse({json.dumps(code)})\n"
        "  .then(() => { globalThis.__renderResult = 'ok'; })\n"
        "  .catch((e) => { globalThis.__renderError = __artificerMessage(e); });\n"
    )


class _Page:
    """mermaid.js loaded in one JavaScript context, reused for every diagram."""

    def __init__(self, backend: Backend) -> None:
        from mermaidx.engines._common import MermaidRenderError, mermaid_config

        self.backend = backend
        self.render_error = MermaidRenderError
        if backend == "quickjs":
            self._evaluate, self._settle, self._svg = self._quickjs()
        else:
            self._evaluate, self._settle, self._svg = self._v8()
        self._evaluate(_HELPERS_JS)
        self._evaluate(f"mermaid.initialize({json.dumps(mermaid_config(None, None))});")

    def _quickjs(self) -> tuple[Callable[[str], Any], Callable[[str], str], Callable[[str], str]]:
        # mermaidx's QuickJS Engine owns a thread with a 32 MiB stack (mermaid.js recurses deeply) and builds
        # the context with its text-measuring callbacks; everything here runs on that thread. Its own
        # render_svg builds a new context per diagram (≈1–2 s), so this calls the context directly.
        # Private parts used (check them before raising the pin): Engine._executor, ._ctx, ._run_job.
        from mermaidx.engines._common import collect_svg, render_script, run_event_loop
        from mermaidx.engines.quickjs_engine import Engine

        engine = Engine()
        engine.start()

        def on_thread(fn: Callable[[], Any]) -> Any:
            assert engine._executor is not None
            return engine._executor.submit(fn).result()

        def evaluate(js: str) -> Any:
            return on_thread(lambda: engine._ctx.eval(js))

        def settle(script: str) -> str:
            def run() -> str:
                ctx = engine._ctx
                ctx.eval(script)
                run_event_loop(ctx.eval, engine._run_job)
                return collect_svg(lambda js: ctx.eval(f"__flat({js})"))

            result: str = on_thread(run)
            return result

        def svg(code: str) -> str:
            return settle(render_script(code, "default", None, None))

        return evaluate, settle, svg

    def _v8(self) -> tuple[Callable[[str], Any], Callable[[str], str], Callable[[str], str]]:
        # mermaidx's V8 Engine runs a child process of its own and a new context for every pass of every
        # diagram; this keeps one context and the label sizes learnt so far. Parts used:
        # v8_engine._build_context and the way its page asks for <foreignObject> sizes (_render).
        from mermaidx.engines._common import TextMeasurer, collect_svg, render_script, run_event_loop
        from mermaidx.engines.v8_engine import _build_context

        ctx = _build_context()
        measurer = TextMeasurer()
        known: dict[str, Any] = {}

        def settle(script: str) -> str:
            ctx.eval(script)
            run_event_loop(ctx.eval)
            return collect_svg(ctx.eval)

        def svg(code: str) -> str:
            if len(known) > 20_000:
                known.clear()
            for _ in range(8):
                ctx.eval(f"globalThis.__foKnown = {json.dumps(known)}; globalThis.__foMissing = {{}};")
                result = settle(render_script(code, "default", None, None))
                asked = json.loads(ctx.eval("JSON.stringify(globalThis.__foMissing)"))
                if not asked:
                    return result
                for key, what in asked.items():
                    known[key] = measurer.foreign_object(*what)
            raise self.render_error("the sizes of the labels did not settle")

        return ctx.eval, settle, svg

    def diagram_type(self, code: str) -> str | None:
        found = self._evaluate(f"globalThis.__artificerType({json.dumps(code)})")
        return found if isinstance(found, str) and found else None

    def _parse_error(self, code: str) -> str | None:
        try:
            self._settle(_parse_script(code))
        except self.render_error as error:
            return _clean(str(error))
        return None

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "ping":
            return {"ok": True}
        if op == "raster":
            from mermaidx.raster import svg_to_png

            return {"png": base64.b64encode(svg_to_png(message["svg"])).decode()}
        code = message["source"]
        kind = self.diagram_type(code)
        if op == "validate":
            error = self._parse_error(code)
            return {"valid": error is None, "type": kind, "error": error}
        try:
            svg = self._svg(code)
        except self.render_error as failure:
            # Draw first (a valid diagram needs one pass); parse only to tell Mermaid's syntax message.
            error = self._parse_error(code) or _clean(str(failure))
            return {"valid": False, "type": kind, "error": error}
        reply: dict[str, Any] = {"valid": True, "type": kind, "error": None, "svg": svg}
        if op == "png":
            from mermaidx.raster import svg_to_png

            reply["png"] = base64.b64encode(svg_to_png(svg)).decode()
            del reply["svg"]
        return reply


def _clean(message: str) -> str:
    for prefix in ("Error: ",):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS] + " …"
    return message


def _request_waiting(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def _worker_main(backend: Backend) -> int:
    """Serves JSON-line requests on stdin until it closes. stdout carries only the replies: anything else
    printed goes to stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(reply: dict[str, Any]) -> None:
        replies.write(json.dumps(reply) + "\n")
        replies.flush()

    try:
        page = _Page(backend)
    except Exception as error:
        send({"ready": False, "error": f"{type(error).__name__}: {error}"})
        return 1
    send({"ready": True, "backend": backend})
    stdin = sys.stdin.buffer
    warmup = list(_WARMUP)
    while True:
        while warmup and not _request_waiting(stdin.fileno()):
            with contextlib.suppress(Exception):  # warming up is an optimisation only
                page.handle({"op": "svg", "source": warmup.pop(0)})
        line = stdin.readline()
        if not line:
            return 0
        try:
            send(page.handle(json.loads(line)))
        except Exception as error:
            send({"crash": f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A Mermaid engine worker (started by DiagramEngine).")
    parser.add_argument("--worker", action="store_true", required=True)
    parser.add_argument("--backend", choices=BACKENDS, default="quickjs")
    args = parser.parse_args(argv)
    return _worker_main(args.backend)


if __name__ == "__main__":
    sys.exit(main())
