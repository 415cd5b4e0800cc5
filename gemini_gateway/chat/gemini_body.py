"""Our request → the Gemini `generateContent` body and AI Gateway headers.

Pure functions; the mapping is docs/API.md, "Mapping upstream". Tool-call
ids handed out earlier are decoded here, so the function calls of an
assistant turn go back with their thought signatures and a tool turn's result
is named for its call; an id this deployment did not hand out is a 400 naming
its field.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from ..tool_ids import ToolCallRef, ToolIds
from ..upstream.metadata import metadata_header
from .models import GenerateRequest, Message
from .tools import Tool, ToolChoice, tool_result

__all__ = ["gateway_headers", "to_gemini_body"]

_BUILTIN = {"google_search": "googleSearch", "url_context": "urlContext", "code_execution": "codeExecution"}
_LOCAL_IDS = ToolIds((b"no deployment: tests and tools",), "")  # for callers that give no ids of their own


def _contents(request: GenerateRequest, ids: ToolIds) -> list[dict[str, Any]]:
    if request.prompt is not None:
        return [{"role": "user", "parts": [{"text": request.prompt}]}]
    contents: list[dict[str, Any]] = []
    for i, message in enumerate(request.messages or ()):
        content = _content(message, i, ids)
        previous = contents[-1] if contents else None
        if message.role == "tool" and previous is not None and previous.get("_results"):
            previous["parts"].extend(content["parts"])  # answers to parallel calls go back in one turn
        else:
            contents.append(content)
    for content in contents:
        content.pop("_results", None)
    return contents


def _content(message: Message, index: int, ids: ToolIds) -> dict[str, Any]:
    if message.role == "tool":
        assert message.tool_call_id is not None  # the model requires it
        ref = _decode(ids, message.tool_call_id, f"messages[{index}].tool_call_id")
        response: dict[str, Any] = {"name": ref.name, "response": tool_result(message.result)}
        if ref.call_id is not None:
            response["id"] = ref.call_id
        return {"role": "user", "parts": [{"functionResponse": response}], "_results": True}
    parts: list[dict[str, Any]] = []
    for part in message.content or ():
        if part.type == "text":
            parts.append({"text": part.text})
        else:
            parts.append({"inlineData": {"mimeType": part.mime_type, "data": part.data}})
    for j, call in enumerate(message.tool_calls or ()):
        ref = _decode(ids, call.id, f"messages[{index}].tool_calls[{j}].id")
        if ref.name != call.name:
            raise InvalidRequest.for_field(f"messages[{index}].tool_calls[{j}].name", "does not match its id")
        function_call: dict[str, Any] = {"name": call.name, "args": call.arguments}
        if ref.call_id is not None:
            function_call["id"] = ref.call_id
        part_out: dict[str, Any] = {"functionCall": function_call}
        if ref.signature is not None:
            part_out["thoughtSignature"] = ref.signature  # back on the very part it came with
        parts.append(part_out)
    return {"role": "model" if message.role == "assistant" else "user", "parts": parts}


def _decode(ids: ToolIds, tool_id: str, field: str) -> ToolCallRef:
    try:
        return ids.decode(tool_id)
    except ValueError as exc:
        raise InvalidRequest.for_field(field, str(exc)) from None


def _tools(tools: list[Tool]) -> list[dict[str, Any]]:
    declarations: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for tool in tools:
        if tool.builtin is not None:
            out.append({_BUILTIN[tool.builtin]: {}})
            continue
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            declaration["description"] = tool.description
        if tool.parameters is not None:
            declaration["parametersJsonSchema"] = tool.parameters
        declarations.append(declaration)
    return ([{"functionDeclarations": declarations}] if declarations else []) + out


def _tool_config(choice: ToolChoice) -> dict[str, Any]:
    if isinstance(choice, str):
        return {"functionCallingConfig": {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]}}
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice.name]}}


def _generation_config(request: GenerateRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for ours, theirs in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("max_output_tokens", "maxOutputTokens"),
        ("stop", "stopSequences"),
        ("seed", "seed"),
    ):
        value = getattr(request, ours)
        if value is not None:
            config[theirs] = value
    if request.thinking_budget is not None:
        config["thinkingConfig"] = {"thinkingBudget": request.thinking_budget}
    if request.thinking_level is not None:
        config["thinkingConfig"] = {"thinkingLevel": request.thinking_level.upper()}
    if request.response_format is not None and request.response_format.type == "json":
        config["responseMimeType"] = "application/json"
        if request.response_format.schema_ is not None:
            config["responseJsonSchema"] = request.response_format.schema_
    return config


def to_gemini_body(
    request: GenerateRequest,
    *,
    ids: ToolIds = _LOCAL_IDS,
    max_output_tokens: int | None = None,
    safety_settings: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The Gemini body; `max_output_tokens` (the spend ceiling) is sent unless the request names a smaller one.

    `safety_settings` is the operator's safety floor (our request has no safety field of its own).
    """
    body: dict[str, Any] = {"contents": _contents(request, ids)}
    if safety_settings:
        body["safetySettings"] = safety_settings
    if request.system is not None:
        body["systemInstruction"] = {"parts": [{"text": request.system}]}
    if request.tools:
        body["tools"] = _tools(request.tools)
    if request.tool_choice is not None:
        body["toolConfig"] = _tool_config(request.tool_choice)
    config = _generation_config(request)
    if max_output_tokens is not None and config.get("maxOutputTokens", max_output_tokens) >= max_output_tokens:
        config["maxOutputTokens"] = max_output_tokens  # a daily budget near its end grants less than asked
    if config:
        body["generationConfig"] = config
    return body


def gateway_headers(request: GenerateRequest, *, caller: str) -> dict[str, str]:
    """Per-request AI Gateway headers (credentials are added by the upstream client)."""
    headers = {}
    if request.cache is not None:
        if request.cache.ttl_seconds is not None:
            headers["cf-aig-cache-ttl"] = str(request.cache.ttl_seconds)
        if request.cache.skip:
            headers["cf-aig-skip-cache"] = "true"
    headers.update(metadata_header(caller, request.metadata))
    return headers
