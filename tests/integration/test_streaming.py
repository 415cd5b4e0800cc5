"""Streaming (docs/API.md §5): a real stream, forwarded as it arrives, never buffered whole."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from .conftest import CLIENT_KEYS, Function, Gateway, leave_midway

AUTH = {"Authorization": f"Bearer {CLIENT_KEYS['ios-app']}", "Content-Type": "application/json"}


def read_events(fn: Function, body: dict[str, Any], **kw: Any) -> tuple[int, list[tuple[str, Any, float]]]:
    """(status, [(event, data, seconds since the request)]) from an SSE answer."""
    events: list[tuple[str, Any, float]] = []
    started = time.monotonic()
    headers = {**AUTH, **kw.pop("headers", {})}
    with fn.http.stream("POST", "/", content=json.dumps(body).encode(), headers=headers) as r:
        if r.status_code != 200:
            r.read()
            return r.status_code, [("json", r.json(), 0.0)]
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name or "", json.loads(line[6:]), time.monotonic() - started))
    return 200, events


def test_stream_deltas_then_done(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"thoughts": True})  # a thought chunk comes first; it must not become a delta
    status, events = read_events(fn, {"prompt": "tell me a story about the sea", "stream": True})
    assert status == 200
    names = [e[0] for e in events]
    assert names[-1] == "done" and set(names[:-1]) == {"delta"} and len(names) >= 3
    done = events[-1][1]
    assert done["text"] == "".join(e[1]["text"] for e in events[:-1]) == "Echo: tell me a story about the sea"
    assert done["finish_reason"] == "stop"
    assert done["usage"]["output_tokens"] > 0 and done["usage"]["thinking_tokens"] > 0
    assert done["gateway"]["attempts"] == 1
    (seen,) = gateway.requests()
    assert seen["path"].endswith("/models/gemini-2.5-flash:streamGenerateContent")
    assert seen["query"] == {"alt": "sse"}


def test_accept_header_asks_for_a_stream(fn: Function) -> None:
    status, events = read_events(fn, {"prompt": "x"}, headers={"Accept": "text/event-stream"})
    assert status == 200 and events[-1][0] == "done"


def test_first_delta_arrives_long_before_the_end(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"stream_first_delay": 1.5, "text": "one two three four five six"})
    status, events = read_events(fn, {"prompt": "x", "stream": True, "thinking_budget": 0})
    assert status == 200
    first_delta = next(t for name, _, t in events if name == "delta")
    end = events[-1][2]
    assert first_delta < 0.5, f"first delta after {first_delta:.2f}s: buffered?"
    assert end >= 1.5
    assert [e[0] for e in events].count("delta") >= 2


def test_blocked_prompt_in_a_stream(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"block_reason": "SAFETY"})
    status, events = read_events(fn, {"prompt": "x", "stream": True})
    assert status == 200
    assert [e[0] for e in events] == ["done"]
    assert events[0][1]["finish_reason"] == "blocked" and events[0][1]["blocked_reason"] == "SAFETY"


def test_chunks_without_parts_give_no_delta(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"finish_reason": "SAFETY", "thoughts": True})
    status, events = read_events(fn, {"prompt": "x", "stream": True})
    assert status == 200
    assert [e[0] for e in events] == ["done"], "thought-only and empty chunks send nothing"
    assert events[0][1]["finish_reason"] == "content_filter"


@pytest.mark.parametrize("fault", [{"stream_drop_after": 2}, {"stream_error_after": 2}])
def test_upstream_failing_mid_stream_ends_with_an_error_event(
    fn: Function, gateway: Gateway, fault: dict[str, Any]
) -> None:
    gateway.faults(fault)
    status, events = read_events(
        fn, {"prompt": "a longer prompt with several words in it", "stream": True, "thinking_budget": 0}
    )
    assert status == 200
    assert events[-1][0] == "error"
    error = events[-1][1]["error"]
    assert error["type"] == "upstream_error" and error["request_id"]
    assert len(gateway.requests()) == 1, "no retry once bytes were sent"


STREAMING_ROUTES = {
    "/": {"prompt": "x", "stream": True},
    "/v1/chat/completions": {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
    },
    "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse": {"contents": [{"parts": [{"text": "x"}]}]},
}


@pytest.mark.parametrize("path", STREAMING_ROUTES)
def test_a_failure_mid_stream_is_logged_with_the_upstream_attempts(fn: Function, gateway: Gateway, path: str) -> None:
    gateway.faults({"stream_error_after": 2, "text": "one two three four five six"})
    r = fn.post(STREAMING_ROUTES[path], path=path)
    assert r.status_code == 200
    line = fn.access_line(r.headers["x-request-id"])
    assert line is not None
    assert line["stream_error"] is True and line["error_type"] == "upstream_error"
    assert line["attempts"] == 1 and "upstream_ms" in line


def test_errors_before_the_first_byte_are_plain_json(fn: Function, gateway: Gateway) -> None:
    status, events = read_events(fn, {"prompt": "x", "stream": True, "temperature": 9})
    assert status == 400 and events[0][1]["error"]["type"] == "invalid_request"
    status, events = read_events(fn, {"prompt": "x", "stream": True}, headers={"Authorization": "Bearer nope"})
    assert status == 401
    gateway.faults({"status": 503}, {"status": 503}, {"status": 503})
    status, events = read_events(fn, {"prompt": "x", "stream": True})
    assert status == 502 and events[0][1]["error"]["retryable"] is True


def test_stream_is_retried_before_it_starts(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"status": 503})
    status, events = read_events(fn, {"prompt": "x", "stream": True})
    assert status == 200 and events[-1][1]["gateway"]["attempts"] == 2


def test_caller_leaving_mid_stream_closes_the_upstream(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"stream_first_delay": 5})
    body = b'{"prompt": "several words of prompt", "stream": true, "thinking_budget": 0}'
    auth = {"Authorization": f"Bearer {CLIENT_KEYS['ios-app']}"}
    leave_midway(fn.server.port, "/", auth, body, until=lambda received: b"event: delta" in received)
    seen = gateway.the_one_request_once_disconnected()
    assert seen["disconnected"] is True
    assert seen["ended"] - seen["started"] < 2.5, "closed promptly, not after the 5 s pause"


@pytest.mark.slow
def test_500_streams_open_at_once(fn: Function, gateway: Gateway) -> None:
    gateway.config(stream_delay=0.3)
    count = 500

    async def flood() -> list[tuple[int, str]]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def one(i: int) -> tuple[int, str]:
                body = json.dumps({"prompt": f"stream {i}", "stream": True}).encode()
                async with session.post(fn.url + "/", data=body, headers=AUTH) as resp:
                    text = (await resp.read()).decode()
                    done = [
                        line for line in text.split("\n") if line.startswith("data: ") and '"finish_reason"' in line
                    ]
                    return resp.status, json.loads(done[-1][6:])["text"] if done else ""

            return await asyncio.gather(*[one(i) for i in range(count)])

    results = asyncio.run(flood())
    assert [s for s, _ in results] == [200] * count
    assert [t for _, t in results] == [f"Echo: stream {i}" for i in range(count)]
    assert gateway.stats()["max_in_flight"] >= count * 0.9
