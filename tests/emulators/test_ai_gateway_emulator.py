"""The AI Gateway emulator speaks the real wire format and applies faults as documented.

Why these tests: the function's own tests trust this emulator to behave like
Cloudflare + Google; if it drifts from the example captures, they prove
nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.emulators.conftest import AUTH_KEY, GATEWAY_TOKEN, GEMINI_KEY, GEMINI_KEY_2, MODEL, Gateway
from tests.support.processes import Server, free_port, start_server

__all__: list[str] = []

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures"  # real Gemini bodies
AUTH = {"x-goog-api-key": GEMINI_KEY}
LOG_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def _body(text: str = "Where is Google based?", **generation_config: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if generation_config:
        body["generationConfig"] = generation_config
    return body


def _generate(gw: Gateway, body: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    return gw.client.post(
        gw.model_url(**kw), json=_body() if body is None else body, headers=AUTH if headers is None else headers
    )


def _sse_events(raw: bytes) -> list[dict[str, Any]]:
    assert raw.endswith(b"\r\n\r\n")
    frames = raw.split(b"\r\n\r\n")[:-1]
    events = []
    for frame in frames:
        assert frame.startswith(b"data: "), frame
        assert b"\n" not in frame
        events.append(json.loads(frame[len(b"data: ") :]))
    return events


def _texts(response: dict[str, Any], thought: bool = False) -> str:
    parts = response["candidates"][0]["content"].get("parts", [])
    return "".join(p["text"] for p in parts if bool(p.get("thought")) == thought)


# --------------------------------------------------------------------------- default answers


def test_generate_matches_example_shape(gateway: Gateway) -> None:
    example = json.loads((EXAMPLES / "generate-content-response.json").read_text())
    r = _generate(gateway, _body(thinkingConfig={"includeThoughts": True}))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    assert LOG_ID.match(r.headers["cf-aig-log-id"])
    assert r.headers["cf-aig-cache-status"] == "MISS"
    data = r.json()
    assert data.keys() == example.keys()
    assert data["candidates"][0].keys() == example["candidates"][0].keys()
    assert data["candidates"][0]["content"].keys() == example["candidates"][0]["content"].keys()
    assert data["usageMetadata"].keys() == example["usageMetadata"].keys()
    parts = data["candidates"][0]["content"]["parts"]
    assert [p.keys() for p in parts] == [p.keys() for p in example["candidates"][0]["content"]["parts"]]
    assert parts[0]["thought"] is True and parts[0]["text"].startswith("**Thinking**")
    assert parts[1]["text"] == "Echo: Where is Google based?"
    assert data["candidates"][0]["content"]["role"] == "model"
    assert data["candidates"][0]["finishReason"] == "STOP"
    usage = data["usageMetadata"]
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )
    assert usage["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": usage["promptTokenCount"]}]
    assert data["modelVersion"] == MODEL
    assert len(data["responseId"]) == 22
    assert _generate(gateway).json()["responseId"] != data["responseId"]


def test_thoughts_only_when_asked_but_always_billed(gateway: Gateway) -> None:
    data = _generate(gateway).json()
    assert data["candidates"][0]["content"]["parts"] == [{"text": "Echo: Where is Google based?"}]
    assert data["usageMetadata"]["thoughtsTokenCount"] > 0
    gateway.faults({"thoughts": True})
    forced = _generate(gateway, _body("hi", thinkingConfig={"thinkingBudget": 0})).json()
    assert forced["candidates"][0]["content"]["parts"][0]["thought"] is True
    assert _texts(forced) == "Echo: hi" and forced["usageMetadata"]["thoughtsTokenCount"] > 0
    asked = _generate(gateway, _body(thinkingConfig={"includeThoughts": True, "thinkingBudget": 0})).json()
    assert "thoughtsTokenCount" not in asked["usageMetadata"]
    assert [p.get("thought") for p in asked["candidates"][0]["content"]["parts"]] == [None]


def test_second_key_v1_and_echo_truncation(gateway: Gateway) -> None:
    long = "word " * 100
    r = _generate(gateway, _body(long), headers={"x-goog-api-key": GEMINI_KEY_2}, version="v1", model="gemini-x")
    assert r.status_code == 200
    assert r.json()["modelVersion"] == "gemini-x"
    assert len(_texts(r.json())) == 200


def test_echo_uses_last_text_part_of_last_content(gateway: Gateway) -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "first"}]},
            {"role": "model", "parts": [{"text": "reply"}]},
            {"role": "user", "parts": [{"text": "look"}, {"inlineData": {"mimeType": "image/png", "data": "AA=="}}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
    }
    assert _texts(_generate(gateway, body).json()) == "Echo: look"


def test_real_base_url_with_v1_prefix(gateway: Gateway) -> None:
    url = f"{gateway.url}/v1/acc/gw/google-ai-studio/v1beta/models/{MODEL}:generateContent"
    assert gateway.client.post(url, json=_body(), headers=AUTH).status_code == 200


def test_thinking_budget_zero_drops_thought(gateway: Gateway) -> None:
    data = _generate(gateway, _body("hi", thinkingConfig={"thinkingBudget": 0, "includeThoughts": True})).json()
    parts = data["candidates"][0]["content"]["parts"]
    assert parts == [{"text": "Echo: hi"}]
    assert "thoughtsTokenCount" not in data["usageMetadata"]
    usage = data["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]


def test_json_mode_with_schema(gateway: Gateway) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "n": {"type": "integer"},
            "x": {"type": "number"},
            "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "meta": {"type": "object"},
        },
    }
    data = _generate(gateway, _body(responseMimeType="application/json", responseJsonSchema=schema)).json()
    assert json.loads(_texts(data)) == {"city": "example", "n": 1, "x": 1.5, "ok": True, "tags": [], "meta": {}}
    # OpenAPI-style responseSchema with upper-case types works too
    schema2 = {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}
    data = _generate(gateway, _body(responseMimeType="application/json", responseSchema=schema2)).json()
    assert json.loads(_texts(data)) == {"city": "example"}


def test_json_mode_without_schema(gateway: Gateway) -> None:
    data = _generate(gateway, _body("hi", responseMimeType="application/json")).json()
    assert json.loads(_texts(data)) == {"answer": "Echo: hi"}


# --------------------------------------------------------------------------- streaming


def test_sse_stream_framing_usage_and_finish(gateway: Gateway) -> None:
    text = "Tell me a fairly long story about the sky and why it looks blue at noon"
    body = _body(text, thinkingConfig={"includeThoughts": True})
    r = gateway.client.post(gateway.model_url("streamGenerateContent") + "?alt=sse", json=body, headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert LOG_ID.match(r.headers["cf-aig-log-id"])
    assert b"event:" not in r.content and b"[DONE]" not in r.content
    events = _sse_events(r.content)
    assert len(events) >= 4  # thought + >= 3 text chunks
    assert events[0]["candidates"][0]["content"]["parts"][0]["thought"] is True
    assert all("finishReason" not in e["candidates"][0] for e in events[:-1])
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert len({e["responseId"] for e in events}) == 1
    assert all(e["modelVersion"] == MODEL for e in events)
    prompt = events[0]["usageMetadata"]["promptTokenCount"]
    totals = [e["usageMetadata"]["totalTokenCount"] for e in events]
    assert all(e["usageMetadata"]["promptTokenCount"] == prompt for e in events)
    assert totals == sorted(totals)
    text_chunks = [_texts(e) for e in events[1:]]
    assert len(text_chunks) >= 3
    whole = _generate(gateway, _body(text)).json()
    assert "".join(text_chunks) == _texts(whole) == f"Echo: {text}"
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] == whole["usageMetadata"]["candidatesTokenCount"]
    assert events[-1]["usageMetadata"]["totalTokenCount"] == whole["usageMetadata"]["totalTokenCount"]


def test_example_stream_file_uses_same_framing() -> None:
    """The capture we imitate: CRLF-framed `data:` events, nothing else."""
    events = _sse_events((EXAMPLES / "stream-generate-content.sse").read_bytes())
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"


def test_sse_stream_is_really_streamed(gateway: Gateway) -> None:
    gateway.config(stream_delay=0.3)
    url = gateway.model_url("streamGenerateContent") + "?alt=sse"
    start = time.monotonic()
    arrivals = []
    body = _body("one two three four", thinkingConfig={"includeThoughts": True})
    with gateway.client.stream("POST", url, json=body, headers=AUTH) as r:
        for _ in r.iter_raw():
            arrivals.append(time.monotonic() - start)
    assert arrivals[0] < 0.25
    assert arrivals[-1] >= 0.9  # thought + 3 text chunks, 0.3 s apart


def test_json_array_stream(gateway: Gateway) -> None:
    r = gateway.client.post(gateway.model_url("streamGenerateContent"), json=_body("a b c d"), headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    assert r.content.startswith(b"[{") and r.content.endswith(b"}]")
    assert b"},\r\n{" in r.content
    chunks = json.loads(r.content)
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "".join(_texts(c) for c in chunks) == "Echo: a b c d"


# --------------------------------------------------------------------------- auth and validation


def test_bad_key_echoes_key_like_google(gateway: Gateway) -> None:
    example = json.loads((EXAMPLES / "error-api-key-invalid.json").read_text())
    r = _generate(gateway, headers={"x-goog-api-key": "test-wrong-key"})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    assert LOG_ID.match(r.headers["cf-aig-log-id"])
    expected = json.loads(json.dumps(example).replace("Invalid API key: key1234", "Invalid API key: test-wrong-key"))
    assert r.json() == expected


def test_missing_key_is_403(gateway: Gateway) -> None:
    r = _generate(gateway, headers={})
    assert r.status_code == 403
    assert r.json()["error"]["status"] == "PERMISSION_DENIED"
    assert "unregistered callers" in r.json()["error"]["message"]


def test_no_keys_configured_accepts_any_key(gateway: Gateway) -> None:
    gateway.config(keys=[])
    assert _generate(gateway, headers={"x-goog-api-key": "anything"}).status_code == 200
    assert _generate(gateway, headers={}).status_code == 403


TOKEN_TYPE_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid "
    "authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def _reason(r: httpx.Response) -> str:
    return str(r.json()["error"]["details"][0]["reason"])


def test_auth_key_works_and_an_unknown_one_is_access_token_type_unsupported(gateway: Gateway) -> None:
    assert _generate(gateway, headers={"x-goog-api-key": AUTH_KEY}).status_code == 200
    r = _generate(gateway, headers={"x-goog-api-key": "AQ.Ab8RN6test-unknown-fake-key"}, action="streamGenerateContent")
    assert r.status_code == 401
    assert r.json() == {
        "error": {
            "code": 401,
            "message": TOKEN_TYPE_MESSAGE,
            "status": "UNAUTHENTICATED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                    "metadata": {
                        "service": "generativelanguage.googleapis.com",
                        "method": "google.ai.generativelanguage.v1beta.GenerativeService.StreamGenerateContent",
                    },
                }
            ],
        }
    }
    assert _reason(_generate(gateway, headers={"x-goog-api-key": "test-not-an-auth-key"})) == "API_KEY_INVALID"


def test_auth_key_as_bearer_is_api_key_service_blocked(gateway: Gateway) -> None:
    r = _generate(gateway, headers={"authorization": f"Bearer {AUTH_KEY}"}, version="v1")
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    assert _reason(r) == "API_KEY_SERVICE_BLOCKED"
    method = r.json()["error"]["details"][0]["metadata"]["methodName"]
    assert method == "google.ai.generativelanguage.v1.GenerativeService.GenerateContent"


def test_auth_error_fault_and_config(gateway: Gateway) -> None:
    gateway.faults({"auth_error": "API_KEY_SERVICE_BLOCKED"}, {"auth_error": "ACCESS_TOKEN_TYPE_UNSUPPORTED"})
    blocked = _generate(gateway, headers={"x-goog-api-key": AUTH_KEY}, action="countTokens")
    assert blocked.status_code == 403
    error = blocked.json()["error"]
    method = "google.ai.generativelanguage.v1beta.GenerativeService.CountTokens"
    assert error["message"] == f"Requests to this API generativelanguage.googleapis.com method {method} are blocked."
    assert error["status"] == "PERMISSION_DENIED"
    assert error["details"][0] == {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_SERVICE_BLOCKED",
        "domain": "googleapis.com",
        "metadata": {
            "consumer": "projects/123456789012",
            "service": "generativelanguage.googleapis.com",
            "apiName": "generativelanguage.googleapis.com",
            "methodName": method,
        },
    }
    assert error["details"][1]["@type"] == "type.googleapis.com/google.rpc.LocalizedMessage"
    assert _generate(gateway).status_code == 401
    assert _generate(gateway).status_code == 200
    assert gateway.config(auth_error="ACCESS_TOKEN_TYPE_UNSUPPORTED")["auth_error"] == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    for headers in (AUTH, {"x-goog-api-key": AUTH_KEY}):
        assert _reason(_generate(gateway, headers=headers)) == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    assert _generate(gateway, headers={}).status_code == 403  # no key: still the missing-key answer
    bad = gateway.client.post(f"{gateway.url}/__emulator/config", json={"auth_error": "NOPE"})
    assert bad.status_code == 400
    gateway.reset()
    assert _generate(gateway).status_code == 200


def test_gateway_token_checked_first(gateway: Gateway) -> None:
    gateway.config(gateway_token=GATEWAY_TOKEN)
    for headers in ({}, {"cf-aig-authorization": "Bearer nope", **AUTH}, {"cf-aig-authorization": GATEWAY_TOKEN}):
        r = _generate(gateway, headers=headers)
        assert r.status_code == 401
        assert r.json() == {
            "success": False,
            "result": [],
            "messages": [],
            "error": [{"code": 2009, "message": "Unauthorized"}],
            "name": "AiGatewayError",
            "httpCode": 401,
            "internalCode": 2009,
            "message": "Unauthorized",
        }
    ok = _generate(gateway, headers={"cf-aig-authorization": f"Bearer {GATEWAY_TOKEN}", **AUTH})
    assert ok.status_code == 200


def test_gateway_token_from_command_line(emulator_logs: Path) -> None:
    port = free_port()
    args = ["-m", "emulators.ai_gateway", "--port", str(port), "--gateway-token", GATEWAY_TOKEN, "--delay", "0.2"]
    server: Server = start_server("ai-gateway-token", args, port, log_dir=emulator_logs)
    try:
        assert f"AI Gateway emulator listening on http://127.0.0.1:{port}" in server.output()
        url = f"{server.url}/a/g/google-ai-studio/v1beta/models/{MODEL}:generateContent"
        assert httpx.post(url, json=_body(), headers=AUTH).status_code == 401
        start = time.monotonic()
        r = httpx.post(url, json=_body(), headers={**AUTH, "cf-aig-authorization": f"Bearer {GATEWAY_TOKEN}"})
        assert r.status_code == 200  # no --key: any key goes
        assert time.monotonic() - start >= 0.2
    finally:
        server.stop()


@pytest.mark.parametrize("body", [{}, {"contents": []}, {"contents": "x"}, [1, 2], "not json"])
def test_invalid_body_is_400(gateway: Gateway, body: Any) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    r = gateway.client.post(gateway.model_url(), content=content, headers=AUTH)
    assert r.status_code == 400
    assert r.json() == {
        "error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/a/g/google-ai-studio/v2/models/m:generateContent"),
        ("POST", "/a/g/google-ai-studio/v1beta/models/m:embedContent"),
        ("POST", "/a/g/workers-ai/v1beta/models/m:generateContent"),
        ("GET", "/a/g/google-ai-studio/v1beta/models/m:generateContent"),
        ("GET", "/"),
    ],
)
def test_unknown_route(gateway: Gateway, method: str, path: str) -> None:
    r = gateway.client.request(method, gateway.url + path, headers=AUTH)
    assert r.status_code == 400
    assert r.json() == {"success": False, "errors": [{"code": 7000, "message": "No route for that URI"}]}


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "INVALID_ARGUMENT"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (502, "UNAVAILABLE"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ],
)
def test_status_faults(gateway: Gateway, status: int, name: str) -> None:
    gateway.faults({"status": status})
    r = _generate(gateway)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    assert LOG_ID.match(r.headers["cf-aig-log-id"])
    error = r.json()["error"]
    assert (error["code"], error["status"]) == (status, name)
    if status == 404:
        assert error["message"].startswith(f"models/{MODEL} is not found for API version v1beta")
    if status == 503:
        assert error["message"] == "The model is overloaded. Please try again later."
    assert _generate(gateway).status_code == 200  # one fault, one request


def test_429_details_headers_and_debug_info(gateway: Gateway) -> None:
    gateway.faults({"status": 429, "retry_delay": "0.5s", "headers": {"Retry-After": "1"}, "debug_info": "quota"})
    r = _generate(gateway)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    error = r.json()["error"]
    assert error["message"].startswith("You exceeded your current quota")
    types = [d["@type"].rsplit(".", 1)[-1] for d in error["details"]]
    assert types == ["QuotaFailure", "Help", "RetryInfo", "DebugInfo"]
    assert error["details"][2]["retryDelay"] == "0.5s"
    assert error["details"][3]["detail"] == "quota"


def test_body_fault_is_verbatim(gateway: Gateway) -> None:
    gateway.faults({"status": 502, "body": "<html>bad gateway</html>"}, {"body": {"anything": [1]}})
    r = _generate(gateway)
    assert (r.status_code, r.text) == (502, "<html>bad gateway</html>")
    r = _generate(gateway)
    assert (r.status_code, r.json()) == (200, {"anything": [1]})


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (2003, 429, "Rate limited"),
        (2016, 424, "Prompt blocked due to security configurations"),
        (2017, 424, "Response blocked due to security configurations"),
    ],
)
def test_gateway_error_faults(gateway: Gateway, code: int, status: int, message: str) -> None:
    gateway.faults({"gateway_error": code, "status": status})
    r = _generate(gateway)
    assert r.status_code == status
    assert r.json() == {
        "success": False,
        "result": [],
        "messages": [],
        "error": [{"code": code, "message": message}],
        "name": "AiGatewayError",
        "httpCode": status,
        "internalCode": code,
        "message": message,
    }


def test_drop_fault_closes_connection(gateway: Gateway) -> None:
    gateway.faults({"drop": True})
    with pytest.raises(httpx.RemoteProtocolError):
        _generate(gateway)
    record = gateway.requests()[-1]
    assert record["status"] is None and record["dropped"] is True
    assert _generate(gateway).status_code == 200


def test_malformed_fault(gateway: Gateway) -> None:
    gateway.faults({"malformed": True})
    r = _generate(gateway)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_block_reason_fault(gateway: Gateway) -> None:
    gateway.faults({"block_reason": "SAFETY"}, {"block_reason": "PROHIBITED_CONTENT"})
    data = _generate(gateway).json()
    assert data.keys() == {"promptFeedback", "usageMetadata", "modelVersion", "responseId"}
    assert data["promptFeedback"]["blockReason"] == "SAFETY"
    assert data["promptFeedback"]["safetyRatings"]
    r = gateway.client.post(gateway.model_url("streamGenerateContent") + "?alt=sse", json=_body(), headers=AUTH)
    events = _sse_events(r.content)
    assert len(events) == 1 and events[0]["promptFeedback"]["blockReason"] == "PROHIBITED_CONTENT"


@pytest.mark.parametrize("reason", ["MAX_TOKENS", "SAFETY", "SOME_NEW_VALUE"])
def test_finish_reason_fault(gateway: Gateway, reason: str) -> None:
    gateway.faults({"finish_reason": reason}, {"finish_reason": reason})
    candidate = _generate(gateway).json()["candidates"][0]
    assert candidate["finishReason"] == reason
    assert ("content" in candidate) is (reason != "SAFETY")
    r = gateway.client.post(gateway.model_url("streamGenerateContent") + "?alt=sse", json=_body(), headers=AUTH)
    events = _sse_events(r.content)
    assert events[-1]["candidates"][0]["finishReason"] == reason
    assert all("finishReason" not in e["candidates"][0] for e in events[:-1])


def test_text_no_candidates_and_empty_parts(gateway: Gateway) -> None:
    gateway.faults({"text": "Mountain View"}, {"no_candidates": True}, {"empty_parts": True})
    assert _texts(_generate(gateway).json()) == "Mountain View"
    assert _generate(gateway).json().keys() == {"usageMetadata", "modelVersion", "responseId"}
    assert _generate(gateway).json()["candidates"] == [
        {"content": {"role": "model"}, "finishReason": "STOP", "index": 0}
    ]


def test_stream_drop_after(gateway: Gateway) -> None:
    gateway.faults({"stream_drop_after": 2})
    url = gateway.model_url("streamGenerateContent") + "?alt=sse"
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        gateway.client.stream("POST", url, json=_body("one two three four five"), headers=AUTH) as r,
    ):
        for piece in r.iter_raw():
            received += piece
    assert len(_sse_events(received)) == 2


def test_stream_error_after(gateway: Gateway) -> None:
    gateway.faults({"stream_error_after": 2})
    url = gateway.model_url("streamGenerateContent") + "?alt=sse"
    r = gateway.client.post(url, json=_body("one two three four five"), headers=AUTH)
    assert r.status_code == 200
    head, sep, tail = r.content.rpartition(b"\r\n\r\n")
    assert sep and len(_sse_events(head + sep)) == 2
    assert tail.startswith(b"{\n") and b"data:" not in tail
    assert json.loads(tail)["error"] == {
        "code": 503,
        "message": "The model is overloaded. Please try again later.",
        "status": "UNAVAILABLE",
    }


def test_stream_first_delay(gateway: Gateway) -> None:
    gateway.faults({"stream_first_delay": 0.4})
    url = gateway.model_url("streamGenerateContent") + "?alt=sse"
    start = time.monotonic()
    arrivals = []
    with gateway.client.stream("POST", url, json=_body("a b c"), headers=AUTH) as r:
        for _ in r.iter_raw():
            arrivals.append(time.monotonic() - start)
    assert arrivals[0] < 0.3
    assert arrivals[-1] >= 0.4


def test_stream_status_fault_is_plain_json(gateway: Gateway) -> None:
    gateway.faults({"status": 503})
    r = gateway.client.post(gateway.model_url("streamGenerateContent") + "?alt=sse", json=_body(), headers=AUTH)
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    assert r.json()["error"]["status"] == "UNAVAILABLE"


def test_faults_after_auth_unless_before_auth(gateway: Gateway) -> None:
    gateway.faults({"status": 500}, {"status": 500, "before_auth": True})
    assert _generate(gateway, headers={"x-goog-api-key": "test-wrong-key"}).status_code == 400  # fault consumed
    assert _generate(gateway, headers={"x-goog-api-key": "test-wrong-key"}).status_code == 500
    assert _generate(gateway, headers={"x-goog-api-key": "test-wrong-key"}).status_code == 400


def test_delay_fault_and_fifo(gateway: Gateway) -> None:
    gateway.faults({"delay": 0.3}, {"status": 503})
    start = time.monotonic()
    assert _generate(gateway).status_code == 200
    assert time.monotonic() - start >= 0.3
    assert _generate(gateway).status_code == 503
    assert _generate(gateway).status_code == 200


# --------------------------------------------------------------------------- control API


def test_control_config_and_reset(gateway: Gateway) -> None:
    defaults = gateway.client.get(f"{gateway.url}/__emulator/config").json()
    assert defaults == {
        "keys": [GEMINI_KEY, GEMINI_KEY_2, AUTH_KEY],
        "gateway_token": None,
        "delay": 0.0,
        "stream_delay": 0.0,
        "background_delay": 0.3,
        "auth_error": None,
    }
    assert gateway.config(keys=["test-other-key"], delay=0.01)["keys"] == ["test-other-key"]
    assert _generate(gateway).status_code == 400
    bad = gateway.client.post(f"{gateway.url}/__emulator/config", json={"nope": 1})
    assert bad.status_code == 400
    bad = gateway.client.post(f"{gateway.url}/__emulator/faults", json={"faults": "x"})
    assert bad.status_code == 400
    gateway.faults({"status": 500})
    gateway.reset()
    assert gateway.client.get(f"{gateway.url}/__emulator/config").json() == defaults
    assert gateway.client.get(f"{gateway.url}/__emulator/faults").json() == {"faults": []}
    assert gateway.requests() == []
    assert gateway.stats() == {"total": 0, "in_flight": 0, "max_in_flight": 0}
    assert _generate(gateway).status_code == 200


def test_requests_are_recorded(gateway: Gateway) -> None:
    gateway.faults({"status": 429})
    _generate(gateway, headers={**AUTH, "cf-aig-metadata": '{"app":"test"}', "X-Mixed-Case": "v"})
    gateway.client.post(gateway.model_url("streamGenerateContent") + "?alt=sse", content=b"not json", headers=AUTH)
    first, second = gateway.requests()
    assert first["path"] == f"/test-account/test-gateway/google-ai-studio/v1beta/models/{MODEL}:generateContent"
    assert first["query"] == {}
    assert first["headers"]["x-goog-api-key"] == GEMINI_KEY
    assert first["headers"]["cf-aig-metadata"] == '{"app":"test"}'
    assert first["headers"]["x-mixed-case"] == "v"
    assert first["body"] == _body()
    assert first["status"] == 429 and first["fault"] == {"status": 429}
    assert first["disconnected"] is False
    assert first["started"] <= first["ended"]
    assert second["query"] == {"alt": "sse"} and second["body"] == "not json" and second["status"] == 400
    assert gateway.stats() == {"total": 2, "in_flight": 0, "max_in_flight": 1}


def test_client_disconnect_is_recorded(gateway: Gateway) -> None:
    gateway.faults({"delay": 2})
    with pytest.raises(httpx.ReadTimeout):
        gateway.client.post(gateway.model_url(), json=_body(), headers=AUTH, timeout=0.2)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        record = gateway.requests()[-1]
        if record["ended"] is not None:
            break
        time.sleep(0.02)
    assert record["disconnected"] is True
    assert record["status"] is None
    assert record["ended"] - record["started"] < 1.0  # noticed well before the 2 s delay ended
    assert gateway.stats()["in_flight"] == 0


def test_client_disconnect_mid_stream_is_recorded(gateway: Gateway) -> None:
    gateway.config(stream_delay=0.2)
    url = gateway.model_url("streamGenerateContent") + "?alt=sse"
    with gateway.client.stream("POST", url, json=_body("a b c d e f"), headers=AUTH) as r:
        next(r.iter_raw())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and gateway.requests()[-1]["ended"] is None:
        time.sleep(0.02)
    record = gateway.requests()[-1]
    assert record["status"] == 200 and record["disconnected"] is True


def test_many_requests_held_open_at_once(gateway: Gateway) -> None:
    gateway.config(delay=0.5)

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            calls = [client.post(gateway.model_url(), json=_body(str(i)), headers=AUTH) for i in range(50)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    start = time.monotonic()
    assert asyncio.run(burst()) == [200] * 50
    assert time.monotonic() - start < 3
    stats = gateway.stats()
    assert stats["max_in_flight"] >= 50
    assert stats == {"total": 50, "in_flight": 0, "max_in_flight": stats["max_in_flight"]}


def test_cache_hit(gateway: Gateway) -> None:
    cached = {**AUTH, "cf-aig-cache-ttl": "3600"}
    first = _generate(gateway, headers=cached)
    assert first.headers["cf-aig-cache-status"] == "MISS"
    second = _generate(gateway, headers=cached)
    assert second.headers["cf-aig-cache-status"] == "HIT"
    assert second.content == first.content
    assert second.headers["cf-aig-log-id"] != first.headers["cf-aig-log-id"]
    skip = _generate(gateway, headers={**cached, "cf-aig-skip-cache": "true"})
    assert skip.headers["cf-aig-cache-status"] == "MISS"
    other_key = _generate(gateway, headers={"x-goog-api-key": GEMINI_KEY_2, "cf-aig-cache-ttl": "3600"})
    assert other_key.headers["cf-aig-cache-status"] == "MISS"
    no_ttl = _generate(gateway)
    assert no_ttl.headers["cf-aig-cache-status"] == "MISS"
    gateway.faults({"status": 503})
    assert _generate(gateway, headers=cached).status_code == 503  # a queued fault wins over the cache


# --------------------------------------------------------------------------- Gemini 3: thinking config, tools, countTokens

GEMINI3 = "gemini-3.8-flash"
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parametersJsonSchema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}
CLOCK = {"name": "get_time", "parameters": {"type": "OBJECT", "properties": {"zone": {"type": "STRING"}}}}
TOOLS = [{"functionDeclarations": [WEATHER, CLOCK]}, {"googleSearch": {}}, {"urlContext": {}}, {"codeExecution": {}}]
MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
    "correctly, and missing thought_signature may lead to degraded model performance. Additional data, "
    "function call `default_api:get_weather` , position 2. Please refer to "
    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)


def _tool_body(text: str = "Weather in Paris?", **extra: Any) -> dict[str, Any]:
    return {**_body(text), "tools": TOOLS, **extra}


def _parts(response: dict[str, Any]) -> list[dict[str, Any]]:
    return list(response["candidates"][0]["content"]["parts"])


def _calls(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in _parts(response) if "functionCall" in p]


def _error(r: httpx.Response) -> str:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    return str(error["message"])


def _follow_up(request: dict[str, Any], answer: dict[str, Any], result: Any = None) -> dict[str, Any]:
    """The next request of a tool loop: the model's turn replayed, then one functionResponse per call."""
    responses = [
        {"functionResponse": {"name": c["functionCall"]["name"], "id": c["functionCall"]["id"], "response": result}}
        for c in _calls(answer)
    ]
    contents = [*request["contents"], answer["candidates"][0]["content"], {"role": "user", "parts": responses}]
    return {**request, "contents": contents}


