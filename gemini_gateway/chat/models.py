"""Request and response models of `POST /` (docs/API.md, "Request" and "Response").

These models are the single source of truth for validation and, later, for
the OpenAPI document. Strict mode: JSON types are not coerced ("1" is not a
number), unknown fields are refused by name.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..answer import Usage
from ..freeform.controls import Ask
from ..jobs.models import Callback
from ..model_base import (
    INT32_MAX,
    MAX_CONTENTS,
    Doc,
    Strict,
    check_base64,
    check_parts,
    check_schema_size,
    field_error,
    finite,
    text_or_parts,
)
from ..token_estimate import InputEstimate
from .tools import Tool, ToolCall, ToolChoice, builtin_fields, check_tools

__all__ = [
    "CacheOptions",
    "ContentPart",
    "GatewayInfo",
    "GenerateRequest",
    "GenerateResponse",
    "Message",
    "ResponseFormat",
    "StreamDelta",
    "Timing",
    "ToolCallOut",
    "Usage",
]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")  # ALLOWED_MEDIA_TYPES' default
# A media type in lower case; which ones a caller may send is ALLOWED_MEDIA_TYPES' (freeform/controls.py).
MEDIA_TYPE = r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$"
_MEDIA_TYPE = re.compile(MEDIA_TYPE)
_INT64_MAX = 2**63 - 1
_METADATA_STR_MAX = 256
_METADATA_KEY_MAX = 64


class ContentPart(Strict):
    """A text piece or an inline base64 image (or other media ALLOWED_MEDIA_TYPES lets in) inside a message."""

    type: Literal["text", "image"]
    text: Annotated[str | None, Field(max_length=4_000_000)] = None
    mime_type: Annotated[
        str | None,
        Field(
            max_length=255,
            description="one of ALLOWED_MEDIA_TYPES (by default the image types: " + ", ".join(IMAGE_TYPES) + ")",
            json_schema_extra={"pattern": MEDIA_TYPE},
        ),
    ] = None
    data: str | None = None

    @field_validator("mime_type")
    @classmethod
    def _media_type(cls, value: str | None) -> str | None:
        if value is not None and not _MEDIA_TYPE.match(value):
            raise PydanticCustomError("media_type", "must be a media type in lower case, such as image/png")
        return value

    @model_validator(mode="after")
    def _fields_match_type(self) -> ContentPart:
        if self.type == "text":
            if self.text is None:
                raise field_error("text", "required for a text part")
            if self.mime_type is not None or self.data is not None:
                raise field_error("data", "only image parts carry mime_type and data")
        else:
            if self.mime_type is None:
                raise field_error("mime_type", "required for an image part, e.g. image/png")
            if not self.data:
                raise field_error("data", "required for an image part (base64)")
            if self.text is not None:
                raise field_error("text", "not allowed on an image part")
            try:
                check_base64(self.data)
            except PydanticCustomError:
                raise field_error("data", "must be valid base64") from None
        return self


class Message(Strict):
    """A turn: `user` and `assistant` carry text and image parts (or a string); an assistant turn may
    carry the `tool_calls` of an answer; a `tool` turn carries one call's result (any JSON value)."""

    role: Literal["user", "assistant", "tool"]
    content: Annotated[list[ContentPart], Field(min_length=1)] | None = None
    tool_calls: Annotated[list[ToolCall] | None, Field(min_length=1, max_length=128)] = None
    tool_call_id: Annotated[str | None, Field(min_length=1)] = None
    result: Annotated[JsonValue, Field(exclude=True, description="set from a tool message's content")] = None

    @model_validator(mode="before")
    @classmethod
    def _tool_content_is_a_result(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if "result" in data:
                raise field_error("result", "unknown field")
            if data.get("role") == "tool":
                data = {k: v for k, v in data.items() if k != "content"} | {"result": data.get("content")}
            elif data.get("role") == "assistant" and data.get("content") == "" and data.get("tool_calls"):
                data = {k: v for k, v in data.items() if k != "content"}  # calls without words
        return data

    _content = text_or_parts(ContentPart, JsonValue)

    @model_validator(mode="after")
    def _fits_role(self) -> Message:
        if self.role == "tool":
            if self.tool_call_id is None:
                raise field_error("tool_call_id", "required for a tool message: the id of the call it answers")
            if self.result is None:
                raise field_error("content", "required: the call's result (a JSON value or a string)")
            return self
        if self.tool_call_id is not None:
            raise field_error("tool_call_id", "only for tool messages")
        if self.tool_calls is not None and self.role != "assistant":
            raise field_error("tool_calls", "only for assistant messages")
        if self.content is None and self.tool_calls is None:
            raise field_error("content", "required")
        return self


class ResponseFormat(Strict):
    type: Literal["text", "json"]
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema")] = None

    @field_validator("schema_")
    @classmethod
    def _schema_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_schema_size(value)

    @model_validator(mode="after")
    def _schema_only_for_json(self) -> ResponseFormat:
        if self.schema_ is not None and self.type != "json":
            raise field_error("schema", 'only allowed with type "json"')
        return self


class CacheOptions(Strict):
    ttl_seconds: Annotated[int | None, Field(ge=60, le=2_592_000)] = None
    skip: bool = False


class GenerateRequest(Strict):
    """The body of `POST /`."""

    prompt: Annotated[str | None, Field(min_length=1)] = None
    messages: Annotated[list[Message] | None, Field(min_length=1, max_length=MAX_CONTENTS)] = None
    system: Annotated[str | None, Field(min_length=1)] = None
    model: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None
    top_k: Annotated[int | None, Field(ge=1, le=INT32_MAX)] = None
    max_output_tokens: Annotated[int | None, Field(ge=1, le=INT32_MAX)] = None
    stop: Annotated[list[Annotated[str, Field(min_length=1)]] | None, Field(max_length=5)] = None
    seed: Annotated[int | None, Field(ge=-(2**31), le=INT32_MAX)] = None
    thinking_budget: Annotated[int | None, Field(ge=-1, le=INT32_MAX)] = None
    thinking_level: Literal["minimal", "low", "medium", "high"] | None = None
    tools: Annotated[list[Tool] | None, Field(max_length=128 + 3)] = None
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    stream: bool = False
    cache: CacheOptions | None = None
    metadata: Annotated[
        dict[str, Any] | None,
        Field(max_length=4, json_schema_extra={"additionalProperties": {"type": ["string", "number", "boolean"]}}),
    ] = None
    callback: Callback | None = None  # with Prefer: respond-async (docs/API.md §12)

    @field_validator("temperature", "top_p")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        return finite(value)

    @field_validator("metadata")
    @classmethod
    def _flat_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, item in (value or {}).items():
            if key.strip().casefold() == "caller":  # `Caller`, `caller `: AI Gateway would see two callers
                raise field_error(key, "reserved: the function sets it")
            if not 1 <= len(key) <= _METADATA_KEY_MAX:
                raise field_error(key[:_METADATA_KEY_MAX], f"keys must be 1 to {_METADATA_KEY_MAX} characters")
            if isinstance(item, str):
                if len(item) > _METADATA_STR_MAX:
                    raise field_error(key, f"must be at most {_METADATA_STR_MAX} characters")
            elif isinstance(item, int):  # bool is an int
                if abs(item) > _INT64_MAX:
                    raise field_error(key, "must fit in 64 bits")
            elif not isinstance(item, float) or not math.isfinite(item):
                raise field_error(key, "must be a string, a number or true/false")
        return value

    @model_validator(mode="after")
    def _prompt_xor_messages(self) -> GenerateRequest:
        if (self.prompt is None) == (self.messages is None):
            raise field_error("prompt", "give exactly one of prompt or messages")
        if self.messages is not None:
            check_parts("messages", [m.content or () for m in self.messages])
            if self.messages[-1].role not in ("user", "tool"):
                raise field_error("messages", 'the last message must have role "user" or "tool"')
        if self.thinking_level is not None and self.thinking_budget is not None:
            raise field_error(
                "thinking_level", "give thinking_level (Gemini 3) or thinking_budget (Gemini 2.5), not both"
            )
        check_tools(self.tools, self.tool_choice)
        return self

    def builtin_tools(self) -> list[tuple[str, str]]:
        return builtin_fields(self.tools)

    def output_tokens(self) -> tuple[str, int | None]:
        return "max_output_tokens", self.max_output_tokens

    def input_estimate(self) -> int:
        """Input tokens, estimated (`token_estimate`): texts, images, calls and results, tools, the schema."""
        count = InputEstimate()
        count.text(self.prompt)
        count.text(self.system)
        for message in self.messages or ():
            for part in message.content or ():
                count.text(part.text) if part.type == "text" else count.media()
            for call in message.tool_calls or ():
                count.text(call.name)
                count.json(call.arguments)
            if message.role == "tool":
                count.json(message.result)
        if self.tools:
            count.json(self.tools)
        if self.response_format is not None:
            count.json(self.response_format.schema_)
        return count.tokens()

    def freeform(self) -> Ask:
        """Its system instruction and inline media, for the operator's controls (freeform/controls.py)."""
        media = [
            (f"messages[{i}].content[{j}].mime_type", part.mime_type)
            for i, message in enumerate(self.messages or ())
            for j, part in enumerate(message.content or ())
            if part.mime_type is not None
        ]
        return Ask(media_types=media, system_instruction="system" if self.system is not None else None)

    @property
    def wants_json(self) -> bool:
        return self.response_format is not None and self.response_format.type == "json"


class StreamDelta(Doc):
    """The data of an `event: delta` in a stream from `POST /`."""

    text: str


class GatewayInfo(Doc):
    cache_status: str | None = None
    log_id: str | None = None
    attempts: int = 1


class Timing(Doc):
    upstream: int
    total: int


class ToolCallOut(Doc):
    """A function the model wants called; echo `id` as the tool message's `tool_call_id`."""

    id: str = Field(description="opaque; carries what the next turn must send back (Gemini 3's thought signature)")
    name: str
    arguments: dict[str, Any]


class GenerateResponse(Doc):
    """The body of a `200` from `POST /`."""

    id: str | None
    request_id: str
    model: str = Field(description="the model that answered (after MODEL_ALIASES)")
    model_alias: str | None = Field(default=None, description="the name the caller used, when it was an alias")
    model_version: str | None
    text: str
    tool_calls: list[ToolCallOut] | None = None
    json_: Annotated[Any, Field(alias="json", default=None)]
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter", "recitation", "blocked", "error", "other"]
    blocked_reason: str | None
    usage: Usage
    gateway: GatewayInfo
    timing_ms: Timing
    warnings: list[str] | None = Field(
        default=None, description='sampling fields the model ignores ("temperature is ignored by gemini-3.8-flash")'
    )
