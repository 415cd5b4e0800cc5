"""Gemini's `tools`, `toolConfig` and the parts function calling and code execution put in `contents`."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ...model_base import check_base64, check_schema_size, field_error
from .wire import MIME, Wire

__all__ = [
    "BUILTIN_TOOLS",
    "FUNCTION_NAME",
    "MAX_FUNCTION_DECLARATIONS",
    "GeminiCodeExecutionResult",
    "GeminiExecutableCode",
    "GeminiFunctionCall",
    "GeminiFunctionCallingConfig",
    "GeminiFunctionDeclaration",
    "GeminiFunctionResponse",
    "GeminiTool",
    "GeminiToolConfig",
    "check_tools",
]

FUNCTION_NAME = r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$"  # Gemini's rule for a declared function's name
_FUNCTION_NAME = re.compile(FUNCTION_NAME)
_NAME_RULE = "must start with a letter or an underscore, then letters, digits, _ . : or -, at most 64 characters"
MAX_FUNCTION_DECLARATIONS = 128  # in all tools of one request together
# Built-in tools: wire field → the name ALLOWED_TOOLS uses.
BUILTIN_TOOLS = {"googleSearch": "google_search", "urlContext": "url_context", "codeExecution": "code_execution"}
_TOOL_KINDS = ("functionDeclarations", *BUILTIN_TOOLS)

_Id = Annotated[str, Field(min_length=1, max_length=256)]
_CalledName = Annotated[str, Field(min_length=1, max_length=256)]
_Schema = dict[str, Any]


# --------------------------------------------------------------------------- tools


class GeminiFunctionDeclaration(Wire):
    """A function the model may call: `parameters` (Gemini's schema) or `parametersJsonSchema`, not both."""

    name: str
    description: Annotated[str | None, Field(max_length=16384)] = None
    parameters: _Schema | None = None
    parameters_json_schema: _Schema | None = None
    response: _Schema | None = None
    response_json_schema: _Schema | None = None
    behavior: Literal["UNSPECIFIED", "BLOCKING", "NON_BLOCKING"] | None = None

    @field_validator("name")
    @classmethod
    def _gemini_name(cls, value: str) -> str:
        if not _FUNCTION_NAME.match(value):
            raise PydanticCustomError("function_name", _NAME_RULE)
        return value

    @field_validator("parameters", "parameters_json_schema", "response", "response_json_schema")
    @classmethod
    def _schema_size(cls, value: _Schema | None) -> _Schema | None:
        return check_schema_size(value)

    @model_validator(mode="after")
    def _one_schema_each(self) -> GeminiFunctionDeclaration:
        if self.parameters is not None and self.parameters_json_schema is not None:
            raise field_error("parametersJsonSchema", "give parameters or parametersJsonSchema, not both")
        if self.response is not None and self.response_json_schema is not None:
            raise field_error("responseJsonSchema", "give response or responseJsonSchema, not both")
        return self


_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"


class GeminiInterval(Wire):
    """`googleSearch.timeRangeFilter`: RFC 3339 times, both or neither (Gemini's rule)."""

    start_time: Annotated[str | None, Field(pattern=_TIMESTAMP)] = None
    end_time: Annotated[str | None, Field(pattern=_TIMESTAMP)] = None

    @model_validator(mode="after")
    def _both(self) -> GeminiInterval:
        if (self.start_time is None) != (self.end_time is None):
            raise field_error(
                "endTime" if self.end_time is None else "startTime", "give startTime and endTime together"
            )
        return self


class GeminiWebSearch(Wire):
    pass


class GeminiImageSearch(Wire):
    pass


class GeminiSearchTypes(Wire):
    web_search: GeminiWebSearch | None = None
    image_search: GeminiImageSearch | None = None  # answers with image bytes: an image output (freeform controls)


class GeminiGoogleSearch(Wire):
    unsupported = ("excludeDomains", "blockingConfidence")  # Vertex AI only

    time_range_filter: GeminiInterval | None = None
    search_types: GeminiSearchTypes | None = None


class GeminiUrlContext(Wire):
    pass


class GeminiCodeExecution(Wire):
    pass


class GeminiTool(Wire):
    """Exactly one kind per tool: function declarations, or one built-in tool."""

    unsupported = (
        "googleSearchRetrieval",
        "retrieval",
        "fileSearch",
        "computerUse",
        "googleMaps",
        "mcpServers",
        "enterpriseWebSearch",
        "parallelAiSearch",
        "exaAiSearch",
    )

    function_declarations: (
        Annotated[list[GeminiFunctionDeclaration], Field(min_length=1, max_length=MAX_FUNCTION_DECLARATIONS)] | None
    ) = None
    google_search: GeminiGoogleSearch | None = None
    url_context: GeminiUrlContext | None = None
    code_execution: GeminiCodeExecution | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> GeminiTool:
        kinds = self.set_fields()
        if len(kinds) != 1:
            field = kinds[1] if kinds else "functionDeclarations"
            raise field_error(field, f"a tool needs exactly one of {', '.join(_TOOL_KINDS[:-1])} or {_TOOL_KINDS[-1]}")
        return self

    @property
    def builtin(self) -> str | None:
        """The ALLOWED_TOOLS name of this tool when it is a built-in one."""
        kinds = self.set_fields()
        return BUILTIN_TOOLS.get(kinds[0]) if kinds else None


FunctionCallingMode = Literal["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"]


class GeminiFunctionCallingConfig(Wire):
    unsupported = ("streamFunctionCallArguments",)  # Vertex AI only

    mode: FunctionCallingMode | None = None
    allowed_function_names: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=MAX_FUNCTION_DECLARATIONS)]
        | None
    ) = None

    @model_validator(mode="after")
    def _names_need_a_forcing_mode(self) -> GeminiFunctionCallingConfig:
        if self.allowed_function_names and self.mode not in ("ANY", "VALIDATED"):
            raise field_error("allowedFunctionNames", "only with mode ANY or VALIDATED")
        return self


