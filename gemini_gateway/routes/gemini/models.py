"""Gemini's own `generateContent` request, as far as this function serves it (camelCase proto3 JSON)."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from ...strict import (
    INT32_MAX,
    INT32_MIN,
    MAX_CONTENTS,
    check_base64,
    check_parts,
    check_schema_size,
    field_error,
    finite,
)

__all__ = ["Blob", "Content", "GeminiRequest", "GenerationConfig", "Part", "SafetySetting", "ThinkingConfig"]

_MIME = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
_UNSUPPORTED = "not supported by this function"


class _Wire(BaseModel):
    """Gemini's proto3 JSON: camelCase on the wire, snake_case names accepted too (as proto3 parsers do).

    The Python SDK itself sends `thinkingConfig` with snake_case keys.
    Documented fields this function does not serve are refused by name
    with a clearer message than "unknown field".
    """

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
    )
    unsupported: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _refuse_unsupported(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.unsupported:
            for key in data:
                if isinstance(key, str) and to_camel(key) in cls.unsupported:
                    raise field_error(to_camel(key), _UNSUPPORTED)
        return data


class Blob(_Wire):
    mime_type: Annotated[str, Field(pattern=_MIME)]
    data: Annotated[str, Field(min_length=1)]

    @field_validator("data")
    @classmethod
    def _is_base64(cls, value: str) -> str:
        return check_base64(value, url_safe=True)


class Part(_Wire):
    """A text or inline-data part; `thought`/`thoughtSignature` ride along as the SDKs echo them back."""

    unsupported = (
        "fileData",
        "functionCall",
        "functionResponse",
        "executableCode",
        "codeExecutionResult",
        "videoMetadata",
    )

    text: str | None = None
    inline_data: Blob | None = None
    thought: bool | None = None
    thought_signature: str | None = None

    @field_validator("thought_signature")
    @classmethod
    def _signature_is_base64(cls, value: str | None) -> str | None:
        return None if value is None else check_base64(value, url_safe=True)

    @model_validator(mode="after")
    def _one_kind(self) -> Part:
        if (self.text is None) == (self.inline_data is None):
            raise field_error("text", "a part needs exactly one of text or inlineData")
        return self


class Content(_Wire):
    role: Literal["user", "model"] | None = None
    parts: Annotated[list[Part], Field(min_length=1)]


class SystemInstruction(_Wire):
    """Text only, as Gemini documents it; its role is ignored upstream."""

    role: Annotated[str | None, Field(max_length=16)] = None
    parts: Annotated[list[Part], Field(min_length=1)]

    @model_validator(mode="after")
    def _text_only(self) -> SystemInstruction:
        if any(part.text is None for part in self.parts):
            raise field_error("parts", "systemInstruction takes text parts only")
        return self


class ThinkingConfig(_Wire):
    include_thoughts: bool | None = None
    thinking_budget: Annotated[int | None, Field(ge=-1, le=INT32_MAX)] = None
    thinking_level: Literal["THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"] | None = None


Modality = Literal["MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO"]


class GenerationConfig(_Wire):
    """The documented `generationConfig` fields, with the ranges Gemini documents."""

    unsupported = ("routingConfig", "modelSelectionConfig", "audioTimestamp")

    candidate_count: Annotated[int | None, Field(ge=1, le=8)] = None
    stop_sequences: Annotated[list[Annotated[str, Field(min_length=1)]] | None, Field(max_length=5)] = None
    max_output_tokens: Annotated[int | None, Field(ge=1, le=INT32_MAX)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None
    top_k: Annotated[int | float | None, Field(ge=1, le=INT32_MAX)] = None  # the Python SDK sends 40.0
    seed: Annotated[int | None, Field(ge=INT32_MIN, le=INT32_MAX)] = None
    response_mime_type: Annotated[str | None, Field(pattern=_MIME)] = None
    response_schema: dict[str, Any] | None = None
    response_json_schema: dict[str, Any] | bool | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_logprobs: bool | None = None
    logprobs: Annotated[int | None, Field(ge=0, le=20)] = None
    enable_enhanced_civic_answers: bool | None = None
    response_modalities: Annotated[list[Modality] | None, Field(max_length=4)] = None
    speech_config: dict[str, Any] | None = None
    thinking_config: ThinkingConfig | None = None
    image_config: dict[str, Any] | None = None
    media_resolution: (
        Literal[
            "MEDIA_RESOLUTION_UNSPECIFIED", "MEDIA_RESOLUTION_LOW", "MEDIA_RESOLUTION_MEDIUM", "MEDIA_RESOLUTION_HIGH"
        ]
        | None
    ) = None

    @field_validator("temperature", "top_p", "presence_penalty", "frequency_penalty")
    @classmethod
    def _finite_floats(cls, value: float | None) -> float | None:
        return finite(value)

    @field_validator("top_k")
    @classmethod
    def _whole(cls, value: float | None) -> float | None:
        if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
            raise PydanticCustomError("whole", "must be a whole number")
        return value

    @field_validator("response_schema", "response_json_schema")
    @classmethod
    def _schema_size(cls, value: Any) -> Any:
        return check_schema_size(value)

    @model_validator(mode="after")
    def _consistent(self) -> GenerationConfig:
        if self.response_schema is not None and self.response_json_schema is not None:
            raise field_error("responseJsonSchema", "give responseSchema or responseJsonSchema, not both")
        if (self.response_schema is not None or self.response_json_schema is not None) and not self.response_mime_type:
            field = "responseSchema" if self.response_schema is not None else "responseJsonSchema"
            raise field_error(field, "needs responseMimeType (application/json or text/x.enum)")
        if self.logprobs is not None and self.response_logprobs is not True:
            raise field_error("logprobs", "needs responseLogprobs: true")
        return self


Threshold = Literal[
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
]


class SafetySetting(_Wire):
    unsupported = ("method",)  # Vertex AI only

    category: Annotated[str, Field(pattern=r"^HARM_CATEGORY_[A-Z_]{1,64}$")]
    threshold: Threshold


class GeminiRequest(_Wire):
    """The body of `generateContent` / `streamGenerateContent`, as far as this function serves it."""

    unsupported = ("tools", "toolConfig", "cachedContent")

    contents: Annotated[list[Content], Field(min_length=1, max_length=MAX_CONTENTS)]
    system_instruction: SystemInstruction | None = None
    generation_config: GenerationConfig | None = None
    safety_settings: Annotated[list[SafetySetting] | None, Field(max_length=16)] = None

    @model_validator(mode="after")
    def _one_per_category(self) -> GeminiRequest:
        check_parts("contents", [c.parts for c in self.contents])
        seen: set[str] = set()
        for setting in self.safety_settings or ():
            if setting.category in seen:
                raise field_error("safetySettings", f"one setting per category ({setting.category} repeats)")
            seen.add(setting.category)
        return self

    def upstream_body(self) -> bytes:
        """The validated request, camelCase, exactly the fields the caller set."""
        body = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
