"""The AI Gateway emulator speaks the real wire format and applies faults as documented.

Why these tests: the function's own tests trust this emulator to behave like
Cloudflare + Google; if it drifts from the example captures, they prove
nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.emulators.conftest import GATEWAY_TOKEN, GEMINI_KEY, GEMINI_KEY_2, MODEL, Gateway
from tests.support.processes import Server, free_port, start_server

__all__: list[str] = []

EXAMPLES = Path("/work/shared/spec/examples")
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
    r = _generate(gateway)
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
    data = _generate(gateway, _body("hi", thinkingConfig={"thinkingBudget": 0})).json()
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
    r = gateway.client.post(gateway.model_url("streamGenerateContent") + "?alt=sse", json=_body(text), headers=AUTH)
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
    with gateway.client.stream("POST", url, json=_body("one two three four"), headers=AUTH) as r:
        for _ in r.iter_raw():
            arrivals.append(time.monotonic() - start)
    assert arrivals[0] < 0.25
    assert arrivals[-1] >= 0.9  # thought + 4 word chunks, 0.3 s apart


def test_json_array_stream(gateway: Gateway) -> None:
    r = gateway.client.post(gateway.model_url("streamGenerateContent"), json=_body("a b c d"), headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    assert r.content.startswith(b"[{") and r.content.endswith(b"}]")
    assert b"},\r\n{" in r.content
    chunks = json.loads(r.content)
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "".join(_texts(c) for c in chunks[1:]) == "Echo: a b c d"


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
        ("POST", "/a/g/google-ai-studio/v1beta/models/m:countTokens"),
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
    assert defaults == {"keys": [GEMINI_KEY, GEMINI_KEY_2], "gateway_token": None, "delay": 0.0, "stream_delay": 0.0}
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
