"""OpenAI's tool shapes: function tools, `tool_choice`, and the calls an assistant turn carries."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, field_validator
from pydantic_core import PydanticCustomError

from ...chat.tools import FUNCTION_NAME
from ...model_base import Strict, check_schema_size
from ...tool_ids import MAX_ID_CHARS

__all__ = ["ChatTool", "ChatToolCall", "ChatToolChoice", "NamedToolChoice"]


class FunctionDef(Strict):
    name: Annotated[str, Field(pattern=FUNCTION_NAME)]
    description: Annotated[str | None, Field(max_length=8192)] = None
    parameters: dict[str, JsonValue] | None = None
    strict: bool | None = None  # accepted; Gemini validates calls against the schema it is given

    @field_validator("parameters")
    @classmethod
    def _schema_size(cls, value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        return check_schema_size(value)


class ChatTool(Strict):
    type: Literal["function"]
    function: FunctionDef


class ToolChoiceFunction(Strict):
    name: Annotated[str, Field(pattern=FUNCTION_NAME)]


class NamedToolChoice(Strict):
    type: Literal["function"]
    function: ToolChoiceFunction


ChatToolChoice = Literal["auto", "none", "required"] | NamedToolChoice


class CalledFunction(Strict):
    name: Annotated[str, Field(pattern=FUNCTION_NAME)]
    arguments: str = Field(description="the arguments as a JSON object, in a string (as OpenAI sends them)")

    @field_validator("arguments")
    @classmethod
    def _json_object(cls, value: str) -> str:
        try:
            parsed = json.loads(value) if value.strip() else {}
        except ValueError:
            raise PydanticCustomError("arguments", "must be a JSON object in a string") from None
        if not isinstance(parsed, dict):
            raise PydanticCustomError("arguments", "must be a JSON object in a string")
        return value

    def parsed(self) -> dict[str, Any]:
        return dict(json.loads(self.arguments)) if self.arguments.strip() else {}


class ChatToolCall(Strict):
    id: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
    type: Literal["function"] = "function"
    function: CalledFunction
