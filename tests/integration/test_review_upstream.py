"""Review fixes on the Interactions routes and the upstream failure path, over real sockets.

A query value ending in a newline, an interaction that ended in a function call, a gateway guardrail, a hostile
event stream, an upstream error whose ErrorInfo reason holds a key, and answers nested deeper than JSON can be
written back.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .conftest import CLIENT_KEYS, GEMINI_KEY, Function, Gateway

MODEL = "gemini-3.8-flash"
KEY = CLIENT_KEYS["ios-app"]
HEADERS = {"x-goog-api-key": KEY}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def budgeted(start_function: Any) -> Function:
    function: Function = start_function(DAILY_TOKEN_BUDGET="100000", GOOGLE_CLOUD_PROJECT="review-interactions")
    return function


def create(fn: Function, **body: Any) -> httpx.Response:
    return httpx.post(f"{fn.url}/v1beta/interactions", json={"model": MODEL, **body}, headers=HEADERS, timeout=30)


def test_a_last_event_id_ending_in_a_newline_is_400(budgeted: Function, gateway: Gateway) -> None:
    made = create(budgeted, input="hi")
    assert made.status_code == 200, made.text
    before = len(gateway.requests())
    url = f"{budgeted.url}/v1beta/interactions/{made.json()['id']}"
    r = httpx.get(url, params={"stream": "true", "last_event_id": "abc\n"}, headers=HEADERS)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"][0]["field"] == "last_event_id"
    assert len(gateway.requests()) == before


def test_an_interaction_ending_in_a_function_call_is_charged(start_function: Any) -> None:
    fresh: Function = start_function(DAILY_TOKEN_BUDGET="100000", GOOGLE_CLOUD_PROJECT="review-interactions-call")
    r = create(fresh, input="Weather in Paris?", tools=[WEATHER])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "requires_action" and body["usage"]["total_tokens"] > 0
    line = fresh.access_line(r.headers["x-request-id"])  # budget_spent: the caller's day, this request alone
    assert line is not None and line["budget_spent"] == body["usage"]["total_tokens"], line


@pytest.mark.parametrize("stream", [False, True])
def test_a_guardrail_refusal_is_400_not_an_empty_answer(budgeted: Function, gateway: Gateway, stream: bool) -> None:
    gateway.faults({"gateway_error": 2016})
    r = create(budgeted, input="hi", stream=stream)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request" and "guardrails blocked the prompt" in error["message"], error


def test_hostile_stream_events_neither_break_the_stream_nor_add_lines(budgeted: Function, gateway: Gateway) -> None:
    events = [
        {"event_type": "interaction.completed", "interaction": "not an object"},
        {"event_type": "interaction.status_update", "interaction": None, "interaction_id": 7},
        {"event_type": 'x\r\ndata: {"id": "v1_unsealed"}', "n": 1},
        {"event_type": ["interaction.completed"], "n": 2},
    ]
    raw = "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in events) + "data: [DONE]\r\n\r\n"
    gateway.faults({"body": raw})
    r = create(budgeted, input="hi", stream=True)
    assert r.status_code == 200, r.text
    names = [line for line in r.text.split("\r\n") if line.startswith("event: ")]
    expected = ["interaction.completed", "interaction.status_update", "message", "message", "done"]
    assert names == [f"event: {name}" for name in expected], r.text
    assert 'data: {"id": "v1_unsealed"}' not in r.text.split("\r\n")
    line = budgeted.access_line(r.headers["x-request-id"])
    assert line is not None and "exception" not in line and "error_type" not in line, line


def test_an_error_reason_holding_a_key_is_scrubbed(fn: Function, gateway: Gateway) -> None:
    found = "AIzaSyfaketestKeyInAReason0123456789abc"  # a fake key, never issued
    for reason in (GEMINI_KEY, found, "X" * 5000):
        detail = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}
        body = {"error": {"code": 403, "message": "refused", "status": "PERMISSION_DENIED", "details": [detail]}}
        gateway.faults({"status": 403, "body": body})
        r = fn.post({"prompt": "x"})
        assert r.status_code == 502, r.text
        line = fn.access_line(r.headers["x-request-id"])
        assert line is not None, r.headers
        logged = json.dumps(line)
        assert GEMINI_KEY not in logged and found not in logged, line
        assert len(line["upstream_reason"]) <= 64, line


DEEP = "[" * 300 + "]" * 300  # orjson reads 1024 levels but writes only 254


@pytest.mark.parametrize("route", ["generateContent", "interactions"])
def test_an_answer_nested_deeper_than_can_be_written_back_is_a_502(
    fn: Function, budgeted: Function, gateway: Gateway, route: str
) -> None:
    if route == "generateContent":
        answer = '{"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}], "x": ' + DEEP + "}"
        gateway.faults({"body": answer})
        r = httpx.post(
            f"{fn.url}/v1beta/models/{MODEL}:generateContent",
            json={"contents": [{"parts": [{"text": "hi"}]}]},
            headers=HEADERS,
        )
    else:
        gateway.faults({"body": '{"id": "v1_deep", "status": "in_progress", "x": ' + DEEP + "}"})
        r = create(budgeted, input="hi")
    assert r.status_code == 502, r.text
    assert "nested" in r.json()["error"]["message"], r.text


def test_a_stream_record_nested_too_deeply_ends_the_stream_as_an_upstream_error(fn: Function, gateway: Gateway) -> None:
    record = '{"candidates": [{"content": {"parts": [{"text": "hi"}]}}], "x": ' + DEEP + "}"
    gateway.faults({"body": f"data: {record}\r\n\r\n"})
    r = httpx.post(
        f"{fn.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
        json={"contents": [{"parts": [{"text": "hi"}]}]},
        headers=HEADERS,
    )
    assert r.status_code == 200, r.text
    error = json.loads(r.text.strip().split("\r\n")[-1].removeprefix("data: "))["error"]
    assert "nested too deeply" in error["message"] and error["status"] == "INTERNAL", error