@pytest.mark.parametrize("model", ["gemini-3.8-flash", "gemini-3.5-flash-lite", "gemini-2.5-flash", "gemini-3-pro"])
def test_any_model_name_is_accepted(gateway: Gateway, model: str) -> None:
    r = _generate(gateway, model=model)
    assert r.status_code == 200 and r.json()["modelVersion"] == model


def test_thinking_level_on_gemini3(gateway: Gateway) -> None:
    high = _generate(gateway, _body(thinkingConfig={"thinkingLevel": "high"}), model=GEMINI3).json()
    assert high["usageMetadata"]["thoughtsTokenCount"] > 0
    body = _body(thinkingConfig={"thinkingLevel": "MINIMAL"})
    minimal = _generate(gateway, body, model="gemini-3.6-flash").json()
    assert "thoughtsTokenCount" not in minimal["usageMetadata"]
    r = _generate(gateway, _body(thinkingConfig={"thinkingLevel": "ULTRA"}), model=GEMINI3)
    assert "thinking_level" in _error(r)


@pytest.mark.parametrize(
    ("model", "refused"),
    [
        ("gemini-3.8-flash", ["MINIMAL", "XHIGH"]),
        ("gemini-3.7-flash", ["MINIMAL", "XHIGH"]),
        ("gemini-4-argon", ["MINIMAL", "XHIGH"]),
        ("gemini-3.1-pro-preview", ["MINIMAL", "XHIGH"]),
        ("gemini-3.6-flash", ["XHIGH"]),
        ("gemini-3.5-flash-lite", ["XHIGH"]),
        ("gemini-3.8-flash-lite", ["XHIGH"]),
    ],
)
def test_thinking_levels_per_model(gateway: Gateway, model: str, refused: list[str]) -> None:
    for level in ("MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH"):
        r = _generate(gateway, _body(thinkingConfig={"thinkingLevel": level.lower()}), model=model)
        if level in refused:
            assert r.status_code == 400, (model, level)
            assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
            assert _error(r) == (
                f"Thinking level {level} is not supported for this model. Please retry with other thinking level."
            )
        else:
            assert r.status_code == 200, (model, level, r.text)


