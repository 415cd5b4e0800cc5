"""docs/API.md over HTTP: routes (§1), happy paths and every error row of §8."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from .conftest import CLIENT_KEYS, GEMINI_KEY, ORIGIN, Function, Gateway

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()


def error_of(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == kind
    assert error["request_id"] == response.headers["x-request-id"]
    assert isinstance(error["retryable"], bool)
    assert error["message"]
    return error


# ------------------------------------------------------------------ happy paths


def test_prompt_answer_is_normalised(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"thoughts": True})  # a thought part comes back; it must not reach `text`
    r = fn.post({"prompt": "What is Cloudflare?"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] == "Echo: What is Cloudflare?"
    assert body["model"] == "gemini-2.5-flash"
    assert body["model_version"] == "gemini-2.5-flash"
    assert body["finish_reason"] == "stop"
    assert body["blocked_reason"] is None
    assert "json" not in body
    assert body["id"] and body["request_id"] == r.headers["x-request-id"]
    usage = body["usage"]
    assert set(usage) == {"input_tokens", "output_tokens", "thinking_tokens", "cached_tokens", "total_tokens"}
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] + usage["thinking_tokens"]
    assert usage["thinking_tokens"] > 0  # the emulator thinks unless told not to; thoughts are not in text
    assert body["gateway"]["cache_status"] == "MISS"
    assert len(body["gateway"]["log_id"]) == 26
    assert body["gateway"]["attempts"] == 1
    assert set(body["timing_ms"]) == {"upstream", "total"}
    assert r.headers["cache-control"] == "no-store"
    assert "upstream;dur=" in r.headers["server-timing"]


def test_upstream_request_follows_the_mapping(fn: Function, gateway: Gateway) -> None:
    r = fn.post(
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this photo?"},
                        {"type": "image", "mime_type": "image/png", "data": PNG},
                    ],
                },
            ],
            "system": "You are terse.",
            "model": "gemini-2.5-pro",
            "temperature": 0.7,
            "top_p": 0.95,
            "top_k": 40,
            "max_output_tokens": 1024,
            "stop": ["END"],
            "seed": 7,
            "thinking_budget": 0,
            "cache": {"ttl_seconds": 3600, "skip": True},
            "metadata": {"app": "ios", "screen": "chat", "build": 12, "beta": True},
        }
    )
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "gemini-2.5-pro"
    assert r.json()["usage"]["thinking_tokens"] == 0
    (seen,) = gateway.requests()
    assert seen["path"] == "/test-account/test-gateway/google-ai-studio/v1beta/models/gemini-2.5-pro:generateContent"
    headers = seen["headers"]
    assert headers["x-goog-api-key"] == GEMINI_KEY
    assert headers["cf-aig-no-wholesale"] == "true"
    assert headers["cf-aig-cache-ttl"] == "3600"
    assert headers["cf-aig-skip-cache"] == "true"
    assert "cf-aig-authorization" not in headers
    assert json.loads(headers["cf-aig-metadata"]) == {
        "app": "ios",
        "screen": "chat",
        "build": 12,
        "beta": True,
        "caller": "ios-app",
    }
    assert "authorization" not in headers, "the caller's credentials are never forwarded"
    body = seen["body"]
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Hello!"}]},
        {
            "role": "user",
            "parts": [{"text": "What is in this photo?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}],
        },
    ]
    assert body["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert body["generationConfig"] == {
        "temperature": 0.7,
        "topP": 0.95,
        "topK": 40,
        "maxOutputTokens": 1024,
        "stopSequences": ["END"],
        "seed": 7,
        "thinkingConfig": {"thinkingBudget": 0},
    }


def test_json_response_format(fn: Function, gateway: Gateway) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    r = fn.post({"prompt": "Where is Google?", "response_format": {"type": "json", "schema": schema}})
    assert r.status_code == 200, r.text
    assert r.json()["json"] == {"city": "example"}
    config = gateway.requests()[0]["body"]["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema, "maxOutputTokens": 8192}


def test_json_format_with_non_json_text_has_no_json_field(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"text": "not json at all"})
    r = fn.post({"prompt": "x", "response_format": {"type": "json"}})
    assert r.status_code == 200
    assert r.json()["text"] == "not json at all"
    assert "json" not in r.json()


def test_cache_hit_is_reported(fn: Function) -> None:
    body = {"prompt": "cache me", "cache": {"ttl_seconds": 600}}
    assert fn.post(body).json()["gateway"]["cache_status"] == "MISS"
    assert fn.post(body).json()["gateway"]["cache_status"] == "HIT"


@pytest.mark.parametrize(
    ("fault", "finish"),
    [
        ({"finish_reason": "MAX_TOKENS"}, "length"),
        ({"finish_reason": "SAFETY"}, "content_filter"),
        ({"finish_reason": "RECITATION"}, "recitation"),
        ({"finish_reason": "MALFORMED_FUNCTION_CALL"}, "error"),
        ({"finish_reason": "A_REASON_FROM_THE_FUTURE"}, "other"),
        ({"empty_parts": True}, "stop"),
    ],
)
def test_finish_reasons(fn: Function, gateway: Gateway, fault: dict[str, Any], finish: str) -> None:
    gateway.faults(fault)
    r = fn.post({"prompt": "x"})
    assert r.status_code == 200, r.text
    assert r.json()["finish_reason"] == finish


def test_blocked_prompt_is_a_200(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"block_reason": "SAFETY"})
    r = fn.post({"prompt": "something bad"})
    assert r.status_code == 200
    body = r.json()
    assert (body["text"], body["finish_reason"], body["blocked_reason"]) == ("", "blocked", "SAFETY")


def test_gateway_guardrail_is_a_blocked_200(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"status": 424, "gateway_error": 2016})
    r = fn.post({"prompt": "x"})
    assert r.status_code == 200, r.text
    assert r.json()["finish_reason"] == "blocked"
    assert r.json()["blocked_reason"] == "GATEWAY_GUARDRAIL_PROMPT"


def test_request_id_is_kept_when_sane(fn: Function) -> None:
    assert fn.post({"prompt": "x"}, headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == "abc-123"
    odd = fn.post({"prompt": "x"}, headers={"X-Request-Id": "a b\tc<script>"})
    assert odd.headers["x-request-id"] != "a b\tc<script>"
    assert len(odd.headers["x-request-id"]) == 32


def test_healthz_touches_nothing(fn: Function, gateway: Gateway) -> None:
    r = fn.http.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["version"]
    assert fn.http.head("/healthz").status_code == 200
    assert gateway.requests() == []


def test_x_api_key_header_works_too(fn: Function) -> None:
    r = fn.post({"prompt": "x"}, key=None, headers={"X-API-Key": CLIENT_KEYS["web"]})
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------ CORS


def test_cors_preflight_and_actual_request(fn: Function) -> None:
    pre = fn.http.options("/", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == ORIGIN
    assert "Authorization" in pre.headers["access-control-allow-headers"]
    assert "Origin" in pre.headers["vary"]
    actual = fn.post({"prompt": "x"}, headers={"Origin": ORIGIN})
    assert actual.headers["access-control-allow-origin"] == ORIGIN
    other = fn.http.options("/", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers
    assert (
        "access-control-allow-origin"
        not in fn.post({"prompt": "x"}, headers={"Origin": "https://evil.example"}).headers
    )


# ------------------------------------------------------------------ errors of docs/API.md §8


def test_400_invalid_json(fn: Function) -> None:
    error_of(fn.post(content=b'{"prompt": ', headers={"Content-Type": "application/json"}), 400, "invalid_json")
    error_of(fn.post(content=b'{"prompt": NaN}', headers={"Content-Type": "application/json"}), 400, "invalid_json")
    error_of(fn.post(content=b"", headers={"Content-Type": "application/json"}), 400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "prompt"),
        ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "temperature": 2.5}, "temperature"),
        ({"prompt": "x", "temperature": -0.1}, "temperature"),
        ({"prompt": "x", "top_p": 1.5}, "top_p"),
        ({"prompt": "x", "top_k": 0}, "top_k"),
        ({"prompt": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"prompt": "x", "stop": ["a", "b", "c", "d", "e", "f"]}, "stop"),
        ({"prompt": "x", "thinking_budget": -2}, "thinking_budget"),
        ({"prompt": "x", "cache": {"ttl_seconds": 59}}, "cache.ttl_seconds"),
        ({"prompt": "x", "metadata": {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}}, "metadata"),
        ({"prompt": "x", "metadata": {"caller": "me"}}, "metadata.caller"),
        ({"prompt": "x", "model": "gemini-ultra-9000"}, "model"),
        ({"prompt": "x", "unexpected": True}, "unexpected"),
        ({"prompt": "x", "temperature": "0.5"}, "temperature"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages"),
        ({"messages": [{"role": "system", "content": "hi"}]}, "messages[0].role"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "mime_type": "image/png", "data": "not base64!"}]}
                ]
            },
            "messages[0].content[0].data",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "mime_type": "image/gif", "data": PNG}]}]},
            "messages[0].content[0].mime_type",
        ),
        ({"prompt": "x", "response_format": {"type": "xml"}}, "response_format.type"),
        ([1, 2, 3], "body"),
    ],
)
def test_400_invalid_request_names_the_field(fn: Function, gateway: Gateway, body: Any, field: str) -> None:
    error = error_of(fn.post(body), 400, "invalid_request")
    assert error["details"][0]["field"] == field
    assert error["message"].startswith(field)
    assert gateway.requests() == [], "nothing invalid reaches the upstream"


def test_upstream_invalid_argument_is_invalid_request(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"status": 400})
    error = error_of(fn.post({"prompt": "x"}), 400, "invalid_request")
    assert "invalid argument" in error["message"].lower()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"X-API-Key": "wrong-key"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
)
def test_401_unauthenticated(fn: Function, gateway: Gateway, headers: dict[str, str]) -> None:
    error = error_of(fn.post({"prompt": "x"}, key=None, headers=headers), 401, "unauthenticated")
    assert "wrong-key" not in error["message"]
    assert gateway.requests() == []


def test_404_and_405(fn: Function) -> None:
    error_of(fn.http.post("/nope", json={}), 404, "not_found")
    error_of(fn.http.get("/v2/anything"), 404, "not_found")
    r = fn.http.get("/")
    error_of(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "POST, OPTIONS"
    r = fn.http.post("/healthz")
    error_of(r, 405, "method_not_allowed")
    assert "GET" in r.headers["allow"]
    error_of(fn.http.put("/", json={}), 405, "method_not_allowed")
    error_of(fn.http.delete("/"), 405, "method_not_allowed")


def test_413_from_declared_length_and_from_a_chunked_body(start_function: Any) -> None:
    small = start_function(MAX_REQUEST_BYTES="2048")
    big = json.dumps({"prompt": "x" * 5000}).encode()
    error_of(small.post(content=big, headers={"Content-Type": "application/json"}), 413, "payload_too_large")

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1000  # no Content-Length: the limit holds while reading

    error_of(small.post(content=chunks(), headers={"Content-Type": "application/json"}), 413, "payload_too_large")
    assert small.post({"prompt": "fits"}).status_code == 200


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_415_unsupported_media_type(fn: Function, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    error_of(fn.post(content=b'{"prompt": "x"}', headers=headers), 415, "unsupported_media_type")


def test_json_with_charset_is_fine(fn: Function) -> None:
    r = fn.post(content=b'{"prompt": "x"}', headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200


def test_anonymous_only_when_allowed(start_function: Any) -> None:
    # Without any caller check the function refuses to start (tests/integration/test_start_refused.py).
    anonymous = start_function(CLIENT_API_KEYS_SECRET=None, ALLOW_UNAUTHENTICATED="true")
    assert anonymous.post({"prompt": "x"}, key=None).status_code == 200


def test_503_when_the_secret_is_denied_or_missing(start_function: Any) -> None:
    denied = start_function(GEMINI_API_KEY_SECRET="projects/test-project/secrets/denied/versions/latest")
    error = error_of(denied.post({"prompt": "x"}), 503, "unavailable")
    assert "never-served" not in error["message"]
    missing = start_function(GEMINI_API_KEY_SECRET="projects/test-project/secrets/nope/versions/3")
    error_of(missing.post({"prompt": "x"}), 503, "unavailable")
