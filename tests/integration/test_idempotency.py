"""`Idempotency-Key` over real sockets (docs/API.md §12): replays, mismatches, races, streams.

The function runs under functions-framework in front of the AI Gateway
emulator; the two-instance race shares a real redis-server.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from .conftest import CLIENT_KEYS, Function, Gateway
from .test_callers import Redis, redis_server  # noqa: F401 - the module-scoped fixture, reused

PROMPT = {"prompt": "Say hi"}


def keyed(fn: Function, idem: str | bytes, body: Any = PROMPT, **kw: Any) -> httpx.Response:
    headers = {"Idempotency-Key": idem, **kw.pop("headers", {})}
    return fn.post(body, headers=headers, **kw)


def upstream_calls(gateway: Gateway) -> int:
    return len(gateway.requests())


def together(*calls: Any) -> list[httpx.Response]:
    """Run the calls at the same moment, each on its own thread."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_same_key_same_body_is_replayed_without_an_upstream_call(fn: Function, gateway: Gateway) -> None:
    first = keyed(fn, "order-1001")
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    again = keyed(fn, "order-1001")
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content, "the stored body, byte for byte"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert upstream_calls(gateway) == 1
    line = fn.access_line(again.headers["x-request-id"])
    assert line is not None and line["idempotency"] == "replayed" and "total_tokens" not in line
    assert fn.access_line(first.headers["x-request-id"])["idempotency"] == "first"  # type: ignore[index]


def test_the_key_is_scoped_to_the_caller(fn: Function, gateway: Gateway) -> None:
    assert keyed(fn, "shared-key").status_code == 200
    other = keyed(fn, "shared-key", key=CLIENT_KEYS["web"])
    assert other.status_code == 200 and "idempotent-replayed" not in other.headers
    assert upstream_calls(gateway) == 2


def test_same_key_different_body_is_422(fn: Function, gateway: Gateway) -> None:
    assert keyed(fn, "order-1002").status_code == 200
    other = keyed(fn, "order-1002", {"prompt": "Something else"})
    assert other.status_code == 422, other.text
    error = other.json()["error"]
    assert error["type"] == "idempotency_mismatch" and error["retryable"] is False
    assert error["details"][0]["field"] == "Idempotency-Key"
    assert upstream_calls(gateway) == 1


def test_openai_route_replays_in_its_own_shape(fn: Function, gateway: Gateway) -> None:
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
    first = keyed(fn, "chat-1", body, path="/v1/chat/completions")
    again = keyed(fn, "chat-1", body, path="/v1/chat/completions")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and first.json()["object"] == "chat.completion"
    mismatch = keyed(fn, "chat-1", {**body, "temperature": 0.5}, path="/v1/chat/completions")
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["code"] == "idempotency_mismatch"  # OpenAI's error shape, our type as its code
    assert upstream_calls(gateway) == 1


def test_a_key_on_a_stream_is_refused_naming_the_header(fn: Function, gateway: Gateway) -> None:
    for response in (
        keyed(fn, "stream-1", {"prompt": "x", "stream": True}),
        keyed(fn, "stream-2", headers={"Accept": "text/event-stream"}),
        keyed(
            fn,
            "stream-3",
            {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], "stream": True},
            path="/v1/chat/completions",
        ),
    ):
        assert response.status_code == 400, response.text
        assert "Idempotency-Key" in response.text
    assert upstream_calls(gateway) == 0


def test_malformed_keys_are_400(fn: Function) -> None:
    for value in (b"x" * 256, "caf\u00e9".encode(), b'""', b""):
        response = fn.post(PROMPT, headers={"Idempotency-Key": value})
        assert response.status_code == 400, value
        assert response.json()["error"]["details"][0]["field"] == "Idempotency-Key"
    assert keyed(fn, '"quoted-key-1"').status_code == 200
    replay = keyed(fn, "quoted-key-1")  # the structured-field string form is the same key
    assert replay.headers.get("idempotent-replayed") == "true"


def test_a_final_4xx_is_kept_and_replayed(fn: Function, gateway: Gateway) -> None:
    refused = keyed(fn, "bad-model", {"prompt": "x", "model": "not-allowed-model"})
    assert refused.status_code == 400
    again = keyed(fn, "bad-model", {"prompt": "x", "model": "not-allowed-model"})
    assert again.status_code == 400 and again.headers["idempotent-replayed"] == "true"
    assert again.content == refused.content


def test_a_retryable_failure_is_not_kept(start_function: Any, gateway: Gateway) -> None:
    fn: Function = start_function(UPSTREAM_MAX_ATTEMPTS="1")
    gateway.faults({"status": 503})
    failed = keyed(fn, "flaky-1")
    assert failed.status_code == 502 and failed.json()["error"]["retryable"] is True
    retried = keyed(fn, "flaky-1")
    assert retried.status_code == 200 and "idempotent-replayed" not in retried.headers
    assert upstream_calls(gateway) == 2


def test_replays_spend_no_rate_limit_token(start_function: Any) -> None:
    fn: Function = start_function(RATE_LIMIT_PER_MINUTE="6", RATE_LIMIT_BURST="2", GOOGLE_CLOUD_PROJECT="idem-rate")
    assert keyed(fn, "rate-1").status_code == 200
    for _ in range(4):
        assert keyed(fn, "rate-1").headers["idempotent-replayed"] == "true"
    assert fn.post(PROMPT).status_code == 200, "the second token is still there"
    assert fn.post(PROMPT).status_code == 429


def test_while_the_first_runs_a_retry_gets_409(start_function: Any, gateway: Gateway) -> None:
    fn: Function = start_function(GOOGLE_CLOUD_PROJECT="idem-race")
    gateway.faults({"delay": 1.5})
    responses = together(lambda: keyed(fn, "slow-1"), lambda: keyed(fn, "slow-1"))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], [r.text for r in responses]
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.json()["error"]["type"] == "conflict" and conflict.json()["error"]["retryable"] is True
    assert int(conflict.headers["retry-after"]) >= 1
    assert upstream_calls(gateway) == 1
    assert keyed(fn, "slow-1").headers["idempotent-replayed"] == "true"


def test_two_instances_sharing_redis_run_a_key_once(
    start_function: Any,
    gateway: Gateway,
    redis_server: Redis,  # noqa: F811
) -> None:
    a: Function = start_function(REDIS_URL=redis_server.url, GOOGLE_CLOUD_PROJECT="idem-redis-a")
    b: Function = start_function(REDIS_URL=redis_server.url, GOOGLE_CLOUD_PROJECT="idem-redis-b")
    redis_server.command("FLUSHALL")
    gateway.faults({"delay": 1.5})
    responses = together(lambda: keyed(a, "shared-1"), lambda: keyed(b, "shared-1"))
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    assert upstream_calls(gateway) == 1
    winner = next(r for r in responses if r.status_code == 200)
    for fn in (a, b):
        replay = keyed(fn, "shared-1")
        assert replay.headers["idempotent-replayed"] == "true" and replay.content == winner.content
    assert keyed(b, "shared-1", {"prompt": "other"}).status_code == 422
    keys = [k.decode() for k in redis_server.command("KEYS", "gemini-gateway:idempotency:*")]
    assert len(keys) == 1
    ttl = int(redis_server.command("TTL", keys[0]))
    assert 86000 < ttl <= 86400
    assert json.loads(redis_server.command("GET", keys[0]).split(b"\n", 1)[0])["state"] == "done"