def test_sampling_fields_are_accepted_and_ignored_on_current_models(gateway: Gateway) -> None:
    sampling = {"temperature": 0.2, "topP": 0.5, "topK": 3}
    plain = _generate(gateway, _body("same"), model="gemini-4-argon").json()
    sampled = _generate(gateway, _body("same", **sampling), model="gemini-4-argon").json()
    assert _texts(sampled) == _texts(plain) == "Echo: same"


def test_thinking_level_and_budget_together_is_400(gateway: Gateway) -> None:
    body = _body(thinkingConfig={"thinkingLevel": "LOW", "thinkingBudget": 1024})
    assert (
        _error(_generate(gateway, body, model=GEMINI3))
        == "You can only set only one of thinking budget and thinking level."
    )


def test_thinking_level_before_gemini3_is_400(gateway: Gateway) -> None:
    r = _generate(gateway, _body(thinkingConfig={"thinkingLevel": "LOW"}), model="gemini-2.5-flash")
    assert _error(r) == "Thinking level is not supported for this model."
    assert _generate(gateway, _body(thinkingConfig={"thinkingBudget": 512}), model=GEMINI3).status_code == 200


def test_default_function_call_on_gemini3(gateway: Gateway) -> None:
    r = _generate(gateway, _tool_body(), model=GEMINI3)
    assert r.status_code == 200
    data = r.json()
    (part,) = _parts(data)
    assert part.keys() == {"functionCall", "thoughtSignature"}
    call = part["functionCall"]
    assert call.keys() == {"name", "args", "id"}
    assert call["name"] == "get_weather" and call["args"] == {"city": "example", "days": 1}
    assert re.fullmatch(r"[0-9a-f]{8}", call["id"])
    assert 64 <= len(base64.b64decode(part["thoughtSignature"], validate=True)) <= 200
    assert data["candidates"][0]["finishReason"] == "STOP"
    usage = data["usageMetadata"]
    assert usage["candidatesTokenCount"] > 0
    assert (
        usage["totalTokenCount"]
        == usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )
    again = _generate(gateway, _tool_body(), model=GEMINI3).json()
    assert _parts(again)[0]["thoughtSignature"] != part["thoughtSignature"]


