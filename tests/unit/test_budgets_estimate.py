"""The input estimate a budget reserves, on every generating route's request (token_estimate's rule)."""

from __future__ import annotations

import base64
import json
from typing import Any

from gemini_gateway.chat.models import GenerateRequest
from gemini_gateway.routes.gemini.models import CountTokensRequest, GeminiRequest
from gemini_gateway.routes.openai.models import ChatCompletionRequest
from gemini_gateway.token_estimate import MEDIA_PART_TOKENS, InputEstimate

PNG = base64.b64encode(b"\x89PNG fake image bytes for a test").decode()
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def parse(model: Any, body: dict[str, Any]) -> Any:
    return model.model_validate_json(json.dumps(body))


def test_text_is_utf8_bytes_over_four_plus_one() -> None:
    count = InputEstimate()
    count.text("x" * 4000)
    assert count.tokens() == 1001
    cjk = InputEstimate()
    cjk.text("漢" * 100)  # 3 bytes a character: a non-Latin character weighs more than a Latin one
    assert cjk.tokens() == 76
    lone = InputEstimate()
    lone.text("\ud800abc")  # a lone surrogate never raises
    assert lone.tokens() == 2


def test_generate_request_counts_prompt_system_images_calls_results_tools_and_schema() -> None:
    bare = parse(GenerateRequest, {"prompt": "x" * 400}).input_estimate()
    assert bare == 101
    rich = parse(
        GenerateRequest,
        {
            "system": "s" * 40,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "x" * 400},
                        {"type": "image", "mime_type": "image/png", "data": PNG},
                    ],
                },
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "call-test", "name": "weather", "arguments": {"city": "Paris"}}],
                },
                {"role": "tool", "tool_call_id": "call-test", "content": {"temp": 21}},
            ],
            "tools": [{"name": "weather", "parameters": SCHEMA}],
            "response_format": {"type": "json", "schema": SCHEMA},
        },
    ).input_estimate()
    assert rich > bare + MEDIA_PART_TOKENS + 10 + 2 * len(json.dumps(SCHEMA)) // 4 - 5


def test_openai_request_counts_messages_images_calls_tools_and_schema() -> None:
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    request = parse(
        ChatCompletionRequest,
        {
            "messages": [
                {"role": "system", "content": "s" * 40},
                {"role": "user", "content": [{"type": "text", "text": "x" * 400}, image]},
            ],
            "tools": [{"type": "function", "function": {"name": "weather", "parameters": SCHEMA}}],
        },
    )
    assert request.input_estimate() > (440 // 4) + MEDIA_PART_TOKENS + len(json.dumps(SCHEMA)) // 4


def test_gemini_request_counts_parts_media_inside_function_responses_and_schemas() -> None:
    text_only = parse(GeminiRequest, {"contents": [{"parts": [{"text": "x" * 400}]}]})
    assert text_only.input_estimate() == 101
    media = {"inlineData": {"mimeType": "image/png", "data": PNG}}
    response = {"functionResponse": {"name": "shot", "response": {"ok": True}, "parts": [media]}}
    rich = parse(
        GeminiRequest,
        {
            "contents": [
                {"role": "user", "parts": [{"text": "x" * 400}, media]},
                {"role": "user", "parts": [response]},
            ],
            "systemInstruction": {"parts": [{"text": "s" * 40}]},
            "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA},
        },
    )
    assert rich.input_estimate() >= 101 + 2 * MEDIA_PART_TOKENS + 10 + len(json.dumps(SCHEMA)) // 4


def test_count_tokens_estimates_what_it_counts() -> None:
    plain = parse(CountTokensRequest, {"contents": [{"parts": [{"text": "x" * 400}]}]})
    whole = parse(CountTokensRequest, {"generateContentRequest": {"contents": [{"parts": [{"text": "x" * 400}]}]}})
    assert plain.input_estimate() == whole.input_estimate() == 101


def test_the_budget_cap_replaces_a_larger_max_output_tokens_upstream() -> None:
    from gemini_gateway.chat.gemini_body import to_gemini_body

    asked = parse(GenerateRequest, {"prompt": "hi", "max_output_tokens": 1000})
    assert to_gemini_body(asked, max_output_tokens=300)["generationConfig"]["maxOutputTokens"] == 300
    assert to_gemini_body(asked, max_output_tokens=1000)["generationConfig"]["maxOutputTokens"] == 1000
    native = parse(
        GeminiRequest, {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 1000}}
    )
    assert native.upstream_json(300)["generationConfig"]["maxOutputTokens"] == 300
    assert native.upstream_json(2000)["generationConfig"]["maxOutputTokens"] == 1000
