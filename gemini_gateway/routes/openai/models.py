"""The OpenAI chat request, as far as it maps onto Gemini: strict models, unsupported fields refused by name."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ...chat.models import MEDIA_TYPE, CacheOptions
from ...freeform.controls import Ask
from ...model_base import (
    INT32_MAX,
    MAX_CONTENTS,
    Strict,
    check_base64,
    check_parts,
    check_schema_size,
    field_error,
    finite,
    text_or_parts,
)
from ...token_estimate import InputEstimate
from ...tool_ids import MAX_ID_CHARS
from .tools import ChatTool, ChatToolCall, ChatToolChoice

__all__ = [
    "ChatCompletionRequest",
    "ChatMessage",
    "ChatPart",
    "ChatResponseFormat",
    "ImageUrl",
    "JsonSchemaFormat",
    "StreamOptions",
]

_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)((?:;[^;,]*)*);base64,", re.IGNORECASE)
_MEDIA_TYPE = re.compile(MEDIA_TYPE)

# OpenAI request fields this function cannot honour, and why. `null` (and an
# empty list/object) counts as absent; any other value is refused by name.
_UNSUPPORTED = {
    "functions": "the legacy function-calling fields are not supported; use tools",
    "function_call": "the legacy function-calling fields are not supported; use tool_choice",
    "top_logprobs": "log probabilities are not available",
    "logit_bias": "logit_bias is not supported",
    "audio": "audio output is not supported; only text",
    "prediction": "predicted outputs are not supported",
    "service_tier": "service tiers do not apply to this function",
    "verbosity": "verbosity is not supported",
    "moderation": "moderation is not run here; use AI Gateway guardrails",
}
_UNSUPPORTED_IN_MESSAGE = {
    "function_call": "the legacy function-calling fields are not supported; use tool_calls",
    "audio": "audio is not supported; only text and images",
}
_IGNORED_IN_MESSAGE = ("refusal", "annotations")  # echoes of our own answers; dropped
_SYSTEM = ("system", "developer")  # the roles that become Gemini's systemInstruction


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


def _refuse_unsupported(data: Any, table: dict[str, str]) -> Any:
    """Drop unsupported fields that are absent in effect; refuse the others by name."""
    if not isinstance(data, dict):
        return data
    for name, why in table.items():
        if name in data and not _is_empty(data[name]):
            raise field_error(name, why)
    return {k: v for k, v in data.items() if k not in table}


class ImageUrl(Strict):
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
        if not _MEDIA_TYPE.match(match.group(1).lower()):  # which types: ALLOWED_MEDIA_TYPES (freeform/controls.py)
            raise PydanticCustomError("media_type", "the data: URL must name a media type such as image/png")
        try:
            check_base64(value[match.end() :])
        except PydanticCustomError:
            raise PydanticCustomError("base64", "the data: URL must carry valid base64") from None
        return value

    def inline(self) -> tuple[str, str]:
        """(mime type, base64 data)."""
        match = _DATA_URL.match(self.url)
        assert match is not None  # checked by the validator
        return match.group(1).lower(), self.url[match.end() :]


class ChatPart(Strict):
    """A content part: `{"type": "text", "text"}` or `{"type": "image_url", "image_url": {...}}`."""

    type: Literal["text", "image_url"]
    text: Annotated[str | None, Field(max_length=4_000_000)] = None
    image_url: ImageUrl | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") in ("input_audio", "file", "refusal"):
            raise field_error("type", f"{data['type']} parts are not supported; send text or image_url parts")
        return data

    @model_validator(mode="after")
    def _fields_match_type(self) -> ChatPart:
        if self.type == "text":
            if self.text is None:
                raise field_error("text", "required for a text part")
            if self.image_url is not None:
                raise field_error("image_url", "only allowed on an image_url part")
        else:
            if self.image_url is None:
                raise field_error("image_url", 'required for an image_url part: {"url": "data:image/...;base64,..."}')
            if self.text is not None:
                raise field_error("text", "not allowed on an image_url part")
        return self


class ChatMessage(Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Annotated[list[ChatPart] | None, Field(min_length=1)] = None
    name: Annotated[str | None, Field(max_length=256)] = None  # accepted, not sent: Gemini has no speaker names
    tool_calls: Annotated[list[ChatToolCall] | None, Field(max_length=128)] = None
    tool_call_id: Annotated[str | None, Field(min_length=1, max_length=MAX_ID_CHARS)] = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_tools(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("role") == "function":
                raise field_error("role", "function messages are the legacy form: send tool messages")
            data = _refuse_unsupported(data, _UNSUPPORTED_IN_MESSAGE)
            data = {k: v for k, v in data.items() if k not in _IGNORED_IN_MESSAGE}
            if data.get("role") == "assistant" and data.get("content") == "":
                data["content"] = None  # an empty answer (a refusal) sent back in the history: left out
        return data

    _content = text_or_parts(ChatPart, None)

    @model_validator(mode="after")
    def _content_fits_role(self) -> ChatMessage:
        if (self.role == "tool") != (self.tool_call_id is not None):
            raise field_error("tool_call_id", "required for a tool message, and only there")
        if self.tool_calls and self.role != "assistant":
            raise field_error("tool_calls", "only for assistant messages")
        if self.content is None:
            if self.role == "assistant":
                return self  # left out of the conversation unless it carries tool calls
            raise field_error("content", "required")
        if self.role != "user":
            for i, part in enumerate(self.content):
                if part.type != "text":
                    raise field_error(f"content[{i}]", f"{self.role} messages take text parts only")
        return self

    def text(self) -> str:
        return "".join(p.text or "" for p in self.content or ())


class JsonSchemaFormat(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: str | None = None
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema")] = None
    strict: bool | None = None

    @field_validator("schema_")
    @classmethod
    def _schema_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_schema_size(value)  # accepted; Gemini enforces the schema it is given


class ChatResponseFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_iff_json_schema(self) -> ChatResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise field_error("json_schema", 'required when type is "json_schema"')
        if self.type != "json_schema" and self.json_schema is not None:
            raise field_error("json_schema", 'only allowed when type is "json_schema"')
        return self


class StreamOptions(Strict):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None  # accepted, ignored: chunks are not padded


class ChatCompletionRequest(Strict):
    """The body of `POST /v1/chat/completions` (the subset of OpenAI's that maps onto Gemini)."""

    model: Annotated[str | None, Field(min_length=1, max_length=160)] = None
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_CONTENTS)]
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None
    max_tokens: Annotated[int | None, Field(ge=1, le=INT32_MAX)] = None
    max_completion_tokens: Annotated[int | None, Field(ge=1, le=INT32_MAX)] = None
    stop: Annotated[list[Annotated[str, Field(min_length=1)]] | None, Field(max_length=5)] = None
    seed: Annotated[int | None, Field(ge=-(2**31), le=INT32_MAX)] = None
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
    tools: Annotated[list[ChatTool] | None, Field(max_length=128)] = None
    tool_choice: ChatToolChoice | None = None
    parallel_tool_calls: bool | None = None  # accepted; Gemini decides whether it calls in parallel
    web_search_options: dict[str, JsonValue] | None = Field(
        default=None, description="present (even {}): Gemini's google_search built-in tool, if ALLOWED_TOOLS has it"
    )

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
        return finite(value)

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
            if key.strip().casefold() in ("caller", "user"):  # `Caller`, `user `: AI Gateway would see two
                raise field_error(key, "reserved: the function sets it")
            if not 1 <= len(key) <= 64:
                raise field_error(key[:64], "keys must be 1 to 64 characters")
            if len(item) > 256:
                raise field_error(key, "must be at most 256 characters")
        return value

    @model_validator(mode="after")
    def _conversation_shape(self) -> ChatCompletionRequest:
        if self.max_tokens is not None and self.max_completion_tokens is not None:
            raise field_error("max_tokens", "give max_tokens or max_completion_tokens, not both")
        check_parts("messages", [m.content or () for m in self.messages])
        turns = [
            i
            for i, m in enumerate(self.messages)
            if m.role == "tool" or (m.role in ("user", "assistant") and (m.content or m.tool_calls))
        ]
        if not turns:
            raise field_error("messages", "needs at least one user message besides system/developer ones")
        last = turns[-1]
        if self.messages[last].role not in ("user", "tool"):
            raise field_error(f"messages[{last}].role", 'the last non-system message must have role "user" or "tool"')
        entries = len(self.metadata or {}) + (self.user is not None or self.safety_identifier is not None)
        if entries > 4:
            raise field_error("metadata", "at most 4 entries, user/safety_identifier included")
        return self

    def builtin_tools(self) -> list[tuple[str, str]]:
        return [("web_search_options", "google_search")] if self.web_search_options is not None else []

    def output_tokens(self) -> tuple[str, int | None]:
        if self.max_completion_tokens is not None:
            return "max_completion_tokens", self.max_completion_tokens
        return "max_tokens", self.max_tokens

    def input_estimate(self) -> int:
        """Input tokens, estimated (`token_estimate`): texts, images, calls, tools, the schema."""
        count = InputEstimate()
        for message in self.messages:
            for part in message.content or ():
                count.text(part.text) if part.type == "text" else count.media()
            for call in message.tool_calls or ():
                count.text(call.function.name)
                count.text(call.function.arguments)
        if self.tools:
            count.json(self.tools)
        if self.response_format is not None and self.response_format.json_schema is not None:
            count.json(self.response_format.json_schema.schema_)
        return count.tokens()

    def freeform(self) -> Ask:
        """Its system/developer messages and inline media, for the operator's controls (freeform/controls.py)."""
        system = next((f"messages[{i}].role" for i, m in enumerate(self.messages) if m.role in _SYSTEM), None)
        media = [
            (f"messages[{i}].content[{j}].image_url.url", part.image_url.inline()[0])
            for i, message in enumerate(self.messages)
            for j, part in enumerate(message.content or ())
            if part.image_url is not None
        ]
        return Ask(media_types=media, system_instruction=system)

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)
