"""The Interactions API create body (`POST /{version}/interactions`), as far as this function serves it.

A strict model of our own (docs/API.md §7d): `model` or `agent`, `input`,
`previous_interaction_id`, `store`, `background`, `stream`,
`generation_config`, `system_instruction`, `tools`, `response_format`,
`safety_settings`, `webhook_config`, `service_tier`, `labels`. Sub-objects
hold only the fields Google documents (google-genai 3.6.1's
`_gaos/types/interactions`); anything else is refused by name. Built-in tools
need ALLOWED_TOOLS, agents ALLOWED_AGENTS; `computer_use` may not disable its
safety policies; media inputs go through the free-form controls.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, JsonValue, Tag, field_validator, model_validator

from ...freeform.controls import Ask
from ...model_base import INT32_MAX, Strict, check_schema_size, field_error, finite
from ...token_estimate import InputEstimate
from .content import Content, FunctionCall, FunctionResult, Input, MediaContent, TextContent, Thought

__all__ = ["BUILTIN_TYPES", "GenerationConfig", "InteractionRequest", "Tool"]

_NAME = r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,127}$"
UNSUPPORTED = "not supported by this function"
BUILTIN_TYPES = (
    "google_search",
    "url_context",
    "code_execution",
    "google_maps",
    "file_search",
    "computer_use",
    "mcp_server",
)
SAFETY_TYPES = ("harassment", "hate_speech", "sexually_explicit", "dangerous_content", "civic_integrity")
THRESHOLDS = ("block_low_and_above", "block_medium_and_above", "block_only_high", "block_none", "off")


class AllowedTools(Strict):
    mode: Literal["auto", "any", "none", "validated"] | None = None
    tools: Annotated[list[Annotated[str, Field(pattern=_NAME)]] | None, Field(max_length=128)] = None


class ToolChoice(Strict):
    allowed_tools: AllowedTools | None = None


class SpeechConfig(Strict):
    voice: Annotated[str | None, Field(max_length=128)] = None
    language: Annotated[str | None, Field(max_length=64)] = None
    speaker: Annotated[str | None, Field(max_length=128)] = None


class ImageConfig(Strict):
    aspect_ratio: (
        Literal["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "1:8", "8:1", "1:4", "4:1"]
        | None
    ) = None
    image_size: Literal["512", "1K", "2K", "4K"] | None = None


class GenerationConfig(Strict):
    max_output_tokens: Annotated[int | None, Field(ge=1, le=INT32_MAX)] = None
    seed: Annotated[int | None, Field(ge=-(2**31), le=INT32_MAX)] = None
    stop_sequences: Annotated[list[Annotated[str, Field(min_length=1)]] | None, Field(max_length=5)] = None
    thinking_level: Literal["minimal", "low", "medium", "high", "xhigh"] | None = None
    thinking_summaries: Literal["auto", "none"] | None = None
    tool_choice: Literal["auto", "any", "none", "validated"] | ToolChoice | None = None
    speech_config: SpeechConfig | list[SpeechConfig] | None = None
    image_config: ImageConfig | None = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None  # deprecated by Google, passed when set
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None  # deprecated by Google, passed when set

    @model_validator(mode="before")
    @classmethod
    def _unsupported(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("video_config", "transcription_config"):
                if name in data:
                    raise field_error(name, UNSUPPORTED)
        return data

    @field_validator("temperature", "top_p")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        return finite(value)


class FunctionTool(Strict):
    type: Literal["function"]
    name: Annotated[str, Field(pattern=_NAME)]
    description: Annotated[str | None, Field(max_length=8192)] = None
    parameters: dict[str, JsonValue] | None = None
    defer_loading: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _schema_size(cls, value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        return check_schema_size(value)


class GoogleSearch(Strict):
    type: Literal["google_search"]
    search_types: Annotated[
        list[Literal["web_search", "image_search", "enterprise_web_search"]] | None, Field(max_length=3)
    ] = None


class Plain(Strict):
    type: Literal["url_context", "code_execution"]


class GoogleMaps(Strict):
    type: Literal["google_maps"]
    latitude: Annotated[float | None, Field(ge=-90, le=90)] = None
    longitude: Annotated[float | None, Field(ge=-180, le=180)] = None
    enable_widget: bool | None = None


class FileSearch(Strict):
    type: Literal["file_search"]
    file_search_store_names: Annotated[list[Annotated[str, Field(max_length=512)]] | None, Field(max_length=32)] = None
    metadata_filter: Annotated[str | None, Field(max_length=4096)] = None
    top_k: Annotated[int | None, Field(ge=1, le=100)] = None


class ComputerUse(Strict):
    type: Literal["computer_use"]
    environment: Literal["browser", "mobile", "desktop"] | None = None
    excluded_predefined_functions: Annotated[
        list[Annotated[str, Field(max_length=128)]] | None, Field(max_length=64)
    ] = None
    enable_prompt_injection_detection: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _safety_stays(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("disabled_safety_policies"):
            raise field_error("disabled_safety_policies", "a caller may not disable computer use's safety policies")
        if isinstance(data, dict) and data.get("enable_prompt_injection_detection") is False:
            raise field_error("enable_prompt_injection_detection", "a caller may not turn it off")
        return data


class McpServer(Strict):
    type: Literal["mcp_server"]
    name: Annotated[str | None, Field(max_length=128)] = None
    url: Annotated[str | None, Field(pattern=r"^https://\S{1,2048}$")] = None
    headers: Annotated[dict[str, Annotated[str, Field(max_length=4096)]] | None, Field(max_length=32)] = None
    allowed_tools: Annotated[list[AllowedTools] | None, Field(max_length=32)] = None
    defer_loading: bool | None = None


def _tool_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return f"~{kind}" if kind in _TOOL_TAGS else "~unknown"


_TOOL_TAGS = ("function", *BUILTIN_TYPES)


class UnknownTool(Strict):
    type: str

    @field_validator("type")
    @classmethod
    def _refuse(cls, value: str) -> str:
        raise ValueError(f"{value!r} is {UNSUPPORTED} (tools: function, {', '.join(BUILTIN_TYPES)})")


Tool = Annotated[
    Annotated[FunctionTool, Tag("~function")]
    | Annotated[GoogleSearch, Tag("~google_search")]
    | Annotated[Plain, Tag("~url_context")]
    | Annotated[Plain, Tag("~code_execution")]
    | Annotated[GoogleMaps, Tag("~google_maps")]
    | Annotated[FileSearch, Tag("~file_search")]
    | Annotated[ComputerUse, Tag("~computer_use")]
    | Annotated[McpServer, Tag("~mcp_server")]
    | Annotated[UnknownTool, Tag("~unknown")],
    Discriminator(_tool_tag),
]


class ResponseFormat(Strict):
    type: Literal["text"]
    mime_type: Literal["application/json", "text/plain"] | None = None
    schema_: Annotated[dict[str, JsonValue] | None, Field(alias="schema")] = None

    @field_validator("schema_")
    @classmethod
    def _schema_size(cls, value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        return check_schema_size(value)


class SafetySetting(Strict):
    type: Literal["harassment", "hate_speech", "sexually_explicit", "dangerous_content", "civic_integrity"]
    threshold: Literal["block_low_and_above", "block_medium_and_above", "block_only_high", "block_none", "off"]
    method: Literal["severity", "probability"] | None = None


class WebhookConfig(Strict):
    uris: Annotated[list[Annotated[str, Field(max_length=2048)]], Field(min_length=1, max_length=8)]
    user_metadata: Annotated[dict[str, JsonValue] | None, Field(max_length=16)] = None


class InteractionRequest(Strict):
    """The body of `POST /{version}/interactions`."""

    model: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    agent: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    agent_config: Annotated[dict[str, JsonValue] | None, Field(max_length=32)] = None
    input: Input
    previous_interaction_id: Annotated[str | None, Field(min_length=1, max_length=16 * 1024)] = None
    store: bool | None = None
    background: bool | None = None
    stream: bool = False
    generation_config: GenerationConfig | None = None
    system_instruction: Annotated[str | None, Field(min_length=1, max_length=1_000_000)] = None
    tools: Annotated[list[Tool] | None, Field(max_length=128 + len(BUILTIN_TYPES))] = None
    response_format: ResponseFormat | None = None
    safety_settings: Annotated[list[SafetySetting] | None, Field(max_length=16)] = None
    webhook_config: WebhookConfig | None = None
    service_tier: Literal["flex", "standard", "priority", "deferred"] | None = None
    labels: Annotated[
        dict[Annotated[str, Field(max_length=63)], Annotated[str, Field(max_length=63)]] | None, Field(max_length=64)
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _unsupported(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("cached_content", "response_mime_type", "response_modalities", "environment"):
                if name in data:
                    raise field_error(name, UNSUPPORTED)
            if "continuation_token" in data:
                raise field_error("continuation_token", UNSUPPORTED)
        return data

    @model_validator(mode="after")
    def _rules(self) -> InteractionRequest:
        if (self.model is None) == (self.agent is None):
            raise field_error("model", "give exactly one of model or agent")
        if self.agent is not None and self.generation_config is not None:
            raise field_error("generation_config", "not with an agent (use agent_config)")
        if self.agent is None and self.agent_config is not None:
            raise field_error("agent_config", "only with an agent")
        if self.background and self.store is False:
            raise field_error("background", "needs store: a background interaction is read back later")
        if self.stream and self.background:
            raise field_error("stream", "not with background: stream it later with GET ?stream=true")
        names = [t.name for t in self.tools or () if isinstance(t, FunctionTool)]
        if len(set(names)) != len(names):
            raise field_error("tools", "function names must be unique")
        return self

    # --- what the intake asks of a generating route

    def builtin_tools(self) -> list[tuple[str, str]]:
        return [(f"tools[{i}]", t.type) for i, t in enumerate(self.tools or ()) if not isinstance(t, FunctionTool)]

    def output_tokens(self) -> tuple[str, int | None]:
        config = self.generation_config
        return "generation_config.max_output_tokens", config.max_output_tokens if config else None

    def freeform(self) -> Ask:
        ask = Ask()
        ask.safety = [
            (f"safety_settings[{i}]", f"HARM_CATEGORY_{s.type.upper()}", s.threshold.upper())
            for i, s in enumerate(self.safety_settings or ())
        ]
        config = self.generation_config
        modalities = []
        if config is not None and config.speech_config is not None:
            modalities.append(("generation_config.speech_config", "audio"))
        if config is not None and config.image_config is not None:
            modalities.append(("generation_config.image_config", "image"))
        for i, tool in enumerate(self.tools or ()):
            if isinstance(tool, GoogleSearch) and "image_search" in (tool.search_types or ()):
                modalities.append((f"tools[{i}].search_types", "image"))
        ask.modalities = modalities
        ask.media_types = list(_media(self.input, "input"))
        ask.system_instruction = "system_instruction" if self.system_instruction is not None else None
        return ask

    def input_estimate(self) -> int:
        """Input tokens, estimated (`token_estimate`): the input, the system instruction, tools, the schema.

        A `previous_interaction_id`'s stored history is billed as input too and is not in it.
        """
        count = InputEstimate()
        _count_input(count, self.input)
        count.text(self.system_instruction)
        if self.tools:
            count.json(self.tools)
        if self.response_format is not None:
            count.json(self.response_format.schema_)
        return count.tokens()

    def last_user_text(self) -> str:
        if isinstance(self.input, str):
            return self.input
        if isinstance(self.input, TextContent):
            return self.input.text
        return ""


def _count_input(count: InputEstimate, value: Any) -> None:
    if isinstance(value, str):
        count.text(value)
    elif isinstance(value, TextContent):
        count.text(value.text)
    elif isinstance(value, MediaContent):
        count.media()
    elif isinstance(value, FunctionCall):
        count.text(value.name)
        count.json(value.arguments)
    elif isinstance(value, FunctionResult):
        count.json(value.result)
    elif isinstance(value, list):
        for item in value:
            _count_input(count, item)
    elif not isinstance(value, Thought):  # a thought's signature is not billed as text
        content = getattr(value, "content", None)
        if isinstance(content, list):
            _count_input(count, content)
        elif value is not None:
            count.json(value)


def _media(value: Any, field: str) -> list[tuple[str, str]]:
    """(field, MIME type) of every inline medium in `input`, steps included."""
    found: list[tuple[str, str]] = []
    if isinstance(value, MediaContent):
        found.append((f"{field}.mime_type", value.mime_type))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _media(item, f"{field}[{i}]")
    else:
        content: list[Content] | None = getattr(value, "content", None)
        if isinstance(content, list):
            found += _media(content, f"{field}.content")
    return found
