"""No key in any response, log line or error text; upstream DebugInfo scrubbed."""

from __future__ import annotations

import re
from typing import Any

from .conftest import CLIENT_KEYS, GEMINI_KEY, Function, Gateway


def test_nothing_secret_leaks_anywhere(start_function: Any, gateway: Gateway) -> None:
    gateway_token = "test-gateway-token-5566"
    fn: Function = start_function(AI_GATEWAY_TOKEN=gateway_token, LOG_PAYLOADS="true")
    gateway.config(gateway_token=gateway_token)
    bodies = []
    # success, caller errors, upstream errors with and without DebugInfo, a rejected key
    bodies.append(fn.post({"prompt": "hello"}).text)
    bodies.append(fn.post({"prompt": "x"}, key="wrong-client-key").text)
    gateway.faults({"status": 400, "debug_info": f"[ORIGINAL ERROR] key={GEMINI_KEY} token=Bearer {gateway_token}"})
    bodies.append(fn.post({"prompt": "x"}).text)
    gateway.faults(
        {"status": 500, "body": {"error": {"code": 500, "message": f"oops {GEMINI_KEY}", "status": "INTERNAL"}}},
        {"status": 500},
        {"status": 500},
    )
    bodies.append(fn.post({"prompt": "x"}).text)
    gateway.config(keys=["some-other-valid-key"])  # the function's key is now rejected: Google echoes it in DebugInfo
    bodies.append(fn.post({"prompt": "x"}).text)
    seen = gateway.requests()
    assert seen[0]["headers"]["cf-aig-authorization"] == f"Bearer {gateway_token}"
    assert any(GEMINI_KEY in str(r.get("body")) or r["status"] in (400, 401) for r in seen)  # the key refused
    logs = fn.server.output()
    secrets = [GEMINI_KEY, gateway_token, *CLIENT_KEYS.values(), "wrong-client-key"]
    for text in [*bodies, logs]:
        for secret in secrets:
            assert secret not in text, f"{secret} leaked"
        assert "DebugInfo" not in text and "ORIGINAL ERROR" not in text
        assert "Traceback" not in text
    assert "hello" in logs, "LOG_PAYLOADS=true logs the prompt (off by default)"


def test_prompts_are_not_logged_by_default(fn: Function) -> None:
    fn.post({"prompt": "my very private question"})
    assert "my very private question" not in fn.server.output()
    assert "Echo: my very private" not in fn.server.output()


def test_logs_are_structured_for_cloud_logging(fn: Function) -> None:
    trace = "105445aa7843bc8bf206b12000100000"
    r = fn.post({"prompt": "x"}, headers={"X-Cloud-Trace-Context": f"{trace}/1;o=1"})
    request_id = r.headers["x-request-id"]
    (line,) = [e for e in fn.logs() if e.get("request_id") == request_id]
    assert line["severity"] == "INFO"
    assert line["message"] == "POST / 200"
    assert line["logging.googleapis.com/trace"] == f"projects/test-project/traces/{trace}"
    assert line["httpRequest"]["status"] == 200
    assert line["model"] == "gemini-2.5-flash" and line["caller"] == "ios-app"
    assert {"input_tokens", "output_tokens", "total_tokens", "latency_ms", "upstream_ms"} <= set(line)
    assert re.fullmatch(r"\d+\.\d{4}s", line["httpRequest"]["latency"])


def test_no_secret_leaks_on_the_sdk_routes(start_function: Any, gateway: Gateway) -> None:
    """The OpenAI and Gemini-native routes: client keys in other headers, errors in other shapes."""
    fn: Function = start_function(LOG_PAYLOADS="false", GOOGLE_CLOUD_PROJECT="hygiene-sdk-routes")
    key = CLIENT_KEYS["web"]
    gemini_path = "/v1beta/models/gemini-2.5-flash:generateContent"
    gemini_body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    chat_body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
    bodies = [
        fn.post(gemini_body, key=None, path=gemini_path, headers={"x-goog-api-key": key}).text,
        fn.post(gemini_body, key=None, path=gemini_path, headers={"x-goog-api-key": "wrong-sdk-key"}).text,
        fn.post(chat_body, path="/v1/chat/completions", key=key).text,
        fn.post(chat_body, path="/v1/chat/completions", key="wrong-sdk-key").text,
    ]
    gateway.faults({"status": 400, "debug_info": f"[ORIGINAL ERROR] key={GEMINI_KEY}"})
    bodies.append(fn.post(gemini_body, key=None, path=gemini_path, headers={"x-goog-api-key": key}).text)
    gateway.faults({"status": 400, "debug_info": f"[ORIGINAL ERROR] key={GEMINI_KEY}"})
    bodies.append(fn.post(chat_body, path="/v1/chat/completions", key=key).text)
    assert [r["headers"]["x-goog-api-key"] for r in gateway.requests()] == [GEMINI_KEY] * 4
    logs = fn.server.output()
    for text in [*bodies, logs]:
        for secret in (GEMINI_KEY, key, "wrong-sdk-key"):
            assert secret not in text, f"{secret} leaked"
        assert "ORIGINAL ERROR" not in text and "Traceback" not in text
