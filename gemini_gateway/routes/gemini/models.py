"""Gemini's own `generateContent` and `countTokens` requests, as far as this function serves them.

camelCase proto3 JSON (snake_case accepted); tools and the function-calling
parts live in `tools.py`, the shared base in `wire.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ...freeform.controls import Ask
from ...freeform.safety import HARM_CATEGORIES
from ...model_base import (
    MAX_CONTENTS,
    check_base64,
    check_parts,
    field_error,
)
from ...token_estimate import InputEstimate
from .generation_config import GenerationConfig, ThinkingConfig
from .tools import (
    GeminiCodeExecutionResult,
    GeminiExecutableCode,
    GeminiFunctionCall,
    GeminiFunctionResponse,
    GeminiTool,
    GeminiToolConfig,
    check_tools,
)
from .wire import MIME, Wire

__all__ = [
    "Blob",
    "Content",
    "CountTokensRequest",
    "GeminiRequest",
    "GenerationConfig",
    "Part",
    "SafetySetting",
    "ThinkingConfig",
]

_MAX_OUTPUT_FIELD = "generationConfig.maxOutputTokens"


class Blob(Wire):
    mime_type: Annotated[str, Field(pattern=MIME)]
    data: Annotated[str, Field(min_length=1)]

    @field_validator("data")
    @classmethod
    def _is_base64(cls, value: str) -> str:
        return check_base64(value, url_safe=True)


class Part(Wire):
    """Exactly one kind of part; `thought`/`thoughtSignature` ride along, unchanged, as the SDKs echo them."""

    unsupported = ("fileData", "videoMetadata", "toolCall", "toolResponse")

    text: str | None = None
    inline_data: Blob | None = None
    function_call: GeminiFunctionCall | None = None
    function_response: GeminiFunctionResponse | None = None
    executable_code: GeminiExecutableCode | None = None
    code_execution_result: GeminiCodeExecutionResult | None = None
    thought: bool | None = None
    thought_signature: str | None = None

    @field_validator("thought_signature")
    @classmethod
    def _signature_is_base64(cls, value: str | None) -> str | None:
        return None if value is None else check_base64(value, url_safe=True)

    @model_validator(mode="after")
    def _one_kind(self) -> Part:
        kinds = [k for k in self.set_fields() if k not in ("thought", "thoughtSignature")]
        if len(kinds) != 1:
            raise field_error(kinds[1] if kinds else "text", f"a part needs exactly one of {_PART_KINDS}")
        return self


_PART_KINDS = "text, inlineData, functionCall, functionResponse, executableCode or codeExecutionResult"


class Content(Wire):
    role: Literal["user", "model"] | None = None
    parts: Annotated[list[Part], Field(min_length=1)]


class SystemInstruction(Wire):
    """Text only, as Gemini documents it; its role is ignored upstream."""

    role: Annotated[str | None, Field(max_length=16)] = None
    parts: Annotated[list[Part], Field(min_length=1)]

    @model_validator(mode="after")
    def _text_only(self) -> SystemInstruction:
        if any(part.text is None for part in self.parts):
            raise field_error("parts", "systemInstruction takes text parts only")
        return self


Threshold = Literal[
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
]


class SafetySetting(Wire):
    unsupported = ("method",)  # Vertex AI only

    category: Annotated[str, Field(max_length=64, json_schema_extra={"enum": list(HARM_CATEGORIES)})]
    threshold: Threshold

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in HARM_CATEGORIES:
            raise PydanticCustomError(
                "harm_category", "not a harm category of the Gemini API (one of {names})", {"names": _CATEGORIES}
            )
        return value


_CATEGORIES = ", ".join(HARM_CATEGORIES)


class GeminiRequest(Wire):
    """The body of `generateContent` / `streamGenerateContent`, as far as this function serves it."""

    unsupported = ("cachedContent",)

    contents: Annotated[list[Content], Field(min_length=1, max_length=MAX_CONTENTS)]
    system_instruction: SystemInstruction | None = None
    tools: Annotated[list[GeminiTool] | None, Field(max_length=128)] = None
    tool_config: GeminiToolConfig | None = None
    generation_config: GenerationConfig | None = None
    safety_settings: Annotated[list[SafetySetting] | None, Field(max_length=16)] = None

    @model_validator(mode="after")
    def _one_per_category(self) -> GeminiRequest:
        check_parts("contents", [c.parts for c in self.contents])
        check_tools(self.tools, self.tool_config)
        seen: set[str] = set()
        for setting in self.safety_settings or ():
            if setting.category in seen:
                raise field_error("safetySettings", f"one setting per category ({setting.category} repeats)")
            seen.add(setting.category)
        return self

    # --- what the intake asks of every route's request (intake.RouteRequest)

    def builtin_tools(self) -> list[tuple[str, str]]:
        return [(f"tools[{i}]", tool.builtin) for i, tool in enumerate(self.tools or ()) if tool.builtin]

    def output_tokens(self) -> tuple[str, int | None]:
        config = self.generation_config
        return _MAX_OUTPUT_FIELD, config.max_output_tokens if config is not None else None

    def input_estimate(self) -> int:
        """Input tokens, estimated (`token_estimate`): parts, system instruction, tools, the response schema."""
        count = InputEstimate()
        _count_parts(count, [part for content in self.contents for part in content.parts])
        if self.system_instruction is not None:
            _count_parts(count, self.system_instruction.parts)
        if self.tools:
            count.json(self.tools)
        config = self.generation_config
        if config is not None:
            count.json(config.response_schema)
            count.json(config.response_json_schema)
        return count.tokens()

    def freeform(self, prefix: str = "") -> Ask:
        """What it asks beyond text in, text out, each with its field, for the operator's controls (freeform/)."""
        modalities: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        config = self.generation_config
        if config is not None:
            at = f"{prefix}generationConfig"
            for i, modality in enumerate(config.response_modalities or ()):
                if modality in ("IMAGE", "AUDIO"):
                    modalities.append((f"{at}.responseModalities[{i}]", modality.lower()))
            if config.image_config is not None:
                modalities.append((f"{at}.imageConfig", "image"))
            if config.speech_config is not None:
                modalities.append((f"{at}.speechConfig", "audio"))
            if config.response_logprobs:
                options.append((f"{at}.responseLogprobs", "logprobs"))
            if config.media_resolution == "MEDIA_RESOLUTION_HIGH":
                options.append((f"{at}.mediaResolution", "media_resolution_high"))
        for i, tool in enumerate(self.tools or ()):
            search = tool.google_search.search_types if tool.google_search is not None else None
            if search is not None and search.image_search is not None:
                modalities.append((f"{prefix}tools[{i}].googleSearch.searchTypes.imageSearch", "image"))
        return Ask(
            safety=[
                (f"{prefix}safetySettings[{i}]", s.category, s.threshold)
                for i, s in enumerate(self.safety_settings or ())
            ],
            modalities=modalities,
            media_types=inline_media(self.contents, f"{prefix}contents"),
            system_instruction=f"{prefix}systemInstruction" if self.system_instruction is not None else None,
            options=options,
        )

    def upstream_json(
        self, max_output_tokens: int | None = None, safety_settings: list[dict[str, str]] | None = None
    ) -> dict[str, Any]:
        """The validated request, camelCase, exactly the fields the caller set, plus the output ceiling.

        `max_output_tokens` (the spend ceiling) is sent when the caller set no
        `maxOutputTokens` or a larger one (a daily budget near its end grants
        less); `safety_settings` (the caller's own and the
        operator's floor, freeform/safety.py) replace the caller's when given;
        the function adds no other field.
        """
        body: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        if max_output_tokens is not None:
            config = body.get("generationConfig") or {}
            asked = config.get("maxOutputTokens")
            if asked is None or asked > max_output_tokens:
                body["generationConfig"] = {**config, "maxOutputTokens": max_output_tokens}
        if safety_settings:
            body["safetySettings"] = safety_settings
        return body

    def upstream_body(
        self, max_output_tokens: int | None = None, safety_settings: list[dict[str, str]] | None = None
    ) -> bytes:
        return _dumps(self.upstream_json(max_output_tokens, safety_settings))


