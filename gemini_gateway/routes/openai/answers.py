"""OpenAI answers: `chat.completion`, `chat.completion.chunk` SSE and OpenAI's error shape.

The models document the answers (OpenAPI); the bodies are built as plain
dicts on the hot path, and tests validate them against these models.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import orjson
from pydantic import ConfigDict, Field

from ...model_base import Doc

__all__ = [
    "DONE",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Chunks",
    "OpenAIErrorBody",
    "completion_body",
    "data_line",
    "finish_reason_of",
    "openai_tool_calls",
    "refusal",
    "usage_body",
]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


class PromptTokensDetails(Doc):
    cached_tokens: int


class CompletionTokensDetails(Doc):
    reasoning_tokens: int


class ChatUsage(Doc):
    prompt_tokens: int
    completion_tokens: int = Field(description="answer tokens plus thinking (reasoning) tokens")
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: CompletionTokensDetails


class CalledFunctionOut(Doc):
    name: str
    arguments: str = Field(description="a JSON object, in a string")


class ToolCallOut(Doc):
    id: str = Field(description="opaque; echo it as the tool message's tool_call_id")
    type: Literal["function"]
    function: CalledFunctionOut


class ToolCallDelta(ToolCallOut):
    index: int


class AssistantMessage(Doc):
    role: Literal["assistant"]
    content: str | None = Field(description="null when the answer is only tool calls")
    refusal: str | None = Field(description="set when the prompt was blocked: the block reason")
    tool_calls: list[ToolCallOut] | None = None


class Choice(Doc):
    index: int
    message: AssistantMessage
    logprobs: None
    finish_reason: FinishReason


class ChatCompletion(Doc):
    """The body of a `200` from `POST /v1/chat/completions` without `stream`."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: ChatUsage


class ChunkDelta(Doc):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    role: Literal["assistant"] | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(Doc):
    index: int
    delta: ChunkDelta
    logprobs: None
    finish_reason: FinishReason | None


class ChatCompletionChunk(Doc):
    """One `data:` record of a streamed answer (the stream ends with `data: [DONE]`)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice] = Field(description="empty in the final usage chunk")
    usage: ChatUsage | None = Field(
        default=None, description="with stream_options.include_usage: null, then set in the last chunk"
    )


_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter"}
_FILTERED = ("recitation", "blocked")


def finish_reason_of(ours: str) -> str:
    """Our finish reason → OpenAI's."""
    if ours in _FINISH:
        return _FINISH[ours]
    return "content_filter" if ours in _FILTERED else "stop"


def usage_body(usage: dict[str, int]) -> dict[str, Any]:
    """Our usage → OpenAI's: reasoning counted in completion_tokens, and split out."""
    prompt = usage["input_tokens"]
    completion = usage["output_tokens"] + usage["thinking_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": max(usage["total_tokens"], prompt + completion),
        "prompt_tokens_details": {"cached_tokens": usage["cached_tokens"]},
        "completion_tokens_details": {"reasoning_tokens": usage["thinking_tokens"]},
    }


def refusal(result: dict[str, Any]) -> str | None:
    reason = result.get("blocked_reason")
    return f"the prompt was blocked ({reason})" if reason else None


def openai_tool_calls(calls: list[dict[str, Any]], indexed: bool = False) -> list[dict[str, Any]]:
    """Our `tool_calls` → OpenAI's (arguments as a JSON string; `index` in stream deltas)."""
    out = []
    for i, call in enumerate(calls):
        arguments = json.dumps(call["arguments"], ensure_ascii=False, separators=(",", ":"))
        item: dict[str, Any] = {"index": i} if indexed else {}
        item.update(id=call["id"], type="function", function={"name": call["name"], "arguments": arguments})
        out.append(item)
    return out


def completion_body(result: dict[str, Any], created: int) -> dict[str, Any]:
    """A `chat.completion` from our answer object."""
    message: dict[str, Any] = {"role": "assistant", "content": result["text"], "refusal": refusal(result)}
    if result.get("tool_calls"):
        message["tool_calls"] = openai_tool_calls(result["tool_calls"])
        message["content"] = result["text"] or None
    return {
        "id": f"chatcmpl-{result['request_id']}",
        "object": "chat.completion",
        "created": created,
        "model": result["model"],
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason_of(result["finish_reason"]),
            }
        ],
        "usage": usage_body(result["usage"]),
    }


class Chunks:
    """Encodes one stream's `chat.completion.chunk` records."""

    def __init__(self, request_id: str, model: str, created: int, with_usage: bool) -> None:
        self.head = {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self.with_usage = with_usage  # then every chunk has "usage" (null until the last), as OpenAI does

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        chunk: dict[str, Any] = {**self.head, "choices": [choice]}
        if self.with_usage:
            chunk["usage"] = None
        return data_line(chunk)

    def usage(self, usage: dict[str, int]) -> bytes:
        return data_line({**self.head, "choices": [], "usage": usage_body(usage)})


def data_line(value: Any) -> bytes:
    return b"data: " + orjson.dumps(value) + b"\n\n"


DONE = b"data: [DONE]\n\n"


class OpenAIError(Doc):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(Doc):
    """Errors on the OpenAI-compatible route, in OpenAI's shape."""

    error: OpenAIError
