"""gemini_gateway.gemini_request: our request → Gemini body and AI Gateway headers (docs/API.md §3)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gemini_gateway.chat.gemini_body import gateway_headers, to_gemini_body
from gemini_gateway.chat.models import GenerateRequest
from gemini_gateway.json_body import validate


def req(**body: Any) -> GenerateRequest:
    return validate(GenerateRequest, body)


def test_prompt_becomes_one_user_content() -> None:
    assert to_gemini_body(req(prompt="What is Cloudflare?")) == {
        "contents": [{"role": "user", "parts": [{"text": "What is Cloudflare?"}]}]
    }


def test_messages_map_roles_and_parts() -> None:
    body = to_gemini_body(
        req(
            messages=[
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this photo?"},
                        {"type": "image", "mime_type": "image/jpeg", "data": "AAAA"},
                    ],
                },
            ]
        )
    )
    assert body == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {
                "role": "user",
                "parts": [
                    {"text": "What is in this photo?"},
                    {"inlineData": {"mimeType": "image/jpeg", "data": "AAAA"}},
                ],
            },
        ]
    }


def test_system_instruction() -> None:
    body = to_gemini_body(req(prompt="x", system="You are terse."))
    assert body["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert "systemInstruction" not in to_gemini_body(req(prompt="x"))


def test_no_generation_config_when_nothing_set() -> None:
    assert "generationConfig" not in to_gemini_body(req(prompt="x", stream=True, metadata={"a": 1}))


def test_generation_config_names() -> None:
    body = to_gemini_body(
        req(
            prompt="x",
            temperature=0.7,
            top_p=0.95,
            top_k=40,
            max_output_tokens=1024,
            stop=["END"],
            seed=7,
            thinking_budget=0,
        )
    )
    assert body["generationConfig"] == {
        "temperature": 0.7,
        "topP": 0.95,
        "topK": 40,
        "maxOutputTokens": 1024,
        "stopSequences": ["END"],
        "seed": 7,
        "thinkingConfig": {"thinkingBudget": 0},
    }


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [
        ("temperature", 0, "temperature"),
        ("top_p", 0.0, "topP"),
        ("seed", 0, "seed"),
        ("stop", [], "stopSequences"),
    ],
)
def test_zero_values_are_sent(field: str, value: Any, name: str) -> None:
    assert to_gemini_body(req(prompt="x", **{field: value}))["generationConfig"] == {name: value}


@pytest.mark.parametrize("budget", [-1, 0, 1024])
def test_thinking_budget(budget: int) -> None:
    assert to_gemini_body(req(prompt="x", thinking_budget=budget))["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": budget}
    }


def test_response_format_json_with_schema() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    config = to_gemini_body(req(prompt="x", response_format={"type": "json", "schema": schema}))["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}


def test_response_format_json_without_schema() -> None:
    config = to_gemini_body(req(prompt="x", response_format={"type": "json"}))["generationConfig"]
    assert config == {"responseMimeType": "application/json"}


def test_response_format_text_adds_nothing() -> None:
    assert "generationConfig" not in to_gemini_body(req(prompt="x", response_format={"type": "text"}))


def test_body_is_json_serialisable() -> None:
    body = to_gemini_body(req(prompt="é ✓", system="s", temperature=1, response_format={"type": "json", "schema": {}}))
    assert json.loads(json.dumps(body, allow_nan=False)) == body


# --- headers ----------------------------------------------------------------------------------------------


def metadata_of(headers: dict[str, str]) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(headers["cf-aig-metadata"])
    return value


def test_metadata_always_carries_caller() -> None:
    headers = gateway_headers(req(prompt="x"), caller="ios-app")
    assert headers == {"cf-aig-metadata": '{"caller":"ios-app"}'}


def test_metadata_merged_with_caller_at_most_five_entries() -> None:
    headers = gateway_headers(req(prompt="x", metadata={"app": "ios", "n": 2, "f": 1.5, "b": True}), caller="key:ios")
    meta = metadata_of(headers)
    assert meta == {"app": "ios", "n": 2, "f": 1.5, "b": True, "caller": "key:ios"}
    assert len(meta) <= 5


def test_metadata_header_is_ascii_json() -> None:
    headers = gateway_headers(req(prompt="x", metadata={"screen": "café ✓"}), caller="ünïcode")
    value = headers["cf-aig-metadata"]
    assert value.isascii()
    assert metadata_of(headers) == {"screen": "café ✓", "caller": "ünïcode"}


@pytest.mark.parametrize(
    ("cache", "expected"),
    [
        (None, {}),
        ({}, {}),
        ({"ttl_seconds": 3600}, {"cf-aig-cache-ttl": "3600"}),
        ({"skip": True}, {"cf-aig-skip-cache": "true"}),
        ({"skip": False}, {}),
        ({"ttl_seconds": 60, "skip": True}, {"cf-aig-cache-ttl": "60", "cf-aig-skip-cache": "true"}),
    ],
)
def test_cache_headers(cache: dict[str, Any] | None, expected: dict[str, str]) -> None:
    body: dict[str, Any] = {"prompt": "x"}
    if cache is not None:
        body["cache"] = cache
    headers = gateway_headers(req(**body), caller="c")
    headers.pop("cf-aig-metadata")
    assert headers == expected


def test_headers_carry_no_credentials() -> None:
    headers = gateway_headers(req(prompt="x"), caller="c")
    lowered = {k.lower() for k in headers}
    assert not lowered & {"x-goog-api-key", "authorization", "cf-aig-authorization"}
