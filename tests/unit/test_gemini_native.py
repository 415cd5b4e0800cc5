"""gemini_gateway.routes.gemini: the Gemini request model, its refusals by field, Google's error shape."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from gemini_gateway.errors import (
    ApiError,
    Forbidden,
    Internal,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Problem,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamTimeout,
)
from gemini_gateway.payload import parse_json, validate
from gemini_gateway.routes import ROUTES
from gemini_gateway.routes.gemini.answers import google_error_body, google_status
from gemini_gateway.routes.gemini.models import GeminiRequest
from gemini_gateway.routing import find

RAW = b"\x89PNG\r\n\x1a\n\xfb\xff\xfe image bytes?"
PNG = base64.b64encode(RAW).decode()
PNG_URLSAFE = base64.urlsafe_b64encode(RAW).decode().rstrip("=")
USER = {"role": "user", "parts": [{"text": "hi"}]}


def ok(body: dict[str, Any]) -> GeminiRequest:
    return validate(GeminiRequest, parse_json(json.dumps(body).encode()))


def refused(body: Any) -> tuple[str, str]:
    """(field, problem) of the first refusal; the message always starts with them."""
    with pytest.raises(InvalidRequest) as info:
        validate(GeminiRequest, body)
    error = info.value
    assert error.details, "a refusal always names a field"
    first = error.details[0]
    assert error.message.startswith(f"{first.field}: {first.problem}")
    return first.field, first.problem


def upstream(req: GeminiRequest) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(req.upstream_body())
    return data


# --------------------------------------------------------------------------- what the SDKs send is accepted


def test_python_sdk_plain_call() -> None:
    assert upstream(ok({"contents": [{"parts": [{"text": "hello"}], "role": "user"}]})) == {
        "contents": [{"parts": [{"text": "hello"}], "role": "user"}]
    }


def test_python_sdk_full_config_with_snake_case_thinking_config() -> None:
    body = {
        "contents": [{"parts": [{"text": "hello"}], "role": "user"}],
        "systemInstruction": {"parts": [{"text": "terse"}], "role": "user"},
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
        "generationConfig": {
            "temperature": 0.5,
            "topK": 40.0,
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
            "thinkingConfig": {"include_thoughts": True, "thinking_budget": 0},
        },
    }
    sent = upstream(ok(body))
    assert sent["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 0}
    assert sent["generationConfig"]["topK"] == 40.0
    assert sent["systemInstruction"] == body["systemInstruction"]
    assert sent["safetySettings"] == body["safetySettings"]


def test_chat_history_echoes_thoughts_and_signatures() -> None:
    signature = base64.urlsafe_b64encode(b"\x00\xff opaque").decode()
    body = {
        "contents": [
            USER,
            {"role": "model", "parts": [{"text": "thinking...", "thought": True}, {"text": "", "thoughtSignature": signature}]},
            {"role": "user", "parts": [{"text": "and?"}, {"inlineData": {"mimeType": "image/png", "data": PNG_URLSAFE}}]},
        ],
        "generationConfig": {},
    }
    assert upstream(ok(body)) == body


def test_everything_documented_in_generation_config() -> None:
    config = {
        "candidateCount": 1,
        "stopSequences": ["END", "STOP"],
        "maxOutputTokens": 1024,
        "temperature": 2,
        "topP": 0,
        "topK": 1,
        "seed": -7,
        "responseMimeType": "text/x.enum",
        "responseSchema": {"type": "STRING", "enum": ["a", "b"]},
        "presencePenalty": -0.5,
        "frequencyPenalty": 1.5,
        "responseLogprobs": True,
        "logprobs": 20,
        "enableEnhancedCivicAnswers": False,
        "responseModalities": ["TEXT", "IMAGE"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": -1, "thinkingLevel": "LOW"},
        "imageConfig": {"aspectRatio": "16:9"},
        "mediaResolution": "MEDIA_RESOLUTION_LOW",
    }
    assert upstream(ok({"contents": [USER], "generationConfig": config}))["generationConfig"] == config


def test_role_may_be_left_out_and_null_is_absent() -> None:
    req = ok({"contents": [{"parts": [{"text": "x"}]}], "systemInstruction": None})
    assert upstream(req)["contents"] == [{"parts": [{"text": "x"}]}]


def test_integers_stay_integers_and_unicode_survives() -> None:
    sent = upstream(ok({"contents": [{"parts": [{"text": "héllo ✓"}]}], "generationConfig": {"topK": 40, "seed": 3}}))
    assert sent["generationConfig"] == {"topK": 40, "seed": 3}
    assert sent["contents"][0]["parts"][0]["text"] == "héllo ✓"


# --------------------------------------------------------------------------- refusals, by field


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({}, "contents", "required"),
        ({"contents": []}, "contents", "must not be empty"),
        ({"contents": [{"parts": []}]}, "contents[0].parts", "must not be empty"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role", "must be one of 'user' or 'model'"),
        ({"contents": [{"parts": [{}]}]}, "contents[0].parts[0].text", "a part needs exactly one of text or inlineData"),
        (
            {"contents": [{"parts": [{"text": "x", "inlineData": {"mimeType": "image/png", "data": PNG}}]}]},
            "contents[0].parts[0].text",
            "a part needs exactly one of text or inlineData",
        ),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "not base64!"}}]}]},
            "contents[0].parts[0].inlineData.data",
            "must be valid base64",
        ),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "png", "data": PNG}}]}]},
            "contents[0].parts[0].inlineData.mimeType",
            None,
        ),
        (
            {"contents": [{"parts": [{"text": "x", "thoughtSignature": "%%%"}]}]},
            "contents[0].parts[0].thoughtSignature",
            "must be valid base64",
        ),
        (
            {"contents": [{"parts": [{"fileData": {"fileUri": "gs://x"}}]}]},
            "contents[0].parts[0].fileData",
            "not supported by this function",
        ),
        (
            {"contents": [{"parts": [{"functionCall": {"name": "f"}}]}]},
            "contents[0].parts[0].functionCall",
            "not supported by this function",
        ),
        ({"contents": [{"parts": [{"text": 1}]}]}, "contents[0].parts[0].text", "must be a string"),
        ({"contents": [USER], "tools": [{"googleSearch": {}}]}, "tools", "not supported by this function"),
        ({"contents": [USER], "toolConfig": {}}, "toolConfig", "not supported by this function"),
        ({"contents": [USER], "tool_config": {}}, "toolConfig", "not supported by this function"),
        ({"contents": [USER], "cachedContent": "cachedContents/x"}, "cachedContent", "not supported by this function"),
        ({"contents": [USER], "labels": {"a": "b"}}, "labels", "unknown field"),
        ({"contents": [USER], "model": "models/x"}, "model", "unknown field"),
        (
            {"contents": [USER], "systemInstruction": {"parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]}},
            "systemInstruction.parts",
            "systemInstruction takes text parts only",
        ),
        ({"contents": [USER], "generationConfig": {"temperature": 2.5}}, "generationConfig.temperature", "must be <= 2"),
        ({"contents": [USER], "generationConfig": {"temperature": -0.1}}, "generationConfig.temperature", "must be >= 0"),
        ({"contents": [USER], "generationConfig": {"temperature": "1"}}, "generationConfig.temperature", "must be a number"),
        ({"contents": [USER], "generationConfig": {"topP": 1.01}}, "generationConfig.topP", "must be <= 1"),
        ({"contents": [USER], "generationConfig": {"topK": 0}}, "generationConfig.topK", None),
        ({"contents": [USER], "generationConfig": {"topK": 2.5}}, "generationConfig.topK", "must be a whole number"),
        ({"contents": [USER], "generationConfig": {"candidateCount": 9}}, "generationConfig.candidateCount", "must be <= 8"),
        (
            {"contents": [USER], "generationConfig": {"maxOutputTokens": 0}},
            "generationConfig.maxOutputTokens",
            "must be >= 1",
        ),
        (
            {"contents": [USER], "generationConfig": {"stopSequences": ["a"] * 6}},
            "generationConfig.stopSequences",
            "must have at most 5 items",
        ),
        ({"contents": [USER], "generationConfig": {"seed": 2**31}}, "generationConfig.seed", None),
        (
            {"contents": [USER], "generationConfig": {"logprobs": 21, "responseLogprobs": True}},
            "generationConfig.logprobs",
            "must be <= 20",
        ),
        (
            {"contents": [USER], "generationConfig": {"logprobs": 3}},
            "generationConfig.logprobs",
            "needs responseLogprobs: true",
        ),
        (
            {
                "contents": [USER],
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "responseSchema": {"type": "OBJECT"},
                    "responseJsonSchema": {"type": "object"},
                },
            },
            "generationConfig.responseJsonSchema",
            "give responseSchema or responseJsonSchema, not both",
        ),
        (
            {"contents": [USER], "generationConfig": {"responseSchema": {"type": "OBJECT"}}},
            "generationConfig.responseSchema",
            "needs responseMimeType (application/json or text/x.enum)",
        ),
        (
            {"contents": [USER], "generationConfig": {"thinkingConfig": {"thinkingBudget": -2}}},
            "generationConfig.thinkingConfig.thinkingBudget",
            "must be >= -1",
        ),
        (
            {"contents": [USER], "generationConfig": {"thinkingConfig": {"thinkingLevel": "EXTREME"}}},
            "generationConfig.thinkingConfig.thinkingLevel",
            None,
        ),
        (
            {"contents": [USER], "generationConfig": {"responseModalities": ["SMELL"]}},
            "generationConfig.responseModalities[0]",
            None,
        ),
        ({"contents": [USER], "generationConfig": {"routingConfig": {}}}, "generationConfig.routingConfig", "not supported by this function"),
        ({"contents": [USER], "generationConfig": {"tempreature": 1}}, "generationConfig.tempreature", "unknown field"),
        (
            {"contents": [USER], "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_SOME"}]},
            "safetySettings[0].threshold",
            None,
        ),
        (
            {"contents": [USER], "safetySettings": [{"category": "VIOLENCE", "threshold": "OFF"}]},
            "safetySettings[0].category",
            None,
        ),
        (
            {
                "contents": [USER],
                "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF", "method": "SEVERITY"}],
            },
            "safetySettings[0].method",
            "not supported by this function",
        ),
        (
            {
                "contents": [USER],
                "safetySettings": [
                    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"},
                    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
                ],
            },
            "safetySettings",
            "one setting per category (HARM_CATEGORY_HARASSMENT repeats)",
        ),
    ],
)
def test_refusals_name_the_field(body: dict[str, Any], field: str, problem: str | None) -> None:
    got_field, got_problem = refused(body)
    assert got_field == field
    if problem is not None:
        assert got_problem == problem


def test_not_an_object() -> None:
    assert refused([1, 2]) == ("body", "must be a JSON object")


def test_only_validated_fields_travel_upstream() -> None:
    """Re-serialised from the model: duplicate keys or aliases cannot smuggle a second meaning."""
    raw = b'{"contents": [{"parts": [{"text": "a"}]}], "contents": [{"parts": [{"text": "b"}]}]}'
    req = validate(GeminiRequest, parse_json(raw))
    assert upstream(req) == {"contents": [{"parts": [{"text": "b"}]}]}
    snake = ok({"contents": [USER], "system_instruction": {"parts": [{"text": "s"}]}, "generation_config": {"max_output_tokens": 5}})
    assert upstream(snake) == {
        "contents": [USER],
        "systemInstruction": {"parts": [{"text": "s"}]},
        "generationConfig": {"maxOutputTokens": 5},
    }


# --------------------------------------------------------------------------- the path


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("/v1beta/models/gemini-2.5-flash:generateContent", ("v1beta", "gemini-2.5-flash", "generateContent")),
        ("/v1/models/gemini-2.5-pro:streamGenerateContent", ("v1", "gemini-2.5-pro", "streamGenerateContent")),
        ("/v1beta/models/gemini-2.5-flash:countTokens", None),
        ("/v1beta/tunedModels/x:generateContent", None),
        ("/v2/models/x:generateContent", None),
        ("/v1beta/models/a/b:generateContent", None),
        ("/v1beta/models/:generateContent", None),
    ],
)
def test_path(path: str, match: tuple[str, str, str] | None) -> None:
    found = find(ROUTES, path)
    got = None
    if found is not None and "model" in found[1]:
        got = (found[1]["version"], found[1]["model"], found[0].path.rsplit(":", 1)[1])
    assert got == match


# --------------------------------------------------------------------------- Google's error shape


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (InvalidRequest("x"), 400, "INVALID_ARGUMENT"),
        (Unauthenticated(), 401, "UNAUTHENTICATED"),
        (Forbidden("x"), 403, "PERMISSION_DENIED"),
        (NotFound("x"), 404, "NOT_FOUND"),
        (MethodNotAllowed("GET", ["POST"]), 405, "UNIMPLEMENTED"),
        (PayloadTooLarge(10), 413, "INVALID_ARGUMENT"),
        (UnsupportedMediaType("text/plain"), 415, "INVALID_ARGUMENT"),
        (RateLimited("slow down", retry_after=3), 429, "RESOURCE_EXHAUSTED"),
        (Internal("x"), 500, "INTERNAL"),
        (UpstreamError("x", retryable=True), 502, "UNAVAILABLE"),
        (UpstreamError("x"), 502, "INTERNAL"),
        (Unavailable("x"), 503, "UNAVAILABLE"),
        (UpstreamTimeout(60), 504, "DEADLINE_EXCEEDED"),
    ],
)
def test_google_status(error: ApiError, code: int, status: str) -> None:
    body = google_error_body(error, "req-1")["error"]
    assert (body["code"], body["status"], google_status(error)) == (code, status, status)
    assert body["message"] == error.message
    assert body["details"][-1] == {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "req-1"}


def test_field_problems_are_bad_request_violations() -> None:
    error = InvalidRequest("a: bad", details=[Problem("a", "bad"), Problem("b.c", "worse")])
    (violations, _) = google_error_body(error, "r")["error"]["details"]
    assert violations == {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": "a", "description": "bad"}, {"field": "b.c", "description": "worse"}],
    }


def test_rate_limit_carries_retry_info() -> None:
    (retry, _) = google_error_body(RateLimited("slow", retry_after=2.2), "r")["error"]["details"]
    assert retry == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}
