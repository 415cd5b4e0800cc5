"""`POST /v1/chat/completions`: the OpenAI chat API on top of the same path as `POST /`.

The OpenAI request is validated by its own strict models (unsupported OpenAI
fields are refused by name, with the reason), then converted into our
`GenerateRequest` so there is one mapping to Gemini (`to_gemini_body`,
`gateway_headers`), one upstream client and one normaliser (`read_answer`,
`StreamTotals`, `result_body`). Answers are `chat.completion` objects or
`chat.completion.chunk` SSE ending in `data: [DONE]`; errors are OpenAI's
`{"error": {"message", "type", "param", "code"}}` with the contract's statuses
(`code` is the contract's error type).

Decisions (also in the README):
- `model` may carry a `models/` or `google-ai-studio/` prefix; the bare name
  must be in ALLOWED_MODELS. Missing `model` means DEFAULT_MODEL.
- `system` and `developer` messages, wherever they are, are joined (blank line
  between) into Gemini's `systemInstruction`. An assistant message with empty
  or null content (a refused answer sent back in the history) is left out. Images are only accepted as
  base64 `data:` URLs in user messages: the function never fetches a URL.
- `user` / `safety_identifier` go to `cf-aig-metadata` as `user`, and
  OpenAI `metadata` goes there too (at most 4 entries in all), so AI Gateway
  logs can be split per end user. Message `name`, image `detail`,
  `json_schema.strict`, `stream_options.include_obfuscation`,
  `prompt_cache_key` and `prompt_cache_retention` are accepted and ignored.
- Defaults that change nothing are accepted (`n: 1`, `logprobs: false`,
  `presence_penalty: 0`, `store: false`, `tools: []`, `null` anywhere);
  anything else unsupported is a 400 naming the field.
- `reasoning_effort` → `thinkingBudget` as Google's own OpenAI layer maps it
  (none 0, minimal 512, low 1024, medium 8192, high 24576).
- Extension: `cache` (our `{"ttl_seconds", "skip"}`) for AI Gateway caching,
  e.g. `extra_body={"cache": {"ttl_seconds": 3600}}` in the OpenAI SDK.
- finish_reason: stop→stop, length→length, content_filter/recitation/blocked
  →content_filter (a blocked prompt also sets `message.refusal`), error/other
  →stop. usage: completion_tokens counts thinking tokens too (as OpenAI counts
  reasoning), split out in completion_tokens_details.reasoning_tokens.
"""

from __future__ import annotations

import binascii
import json
import math
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError, InvalidRequest, Problem
from .exchange import Exchange, json_response
from .generate import complete_upstream, guardrail_answer, open_upstream_stream, read_body, result_body
from .models import IMAGE_TYPES, CacheOptions, GenerateRequest
from .normalize import StreamTotals
from .payload import check_content_type, parse_json, validate
from .runtime import Runtime, get_runtime
from .settings import Settings
from .streaming import records_with_deltas, stream_response

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "chat_completions",
    "completion_body",
    "finish_reason_of",
    "openai_error_body",
    "resolve_model",
    "to_generate_request",
    "usage_body",
]

_INT32_MAX = 2**31 - 1
_MODEL_PREFIXES = ("models/", "google-ai-studio/")
_THINKING_BUDGET = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)((?:;[^;,]*)*);base64,", re.IGNORECASE)

# OpenAI request fields this function cannot honour, and why. `null` (and an
# empty list/object) counts as absent; any other value is refused by name.
_UNSUPPORTED = {
    "tools": "tool calling is not supported by this function",
    "tool_choice": "tool calling is not supported by this function",
    "parallel_tool_calls": "tool calling is not supported by this function",
    "functions": "function calling is not supported by this function",
    "function_call": "function calling is not supported by this function",
    "top_logprobs": "log probabilities are not available",
    "logit_bias": "logit_bias is not supported",
    "audio": "audio output is not supported; only text",
    "prediction": "predicted outputs are not supported",
    "web_search_options": "web search is not supported",
    "service_tier": "service tiers do not apply to this function",
    "verbosity": "verbosity is not supported",
    "moderation": "moderation is not run here; use AI Gateway guardrails",
}
_UNSUPPORTED_IN_MESSAGE = {
    "tool_calls": "tool calling is not supported by this function",
    "function_call": "function calling is not supported by this function",
    "audio": "audio is not supported; only text and images",
    "tool_call_id": "tool calling is not supported by this function",
}
_IGNORED_IN_MESSAGE = ("refusal", "annotations")  # echoes of our own answers; dropped


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _field_error(field: str, problem: str) -> PydanticCustomError:
    """A model-level error that still names the field it is about (see payload.problems_from)."""
    return PydanticCustomError("field_rule", "{problem}", {"field": field, "problem": problem})


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


