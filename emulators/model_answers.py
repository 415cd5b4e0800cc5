"""What the emulated model answers, whichever API asks: echo or JSON text, function calls, token counts.

Why: the model routes (`emulators.ai_gateway`) and the Interactions routes (`emulators.interactions`) must
answer alike for the same conversation, so both read a generateContent-shaped body (the Interactions routes
convert their steps to one) with these functions. Deterministic on purpose: a test must know when the model
calls a function and what it says.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from emulators.gateway_core import INVALID_ARGUMENT_MESSAGE

__all__ = [
    "FUNCTION_CALLING_MODES",
    "THOUGHT_TEXT",
    "Tools",
    "answer_text",
    "content_parts",
    "is_user_text",
    "last_text",
    "new_call_id",
    "parse_tools",
    "planned_calls",
    "prompt_tokens",
    "split_words",
    "tokens",
]

FUNCTION_CALLING_MODES = ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED")
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")

THOUGHT_TEXT = (
    "**Thinking**\n\nThe user sent a message and this emulator answers by echoing "
    "its last text part back. Nothing to plan; keep it short.\n"
)


def tokens(text: str) -> int:
    """Cheap stand-in for Gemini's tokenizer on one text: length / 4, plus 1."""
    return len(text) // 4 + 1


def prompt_tokens(body: dict[str, Any]) -> int:
    """Cheap stand-in for Gemini's tokenizer: total text length / 4, plus 1."""
    chars = 0
    system = body.get("systemInstruction")
    for content in [*(body.get("contents") or []), *([system] if isinstance(system, dict) else [])]:
        if isinstance(content, dict):
            for part in content.get("parts") or []:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    chars += len(part["text"])
                elif isinstance(part, dict) and ("functionCall" in part or "functionResponse" in part):
                    chars += len(json.dumps(part.get("functionCall") or part.get("functionResponse")))
                elif isinstance(part, dict):
                    chars += 1032  # an image or file costs a fixed-ish amount (258 tokens)
    return chars // 4 + 1


def last_text(body: dict[str, Any]) -> str:
    """The last text part of the last content: what the emulated model echoes."""
    contents = body.get("contents") or []
    last = contents[-1] if contents else {}
    parts = last.get("parts") if isinstance(last, dict) else None
    if isinstance(parts, list):
        for part in reversed(parts):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                return str(part["text"])
    return ""


def _sample_for(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return "example"
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "string")
    kind = str(kind or "string").lower()
    if kind == "object":
        props = schema.get("properties")
        return {k: _sample_for(v) for k, v in props.items()} if isinstance(props, dict) else {}
    return {"string": "example", "integer": 1, "number": 1.5, "boolean": True, "array": []}.get(kind, "example")


def answer_text(body: dict[str, Any], fault: dict[str, Any]) -> str:
    """Fault text, else JSON when asked for, else the tool result or an echo of the last text."""
    if isinstance(fault.get("text"), str):
        return str(fault["text"])
    result = _last_function_response(body)
    if result is not None:
        echo = ("Result: " + json.dumps(result.get("response"), ensure_ascii=False, separators=(",", ":")))[:200]
    else:
        echo = ("Echo: " + last_text(body))[:200]
    config = body.get("generationConfig") or {}
    if config.get("responseMimeType") == "application/json":
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        if isinstance(schema, dict) and str(schema.get("type", "")).lower() == "object":
            return json.dumps(_sample_for(schema))
        return json.dumps({"answer": echo})
    return echo