def test_function_call_on_gemini25_has_no_signature(gateway: Gateway) -> None:
    data = _generate(gateway, _tool_body(), model="gemini-2.5-flash").json()
    (part,) = _parts(data)
    assert part.keys() == {"functionCall"} and part["functionCall"]["name"] == "get_weather"


def test_function_calling_modes(gateway: Gateway) -> None:
    def config(mode: str, *allowed: str) -> dict[str, Any]:
        calling: dict[str, Any] = {"mode": mode}
        if allowed:
            calling["allowedFunctionNames"] = list(allowed)
        return {"functionCallingConfig": calling}

    anyone = _generate(gateway, _tool_body(toolConfig=config("ANY", "get_time")), model=GEMINI3).json()
    (call,) = _calls(anyone)
    assert call["functionCall"]["name"] == "get_time" and call["functionCall"]["args"] == {"zone": "example"}
    validated = _generate(gateway, _tool_body(toolConfig=config("VALIDATED")), model=GEMINI3).json()
    assert _calls(validated)[0]["functionCall"]["name"] == "get_weather"
    none = _generate(gateway, _tool_body("hi", toolConfig=config("none")), model=GEMINI3).json()
    assert _parts(none) == [{"text": "Echo: hi"}]
    assert _generate(gateway, _tool_body(toolConfig=config("SOMETIMES")), model=GEMINI3).status_code == 400
    builtin_only = {**_body("hi"), "tools": [{"googleSearch": {}}, {"codeExecution": {}}]}
    assert _parts(_generate(gateway, builtin_only, model=GEMINI3).json()) == [{"text": "Echo: hi"}]