def _refuse_unsupported(data: Any, table: dict[str, str]) -> Any:
    """Drop unsupported fields that are absent in effect; refuse the others by name."""
    if not isinstance(data, dict):
        return data
    for name, why in table.items():
        if name in data and not _is_empty(data[name]):
            raise _field_error(name, why)
    return {k: v for k, v in data.items() if k not in table}


class ImageUrl(_Strict):
    """`{"url": "data:image/png;base64,...", "detail": ...}`: only inline data, never a fetch."""

    url: Annotated[str, Field(min_length=1)]
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _data_url(cls, value: str) -> str:
        match = _DATA_URL.match(value)
        if match is None:
            if value.lower().startswith(("http://", "https://")):
                raise PydanticCustomError(
                    "remote_url", "only base64 data: URLs are accepted; this function does not fetch remote images"
                )
            raise PydanticCustomError("data_url", "must be a data: URL like data:image/png;base64,<data>")
        if match.group(1).lower() not in IMAGE_TYPES:
            raise PydanticCustomError("image_type", f"image type must be one of {', '.join(IMAGE_TYPES)}")
        try:
            binascii.a2b_base64(value[match.end() :], strict_mode=True)
        except (binascii.Error, ValueError):
            raise PydanticCustomError("base64", "the data: URL must carry valid base64") from None
        return value

    def inline(self) -> tuple[str, str]:
        """(mime type, base64 data)."""
        match = _DATA_URL.match(self.url)
        assert match is not None  # checked by the validator
        return match.group(1).lower(), self.url[match.end() :]


class ChatPart(_Strict):
    """A content part: `{"type": "text", "text"}` or `{"type": "image_url", "image_url": {...}}`."""

    type: Literal["text", "image_url"]
    text: Annotated[str | None, Field(max_length=4_000_000)] = None
    image_url: ImageUrl | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") in ("input_audio", "file", "refusal"):
            raise _field_error("type", f"{data['type']} parts are not supported; send text or image_url parts")
        return data

    @model_validator(mode="after")
    def _fields_match_type(self) -> ChatPart:
        if self.type == "text":
            if self.text is None:
                raise _field_error("text", "required for a text part")
            if self.image_url is not None:
                raise _field_error("image_url", "only allowed on an image_url part")
        else:
            if self.image_url is None:
                raise _field_error("image_url", 'required for an image_url part: {"url": "data:image/...;base64,..."}')
            if self.text is not None:
                raise _field_error("text", "not allowed on an image_url part")
        return self


class ChatMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: Annotated[list[ChatPart] | None, Field(min_length=1)] = None
    name: Annotated[str | None, Field(max_length=256)] = None  # accepted, not sent: Gemini has no speaker names

    @model_validator(mode="before")
    @classmethod
    def _refuse_tools(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("role") in ("tool", "function"):
                raise _field_error("role", f"{data['role']} messages are not supported (no tool calling)")
            data = _refuse_unsupported(data, _UNSUPPORTED_IN_MESSAGE)
            data = {k: v for k, v in data.items() if k not in _IGNORED_IN_MESSAGE}
            if data.get("role") == "assistant" and data.get("content") == "":
                data["content"] = None  # an empty answer (a refusal) sent back in the history: left out
        return data

    # The input schema says what callers may send (a string is one text part), so the OpenAPI document does too.
    @field_validator(
        "content",
        mode="before",
        json_schema_input_type=Annotated[str, Field(min_length=1)]
        | Annotated[list[ChatPart], Field(min_length=1)]
        | None,
    )
    @classmethod
    def _string_is_one_text_part(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value:
                raise PydanticCustomError("empty", "must not be empty")
            return [{"type": "text", "text": value}]
        return value

    @model_validator(mode="after")
    def _content_fits_role(self) -> ChatMessage:
        if self.content is None:
            if self.role == "assistant":
                return self  # left out of the conversation: Gemini takes no empty turns
            raise _field_error("content", "required")
        if self.role != "user":
            for i, part in enumerate(self.content):
                if part.type != "text":
                    raise _field_error(f"content[{i}]", f"{self.role} messages take text parts only")
        return self

    def text(self) -> str:
        return "".join(p.text or "" for p in self.content or ())


class JsonSchemaFormat(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: str | None = None
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema")] = None
    strict: bool | None = None  # accepted; Gemini enforces the schema it is given


class ChatResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_iff_json_schema(self) -> ChatResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise _field_error("json_schema", 'required when type is "json_schema"')
        if self.type != "json_schema" and self.json_schema is not None:
            raise _field_error("json_schema", 'only allowed when type is "json_schema"')
        return self


class StreamOptions(_Strict):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None  # accepted, ignored: chunks are not padded


class ChatCompletionRequest(_Strict):
    """The body of `POST /v1/chat/completions` (the subset of OpenAI's that maps onto Gemini)."""

    model: Annotated[str | None, Field(min_length=1, max_length=160)] = None
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=1000)]
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None
    max_tokens: Annotated[int | None, Field(ge=1, le=_INT32_MAX)] = None
    max_completion_tokens: Annotated[int | None, Field(ge=1, le=_INT32_MAX)] = None
    stop: Annotated[list[Annotated[str, Field(min_length=1)]] | None, Field(max_length=5)] = None
    seed: Annotated[int | None, Field(ge=-(2**31), le=_INT32_MAX)] = None
    n: int | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    response_format: ChatResponseFormat | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    logprobs: bool | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    store: bool | None = None
    modalities: list[str] | None = None
    user: Annotated[str | None, Field(max_length=256)] = None
    safety_identifier: Annotated[str | None, Field(max_length=256)] = None
    prompt_cache_key: str | None = None  # accepted, ignored: caching is AI Gateway's (see `cache`)
    prompt_cache_retention: str | None = None  # accepted, ignored
    metadata: Annotated[dict[str, str] | None, Field(max_length=4)] = None
    cache: CacheOptions | None = None  # extension: AI Gateway caching, as on `POST /`

    @model_validator(mode="before")
    @classmethod
    def _refuse_unsupported_fields(cls, data: Any) -> Any:
        return _refuse_unsupported(data, _UNSUPPORTED)

    @field_validator(
        "stop",
        mode="before",
        json_schema_input_type=Annotated[str, Field(min_length=1)]
        | Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=5)]
        | None,
    )
    @classmethod
    def _one_stop_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("temperature", "top_p")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise PydanticCustomError("finite", "must be a finite number")
        return value

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        if value not in (None, 1):
            raise PydanticCustomError("one_choice", "only 1 is supported: one choice per request")
        return value

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: bool | None) -> bool | None:
        if value:
            raise PydanticCustomError("logprobs", "log probabilities are not available")
        return value

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _no_penalty(cls, value: float | None) -> float | None:
        if value:
            raise PydanticCustomError("penalty", "not supported: only 0 (no penalty)")
        return value

    @field_validator("store")
    @classmethod
    def _no_store(cls, value: bool | None) -> bool | None:
        if value:
            raise PydanticCustomError("store", "this function does not store completions")
        return value

    @field_validator("modalities")
    @classmethod
    def _text_only(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and value != ["text"]:
            raise PydanticCustomError("modalities", 'only ["text"] is supported')
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_entries(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, item in (value or {}).items():
            if key in ("caller", "user"):
                raise _field_error(key, "reserved: the function sets it")
            if not 1 <= len(key) <= 64:
                raise _field_error(key[:64], "keys must be 1 to 64 characters")
            if len(item) > 256:
                raise _field_error(key, "must be at most 256 characters")
        return value

    @model_validator(mode="after")
    def _conversation_shape(self) -> ChatCompletionRequest:
        if self.max_tokens is not None and self.max_completion_tokens is not None:
            raise _field_error("max_tokens", "give max_tokens or max_completion_tokens, not both")
        turns = [i for i, m in enumerate(self.messages) if m.role in ("user", "assistant") and m.content]
        if not turns:
            raise _field_error("messages", "needs at least one user message besides system/developer ones")
        last = turns[-1]
        if self.messages[last].role != "user":
            raise _field_error(f"messages[{last}].role", 'the last non-system message must have role "user"')
        entries = len(self.metadata or {}) + (self.user is not None or self.safety_identifier is not None)
        if entries > 4:
            raise _field_error("metadata", "at most 4 entries, user/safety_identifier included")
        return self

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


def resolve_model(requested: str | None, settings: Settings) -> str:
    """The bare model name, checked against ALLOWED_MODELS."""
    if requested is None:
        return settings.default_model
    model = requested
    for prefix in _MODEL_PREFIXES:
        if model.startswith(prefix):
            model = model[len(prefix) :]
            break
    if model not in settings.allowed_models:
        raise InvalidRequest.for_field("model", f"must be one of: {', '.join(settings.allowed_models)}")
    return model


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


# --- answers -----------------------------------------------------------------
# The models document the answers (OpenAPI); the bodies are built as plain
# dicts on the hot path, and tests validate them against these models.

FinishReason = Literal["stop", "length", "content_filter"]


class PromptTokensDetails(BaseModel):
    cached_tokens: int


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int = Field(description="answer tokens plus thinking (reasoning) tokens")
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: CompletionTokensDetails


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str
    refusal: str | None = Field(description="set when the prompt was blocked: the block reason")


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: None
    finish_reason: FinishReason


class ChatCompletion(BaseModel):
    """The body of a `200` from `POST /v1/chat/completions` without `stream`."""

    model_config = ConfigDict(extra="forbid")

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: ChatUsage


class ChunkDelta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["assistant"] | None = None
    content: str | None = None
    refusal: str | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: ChunkDelta
    logprobs: None
    finish_reason: FinishReason | None


class ChatCompletionChunk(BaseModel):
    """One `data:` record of a streamed answer (the stream ends with `data: [DONE]`)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice] = Field(description="empty in the final usage chunk")
    usage: ChatUsage | None = Field(
        default=None, description="with stream_options.include_usage: null, then set in the last chunk"
    )


_FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter"}
_FILTERED = ("recitation", "blocked")


def finish_reason_of(ours: str) -> str:
    """Our finish reason (contract section 4) → OpenAI's."""
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


def _refusal(result: dict[str, Any]) -> str | None:
    reason = result.get("blocked_reason")
    return f"the prompt was blocked ({reason})" if reason else None


def completion_body(result: dict[str, Any], created: int) -> dict[str, Any]:
    """A `chat.completion` from the contract's section 4 object."""
    return {
        "id": f"chatcmpl-{result['request_id']}",
        "object": "chat.completion",
        "created": created,
        "model": result["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result["text"], "refusal": _refusal(result)},
                "logprobs": None,
                "finish_reason": finish_reason_of(result["finish_reason"]),
            }
        ],
        "usage": usage_body(result["usage"]),
    }


class _Chunks:
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
        return _data(chunk)

    def usage(self, usage: dict[str, int]) -> bytes:
        return _data({**self.head, "choices": [], "usage": usage_body(usage)})


def _data(value: Any) -> bytes:
    return b"data: " + json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


_DONE = b"data: [DONE]\n\n"


# --- errors ------------------------------------------------------------------

_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def openai_error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    """OpenAI's error JSON; `code` is the contract's type, `param` the first field at fault."""
    kind = _ERROR_TYPES.get(error.status, "server_error" if error.status >= 500 else "invalid_request_error")
    return {
        "error": {
            "message": error.message,
            "type": kind,
            "param": error.details[0].field if error.details else None,
            "code": error.type,
        }
    }


# --- the route ---------------------------------------------------------------


async def chat_completions(request: Request, exchange: Exchange) -> Response:
    runtime = get_runtime()
    headers = request.headers
    body = await read_body(request, runtime)
    caller = await runtime.admit(headers, body)
    exchange.fields["caller"] = caller.identity
    check_content_type(headers.get("content-type"))
    chat = validate(ChatCompletionRequest, parse_json(body))
    model = resolve_model(chat.model, runtime.settings)
    exchange.fields["model"] = model
    req = to_generate_request(chat)
    if runtime.settings.log_payloads:
        exchange.fields["prompt"] = _last_user_text(chat)[:2000]
    created = int(time.time())
    if req.stream:
        meta, stream = await open_upstream_stream(request, runtime, model, req, caller.identity, exchange)
        return _chunk_stream(chat, req, model, created, meta, stream, exchange, runtime)
    answer, meta = await complete_upstream(request, runtime, model, req, caller.identity, exchange)
    result = result_body(req, model, answer, meta, exchange)
    if runtime.settings.log_payloads:
        exchange.fields["answer"] = result["text"][:2000]
    return json_response(completion_body(result, created))


def _chunk_stream(
    chat: ChatCompletionRequest,
    req: GenerateRequest,
    model: str,
    created: int,
    meta: Any,
    stream: Any,
    exchange: Exchange,
    runtime: Runtime,
) -> Response:
    """Role chunk, a chunk per text piece as it arrives, the finish chunk, usage, `[DONE]`."""
    encode = _Chunks(exchange.request_id, model, created, chat.include_usage)

    async def chunks() -> AsyncIterator[bytes]:
        totals = StreamTotals()
        yield encode.delta({"role": "assistant", "content": ""})
        if stream is None:  # a gateway guardrail refused it before any record
            totals.add(guardrail_answer(meta))
        else:
            async for _, delta in records_with_deltas(stream, totals):
                if delta:
                    yield encode.delta({"content": delta})
        result = result_body(req, model, totals.result(), meta, exchange)
        if runtime.settings.log_payloads:
            exchange.fields["answer"] = result["text"][:2000]
        refusal = _refusal(result)
        if refusal is not None:
            yield encode.delta({"refusal": refusal})
        yield encode.delta({}, finish_reason_of(result["finish_reason"]))
        if chat.include_usage:
            yield encode.usage(result["usage"])
        yield _DONE

    def error_then_done(err: ApiError) -> bytes:
        return _data(openai_error_body(err, exchange.request_id)) + _DONE

    return stream_response(chunks(), exchange, stream, error_then_done)


def _last_user_text(chat: ChatCompletionRequest) -> str:
    for message in reversed(chat.messages):
        if message.role == "user":
            return message.text()
    return ""
