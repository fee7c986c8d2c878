"""What a test scripts into any LLM fake, independent of the provider's wire format.

`fake.script(Turn(...), Failure(429), ...)` queues the next answers; each provider fake renders a
`Turn` in its own wire format, as a whole JSON body or as an SSE stream, depending on what the SDK
asked for. `fake.requests` holds what the SDK sent (`fake.bodies()` the JSON bodies of model calls).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .http import FakeHTTPServer, RecordedRequest, Reply


@dataclass(frozen=True)
class NativeUse:
    """One server-side tool use the fake reports (web search, URL context, code execution)."""

    kind: Literal["web_search", "url_context", "code_execution"]
    input: str
    output: str


@dataclass(frozen=True)
class Turn:
    """One model answer."""

    text: str | Sequence[str] = "Hello from the fake."
    """The answer; a sequence is streamed as separate deltas."""
    thinking: str = ""
    function_calls: Sequence[tuple[str, dict[str, Any]]] = ()
    native: Sequence[NativeUse] = ()
    input_tokens: int = 12
    """Every prompt token, the cached ones included (each fake reports them in its wire format:
    Anthropic's `input_tokens` leaves out the cache reads and writes)."""
    output_tokens: int = 7
    reasoning_tokens: int = 0
    cache_read_tokens: int = 0
    """Of `input_tokens`: read from the prompt cache (every provider reports them)."""
    cache_write_tokens: int = 0
    """Of `input_tokens`: written to the prompt cache (only Anthropic reports them)."""
    refusal: bool = False
    cut_after_text: int | None = None
    """Streams only: drop the connection after this many text deltas (0 = before any)."""
    hang: bool = False
    """Streams only: after the first text delta, hold the connection open until the client leaves."""
    model: str | None = None
    delay: float = 0.0
    """Seconds before the answer starts (to make the client time out)."""

    @property
    def chunks(self) -> list[str]:
        return [self.text] if isinstance(self.text, str) else list(self.text)

    @property
    def full_text(self) -> str:
        return "".join(self.chunks)


@dataclass(frozen=True)
class Failure:
    """An HTTP error answer."""

    status: int
    retry_after: str | None = "0.01"
    message: str = "scripted failure"


@dataclass
class _Queue:
    items: deque[Turn | Failure | Reply] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeLLM(FakeHTTPServer):
    """Base of the provider fakes: a script queue and the routing of model calls."""

    name = "fake"

    def __init__(self) -> None:
        super().__init__(self._handle)
        self._queue = _Queue()
        self.repeat: Turn | None = None
        """When set, answer every call with this turn once the script is empty (for benchmarks)."""

    def script(self, *items: Turn | Failure | Reply) -> None:
        with self._queue.lock:
            self._queue.items.extend(items)

    @property
    def pending(self) -> int:
        return len(self._queue.items)

    def model_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if self.is_model_call(r)]

    def bodies(self) -> list[Any]:
        return [r.json for r in self.model_requests()]

    def _handle(self, request: RecordedRequest) -> Reply:
        if not self.is_model_call(request):
            return Reply.of_json(
                {"error": {"message": f"fake: no route {request.method} {request.path}"}}, 404
            )
        with self._queue.lock:
            item = self._queue.items.popleft() if self._queue.items else self.repeat
        if item is None:
            return Reply.of_json({"error": {"message": "fake: nothing scripted"}}, status=418)
        if isinstance(item, Reply):
            return item
        if isinstance(item, Failure):
            return self.failure(item)
        reply = self.stream(item, request) if self.is_stream(request) else self.answer(item, request)
        reply.delay = item.delay
        return reply

    # --- per provider ---------------------------------------------------------------------------

    def is_model_call(self, request: RecordedRequest) -> bool:
        raise NotImplementedError

    def is_stream(self, request: RecordedRequest) -> bool:
        raise NotImplementedError

    def answer(self, turn: Turn, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    def stream(self, turn: Turn, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    def failure(self, failure: Failure) -> Reply:
        raise NotImplementedError


MAX_RETRIES = 2
"""`provider_max_retries` in `settings_for`."""


def settings_for(fake: FakeLLM, **overrides: Any) -> Any:
    """`Settings` that point the fake's provider SDK at it: a key, its base URL, few retries."""
    from artificer.common.settings import Settings

    base = {"google": fake.url, "openai": f"{fake.url}/v1", "anthropic": fake.url}[fake.name]
    values: dict[str, Any] = {
        "google_api_key": None,
        "openai_api_key": None,
        "anthropic_api_key": None,
        f"{fake.name}_api_key": "test-key-not-secret",
        f"{fake.name}_base_url": base,
        "provider_max_retries": MAX_RETRIES,
        "provider_timeout_seconds": 10.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def sse(data: Any, event: str | None = None) -> bytes:
    import json

    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def stream_options(turn: Turn, events: list[bytes], text_event_indexes: list[int]) -> dict[str, Any]:
    """`Reply.of_sse` options for a turn's cut/hang, given where its text deltas sit in `events`."""
    if turn.cut_after_text is not None:
        if turn.cut_after_text == 0:
            cut = text_event_indexes[0] if text_event_indexes else len(events)
        else:
            cut = text_event_indexes[min(turn.cut_after_text, len(text_event_indexes)) - 1] + 1
        return {"cut_after": cut}
    if turn.hang:
        first = text_event_indexes[0] + 1 if text_event_indexes else len(events)
        del events[first:]
        return {"hang": True}
    return {}
