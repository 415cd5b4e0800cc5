"""Our request → the Gemini `generateContent` body and AI Gateway headers.

Pure functions; the mapping is docs/API.md, "Mapping upstream".
"""

from __future__ import annotations

import json
from typing import Any

from ..models import GenerateRequest, Message

__all__ = ["gateway_headers", "to_gemini_body"]


def _contents(request: GenerateRequest) -> list[dict[str, Any]]:
    if request.prompt is not None:
        return [{"role": "user", "parts": [{"text": request.prompt}]}]
    return [_content(m) for m in request.messages or ()]


def _content(message: Message) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if part.type == "text":
            parts.append({"text": part.text})
        else:
            parts.append({"inlineData": {"mimeType": part.mime_type, "data": part.data}})
    return {"role": "model" if message.role == "assistant" else "user", "parts": parts}


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
    if request.response_format is not None and request.response_format.type == "json":
        config["responseMimeType"] = "application/json"
        if request.response_format.schema_ is not None:
            config["responseJsonSchema"] = request.response_format.schema_
    return config


def to_gemini_body(request: GenerateRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": _contents(request)}
    if request.system is not None:
        body["systemInstruction"] = {"parts": [{"text": request.system}]}
    config = _generation_config(request)
    if config:
        body["generationConfig"] = config
    return body


def gateway_headers(
    request: GenerateRequest,
    *,
    caller: str,
) -> dict[str, str]:
    """Per-request AI Gateway headers (credentials are added by the upstream client)."""
    headers = {}
    if request.cache is not None:
        if request.cache.ttl_seconds is not None:
            headers["cf-aig-cache-ttl"] = str(request.cache.ttl_seconds)
        if request.cache.skip:
            headers["cf-aig-skip-cache"] = "true"
    metadata: dict[str, Any] = dict(request.metadata or {})
    metadata["caller"] = caller
    headers["cf-aig-metadata"] = json.dumps(metadata, separators=(",", ":"), ensure_ascii=True)
    return headers
