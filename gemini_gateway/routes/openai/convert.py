"""An OpenAI chat request → our `GenerateRequest`, so one mapping to Gemini serves both routes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ...chat.models import GenerateRequest
from ...errors import InvalidRequest, Problem
from ...json_body import validate
from .models import ChatCompletionRequest, ChatMessage

__all__ = ["bare_model", "convert", "gemini_major", "to_generate_request"]

_MODEL_PREFIXES = ("models/", "google-ai-studio/")
_THINKING_BUDGET = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
_THINKING_LEVEL = {"none": "minimal", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}
_FAMILY = re.compile(r"^gemini-(\d+)")


def bare_model(requested: str | None) -> str | None:
    """The model name without a `models/` or `google-ai-studio/` prefix (SDKs and gateways add them)."""
    if requested is None:
        return None
    for prefix in _MODEL_PREFIXES:
        if requested.startswith(prefix):
            return requested[len(prefix) :]
    return requested


def gemini_major(model: str) -> int | None:
    """2 for gemini-2.5-flash, 3 for gemini-3.8-flash, None for a name without a version."""
    match = _FAMILY.match(model)
    return int(match.group(1)) if match else None


def to_generate_request(chat: ChatCompletionRequest, model: str = "") -> GenerateRequest:
    """See `convert`; the request alone (for the model the request names, when none is given)."""
    return convert(chat, model or bare_model(chat.model) or "")[0]


def convert(
    chat: ChatCompletionRequest, model: str = ""
) -> tuple[GenerateRequest, Callable[[InvalidRequest], InvalidRequest]]:
    """The same request in `POST /` terms, so one mapping to Gemini serves both routes.

    `model` is the resolved model: `reasoning_effort` becomes a thinking level on
    Gemini 3 and later (and on names without a version), a thinking budget on 2.x.
    """
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    origin: list[int] = []  # OpenAI index of each of our messages, to name fields in errors
    for i, message in enumerate(chat.messages):
        if message.role in ("system", "developer"):
            system.append(message.text())
            continue
        converted = _message(message)
        if converted is not None:
            messages.append(converted)
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
        major = gemini_major(model)
        if major is not None and major < 3:
            data["thinking_budget"] = _THINKING_BUDGET[chat.reasoning_effort]
        else:
            data["thinking_level"] = _THINKING_LEVEL[chat.reasoning_effort]
    tools: list[dict[str, Any]] = [
        {k: v for k, v in t.function.model_dump(exclude={"strict"}).items() if v is not None} for t in chat.tools or ()
    ]
    if chat.web_search_options is not None:
        tools.append({"builtin": "google_search"})
    if tools:
        data["tools"] = tools
    if chat.tool_choice is not None:
        choice = chat.tool_choice
        data["tool_choice"] = choice if isinstance(choice, str) else {"name": choice.function.name}
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

    def in_openai_terms(error: InvalidRequest) -> InvalidRequest:
        return _in_openai_terms(error, chat, origin)

    try:
        return validate(GenerateRequest, data), in_openai_terms
    except InvalidRequest as exc:
        raise in_openai_terms(exc) from None


def _message(message: ChatMessage) -> dict[str, Any] | None:
    """One OpenAI turn in `POST /` terms; None for an empty assistant turn (Gemini takes none)."""
    if message.role == "tool":
        text = message.text()
        try:
            result: Any = json.loads(text)
        except ValueError:
            result = text
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": result if isinstance(result, dict) else text,
        }
    parts: list[dict[str, Any]] = []
    for part in message.content or ():
        if part.image_url is not None:
            mime, b64 = part.image_url.inline()
            parts.append({"type": "image", "mime_type": mime, "data": b64})
        else:
            parts.append({"type": "text", "text": part.text})
    converted: dict[str, Any] = {"role": message.role}
    if parts:
        converted["content"] = parts
    if message.tool_calls:
        converted["tool_calls"] = [
            {"id": call.id, "name": call.function.name, "arguments": call.function.parsed()}
            for call in message.tool_calls
        ]
    return converted if len(converted) > 1 else None


def _openai_call_field(rest: str) -> str:
    """`.tool_calls[0].name` (ours) → `.tool_calls[0].function.name` (OpenAI's)."""
    return re.sub(r"^(\.tool_calls\[\d+\])\.(name|arguments)", r"\1.function.\2", rest)


def _in_openai_terms(error: InvalidRequest, chat: ChatCompletionRequest, origin: list[int]) -> InvalidRequest:
    """Rename the fields of a `GenerateRequest` refusal to the ones the caller sent."""
    renames = {
        "system": "messages",
        "max_output_tokens": "max_completion_tokens" if chat.max_completion_tokens is not None else "max_tokens",
        "thinking_budget": "reasoning_effort",
        "thinking_level": "reasoning_effort",
        "response_format.schema": "response_format.json_schema.schema",
    }

    def rename(field: str) -> str:
        match = re.match(r"^messages\[(\d+)\]", field)
        if match and int(match.group(1)) < len(origin):
            return f"messages[{origin[int(match.group(1))]}]" + _openai_call_field(field[match.end() :])
        match = re.match(r"^tools\[(\d+)\]\.", field)
        if match:
            return f"tools[{match.group(1)}].function." + field[match.end() :]
        head, dot, rest = field.partition(".")
        if field in renames:
            return renames[field]
        return renames.get(head, head) + dot + rest

    problems = [Problem(rename(p.field), p.problem) for p in error.details]
    if not problems:
        return error
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidRequest(f"{problems[0].field}: {problems[0].problem}{more}", details=problems)
