"""Tools on `POST /`: function declarations, built-in tools, tool choice, and calls in the conversation.

The OpenAI route converts its own tool shapes into these, so one mapping to
Gemini (`upstream.gemini_body`) serves both.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, field_validator, model_validator

from ..config_types import BUILTIN_TOOLS
from ..model_base import Strict, check_schema_size, field_error
from ..tool_ids import MAX_ID_CHARS

__all__ = ["FUNCTION_NAME", "MAX_FUNCTIONS", "NamedChoice", "Tool", "ToolCall", "ToolChoice", "check_tools"]

MAX_FUNCTIONS = 128
FUNCTION_NAME = r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,63}$"  # Gemini's rule for functionDeclaration.name
Builtin = Literal["google_search", "url_context", "code_execution"]


class Tool(Strict):
    """A function declaration (`name`, `description`, `parameters`) or a built-in tool (`builtin`)."""

    name: Annotated[str | None, Field(pattern=FUNCTION_NAME)] = None
    description: Annotated[str | None, Field(max_length=8192)] = None
    parameters: Annotated[dict[str, JsonValue] | None, Field(description="JSON Schema of the arguments")] = None
    builtin: Builtin | None = None

    @field_validator("parameters")
    @classmethod
    def _schema_size(cls, value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        return check_schema_size(value)

    @model_validator(mode="after")
    def _one_kind(self) -> Tool:
        if self.builtin is not None:
            if self.name is not None or self.description is not None or self.parameters is not None:
                raise field_error("builtin", "a built-in tool takes no name, description or parameters")
        elif self.name is None:
            raise field_error("name", f"required for a function (or give builtin: one of {', '.join(BUILTIN_TOOLS)})")
        return self


class NamedChoice(Strict):
    name: Annotated[str, Field(pattern=FUNCTION_NAME)]


ToolChoice = Literal["auto", "none", "required"] | NamedChoice


class ToolCall(Strict):
    """A call the model made, as the answer's `tool_calls` gave it: echo it back unchanged."""

    id: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
    name: Annotated[str, Field(pattern=FUNCTION_NAME)]
    arguments: dict[str, JsonValue] = Field(default_factory=dict)


def check_tools(tools: list[Tool] | None, choice: ToolChoice | None) -> None:
    """At most MAX_FUNCTIONS declarations, names unique, a named tool_choice among them."""
    functions = [t.name for t in tools or () if t.name is not None]
    if len(functions) > MAX_FUNCTIONS:
        raise field_error("tools", f"at most {MAX_FUNCTIONS} function declarations")
    if len(set(functions)) != len(functions):
        raise field_error("tools", "function names must be unique")
    if isinstance(choice, NamedChoice) and choice.name not in functions:
        raise field_error("tool_choice", f"names no declared function ({choice.name})")
    if choice is not None and choice != "none" and not functions and choice != "auto":
        raise field_error("tool_choice", "needs function declarations in tools")


def builtin_fields(tools: list[Tool] | None) -> list[tuple[str, str]]:
    return [(f"tools[{i}]", t.builtin) for i, t in enumerate(tools or ()) if t.builtin is not None]


def tool_result(value: Any) -> dict[str, Any]:
    """A tool message's content as Gemini's functionResponse.response (a JSON object)."""
    return value if isinstance(value, dict) else {"result": value}
