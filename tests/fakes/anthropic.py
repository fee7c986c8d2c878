"""Fake Anthropic API: `POST /v1/messages` (JSON, or SSE events with `stream: true`)."""

from __future__ import annotations

import itertools
from typing import Any

from .http import RecordedRequest, Reply
from .llm import Failure, FakeLLM, Turn, sse, stream_options

_ids = itertools.count(1)
_ERROR_TYPES = {429: "rate_limit_error", 529: "overloaded_error", 400: "invalid_request_error"}


class FakeAnthropic(FakeLLM):
    name = "anthropic"

    def is_model_call(self, request: RecordedRequest) -> bool:
        return request.method == "POST" and request.path.rstrip("/").endswith("/messages")

    def is_stream(self, request: RecordedRequest) -> bool:
        return bool((request.json or {}).get("stream"))

    def _input_usage(self, turn: Turn) -> dict[str, int]:
        """As the real API reports them: `input_tokens` leaves out the cache reads and writes."""
        return {
            "input_tokens": turn.input_tokens - turn.cache_read_tokens - turn.cache_write_tokens,
            "cache_creation_input_tokens": turn.cache_write_tokens,
            "cache_read_input_tokens": turn.cache_read_tokens,
        }

    def _usage(self, turn: Turn) -> dict[str, Any]:
        # output_tokens includes the thinking tokens, as the real API reports them.
        return {
            **self._input_usage(turn),
            "output_tokens": turn.output_tokens + turn.reasoning_tokens,
            "output_tokens_details": {"thinking_tokens": turn.reasoning_tokens},
        }

    def _native_blocks(self, turn: Turn) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        for use in turn.native:
            ident = f"srvtoolu_{next(_ids)}"
            if use.kind == "web_search":
                blocks.append(
                    {
                        "type": "server_tool_use",
                        "id": ident,
                        "name": "web_search",
                        "input": {"query": use.input},
                    }
                )
                blocks.append(
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": ident,
                        "content": [
                            {
                                "type": "web_search_result",
                                "url": use.output,
                                "title": "result",
                                "encrypted_content": "opaque",
                                "page_age": None,
                            }
                        ],
                    }
                )
            elif use.kind == "url_context":
                blocks.append(
                    {"type": "server_tool_use", "id": ident, "name": "web_fetch", "input": {"url": use.input}}
                )
                blocks.append(
                    {
                        "type": "web_fetch_tool_result",
                        "tool_use_id": ident,
                        "content": {
                            "type": "web_fetch_result",
                            "url": use.input,
                            "retrieved_at": "2026-01-01T00:00:00Z",
                            "content": {
                                "type": "document",
                                "source": {"type": "text", "media_type": "text/plain", "data": use.output},
                            },
                        },
                    }
                )
            else:
                blocks.append(
                    {
                        "type": "server_tool_use",
                        "id": ident,
                        "name": "bash_code_execution",
                        "input": {"command": use.input},
                    }
                )
                blocks.append(
                    {
                        "type": "bash_code_execution_tool_result",
                        "tool_use_id": ident,
                        "content": {
                            "type": "bash_code_execution_result",
                            "stdout": use.output,
                            "stderr": "",
                            "return_code": 0,
                            "content": [],
                        },
                    }
                )
        return blocks

    def answer(self, turn: Turn, request: RecordedRequest) -> Reply:
        body = request.json or {}
        model = turn.model or body.get("model", "fake-model")
        content: list[dict[str, Any]] = []
        stop = "end_turn"
        if turn.thinking:
            content.append({"type": "thinking", "thinking": turn.thinking, "signature": "fake-signature"})
        content += self._native_blocks(turn)
        if turn.refusal:
            stop = "refusal"
        else:
            if turn.full_text:
                content.append({"type": "text", "text": turn.full_text})
            for name, args in turn.function_calls:
                content.append({"type": "tool_use", "id": f"toolu_{next(_ids)}", "name": name, "input": args})
                stop = "tool_use"
        return Reply.of_json(
            {
                "id": f"msg_{next(_ids)}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": self._usage(turn),
            }
        )

    def stream(self, turn: Turn, request: RecordedRequest) -> Reply:
        body = request.json or {}
        model = turn.model or body.get("model", "fake-model")
        events = [
            sse(
                {
                    "type": "message_start",
                    "message": {
                        "id": f"msg_{next(_ids)}",
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {**self._input_usage(turn), "output_tokens": 1},
                    },
                },
                "message_start",
            ),
            sse({"type": "ping"}, "ping"),
        ]
        text_indexes: list[int] = []
        index = 0
        if turn.thinking:
            events.append(
                sse(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    },
                    "content_block_start",
                )
            )
            events.append(
                sse(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "thinking_delta", "thinking": turn.thinking},
                    },
                    "content_block_delta",
                )
            )
            events.append(
                sse(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "signature_delta", "signature": "fake-signature"},
                    },
                    "content_block_delta",
                )
            )
            events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
            index += 1
        stop = "refusal" if turn.refusal else "end_turn"
        if not turn.refusal:
            events.append(
                sse(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                    "content_block_start",
                )
            )
            for piece in turn.chunks:
                if piece:
                    text_indexes.append(len(events))
                    events.append(
                        sse(
                            {
                                "type": "content_block_delta",
                                "index": index,
                                "delta": {"type": "text_delta", "text": piece},
                            },
                            "content_block_delta",
                        )
                    )
            events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        usage = self._usage(turn)
        events.append(
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {
                        "output_tokens": usage["output_tokens"],
                        "output_tokens_details": usage["output_tokens_details"],
                    },
                },
                "message_delta",
            )
        )
        events.append(sse({"type": "message_stop"}, "message_stop"))
        return Reply.of_sse(events, **stream_options(turn, events, text_indexes))

    def failure(self, failure: Failure) -> Reply:
        headers = {"retry-after": failure.retry_after} if failure.retry_after else {}
        kind = _ERROR_TYPES.get(failure.status, "api_error")
        return Reply.of_json(
            {"type": "error", "error": {"type": kind, "message": failure.message}},
            status=failure.status,
            headers=headers,
        )
