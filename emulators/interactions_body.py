"""The Interactions API create body: checked the way Google checks it, and its input turned into steps.

Why a strict model here: the function validates bodies with a model of its own and must not let through
what Google refuses (unknown fields, `model` with `agent`, `background` without `store`, a thinking level
the model does not take), nor refuse what Google takes. Field names and shapes follow google-genai 3.6.1
(`_gaos/types/interactions`) and @google/genai 2.32.0; error codes follow Google's Interactions error page
(`invalid_request`, `parameter_unknown`, ... in `{"error": {"code", "message"}}`). Wording that no source
pins is ours and says so in emulators/README.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from emulators import model_rules

__all__ = ["AGENTS", "BodyError", "Create", "parse_create", "step_contents"]

CREATE_FIELDS = frozenset(
    {
        "model",
        "agent",
        "agent_config",
        "background",
        "cached_content",
        "continuation_token",
        "environment",
        "generation_config",
        "input",
        "labels",
        "previous_interaction_id",
        "response_format",
        "response_mime_type",
        "response_modalities",
        "safety_settings",
        "service_tier",
        "store",
        "stream",
        "system_instruction",
        "tools",
        "webhook_config",
    }
)
GENERATION_FIELDS = frozenset(
    {
        "image_config",
        "max_output_tokens",
        "seed",
        "speech_config",
        "stop_sequences",
        "temperature",  # deprecated by Google, accepted and ignored
        "thinking_level",
        "thinking_summaries",
        "tool_choice",
        "top_p",  # deprecated by Google, accepted and ignored (there is no top_k on Interactions)
        "transcription_config",
        "video_config",
    }
)
CONTENT_TYPES = frozenset({"text", "image", "audio", "document", "video"})
TOOL_STEP_TYPES = frozenset(
    f"{tool}_{kind}"
    for tool in ("google_search", "code_execution", "url_context", "google_maps", "file_search", "retrieval")
    for kind in ("call", "result")
) | {"mcp_server_tool_call", "mcp_server_tool_result", "tool_search_call", "tool_search_result"}
STEP_TYPES = frozenset({"user_input", "model_output", "thought", "function_call", "function_result"}) | TOOL_STEP_TYPES
TOOL_TYPES = frozenset(
    {
        "function",
        "google_search",
        "url_context",
        "code_execution",
        "google_maps",
        "file_search",
        "computer_use",
        "mcp_server",
        "retrieval",
        "tool_search",
    }
)
AGENTS = (
    "deep-research-pro-preview-12-2025",
    "deep-research-preview-04-2026",
    "deep-research-max-preview-04-2026",
    "antigravity-preview-05-2026",
    "antigravity-preview-09-2026",
)
SERVICE_TIERS = frozenset({"flex", "standard", "priority", "deferred"})
TOOL_CHOICES = frozenset({"auto", "any", "none", "validated"})
THINKING_SUMMARIES = frozenset({"auto", "none"})
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")


class BodyError(Exception):
    """A refusal in the Interactions API's own error shape: HTTP status, string code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _one_of(value: Any, options: frozenset[str]) -> bool:
    """Membership that cannot raise: a caller's list or object is simply not one of the names."""
    return isinstance(value, str) and value in options


def _invalid(message: str) -> BodyError:
    return BodyError(400, "invalid_request", message)


@dataclass
class Create:
    """A checked create request."""

    raw: dict[str, Any]
    model: str | None
    agent: str | None
    steps: list[dict[str, Any]]
    """The input as steps (a string or contents become one `user_input` step)."""
    previous_id: str | None
    store: bool
    background: bool
    stream: bool
    generation: dict[str, Any]
    system: str | None
    tools: list[dict[str, Any]] = field(default_factory=list)

    @property
    def level(self) -> str | None:
        level = self.generation.get("thinking_level")
        return str(level) if isinstance(level, str) else None

    @property
    def json_mode(self) -> dict[str, Any] | None:
        """The JSON response format asked for, if any (`{type: text, mime_type: application/json, schema?}`)."""
        formats = self.raw.get("response_format")
        for item in formats if isinstance(formats, list) else [formats]:
            if isinstance(item, dict) and item.get("mime_type") == "application/json":
                return item
        return None


