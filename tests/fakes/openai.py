"""Fake OpenAI API: `POST /chat/completions` (JSON or SSE with `stream: true`) and `POST /responses`."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from .http import RecordedRequest, Reply
from .llm import Failure, FakeLLM, Turn, sse, stream_options

_ids = itertools.count(1)


class FakeOpenAI(FakeLLM):
    name = "openai"

    def is_model_call(self, request: RecordedRequest) -> bool:
        return request.method == "POST" and request.path.rstrip("/").endswith(
            ("/chat/completions", "/responses")
        )

    def is_stream(self, request: RecordedRequest) -> bool:
        body = request.json or {}
        return bool(body.get("stream"))

    @staticmethod
    def _is_responses(request: RecordedRequest) -> bool:
        return request.path.rstrip("/").endswith("/responses")

    def _chat_usage(self, turn: Turn) -> dict[str, Any]:
        # completion_tokens includes the reasoning tokens, as the real API reports them.
        completion = turn.output_tokens + turn.reasoning_tokens
        return {
            "prompt_tokens": turn.input_tokens,
            "completion_tokens": completion,
            "total_tokens": turn.input_tokens + completion,
            "completion_tokens_details": {"reasoning_tokens": turn.reasoning_tokens},
            # part of prompt_tokens, as the real API reports them
            "prompt_tokens_details": {"cached_tokens": turn.cache_read_tokens, "audio_tokens": 0},
        }

    def answer(self, turn: Turn, request: RecordedRequest) -> Reply:
        body = request.json or {}
        model = turn.model or body.get("model", "fake-model")
        if self._is_responses(request):
            return Reply.of_json(self._response(turn, model))
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        finish = "stop"
        if turn.refusal:
            message["refusal"] = "I can't help with that."
        elif turn.function_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{next(_ids)}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for name, args in turn.function_calls
            ]
            finish = "tool_calls"
        else:
            message["content"] = turn.full_text
        if turn.thinking:
            message["reasoning_content"] = turn.thinking
        return Reply.of_json(
            {
                "id": f"chatcmpl-{next(_ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": self._chat_usage(turn),
            }
        )

    def stream(self, turn: Turn, request: RecordedRequest) -> Reply:
        body = request.json or {}
        model = turn.model or body.get("model", "fake-model")
        ident = f"chatcmpl-{next(_ids)}"

        def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
            choices = [] if usage is not None else [{"index": 0, "delta": delta, "finish_reason": finish}]
            data = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": choices,
                "usage": usage,
            }
            return sse(data)

        events = [chunk({"role": "assistant", "content": ""})]
        text_indexes: list[int] = []
        if turn.refusal:
            events.append(chunk({"refusal": "I can't help with that."}))
        if turn.thinking:
            events.append(chunk({"reasoning_content": turn.thinking}))
        for piece in turn.chunks:
            if piece and not turn.refusal:
                text_indexes.append(len(events))
                events.append(chunk({"content": piece}))
        events.append(chunk({}, finish="stop"))
        events.append(chunk({}, usage=self._chat_usage(turn)))
        events.append(b"data: [DONE]\n\n")
        return Reply.of_sse(events, **stream_options(turn, events, text_indexes))

    def _response(self, turn: Turn, model: str) -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        if turn.thinking:
            output.append(
                {
                    "type": "reasoning",
                    "id": f"rs_{next(_ids)}",
                    "summary": [{"type": "summary_text", "text": turn.thinking}],
                }
            )
        for use in turn.native:
            if use.kind == "code_execution":
                output.append(
                    {
                        "type": "code_interpreter_call",
                        "id": f"ci_{next(_ids)}",
                        "code": use.input,
                        "container_id": "cntr_fake",
                        "outputs": [{"type": "logs", "logs": use.output}],
                        "status": "completed",
                    }
                )
            else:
                output.append(
                    {
                        "type": "web_search_call",
                        "id": f"ws_{next(_ids)}",
                        "status": "completed",
                        "action": {
                            "type": "search",
                            "query": use.input,
                            "sources": [{"type": "url", "url": use.output}],
                        },
                    }
                )
        content: dict[str, Any]
        if turn.refusal:
            content = {"type": "refusal", "refusal": "I can't help with that."}
        else:
            content = {"type": "output_text", "text": turn.full_text, "annotations": []}
        output.append(
            {
                "type": "message",
                "id": f"msg_{next(_ids)}",
                "role": "assistant",
                "status": "completed",
                "content": [content],
            }
        )
        return {
            "id": f"resp_{next(_ids)}",
            "object": "response",
            "created_at": int(time.time()),
            "model": model,
            "status": "completed",
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": turn.input_tokens,
                "input_tokens_details": {"cached_tokens": turn.cache_read_tokens},
                "output_tokens": turn.output_tokens + turn.reasoning_tokens,
                "output_tokens_details": {"reasoning_tokens": turn.reasoning_tokens},
                "total_tokens": turn.input_tokens + turn.output_tokens + turn.reasoning_tokens,
            },
        }

    def failure(self, failure: Failure) -> Reply:
        headers = {"retry-after": failure.retry_after} if failure.retry_after else {}
        kind = "rate_limit_exceeded" if failure.status == 429 else "server_error"
        return Reply.of_json(
            {"error": {"message": failure.message, "type": kind, "param": None, "code": kind}},
            status=failure.status,
            headers=headers,
        )
