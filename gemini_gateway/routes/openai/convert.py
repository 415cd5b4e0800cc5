"""An OpenAI chat request → our `GenerateRequest`, so one mapping to Gemini serves both routes."""

from __future__ import annotations

import re
from typing import Any

from ...errors import InvalidRequest, Problem
from ...models import GenerateRequest
from ...payload import validate
from .models import ChatCompletionRequest

__all__ = ["bare_model", "to_generate_request"]

_MODEL_PREFIXES = ("models/", "google-ai-studio/")
_THINKING_BUDGET = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}


def bare_model(requested: str | None) -> str | None:
    """The model name without a `models/` or `google-ai-studio/` prefix (SDKs and gateways add them)."""
    if requested is None:
        return None
    for prefix in _MODEL_PREFIXES:
        if requested.startswith(prefix):
            return requested[len(prefix) :]
    return requested


def to_generate_request(chat: ChatCompletionRequest) -> GenerateRequest:
    """The same request in `POST /` terms, so one mapping to Gemini serves both routes."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    origin: list[int] = []  # OpenAI index of each of our messages, to name fields in errors
    for i, message in enumerate(chat.messages):
        if message.role in ("system", "developer"):
            system.append(message.text())
            continue
        if message.content is None:
            continue  # an empty assistant turn
        parts: list[dict[str, Any]] = []
        for part in message.content or ():
            if part.image_url is not None:
                mime, b64 = part.image_url.inline()
                parts.append({"type": "image", "mime_type": mime, "data": b64})
            else:
                parts.append({"type": "text", "text": part.text})
        messages.append({"role": message.role, "content": parts})
        origin.append(i)
    data: dict[str, Any] = {"messages": messages}
    joined = "\n\n".join(t for t in system if t)
    if joined:
        data["system"] = joined
    for ours, value in (
        ("temperature", chat.temperature),
        ("top_p", chat.top_p),
        ("max_output_tokens", chat.max_completion_tokens or chat.max_tokens),
        ("stop", chat.stop),
        ("seed", chat.seed),
        ("stream", bool(chat.stream)),
    ):
        if value is not None:
            data[ours] = value
    if chat.reasoning_effort is not None:
        data["thinking_budget"] = _THINKING_BUDGET[chat.reasoning_effort]
    if chat.response_format is not None and chat.response_format.type != "text":
        response_format: dict[str, Any] = {"type": "json"}
        spec = chat.response_format.json_schema
        if spec is not None and spec.schema_ is not None:
            response_format["schema"] = spec.schema_
        data["response_format"] = response_format
    if chat.cache is not None:
        data["cache"] = chat.cache.model_dump()
    metadata: dict[str, Any] = dict(chat.metadata or {})
    end_user = chat.safety_identifier or chat.user
    if end_user is not None:
        metadata["user"] = end_user
    if metadata:
        data["metadata"] = metadata
    try:
        return validate(GenerateRequest, data)
    except InvalidRequest as exc:
        raise _in_openai_terms(exc, chat, origin) from None


def _in_openai_terms(error: InvalidRequest, chat: ChatCompletionRequest, origin: list[int]) -> InvalidRequest:
    """Rename the fields of a `GenerateRequest` refusal to the ones the caller sent."""
    renames = {
        "system": "messages",
        "max_output_tokens": "max_completion_tokens" if chat.max_completion_tokens is not None else "max_tokens",
        "thinking_budget": "reasoning_effort",
        "response_format.schema": "response_format.json_schema.schema",
    }

    def rename(field: str) -> str:
        match = re.match(r"^messages\[(\d+)\]", field)
        if match and int(match.group(1)) < len(origin):
            return f"messages[{origin[int(match.group(1))]}]" + field[match.end() :]
        head, dot, rest = field.partition(".")
        if field in renames:
            return renames[field]
        return renames.get(head, head) + dot + rest

    problems = [Problem(rename(p.field), p.problem) for p in error.details]
    if not problems:
        return error
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidRequest(f"{problems[0].field}: {problems[0].problem}{more}", details=problems)