def test_invalid_function_name_is_400(gateway: Gateway) -> None:
    body = {**_body(), "tools": [{"functionDeclarations": [{"name": "9 lives"}]}]}
    assert "function_declarations[0].name: Invalid function name" in _error(_generate(gateway, body))


def test_scripted_parallel_calls_carry_one_signature(gateway: Gateway) -> None:
    scripted = [{"name": "get_weather", "args": {"city": "Paris"}}, {"name": "get_weather", "args": {"city": "Rome"}}]
    gateway.faults({"function_calls": scripted, "text": "Checking both."})
    data = _generate(gateway, _body("no tools declared"), model=GEMINI3).json()
    text, first, second = _parts(data)
    assert text == {"text": "Checking both."}
    assert "thoughtSignature" in first and "thoughtSignature" not in second
    assert [first["functionCall"]["args"], second["functionCall"]["args"]] == [{"city": "Paris"}, {"city": "Rome"}]
    assert first["functionCall"]["id"] != second["functionCall"]["id"]
    assert data["candidates"][0]["finishReason"] == "STOP"
    follow = _generate(gateway, _follow_up(_body("no tools declared"), data, {"temp": 20}), model=GEMINI3)
    assert _texts(follow.json()) == 'Result: {"temp":20}'


def test_streamed_function_calls_arrive_whole(gateway: Gateway) -> None:
    body = _tool_body(generationConfig={"thinkingConfig": {"includeThoughts": True}})
    scripted = [{"name": "get_weather", "args": {"city": "Paris"}}, {"name": "get_time", "args": {}}]
    gateway.faults({"function_calls": scripted, "text": "Let me look that up for you."})
    r = gateway.client.post(
        gateway.model_url("streamGenerateContent", model=GEMINI3) + "?alt=sse", json=body, headers=AUTH
    )
    events = _sse_events(r.content)
    assert _parts(events[0])[0]["thought"] is True
    with_calls = [e for e in events if _calls(e)]
    assert with_calls == [events[-1]]
    first, second = _parts(events[-1])
    assert "thoughtSignature" in first and "thoughtSignature" not in second
    assert [first["functionCall"]["name"], second["functionCall"]["name"]] == ["get_weather", "get_time"]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert all("finishReason" not in e["candidates"][0] for e in events[:-1])
    assert "".join(_texts(e) for e in events[1:-1]) == "Let me look that up for you."
    usage = events[-1]["usageMetadata"]
    assert (
        usage["totalTokenCount"]
        == usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )
    # default call, JSON-array stream: one chunk
    chunks = gateway.client.post(
        gateway.model_url("streamGenerateContent", model=GEMINI3), json=_tool_body(), headers=AUTH
    ).json()
    assert len(chunks) == 1 and _calls(chunks[0])[0]["thoughtSignature"]