class CountedRequest(GeminiRequest):
    """`countTokens`' `generateContentRequest`: a generateContent body, and optionally its model."""

    model: Annotated[str | None, Field(pattern=r"^(models/)?[^/:]{1,128}$")] = None


class CountTokensRequest(Wire):
    """The body of `countTokens`: exactly one of `contents` or a whole `generateContentRequest`."""

    contents: Annotated[list[Content] | None, Field(min_length=1, max_length=MAX_CONTENTS)] = None
    generate_content_request: CountedRequest | None = None

    @model_validator(mode="after")
    def _one_form(self) -> CountTokensRequest:
        if (self.contents is None) == (self.generate_content_request is None):
            field = "contents" if self.contents is None else "generateContentRequest"
            raise field_error(field, "give exactly one of contents or generateContentRequest")
        if self.contents is not None:
            check_parts("contents", [c.parts for c in self.contents])
        return self

    @property
    def all_contents(self) -> list[Content]:
        counted = self.generate_content_request
        return counted.contents if counted is not None else self.contents or []

    def builtin_tools(self) -> list[tuple[str, str]]:
        counted = self.generate_content_request
        return [(f"generateContentRequest.{f}", t) for f, t in counted.builtin_tools()] if counted else []

    def output_tokens(self) -> tuple[str, int | None]:
        counted = self.generate_content_request
        field, value = counted.output_tokens() if counted else (_MAX_OUTPUT_FIELD, None)
        return f"generateContentRequest.{field}", value

    def input_estimate(self) -> int:
        """What the counted request would cost as input (counting itself costs none)."""
        counted = self.generate_content_request
        if counted is not None:
            return counted.input_estimate()
        count = InputEstimate()
        _count_parts(count, [part for content in self.contents or () for part in content.parts])
        return count.tokens()

    def freeform(self) -> Ask:
        """As `generateContent` would be asked (counting is free, but it takes only what generating may)."""
        counted = self.generate_content_request
        if counted is not None:
            return counted.freeform("generateContentRequest.")
        return Ask(media_types=inline_media(self.contents or [], "contents"))

    def upstream_body(self, model: str) -> bytes:
        """The validated body; a `generateContentRequest` names `models/<model>` (the resolved model)."""
        counted = self.generate_content_request
        if counted is None:
            return _dumps(self.model_dump(mode="json", by_alias=True, exclude_unset=True))
        return _dumps({"generateContentRequest": {**counted.upstream_json(), "model": f"models/{model}"}})