class GeminiToolConfig(Wire):
    unsupported = ("retrievalConfig", "includeServerSideToolInvocations")

    function_calling_config: GeminiFunctionCallingConfig | None = None


def check_tools(tools: list[GeminiTool] | None, config: GeminiToolConfig | None) -> None:
    """A `model_validator` body: ≤ MAX_FUNCTION_DECLARATIONS in all, unique names, allowed names declared."""
    names: list[str] = [d.name for tool in tools or () for d in tool.function_declarations or ()]
    if len(names) > MAX_FUNCTION_DECLARATIONS:
        raise field_error("tools", f"at most {MAX_FUNCTION_DECLARATIONS} function declarations in all tools together")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise field_error("tools", f"function names must be unique ({repeated[0]} repeats)")
    calling = config.function_calling_config if config is not None else None
    for i, name in enumerate(calling.allowed_function_names or () if calling is not None else ()):
        if name not in names:
            where = f"toolConfig.functionCallingConfig.allowedFunctionNames[{i}]"
            raise field_error(where, f"{name} is not a declared function")


# --------------------------------------------------------------------------- parts in contents


class GeminiFunctionCall(Wire):
    """A call the model made, echoed back in the history (its signature rides on the part)."""

    id: _Id | None = None
    name: _CalledName
    args: dict[str, Any] | None = None


class GeminiFunctionResponseBlob(Wire):
    mime_type: Annotated[str, Field(pattern=MIME)]
    data: Annotated[str, Field(min_length=1)]
    display_name: Annotated[str | None, Field(max_length=256)] = None

    @field_validator("data")
    @classmethod
    def _is_base64(cls, value: str) -> str:
        return check_base64(value, url_safe=True)


class GeminiFunctionResponsePart(Wire):
    unsupported = ("fileData",)

    inline_data: GeminiFunctionResponseBlob


class GeminiFunctionResponse(Wire):
    """The caller's result of a call: `response` is a JSON object, as Gemini requires."""

    id: _Id | None = None
    name: _CalledName
    response: dict[str, Any]
    will_continue: bool | None = None
    scheduling: Literal["SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE", "INTERRUPT"] | None = None
    parts: Annotated[list[GeminiFunctionResponsePart] | None, Field(max_length=16)] = None


class GeminiExecutableCode(Wire):
    """Code the model ran with the code-execution tool, echoed back in the history."""

    id: _Id | None = None
    language: Literal["LANGUAGE_UNSPECIFIED", "PYTHON"]
    code: str


class GeminiCodeExecutionResult(Wire):
    id: _Id | None = None
    outcome: Literal["OUTCOME_UNSPECIFIED", "OUTCOME_OK", "OUTCOME_FAILED", "OUTCOME_DEADLINE_EXCEEDED"]
    output: str | None = None
