"""Traces (docs/API.md §11): a span per request and per upstream attempt, over real sockets.

The function runs with `TRACES=console`: each finished span is one JSON line
on its stdout (`{"otel_span": {...}}`), read back here. Nothing reaches Google.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from gemini_gateway.routes import ROUTES

from .conftest import CLIENT_KEYS, GEMINI_KEY, Function, Gateway

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
GATEWAY_TOKEN = "test-gateway-token-for-traces-0123456789"
STREAM_AUTH = {"Authorization": f"Bearer {CLIENT_KEYS['ios-app']}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def traced(start_function: Any) -> Function:
    function: Function = start_function(TRACES="console", AI_GATEWAY_TOKEN=GATEWAY_TOKEN)
    return function


def spans_of(fn: Function, request_id: str, count: int = 2, timeout: float = 3.0) -> list[dict[str, Any]]:
    """Every span of the request whose id is `request_id`: its request span and the attempts under it."""
    deadline = time.monotonic() + timeout
    while True:
        every = [line["otel_span"] for line in fn.logs() if "otel_span" in line]
        server = [s for s in every if s["attributes"].get("gemini_gateway.request_id") == request_id]
        found = server + [s for s in every if server and s["parent_span_id"] == server[0]["span_id"]]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def split(spans: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (server,) = [s for s in spans if s["kind"] == "SERVER"]
    attempts = sorted(
        (s for s in spans if s["kind"] == "CLIENT"), key=lambda s: s["attributes"]["gemini_gateway.attempt"]
    )
    return server, attempts


def test_a_json_answer_is_one_server_span_continuing_traceparent_and_one_attempt(
    traced: Function, gateway: Gateway
) -> None:
    r = traced.post(
        {"prompt": "hello there", "max_output_tokens": 300}, headers={"traceparent": f"00-{TRACE}-{PARENT}-01"}
    )
    assert r.status_code == 200, r.text
    server, attempts = split(spans_of(traced, r.headers["x-request-id"]))
    assert server["trace_id"] == TRACE and server["parent_span_id"] == PARENT
    assert server["name"] == "POST /" and server["status"]["code"] == "UNSET"
    a = server["attributes"]
    assert a["http.request.method"] == "POST" and a["http.route"] == "/" and a["url.path"] == "/"
    assert a["http.response.status_code"] == 200
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "gcp.gemini"
    assert a["gen_ai.request.model"] == "gemini-2.5-flash" == a["gen_ai.response.model"]
    body = r.json()
    assert a["gen_ai.response.id"] == body["id"]
    assert a["gen_ai.request.max_tokens"] == 300 and a["gen_ai.request.stream"] is False
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    usage = body["usage"]
    assert a["gen_ai.usage.input_tokens"] == usage["input_tokens"]
    assert a["gen_ai.usage.output_tokens"] == usage["output_tokens"] + usage["thinking_tokens"]
    assert a["gen_ai.usage.reasoning.output_tokens"] == usage["thinking_tokens"]
    assert a["gemini_gateway.caller.kind"] == "ios-app" and a["gemini_gateway.caller.layers"] == ["api_key"]
    assert a["gemini_gateway.attempts"] == 1 and "error.type" not in a

    (attempt,) = attempts
    assert attempt["trace_id"] == TRACE and attempt["parent_span_id"] == server["span_id"]
    assert attempt["name"] == "generate_content gemini-2.5-flash"
    b = attempt["attributes"]
    assert b["http.request.method"] == "POST" and b["http.response.status_code"] == 200
    assert (
        b["url.full"]
        == f"{gateway.url}/test-account/test-gateway/google-ai-studio/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert b["server.address"] == "127.0.0.1" and b["server.port"] == gateway.server.port
    assert b["gen_ai.operation.name"] == "generate_content" and b["gen_ai.request.model"] == "gemini-2.5-flash"
    assert b["gemini_gateway.attempt"] == 1 and "http.request.resend_count" not in b and "error.type" not in b
    assert attempt["start_unix_nano"] >= server["start_unix_nano"]

    line = traced.access_line(r.headers["x-request-id"])
    assert line is not None and line["logging.googleapis.com/trace"] == f"projects/test-project/traces/{TRACE}"
    assert line["model_version"] == "gemini-2.5-flash" and line["response_id"] == body["id"]


def test_a_stream_is_ended_when_it_ends_with_its_usage(traced: Function) -> None:
    body = json.dumps({"prompt": "tell me a story", "stream": True}).encode()
    with traced.http.stream("POST", "/", content=body, headers=STREAM_AUTH) as r:
        assert r.status_code == 200
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    server, (attempt,) = split(spans_of(traced, r.headers["x-request-id"]))
    a = server["attributes"]
    assert a["gen_ai.request.stream"] is True and a["gen_ai.response.finish_reasons"] == ["stop"]
    done = events[-1]
    assert a["gen_ai.usage.input_tokens"] == done["usage"]["input_tokens"] > 0
    assert attempt["name"] == "generate_content gemini-2.5-flash"
    assert attempt["attributes"]["url.full"].endswith(":streamGenerateContent?alt=sse")
    assert server["duration_ms"] >= attempt["duration_ms"], (
        "the attempt ends at the first record, the request at the last"
    )


def test_each_retried_attempt_is_a_span_with_its_status_and_the_reason_it_was_retried(
    traced: Function, gateway: Gateway
) -> None:
    gateway.faults({"status": 503}, {"drop": True})
    r = traced.post({"prompt": "x"})
    assert r.status_code == 200, r.text
    server, attempts = split(spans_of(traced, r.headers["x-request-id"], count=4))
    assert [s["attributes"]["gemini_gateway.attempt"] for s in attempts] == [1, 2, 3]
    first, second, third = (s["attributes"] for s in attempts)
    assert first["http.response.status_code"] == 503 and first["error.type"] == "503"
    assert attempts[0]["status"]["code"] == "ERROR"
    assert second["http.request.resend_count"] == 1 and second["gemini_gateway.retry_reason"] == "retryable (HTTP 503)"
    assert second["error.type"] == "connection_failed" and "http.response.status_code" not in second
    assert "could not reach the AI Gateway" in attempts[1]["status"]["description"]
    assert third["http.request.resend_count"] == 2
    assert third["gemini_gateway.retry_reason"] == "retryable (connection failed)"
    assert third["http.response.status_code"] == 200 and "error.type" not in third
    assert server["attributes"]["gemini_gateway.attempts"] == 3


def test_a_failed_request_carries_its_error_type(traced: Function, gateway: Gateway) -> None:
    gateway.faults({"status": 503}, {"status": 503}, {"status": 503})
    r = traced.post({"prompt": "x"})
    assert r.status_code == 502
    server, attempts = split(spans_of(traced, r.headers["x-request-id"], count=4))
    assert len(attempts) == 3 and all(s["attributes"]["error.type"] == "503" for s in attempts)
    assert server["status"] == {"code": "ERROR", "description": "upstream_error"}
    a = server["attributes"]
    assert a["error.type"] == "upstream_error" and a["gemini_gateway.upstream.status"] == 503


def test_x_cloud_trace_context_is_continued(traced: Function) -> None:
    span_id = 12345678901234567890  # decimal, as Cloud Trace writes it
    r = traced.post({"prompt": "x"}, headers={"X-Cloud-Trace-Context": f"{TRACE}/{span_id};o=1"})
    assert r.status_code == 200
    server, (attempt,) = split(spans_of(traced, r.headers["x-request-id"]))
    assert server["trace_id"] == TRACE and server["parent_span_id"] == f"{span_id:016x}"
    assert attempt["trace_id"] == TRACE


def test_without_a_caller_context_a_new_trace_starts(traced: Function) -> None:
    r = traced.post({"prompt": "x"})
    server, (attempt,) = split(spans_of(traced, r.headers["x-request-id"]))
    assert server["parent_span_id"] is None and server["sampled"]
    assert len(server["trace_id"]) == 32 and attempt["trace_id"] == server["trace_id"]


@pytest.mark.parametrize(
    "headers",
    [
        {"traceparent": f"00-{TRACE}-{PARENT}-01" + "x" * 4000},
        {"traceparent": "00-" + "0" * 32 + f"-{PARENT}-01"},
        {"X-Cloud-Trace-Context": f"{TRACE}/99999999999999999999;o=1"},  # beyond 64 bits
        {"X-Cloud-Trace-Context": "not a trace context", "traceparent": "garbage"},
    ],
    ids=["huge", "zero-trace", "span-beyond-64-bits", "garbage"],
)
def test_a_malformed_caller_context_starts_a_new_trace(traced: Function, headers: dict[str, str]) -> None:
    r = traced.post({"prompt": "x"}, headers=headers)
    assert r.status_code == 200, r.text
    server, (attempt,) = split(spans_of(traced, r.headers["x-request-id"]))
    assert server["parent_span_id"] is None and server["trace_id"] not in (TRACE, "0" * 32)
    assert attempt["trace_id"] == server["trace_id"]


def test_a_caller_that_does_not_sample_is_followed(traced: Function) -> None:
    r = traced.post({"prompt": "x"}, headers={"traceparent": f"00-{TRACE}-{PARENT}-00"})
    assert r.status_code == 200
    assert spans_of(traced, r.headers["x-request-id"], timeout=0.5) == []


@pytest.mark.parametrize(
    ("path", "body", "name", "operation", "attempt_name"),
    [
        (
            "/v1/chat/completions",
            {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]},
            "POST /v1/chat/completions",
            "chat",
            "generate_content gemini-2.5-flash",
        ),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            {"contents": [{"parts": [{"text": "x"}]}]},
            "POST /{version}/models/{model}:generateContent",
            "generate_content",
            "generate_content gemini-2.5-flash",
        ),
        (
            "/v1beta/models/gemini-2.5-flash:countTokens",
            {"contents": [{"parts": [{"text": "x"}]}]},
            "POST /{version}/models/{model}:countTokens",
            "count_tokens",
            "count_tokens gemini-2.5-flash",
        ),
    ],
)
def test_each_route_names_its_operation(
    traced: Function, path: str, body: dict[str, Any], name: str, operation: str, attempt_name: str
) -> None:
    headers = {"x-goog-api-key": CLIENT_KEYS["web"]} if "models/" in path else {}
    r = traced.post(body, path=path, headers=headers, key=None if headers else CLIENT_KEYS["web"])
    assert r.status_code == 200, r.text
    server, (attempt,) = split(spans_of(traced, r.headers["x-request-id"]))
    assert server["name"] == name and server["attributes"]["gen_ai.operation.name"] == operation
    assert attempt["name"] == attempt_name
    assert server["attributes"]["gemini_gateway.caller.kind"] == "web"


def test_a_request_with_no_route_or_no_caller_has_a_span_and_no_attempt(traced: Function) -> None:
    r = traced.http.get("/nowhere")
    assert r.status_code == 404
    (server,) = spans_of(traced, r.headers["x-request-id"], count=1)
    assert server["name"] == "GET" and "http.route" not in server["attributes"]
    assert server["attributes"]["error.type"] == "not_found" and "gen_ai.operation.name" not in server["attributes"]
    r = traced.post({"prompt": "x"}, key="test-not-a-client-key")
    assert r.status_code == 401
    (server,) = spans_of(traced, r.headers["x-request-id"], count=1, timeout=0.5)
    assert server["attributes"]["error.type"] == "unauthenticated" and server["status"]["code"] == "UNSET"


def test_no_secret_and_no_payload_is_ever_in_a_span(traced: Function, gateway: Gateway) -> None:
    gateway.config(keys=["test-another-gemini-key-0123456789"])  # the function's key is refused upstream
    r = traced.post({"prompt": "a secret prompt about zebras"}, headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    assert r.status_code == 502
    gateway.reset()
    traced.post({"prompt": "x"}, key="test-wrong-client-key-0123456789")
    traced.post({"prompt": "x"}, key=CLIENT_KEYS["web"])
    time.sleep(0.3)
    text = "\n".join(json.dumps(line) for line in traced.logs() if "otel_span" in line)
    assert text, "spans were written"
    for secret in (GEMINI_KEY, GATEWAY_TOKEN, *CLIENT_KEYS.values(), "test-wrong-client-key-0123456789"):
        assert secret not in text
    assert "zebras" not in text and "Bearer" not in text


def test_operations_name_routes_that_exist() -> None:
    from gemini_gateway.tracing.spans import OPERATIONS

    table = {(method, route.path) for route in ROUTES for method in route.allow}
    assert set(OPERATIONS) <= table
