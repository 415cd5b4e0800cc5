"""Hostile callers over real sockets: whatever one caller sends, the instance keeps serving.

Each finding of the hostile-caller review is a test here: bodies held by
callers without credentials, slow bodies, structures that explode in memory,
crafted trace headers, lone surrogates, rate-limit tokens spent by invalid
requests, secrets in mid-stream errors, and shutdown with work in flight.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import time
from typing import Any

import httpx
import pytest

from .conftest import CLIENT_KEYS, GEMINI_KEY, Function, Gateway

KEY = CLIENT_KEYS["ios-app"]
AUTH = {"Authorization": f"Bearer {KEY}"}
GEMINI_PATH = "/v1beta/models/gemini-2.5-flash:generateContent"


def raw_request(port: int, head: str, body: bytes = b"", wait: float = 5.0) -> tuple[bytes, bool]:
    """Send `head` (request line + headers, no blank line) and `body`; (what came back, whether the server closed)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + body)
        sock.settimeout(0.2)
        received = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return received, True
            received += chunk
        return received, False


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0


def body_of(raw: bytes) -> Any:
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


@pytest.fixture(scope="module")
def slow_fn(start_function: Any) -> Function:
    """A function whose body deadline is short, so slow bodies are cut in a test's time."""
    function: Function = start_function(BODY_READ_TIMEOUT_SECONDS="1", WEBHOOK_SECRET="test-webhook-secret-1")
    return function


# --------------------------------------------------------------------------- bodies


def test_unauthenticated_caller_costs_no_body_read(fn: Function) -> None:
    """An 8 MiB upload without credentials is refused from its headers, at once, and the connection closed."""
    head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {8 * 1024 * 1024 - 16}"
    started = time.monotonic()
    raw, closed = raw_request(fn.server.port, head, b'{"prompt": "' + b"x" * 65536, wait=3)
    assert status_of(raw) == 401, raw[:200]
    assert time.monotonic() - started < 2.5
    assert closed, "the server must not keep reading a body nobody will use"
    assert b"connection: close" in raw.lower()


def test_stalled_body_is_cut_at_the_deadline(slow_fn: Function) -> None:
    head = f"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000"
    started = time.monotonic()
    raw, closed = raw_request(slow_fn.server.port, head, b'{"prompt": ', wait=5)
    assert status_of(raw) == 408, raw[:300]
    error = body_of(raw)["error"]
    assert error["type"] == "request_timeout" and error["retryable"] is True
    assert 0.9 < time.monotonic() - started < 4
    assert closed


def test_signed_webhook_body_is_bounded_in_time_too(slow_fn: Function) -> None:
    head = (
        "POST / HTTP/1.1\r\nHost: x\r\nX-Signature: t=1,v1=" + "0" * 64 + "\r\nContent-Type: application/json\r\n"
        "Content-Length: 5000"
    )
    raw, closed = raw_request(slow_fn.server.port, head, b"{", wait=5)
    assert status_of(raw) == 408 and closed


def test_health_answers_while_bodies_stall(slow_fn: Function) -> None:
    socks = []
    head = f"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    try:
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", slow_fn.server.port))
            sock.sendall(head.encode() + b'{"prompt": "')
            socks.append(sock)
        started = time.monotonic()
        assert slow_fn.http.get("/healthz").status_code == 200
        assert time.monotonic() - started < 0.5
    finally:
        for sock in socks:
            sock.close()


# --------------------------------------------------------------------------- structure


def _big_parts(n: int) -> bytes:
    return b'{"contents":[{"parts":[' + b",".join([b'{"text":""}'] * n) + b"]}]}"


