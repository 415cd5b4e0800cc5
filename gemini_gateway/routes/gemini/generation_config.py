"""`generationConfig`: the documented fields with the ranges Gemini documents; Vertex AI's refused by name."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ...model_base import INT32_MAX, INT32_MIN, check_schema_size, field_error, finite
from .output_config import ImageConfig, SpeechConfig
from .wire import MIME, Wire

__all__ = ["GenerationConfig", "Modality", "ThinkingConfig"]


class ThinkingConfig(Wire):
    include_thoughts: bool | None = None
    thinking_budget: Annotated[int | None, Field(ge=-1, le=INT32_MAX)] = None
    thinking_level: Literal["THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"] | None = None


Modality = Literal["MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO"]


class GenerationConfig(Wire):
    """The documented `generationConfig` fields, with the ranges Gemini documents."""

    unsupported = ("routingConfig", "modelSelectionConfig", "audioTimestamp")

    candidate_count: Annotated[int | None, Field(ge=1)] = None
    stop_sequences: Annotated[list[Annotated[str, Field(min_length=1)]] | None, Field(max_length=5)] = None
    max_output_tokens: Annotated[int | None, Field(ge=1, le=INT32_MAX)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None
    top_k: Annotated[int | float | None, Field(ge=1, le=INT32_MAX)] = None  # the Python SDK sends 40.0
    seed: Annotated[int | None, Field(ge=INT32_MIN, le=INT32_MAX)] = None
    response_mime_type: Annotated[str | None, Field(pattern=MIME)] = None
    response_schema: dict[str, Any] | None = None
    response_json_schema: dict[str, Any] | bool | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_logprobs: bool | None = None
    logprobs: Annotated[int | None, Field(ge=0, le=20)] = None
    enable_enhanced_civic_answers: bool | None = None
    response_modalities: Annotated[list[Modality] | None, Field(max_length=4)] = None
    speech_config: SpeechConfig | None = None
    thinking_config: ThinkingConfig | None = None
    image_config: ImageConfig | None = None
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

    @field_validator("candidate_count")
    @classmethod
    def _one_candidate(cls, value: int | None) -> int | None:
        if value is not None and value > 1:
            raise PydanticCustomError("one_candidate", "must be 1: more candidates multiply the bill")
        return value

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