def _bool(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise _invalid(f"Invalid value at '{name}' (TYPE_BOOL), {_repr(value)}")
    return value


def _repr(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text[:80]


def parse_create(body: Any) -> Create:
    """Check a create body; raise BodyError with Google's code for the first problem found."""
    if not isinstance(body, dict):
        raise _invalid("Invalid JSON payload received. Expected an object.")
    for name in body:
        if name not in CREATE_FIELDS:
            raise BodyError(
                400, "parameter_unknown", f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
            )
    model, agent = body.get("model"), body.get("agent")
    if model is not None and agent is not None:
        raise _invalid("Only one of model and agent may be set.")
    if model is None and agent is None:
        raise _invalid("Either model or agent must be set.")
    for name, value in (("model", model), ("agent", agent)):
        if value is not None and (not isinstance(value, str) or not value):
            raise _invalid(f"Invalid value at '{name}' (TYPE_STRING), {_repr(value)}")
    if agent is not None and "generation_config" in body:
        raise _invalid("generation_config cannot be used with an agent; use agent_config.")
    if model is not None and "agent_config" in body:
        raise _invalid("agent_config can only be used with an agent.")
    store, background, stream = (
        _bool(body, "store", True),
        _bool(body, "background", False),
        _bool(body, "stream", False),
    )
    if background and not store:
        raise _invalid("background=true requires store=true.")
    if agent is not None and not background:
        raise _invalid("Agent interactions must run in the background: set background=true.")
    previous = body.get("previous_interaction_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise _invalid(f"Invalid value at 'previous_interaction_id' (TYPE_STRING), {_repr(previous)}")
    if "input" not in body and previous is None and "continuation_token" not in body:
        raise _invalid("input is required.")
    system = body.get("system_instruction")
    if system is not None and not isinstance(system, str):
        raise _invalid(f"Invalid value at 'system_instruction' (TYPE_STRING), {_repr(system)}")
    generation = _generation(body.get("generation_config"), model)
    _check_extras(body)
    return Create(
        raw=body,
        model=model,
        agent=agent,
        steps=_input_steps(body.get("input")),
        previous_id=previous,
        store=store,
        background=background,
        stream=stream,
        generation=generation,
        system=system,
        tools=_tools(body.get("tools")),
    )


def _generation(config: Any, model: str | None) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise _invalid(f"Invalid value at 'generation_config', {_repr(config)}")
    for name in config:
        if name not in GENERATION_FIELDS:
            raise BodyError(
                400,
                "parameter_unknown",
                f"Invalid JSON payload received. Unknown name \"{name}\" at 'generation_config': Cannot find field.",
            )
    limit = config.get("max_output_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise _invalid(f"Invalid value at 'generation_config.max_output_tokens', {_repr(limit)}")
    stops = config.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise _invalid("Invalid value at 'generation_config.stop_sequences': expected a list of strings.")
    summaries = config.get("thinking_summaries")
    if summaries is not None and not _one_of(summaries, THINKING_SUMMARIES):
        raise _invalid(f"Invalid value at 'generation_config.thinking_summaries', {_repr(summaries)}")
    level = config.get("thinking_level")
    if level is not None:
        if not isinstance(level, str) or level.upper() not in model_rules.LEVELS:
            raise _invalid(f"Invalid value at 'generation_config.thinking_level', {_repr(level)}")
        refused = model_rules.interactions_level_error(model or "", level.lower()) if model else None
        if refused:
            raise _invalid(refused)
    _tool_choice(config.get("tool_choice"))
    return dict(config)


def _tool_choice(choice: Any) -> None:
    if choice is None or _one_of(choice, TOOL_CHOICES):
        return
    allowed = choice.get("allowed_tools") if isinstance(choice, dict) and len(choice) == 1 else None
    if isinstance(allowed, dict):
        mode, tools = allowed.get("mode", "auto"), allowed.get("tools", [])
        if _one_of(mode, TOOL_CHOICES) and isinstance(tools, list) and all(isinstance(t, str) for t in tools):
            return
    raise _invalid(f"Invalid value at 'generation_config.tool_choice', {_repr(choice)}")


def _check_extras(body: dict[str, Any]) -> None:
    """Shapes of the fields the emulator does not act on, so a malformed one is refused as Google would."""
    tier = body.get("service_tier")
    if tier is not None and not _one_of(tier, SERVICE_TIERS):
        raise _invalid(f"Invalid value at 'service_tier', {_repr(tier)}")
    labels = body.get("labels")
    if labels is not None and (not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values())):
        raise _invalid("Invalid value at 'labels': expected a map of strings.")
    hook = body.get("webhook_config")
    if hook is not None:
        uris = hook.get("uris", []) if isinstance(hook, dict) else None
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise _invalid("Invalid value at 'webhook_config.uris': expected a list of strings.")
        if not set(hook) <= {"uris", "user_metadata"}:
            extra = sorted(set(hook) - {"uris", "user_metadata"})[0]
            raise BodyError(
                400,
                "parameter_unknown",
                f"Invalid JSON payload received. Unknown name \"{extra}\" at 'webhook_config': Cannot find field.",
            )
    settings = body.get("safety_settings")
    if settings is not None and (
        not isinstance(settings, list)
        or not all(isinstance(s, dict) and "type" in s and "threshold" in s for s in settings)
    ):
        raise _invalid("Invalid value at 'safety_settings': each needs type and threshold.")
    formats = body.get("response_format")
    if formats is not None:
        items = formats if isinstance(formats, list) else [formats]
        if not all(isinstance(f, dict) and isinstance(f.get("type"), str) for f in items):
            raise _invalid("Invalid value at 'response_format': each needs a type.")


def _tools(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _invalid(f"Invalid value at 'tools', {_repr(tools)}")
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if not _one_of(kind, TOOL_TYPES):
            raise _invalid(f"Invalid value at 'tools[{i}].type', {_repr(kind)}")
        if kind == "function":
            name = tool.get("name")
            if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
                raise _invalid(
                    f"* tools[{i}].name: Invalid function name. Must start with a letter or an underscore. Must be "
                    "alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a "
                    "maximum length of 64."
                )
    return list(tools)


def _input_steps(value: Any) -> list[dict[str, Any]]:
    """`input` as steps: a string, one content, a list of contents (one user turn), or a list of steps."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "user_input", "content": [{"type": "text", "text": value}]}]
    if isinstance(value, dict):
        _content(value, "input")
        return [{"type": "user_input", "content": [value]}]
    if not isinstance(value, list) or not value:
        raise _invalid(f"Invalid value at 'input', {_repr(value)}")
    if all(isinstance(v, dict) and _one_of(v.get("type"), CONTENT_TYPES) for v in value):
        for i, item in enumerate(value):
            _content(item, f"input[{i}]")
        return [{"type": "user_input", "content": list(value)}]
    for i, step in enumerate(value):
        _step(step, f"input[{i}]")
    return list(value)


def _content(item: Any, where: str) -> None:
    kind = item.get("type") if isinstance(item, dict) else None
    if not _one_of(kind, CONTENT_TYPES):
        raise _invalid(f"Invalid value at '{where}.type', {_repr(kind)}")
    if kind == "text" and not isinstance(item.get("text"), str):
        raise _invalid(f"Invalid value at '{where}.text' (TYPE_STRING), {_repr(item.get('text'))}")


def _step(step: Any, where: str) -> None:
    kind = step.get("type") if isinstance(step, dict) else None
    if not _one_of(kind, STEP_TYPES):
        raise _invalid(f"Invalid value at '{where}.type', {_repr(kind)}")
    assert isinstance(step, dict)
    if kind in ("user_input", "model_output"):
        content = step.get("content", [])
        if not isinstance(content, list):
            raise _invalid(f"Invalid value at '{where}.content', {_repr(content)}")
        for j, item in enumerate(content):
            _content(item, f"{where}.content[{j}]")
    elif kind == "function_call":
        if not isinstance(step.get("id"), str) or not isinstance(step.get("name"), str):
            raise _invalid(f"Invalid value at '{where}': a function_call step needs id and name.")
        if not isinstance(step.get("arguments"), dict):
            raise _invalid(f"Invalid value at '{where}.arguments' (type.googleapis.com/google.protobuf.Struct)")
    elif kind == "function_result":
        if not isinstance(step.get("call_id"), str) or "result" not in step:
            raise _invalid(f"Invalid value at '{where}': a function_result step needs call_id and result.")
    elif kind == "thought":
        signature = step.get("signature")
        if signature is not None and not isinstance(signature, str):
            raise _invalid(f"Invalid value at '{where}.signature' (TYPE_BYTES), {_repr(signature)}")


def _texts(content: Any) -> list[dict[str, Any]]:
    """generateContent parts for a content list: text stays text, media becomes an opaque inline part."""
    parts: list[dict[str, Any]] = []
    for item in content if isinstance(content, list) else []:
        if isinstance(item, dict) and item.get("type") == "text":
            parts.append({"text": str(item.get("text", ""))})
        elif isinstance(item, dict):
            parts.append({"inlineData": {"mimeType": str(item.get("mime_type", "application/octet-stream"))}})
    return parts


def step_contents(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps as generateContent `contents` (user/model turns), so the model routes' answer logic applies."""
    contents: list[dict[str, Any]] = []

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        elif parts:
            contents.append({"role": role, "parts": parts})

    for step in steps:
        kind = step.get("type")
        if kind == "user_input":
            add("user", _texts(step.get("content")))
        elif kind == "model_output":
            add("model", _texts(step.get("content")))
        elif kind == "function_call":
            call = {"name": step.get("name"), "args": step.get("arguments") or {}, "id": step.get("id")}
            add("model", [{"functionCall": call}])
        elif kind == "function_result":
            response = {"name": step.get("name"), "id": step.get("call_id"), "response": step.get("result")}
            add("user", [{"functionResponse": response}])
    return contents