def split_words(text: str) -> list[str]:
    """Text pieces at word boundaries (>= 3 if there are enough words); joined they equal text."""
    words = re.findall(r"\s*\S+\s*", text)
    if not words or "".join(words) != text:
        return [text]
    if len(words) <= 3:
        return words
    n = max(3, len(words) // 8)
    size, extra = divmod(len(words), n)
    pieces, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append("".join(words[start:end]))
        start = end
    return pieces


# --------------------------------------------------------------------------- function calling


@dataclass
class Tools:
    """The function-calling part of a request: declared functions and how the model may use them."""

    declarations: list[dict[str, Any]]
    mode: str
    allowed: list[str]

    def callable(self) -> list[dict[str, Any]]:
        """Declarations the model may call; allowedFunctionNames narrows them."""
        if not self.allowed:
            return self.declarations
        return [d for d in self.declarations if d["name"] in self.allowed]


def parse_tools(body: dict[str, Any]) -> Tools | str:
    """Parse `tools` and `toolConfig`; a string is the INVALID_ARGUMENT message.

    Built-in tools (googleSearch, urlContext, codeExecution, ...) are accepted
    and ignored: the emulator has nothing to search or run.
    """
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        return INVALID_ARGUMENT_MESSAGE
    declarations: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        found = tool.get("functionDeclarations") or []
        if not isinstance(found, list):
            return INVALID_ARGUMENT_MESSAGE
        for j, declaration in enumerate(found):
            name = declaration.get("name") if isinstance(declaration, dict) else None
            if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
                return (
                    f"* GenerateContentRequest.tools[{i}].function_declarations[{j}].name: Invalid function name. "
                    "Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores "
                    "(_), dots (.), colons (:), or dashes (-), with a maximum length of 64.\n"
                )
            declarations.append(declaration)
    tool_config = body.get("toolConfig") or {}
    calling = tool_config.get("functionCallingConfig") or {} if isinstance(tool_config, dict) else None
    if not isinstance(calling, dict):
        return INVALID_ARGUMENT_MESSAGE
    mode = str(calling.get("mode") or "AUTO").upper()
    allowed = calling.get("allowedFunctionNames") or []
    if mode not in FUNCTION_CALLING_MODES or not isinstance(allowed, list):
        return INVALID_ARGUMENT_MESSAGE
    return Tools(declarations, "AUTO" if mode == "MODE_UNSPECIFIED" else mode, [str(a) for a in allowed])


def content_parts(content: Any) -> list[dict[str, Any]]:
    """The dict parts of a content; anything malformed counts as none."""
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _is_user(content: Any) -> bool:
    """Google treats a content without a role as the user's."""
    return isinstance(content, dict) and content.get("role") in (None, "", "user")


def is_user_text(content: Any) -> bool:
    """A user turn with text: where Gemini's "current turn" for thought signatures starts."""
    return _is_user(content) and any(isinstance(p.get("text"), str) for p in content_parts(content))


def _last_function_response(body: dict[str, Any]) -> dict[str, Any] | None:
    """The first functionResponse of the last content, when that content is the user's."""
    last = (body.get("contents") or [None])[-1]
    if not _is_user(last):
        return None
    for part in content_parts(last):
        response = part.get("functionResponse")
        if isinstance(response, dict):
            return response
    return None


def new_call_id() -> str:
    """A short id for a function call, as Gemini gives each one."""
    return secrets.token_hex(4)


def planned_calls(body: dict[str, Any], tools: Tools, fault: dict[str, Any]) -> list[dict[str, Any]]:
    """The functionCall objects to answer with: scripted by the fault, else one call when a call is due.

    Why always call: a real model in AUTO mode decides; a test needs to know.
    """
    scripted = fault.get("function_calls")
    if isinstance(scripted, list):
        return [
            {"name": str(c.get("name")), "args": dict(c.get("args") or {}), "id": str(c.get("id") or new_call_id())}
            for c in scripted
            if isinstance(c, dict)
        ]
    callable_ = tools.callable()
    last = (body.get("contents") or [None])[-1]
    if tools.mode == "NONE" or not callable_ or not is_user_text(last) or _last_function_response(body):
        return []
    declaration = callable_[0]
    schema = declaration.get("parametersJsonSchema") or declaration.get("parameters")
    args = _sample_for(schema) if isinstance(schema, dict) else {}
    return [{"name": declaration["name"], "args": args if isinstance(args, dict) else {}, "id": new_call_id()}]
