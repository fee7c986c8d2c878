"""Fake Gemini API: `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`."""

from __future__ import annotations

from typing import Any

from .http import RecordedRequest, Reply
from .llm import Failure, FakeLLM, Turn, sse, stream_options

_STATUS = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 400: "INVALID_ARGUMENT"}


class FakeGemini(FakeLLM):
    name = "google"

    def is_model_call(self, request: RecordedRequest) -> bool:
        return request.method == "POST" and (
            request.path.endswith(":generateContent") or request.path.endswith(":streamGenerateContent")
        )

    def is_stream(self, request: RecordedRequest) -> bool:
        return request.path.endswith(":streamGenerateContent")

    @staticmethod
    def model_of(request: RecordedRequest) -> str:
        return request.path.rsplit("/", 1)[-1].split(":", 1)[0]

    def _usage(self, turn: Turn) -> dict[str, int]:
        usage = {
            "promptTokenCount": turn.input_tokens,
            "candidatesTokenCount": turn.output_tokens,
            "totalTokenCount": turn.input_tokens + turn.output_tokens + turn.reasoning_tokens,
        }
        if turn.reasoning_tokens:
            usage["thoughtsTokenCount"] = turn.reasoning_tokens
        if turn.cache_read_tokens:  # part of promptTokenCount
            usage["cachedContentTokenCount"] = turn.cache_read_tokens
        return usage

    def _extras(self, turn: Turn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Parts for code execution / function calls, and candidate fields for search / URL context."""
        parts: list[dict[str, Any]] = []
        candidate: dict[str, Any] = {}
        for use in turn.native:
            if use.kind == "code_execution":
                parts.append({"executableCode": {"language": "PYTHON", "code": use.input}})
                parts.append({"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": use.output}})
            elif use.kind == "web_search":
                candidate["groundingMetadata"] = {
                    "webSearchQueries": [use.input],
                    "groundingChunks": [{"web": {"uri": use.output, "title": "result"}}],
                }
            else:
                candidate["urlContextMetadata"] = {
                    "urlMetadata": [
                        {"retrievedUrl": use.input, "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS"}
                    ]
                }
        for name, args in turn.function_calls:
            parts.append({"functionCall": {"name": name, "args": args}})
        return parts, candidate

    def answer(self, turn: Turn, request: RecordedRequest) -> Reply:
        model = turn.model or self.model_of(request)
        if turn.refusal:
            return Reply.of_json(
                {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}
            )
        parts: list[dict[str, Any]] = []
        if turn.thinking:
            parts.append({"text": turn.thinking, "thought": True})
        extra_parts, candidate = self._extras(turn)
        parts += extra_parts
        if turn.full_text:
            parts.append({"text": turn.full_text})
        body = {
            "candidates": [
                {
                    "content": {"role": "model", "parts": parts},
                    "finishReason": "STOP",
                    "index": 0,
                    **candidate,
                }
            ],
            "usageMetadata": self._usage(turn),
            "modelVersion": model,
            "responseId": "fake-response",
        }
        return Reply.of_json(body)

    def stream(self, turn: Turn, request: RecordedRequest) -> Reply:
        model = turn.model or self.model_of(request)
        events: list[bytes] = []
        text_indexes: list[int] = []

        def chunk(parts: list[dict[str, Any]], **fields: Any) -> bytes:
            return sse(
                {
                    "candidates": [{"content": {"role": "model", "parts": parts}, "index": 0, **fields}],
                    "usageMetadata": running_usage(),
                    "modelVersion": model,
                }
            )

        def running_usage() -> dict[str, int]:
            """Like the real API, every chunk carries the counts so far: one output token per text
            chunk sent (at most the turn's `output_tokens`; the last chunk reports the turn's)."""
            usage = {"promptTokenCount": turn.input_tokens}
            if turn.cache_read_tokens:
                usage["cachedContentTokenCount"] = turn.cache_read_tokens
            sent = min(len(text_indexes), turn.output_tokens)
            if sent:
                usage.update(candidatesTokenCount=sent, totalTokenCount=turn.input_tokens + sent)
            return usage

        if turn.refusal:
            events.append(sse({"promptFeedback": {"blockReason": "SAFETY"}, "modelVersion": model}))
            return Reply.of_sse(events)
        if turn.thinking:
            events.append(chunk([{"text": turn.thinking, "thought": True}]))
        extra_parts, candidate = self._extras(turn)
        if extra_parts:
            events.append(chunk(extra_parts))
        for piece in turn.chunks:
            if piece:
                text_indexes.append(len(events))
                events.append(chunk([{"text": piece}]))
        events.append(
            sse(
                {
                    "candidates": [
                        {
                            "content": {"role": "model", "parts": [{"text": ""}]},
                            "finishReason": "STOP",
                            **candidate,
                        }
                    ],
                    "usageMetadata": self._usage(turn),
                    "modelVersion": model,
                }
            )
        )
        return Reply.of_sse(events, **stream_options(turn, events, text_indexes))

    def failure(self, failure: Failure) -> Reply:
        headers = {"retry-after": failure.retry_after} if failure.retry_after else {}
        return Reply.of_json(
            {
                "error": {
                    "code": failure.status,
                    "message": failure.message,
                    "status": _STATUS.get(failure.status, "UNKNOWN"),
                }
            },
            status=failure.status,
            headers=headers,
        )