def _count_parts(count: InputEstimate, parts: list[Part]) -> None:
    for part in parts:
        if part.inline_data is not None:
            count.media()
        elif part.function_response is not None:
            count.text(part.function_response.name)
            count.json(part.function_response.response)
            count.media(len(part.function_response.parts or ()))
        elif part.function_call is not None:
            count.text(part.function_call.name)
            count.json(part.function_call.args)
        elif part.executable_code is not None:
            count.text(part.executable_code.code)
        elif part.code_execution_result is not None:
            count.text(part.code_execution_result.output)
        else:
            count.text(part.text)


def inline_media(contents: list[Content], at: str) -> list[tuple[str, str]]:
    """(field, MIME type) of every inline part, those inside a function's response included."""
    found: list[tuple[str, str]] = []
    for i, content in enumerate(contents):
        for j, part in enumerate(content.parts):
            if part.inline_data is not None:
                found.append((f"{at}[{i}].parts[{j}].inlineData.mimeType", part.inline_data.mime_type))
            elif part.function_response is not None:
                for k, inner in enumerate(part.function_response.parts or ()):
                    where = f"{at}[{i}].parts[{j}].functionResponse.parts[{k}].inlineData.mimeType"
                    found.append((where, inner.inline_data.mime_type))
    return found


def _dumps(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)  # validated: finite numbers only