def test_function_response_turn_gets_text(gateway: Gateway) -> None:
    request = _tool_body()
    answer = _generate(gateway, request, model=GEMINI3).json()
    follow = _follow_up(request, answer, {"forecast": "sunny", "high": 24})
    data = _generate(gateway, follow, model=GEMINI3).json()
    assert _parts(data) == [{"text": 'Result: {"forecast":"sunny","high":24}'}]
    assert data["candidates"][0]["finishReason"] == "STOP"
    long = _generate(gateway, _follow_up(request, answer, {"text": "x" * 500}), model=GEMINI3).json()
    assert len(_texts(long)) == 200
    streamed = gateway.client.post(
        gateway.model_url("streamGenerateContent", model=GEMINI3) + "?alt=sse", json=follow, headers=AUTH
    )
    assert "".join(_texts(e) for e in _sse_events(streamed.content)) == 'Result: {"forecast":"sunny","high":24}'


def test_function_response_must_be_an_object(gateway: Gateway) -> None:
    request = _tool_body()
    answer = _generate(gateway, request, model=GEMINI3).json()
    message = _error(_generate(gateway, _follow_up(request, answer, "sunny"), model=GEMINI3))
    assert message.startswith("Invalid value at 'contents[2].parts[0].function_response.response'")


def test_missing_thought_signature_is_400_on_gemini3(gateway: Gateway) -> None:
    request = _tool_body()
    answer = _generate(gateway, request, model=GEMINI3).json()
    follow = _follow_up(request, answer, {"ok": True})
    del follow["contents"][1]["parts"][0]["thoughtSignature"]
    assert _error(_generate(gateway, follow, model=GEMINI3)) == MISSING_SIGNATURE
    # an earlier turn (before the latest user text) is not checked
    older = {
        **follow,
        "contents": [*follow["contents"], {"role": "model", "parts": [{"text": "Sunny."}]}, *_body()["contents"]],
    }
    assert _generate(gateway, older, model=GEMINI3).status_code == 200
    # Google's documented dummy values pass, plain or base64
    for dummy in ("skip_thought_signature_validator", base64.b64encode(b"skip_thought_signature_validator").decode()):
        follow["contents"][1]["parts"][0]["thoughtSignature"] = dummy
        assert _generate(gateway, follow, model=GEMINI3).status_code == 200


