"""Gemini `GenerateContentResponse` JSON → our answer (docs/API.md, "Response").

Pure functions over the real wire shapes: absent fields are normal (proto3
omits defaults), unknown enum values are expected (Google adds them), but a
body whose structure is wrong is an upstream failure, not a 200 with garbage.
"""

from __future__ import annotations

from typing import Any

import orjson

from .answer import Answer, FunctionCall, Usage
from .json_body import strict_json_loads

__all__ = [
    "Answer",
    "FunctionCall",
    "MalformedAnswer",
    "StreamTotals",
    "Usage",
    "finish_reason",
    "parse_json_text",
    "read_answer",
    "usage_of",
]

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "RECITATION": "recitation",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "MISSING_THOUGHT_SIGNATURE": "error",
}


class MalformedAnswer(ValueError):
    """The upstream said 200 but the body is not a usable Gemini answer."""


def finish_reason(raw: str) -> str:
    """Gemini's finishReason → ours; unknown values (new ones too) are `other`."""
    if raw in _FINISH:
        return _FINISH[raw]
    if raw.startswith("IMAGE_"):
        return "content_filter"
    return "other"


def _int(meta: dict[str, Any], key: str) -> int:
    value = meta.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedAnswer(f"usageMetadata.{key} is not a count")
    return value


def usage_of(meta: Any) -> Usage:
    if not isinstance(meta, dict):
        raise MalformedAnswer("usageMetadata is not an object")
    return Usage(
        input_tokens=_int(meta, "promptTokenCount"),
        output_tokens=_int(meta, "candidatesTokenCount"),
        thinking_tokens=_int(meta, "thoughtsTokenCount"),
        cached_tokens=_int(meta, "cachedContentTokenCount"),
        total_tokens=_int(meta, "totalTokenCount"),
    )


def _str_or_none(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedAnswer(f"{key} is not a string")
    return value


def read_answer(body: Any, *, require_candidate: bool = True) -> Answer:
    """Read one GenerateContentResponse. Streams call it per chunk with require_candidate=False."""
    if not isinstance(body, dict):
        raise MalformedAnswer("answer is not a JSON object")
    answer = Answer(response_id=_str_or_none(body, "responseId"), model_version=_str_or_none(body, "modelVersion"))
    if "usageMetadata" in body:
        answer.usage = usage_of(body["usageMetadata"])
    feedback = body.get("promptFeedback")
    if feedback is not None and not isinstance(feedback, dict):
        raise MalformedAnswer("promptFeedback is not an object")
    candidates = body.get("candidates")
    if feedback and feedback.get("blockReason"):
        answer.finish_reason = "blocked"
        answer.blocked_reason = str(feedback["blockReason"])
        return answer
    if candidates is None or candidates == []:
        if require_candidate:
            raise MalformedAnswer("answer has no candidates and no block reason")
        return answer
    if not isinstance(candidates, list) or not isinstance(candidates[0], dict):
        raise MalformedAnswer("candidates is not a list of objects")
    first = candidates[0]
    raw_reason = first.get("finishReason")
    if raw_reason is not None:
        if not isinstance(raw_reason, str):
            raise MalformedAnswer("finishReason is not a string")
        answer.finish_reason = finish_reason(raw_reason)
    content = first.get("content")
    if content is None:
        return answer
    if not isinstance(content, dict):
        raise MalformedAnswer("candidate content is not an object")
    parts = content.get("parts", [])
    if not isinstance(parts, list):
        raise MalformedAnswer("content.parts is not a list")
    for part in parts:
        if not isinstance(part, dict):
            raise MalformedAnswer("a content part is not an object")
        if part.get("thought") is True:
            continue
        if "functionCall" in part:
            call = _function_call(part)
            if call is not None:
                answer.calls.append(call)
            continue
        text = part.get("text")
        if text is None:
            continue
        if not isinstance(text, str):
            raise MalformedAnswer("a text part is not a string")
        answer.texts.append(text)
    answer.text = "".join(answer.texts)
    if answer.calls and answer.finish_reason in ("stop", None) and require_candidate:
        answer.finish_reason = "tool_calls"
    return answer


def _function_call(part: dict[str, Any]) -> FunctionCall | None:
    """The call a part holds; None for one without a name (nothing a caller could run)."""
    call = part["functionCall"]
    if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
        return None
    args = call.get("args", {})
    call_id, signature = call.get("id"), part.get("thoughtSignature")
    if not isinstance(args, dict) or not isinstance(call_id, str | None) or not isinstance(signature, str | None):
        raise MalformedAnswer("a functionCall part is not shaped as Gemini documents it")
    return FunctionCall(call["name"], args, call_id, signature)


PREVIEW_CHARS = 2000  # as much of an answer as an access line ever holds (LOG_PAYLOADS)
MAX_KEPT_BYTES = 4 * 1024 * 1024
"""What a stream may keep for the answer its end reports (text and call arguments): far above any model's
output ceiling, so only a hostile upstream reaches it; past it the stream ends as an upstream error."""


class StreamTotals:
    """Adds up a stream's chunks into the answer its end reports: finish reason, usage, ids, and what is kept.

    A route that reports the whole text at the end (`POST /`'s `done`) keeps
    text and calls, up to MAX_KEPT_BYTES; a route that only forwards
    (`keep=False`: the Gemini-native and OpenAI streams) keeps counts and the
    text's first PREVIEW_CHARS (for LOG_PAYLOADS), so a stream's memory is
    bounded by what it forwards.
    """

    def __init__(self, keep: bool = True, max_kept: int = MAX_KEPT_BYTES) -> None:
        self.answer = Answer()
        self.calls_seen = 0
        self._keep = keep
        self._room = max_kept if keep else PREVIEW_CHARS

    def add(self, chunk: Answer) -> None:
        """Take one chunk (MalformedAnswer once what is kept would pass the limit)."""
        total = self.answer
        self.calls_seen += len(chunk.calls)
        if self._keep:
            self._room -= sum(len(t) for t in chunk.texts) + sum(_size(c) for c in chunk.calls)
            if self._room < 0:
                raise MalformedAnswer(f"the stream's answer is larger than {MAX_KEPT_BYTES // (1024 * 1024)} MiB")
            total.texts.extend(chunk.texts)
            total.calls.extend(chunk.calls)
        elif self._room > 0 and chunk.texts:
            preview = "".join(chunk.texts)[: self._room]
            self._room -= len(preview)
            total.texts.append(preview)
        total.finish_reason = chunk.finish_reason or total.finish_reason
        total.blocked_reason = chunk.blocked_reason or total.blocked_reason
        total.usage = chunk.usage or total.usage
        total.response_id = chunk.response_id or total.response_id
        total.model_version = chunk.model_version or total.model_version

    def result(self) -> Answer:
        self.answer.text = "".join(self.answer.texts)
        if self.calls_seen and self.answer.finish_reason == "stop":
            self.answer.finish_reason = "tool_calls"
        return self.answer


def _size(call: FunctionCall) -> int:
    """About what a call's arguments hold, for the kept-bytes limit (calls are few; texts are many)."""
    return len(call.name) + len(orjson.dumps(call.args)) + len(call.signature or "")


def parse_json_text(text: str) -> tuple[bool, Any]:
    """(True, value) when the model's text is JSON, else (False, None)."""
    try:
        return True, strict_json_loads(text)
    except (ValueError, RecursionError):
        return False, None