def test_native_parts_flood_is_refused_before_it_grows(fn: Function, gateway: Gateway) -> None:
    started = time.monotonic()
    response = fn.post(path=GEMINI_PATH, content=_big_parts(650_000), headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert time.monotonic() - started < 3
    assert gateway.requests() == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/", {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}] * 1001}]}, "messages"),
        ("/", {"prompt": "x", "response_format": {"type": "json", "schema": {"description": "d" * 70000}}}, "schema"),
        (GEMINI_PATH, {"contents": [{"parts": [{"text": "x"}] * 1001}]}, "contents"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}] * 1001}, "messages"),
    ],
)
def test_size_limits_name_their_field(fn: Function, gateway: Gateway, path: str, body: Any, field: str) -> None:
    response = fn.post(body, path=path)
    assert response.status_code == 400, response.text[:300]
    assert field in response.text
    assert gateway.requests() == []


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/", {"prompt": "x", "response_format": {"type": "json", "schema": _nested(200)}}),
        ("/", {"prompt": "x", "metadata": _nested(80)}),
        (GEMINI_PATH, {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseSchema": _nested(300)}}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "metadata": _nested(100)}),
    ],
)
def test_deep_nesting_is_a_400_on_every_route(fn: Function, path: str, body: Any) -> None:
    response = fn.post(body, path=path)
    assert response.status_code == 400, response.text[:300]
    assert "64 levels" in response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/", b'{"prompt": "\\ud800 hi"}'),
        ("/", b'{"prompt": "x", "response_format": {"type": "json", "schema": {"\\udfff": 1}}}'),
        ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "a\\ud834b"}]}'),
        (GEMINI_PATH, b'{"contents": [{"parts": [{"text": "\\udc00"}]}]}'),
    ],
)
def test_lone_surrogates_are_a_400_never_a_500(fn: Function, gateway: Gateway, path: str, body: bytes) -> None:
    response = fn.post(path=path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert "surrogate" in response.text
    assert gateway.requests() == []


def test_surrogate_pairs_are_fine(fn: Function) -> None:
    response = fn.post(content=b'{"prompt": "\\ud83d\\ude00"}', headers={"Content-Type": "application/json"})
    assert response.status_code == 200


# --------------------------------------------------------------------------- logs


@pytest.mark.parametrize("stream", [False, True])
def test_crafted_trace_header_still_gets_its_log_line(fn: Function, stream: bool) -> None:
    request_id = f"trace-attack-{int(stream)}"
    headers = {"X-Cloud-Trace-Context": "0" * 32 + "/" + "9" * 5000 + ";o=1", "X-Request-Id": request_id}
    response = fn.post({"prompt": "hi", "stream": stream}, headers=headers)
    assert response.status_code == 200
    assert fn.access_line(request_id) is not None, "no access-log line for the request"


# --------------------------------------------------------------------------- limits


def test_invalid_requests_spend_no_rate_limit_token(start_function: Any) -> None:
    limited: Function = start_function(RATE_LIMIT_PER_MINUTE="1", RATE_LIMIT_BURST="1")
    for _ in range(3):
        assert limited.post({}).status_code == 400
    assert limited.post({"prompt": "hi"}).status_code == 200
    assert limited.post({"prompt": "hi"}).status_code == 429


# --------------------------------------------------------------------------- secrets


def test_mid_stream_error_is_scrubbed_of_every_known_secret(start_function: Any, gateway: Gateway) -> None:
    token = "tok3n-that-is-not-shaped-like-a-key"
    function: Function = start_function(AI_GATEWAY_TOKEN=token)
    gateway.config(gateway_token=token)
    try:
        message = f"overloaded; echo {token} and {GEMINI_KEY} and {KEY}"
        gateway.faults({"stream_error_after": 1, "message": message})
        response = function.post({"prompt": "one two three four five six", "stream": True})
        assert response.status_code == 200
        assert "event: error" in response.text
        for secret in (token, GEMINI_KEY, KEY):
            assert secret not in response.text
    finally:
        gateway.config(gateway_token=None)


# --------------------------------------------------------------------------- shutdown


@pytest.mark.slow
def test_sigterm_lets_work_finish_then_ends_open_streams(start_function: Any, gateway: Gateway) -> None:
    function: Function = start_function(SHUTDOWN_TEST="1")  # a process of its own: it is stopped here
    gateway.config(stream_delay=4.0)  # a stream that would take far longer than the grace period
    with httpx.Client(base_url=function.url, timeout=30) as client:
        with client.stream(
            "POST", "/", json={"prompt": " ".join(["word"] * 40), "stream": True}, headers=AUTH
        ) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(lines).startswith("event: delta")
            os.kill(function.server.proc.pid, signal.SIGTERM)  # as Cloud Run signals the container
            signalled = time.monotonic()
            rest = "\n".join(lines)
        took = time.monotonic() - signalled
    assert "event: error" in rest and '"unavailable"' in rest and '"retryable":true' in rest
    assert 7 < took < 10.5
    function.server.proc.wait(timeout=10)
    gateway.config(stream_delay=0.0)


def test_webhook_refusal_reason_is_logged_not_answered(slow_fn: Function) -> None:
    body = b'{"prompt": "hi"}'
    stale = int(time.time()) - 3600
    signature = hmac.new(b"test-webhook-secret-1", f"{stale}.".encode() + body, hashlib.sha256).hexdigest()
    response = slow_fn.http.post(
        "/",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Signature": f"t={stale},v1={signature}",
            "X-Request-Id": "stale-hook",
        },
    )
    assert response.status_code == 401 and "timestamp" not in response.text
    line = next(e for e in slow_fn.logs() if e.get("request_id") == "stale-hook" and "httpRequest" in e)
    assert "timestamp" in line["webhook_refused"]


def test_forged_tool_call_id_spends_no_rate_limit_token(start_function: Any) -> None:
    limited: Function = start_function(
        RATE_LIMIT_PER_MINUTE="1", RATE_LIMIT_BURST="1", GOOGLE_CLOUD_PROJECT="forged-id"
    )
    forged = {
        "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_forged", "content": "1"}]
    }
    assert limited.post(forged).status_code == 400
    assert limited.post({"prompt": "hi"}).status_code == 200


def test_get_root_in_a_browser_points_to_the_api(fn: Function) -> None:
    response = fn.http.get("/")
    assert response.status_code == 405 and response.headers["allow"] == "POST, OPTIONS"
    assert "demo chat page" in response.json()["error"]["message"]