def test_corrupted_thought_signature_is_400(gateway: Gateway) -> None:
    request = _tool_body()
    answer = _generate(gateway, request, model=GEMINI3).json()
    follow = _follow_up(request, answer, {"ok": True})
    part = follow["contents"][1]["parts"][0]
    part["thoughtSignature"] = part["thoughtSignature"].rstrip("=")  # re-encoded without padding: still ours
    assert _generate(gateway, follow, model=GEMINI3).status_code == 200
    part["thoughtSignature"] = base64.b64encode(b"\0" * 100).decode()
    assert _error(_generate(gateway, follow, model=GEMINI3)) == "Corrupted thought signature."
    part["thoughtSignature"] = "not base64!"
    assert "Base64 decoding failed" in _error(_generate(gateway, follow, model=GEMINI3))
    part.pop("thoughtSignature")
    part["functionCall"]["thoughtSignature"] = "c2ln"  # Google's proto has no such field inside functionCall
    assert 'Unknown name "thoughtSignature"' in _error(_generate(gateway, follow, model=GEMINI3))


def test_gemini25_does_not_check_signatures(gateway: Gateway) -> None:
    request = _tool_body()
    answer = _generate(gateway, request, model="gemini-2.5-flash").json()
    follow = _follow_up(request, answer, {"ok": True})
    assert _generate(gateway, follow, model="gemini-2.5-flash").status_code == 200
    follow["contents"][1]["parts"][0]["thoughtSignature"] = base64.b64encode(b"never issued").decode()
    assert _generate(gateway, follow, model="gemini-2.5-flash").status_code == 200


