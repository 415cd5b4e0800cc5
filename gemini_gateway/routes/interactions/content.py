"""The Interactions API's `input`: a string, content, a list of contents, or a list of steps.

Field names and shapes follow google-genai 3.6.1 (`_gaos/types/interactions`)
and @google/genai 2.32.0. What a caller writes itself (text, inline media,
function results) is modelled strictly; steps the model produced and the
SDKs echo back (`model_output`, `thought` with its `signature`, built-in tool
call/result pairs) keep fields this function does not know, unchanged, so a
thought signature always goes back exactly as Google sent it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, JsonValue, Tag, field_validator, model_validator

from ...model_base import MAX_CONTENTS, MAX_PARTS, Strict, check_base64, field_error
from ..gemini.wire import MIME

__all__ = ["STEP_TYPES", "Content", "Input", "InputStep", "MediaContent", "TextContent"]

TOOL_STEP_TYPES = frozenset(
    f"{tool}_{kind}"
    for tool in ("google_search", "code_execution", "url_context", "google_maps", "file_search", "retrieval")
    for kind in ("call", "result")
) | {"mcp_server_tool_call", "mcp_server_tool_result", "tool_search_call", "tool_search_result"}
STEP_TYPES = frozenset({"user_input", "model_output", "thought", "function_call", "function_result"} | TOOL_STEP_TYPES)
_MAX_TEXT = 4_000_000


class TextContent(Strict):
    type: Literal["text"]
    text: Annotated[str, Field(max_length=_MAX_TEXT)]
    annotations: Annotated[list[dict[str, JsonValue]] | None, Field(max_length=1000)] = None  # echoed citations


class MediaContent(Strict):
    """Inline media only: a `uri` would have Google fetch an address the caller chose."""

    type: Literal["image", "audio", "document", "video"]
    data: Annotated[str, Field(min_length=1)]
    mime_type: Annotated[str, Field(pattern=MIME)]
    resolution: Literal["low", "medium", "high", "ultra_high"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_uri(cls, data: Any) -> Any:
        if isinstance(data, dict) and "uri" in data:
            raise field_error("uri", "not supported by this function: send the media inline as `data`")
        return data

    @field_validator("data")
    @classmethod
    def _base64(cls, value: str) -> str:
        return check_base64(value, url_safe=True)


def _content_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return "~text" if kind == "text" else "~media"


# Union tags start with "~": a refused field is then named without them (`input[0].content[1].data`).
Content = Annotated[
    Annotated[TextContent, Tag("~text")] | Annotated[MediaContent, Tag("~media")], Discriminator(_content_tag)
]


class _Echoed(Strict):
    """A step the model produced, sent back as the SDK got it: unknown fields travel unchanged."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True, defer_build=True)


class UserInput(Strict):
    type: Literal["user_input"]
    content: Annotated[list[Content], Field(min_length=1, max_length=MAX_PARTS)]


class ModelOutput(_Echoed):
    type: Literal["model_output"]
    content: Annotated[list[Content] | None, Field(max_length=MAX_PARTS)] = None


class Thought(_Echoed):
    type: Literal["thought"]
    signature: Annotated[str | None, Field(max_length=1_000_000)] = None


class FunctionCall(_Echoed):
    type: Literal["function_call"]
    id: Annotated[str, Field(min_length=1, max_length=256)]
    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,127}$")]
    arguments: dict[str, JsonValue] = Field(default_factory=dict)


class FunctionResult(Strict):
    type: Literal["function_result"]
    call_id: Annotated[str, Field(min_length=1, max_length=256)]
    name: Annotated[str | None, Field(max_length=128)] = None
    result: JsonValue
    is_error: bool | None = None


class ToolStep(_Echoed):
    """A built-in tool's call or result (`google_search_call`, `code_execution_result`, ...)."""

    type: str

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in TOOL_STEP_TYPES:
            raise ValueError(f"must be one of {', '.join(sorted(STEP_TYPES))}")
        return value


def _step_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return f"~{kind}" if kind in _STEP_MODELS else "~tool_step"


_STEP_MODELS = ("user_input", "model_output", "thought", "function_call", "function_result")
InputStep = Annotated[
    Annotated[UserInput, Tag("~user_input")]
    | Annotated[ModelOutput, Tag("~model_output")]
    | Annotated[Thought, Tag("~thought")]
    | Annotated[FunctionCall, Tag("~function_call")]
    | Annotated[FunctionResult, Tag("~function_result")]
    | Annotated[ToolStep, Tag("~tool_step")],
    Discriminator(_step_tag),
]


def _input_tag(value: Any) -> str:
    """`input`'s four forms: a string, one content, a list of contents, a list of steps."""
    if isinstance(value, str):
        return "~string"
    if isinstance(value, list):
        kinds = [item.get("type") if isinstance(item, dict) else getattr(item, "type", None) for item in value]
        return "~steps" if any(isinstance(kind, str) and kind in STEP_TYPES for kind in kinds) else "~contents"
    return "~content"


Input = Annotated[
    Annotated[Annotated[str, Field(min_length=1, max_length=_MAX_TEXT)], Tag("~string")]
    | Annotated[Content, Tag("~content")]
    | Annotated[Annotated[list[Content], Field(min_length=1, max_length=MAX_PARTS)], Tag("~contents")]
    | Annotated[Annotated[list[InputStep], Field(min_length=1, max_length=MAX_CONTENTS)], Tag("~steps")],
    Discriminator(_input_tag),
]