def test_count_tokens(gateway: Gateway) -> None:
    url = gateway.model_url("countTokens", model=GEMINI3)
    plain = gateway.client.post(url, json={"contents": _body("x" * 40)["contents"]}, headers=AUTH)
    assert plain.status_code == 200 and plain.headers["content-type"] == "application/json; charset=UTF-8"
    assert plain.json() == {"totalTokens": 11, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}]}
    wrapped = {
        "generateContentRequest": {
            "model": f"models/{GEMINI3}",
            **_body("x" * 40),
            "systemInstruction": {"parts": [{"text": "y" * 40}]},
        }
    }
    assert gateway.client.post(url, json=wrapped, headers=AUTH).json()["totalTokens"] == 21
    both = {"contents": _body()["contents"], **wrapped}
    assert _error(gateway.client.post(url, json=both, headers=AUTH))
    assert _error(gateway.client.post(url, json={}, headers=AUTH))
    assert gateway.client.post(url, json=both).status_code == 403
    gateway.faults({"status": 429})
    assert gateway.client.post(url, json={"contents": _body()["contents"]}, headers=AUTH).status_code == 429
    recorded = gateway.requests()
    assert recorded[0]["path"].endswith(f"/models/{GEMINI3}:countTokens") and recorded[0]["status"] == 200
    assert recorded[-1]["fault"] == {"status": 429}
