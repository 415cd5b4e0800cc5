"""Behaviour under faults (docs/API.md §9) over real sockets: retries, key rotation, deadline,
cancellation, secret caching and hundreds of calls in flight."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from .conftest import CLIENT_KEYS, GEMINI_KEY, PROJECT, Function, Gateway, SecretManager, leave_midway

AUTH = {"Authorization": f"Bearer {CLIENT_KEYS['ios-app']}", "Content-Type": "application/json"}


def test_5xx_is_retried_then_succeeds(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"status": 503}, {"status": 500})
    r = fn.post({"prompt": "x"})
    assert r.status_code == 200, r.text
    assert r.json()["gateway"]["attempts"] == 3
    assert len(gateway.requests()) == 3


def test_5xx_after_all_attempts_is_502_retryable(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"status": 503}, {"status": 502}, {"status": 503}, {"status": 503})
    r = fn.post({"prompt": "x"})
    assert r.status_code == 502
    error = r.json()["error"]
    assert error["type"] == "upstream_error" and error["retryable"] is True
    assert len(gateway.requests()) == 3, "UPSTREAM_MAX_ATTEMPTS defaults to 3"


def test_dropped_connection_is_retried(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"drop": True})
    r = fn.post({"prompt": "x"})
    assert r.status_code == 200, r.text
    assert r.json()["gateway"]["attempts"] == 2


def test_malformed_answer_is_502_without_retry(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"malformed": True})
    r = fn.post({"prompt": "x"})
    assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_error"
    assert len(gateway.requests()) == 1


def test_answer_without_candidates_is_502(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"no_candidates": True})
    r = fn.post({"prompt": "x"})
    assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_error"


def test_429_honours_retry_info(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"status": 429, "retry_delay": "0.6s"})
    started = time.monotonic()
    r = fn.post({"prompt": "x"})
    assert r.status_code == 200, r.text
    seen = gateway.requests()
    assert seen[1]["started"] - seen[0]["started"] >= 0.6, "waited as long as RetryInfo asked"
    assert time.monotonic() - started < 5


def test_429_with_a_wait_beyond_the_deadline_is_passed_on(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"status": 429, "retry_delay": "30s"})
    started = time.monotonic()
    r = fn.post({"prompt": "x"})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "30"
    error = r.json()["error"]
    assert error["type"] == "rate_limited" and error["retryable"] is True
    assert time.monotonic() - started < 2, "no point waiting past UPSTREAM_TIMEOUT_SECONDS"


def test_retry_after_header_is_honoured(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"status": 503, "headers": {"Retry-After": "1"}})
    r = fn.post({"prompt": "x"})
    assert r.status_code == 200
    seen = gateway.requests()
    assert seen[1]["started"] - seen[0]["started"] >= 1.0


def test_gateway_rate_limit_is_429(fn: Function, gateway: Gateway) -> None:
    gateway.faults(*[{"status": 429, "gateway_error": 2003, "headers": {"Retry-After": "0"}}] * 3)
    r = fn.post({"prompt": "x"})
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1


def test_deadline_gives_504_and_cancels_the_upstream_call(start_function: Any, gateway: Gateway) -> None:
    fast = start_function(UPSTREAM_TIMEOUT_SECONDS="1")
    gateway.faults({"delay": 5})
    started = time.monotonic()
    r = fast.post({"prompt": "x"})
    elapsed = time.monotonic() - started
    assert r.status_code == 504 and r.json()["error"]["type"] == "upstream_timeout"
    assert 0.9 < elapsed < 2.5
    time.sleep(0.3)
    (seen,) = gateway.requests()
    assert seen["disconnected"] is True, "the upstream connection was closed, not left running"


def test_retries_stay_inside_the_deadline(start_function: Any, gateway: Gateway) -> None:
    fast = start_function(UPSTREAM_TIMEOUT_SECONDS="1.5", UPSTREAM_MAX_ATTEMPTS="10")
    gateway.faults(*[{"status": 503, "delay": 0.4}] * 10)
    started = time.monotonic()
    r = fast.post({"prompt": "x"})
    assert r.status_code in (502, 504)
    assert time.monotonic() - started < 2.5


def test_caller_disconnect_cancels_the_upstream_call(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"delay": 5})
    auth = {"Authorization": f"Bearer {CLIENT_KEYS['ios-app']}"}
    leave_midway(fn.server.port, "/", auth, b'{"prompt": "going away"}', until=lambda _: bool(gateway.requests()))
    seen_one = gateway.the_one_request_once_disconnected()
    assert seen_one["disconnected"] is True
    assert seen_one["ended"] - seen_one["started"] < 2, "cancelled promptly, long before the 5 s answer"
    assert any(e.get("error_type") == "client_disconnected" for e in fn.logs())


def test_key_rotation_without_restart(start_function: Any, gateway: Gateway, secret_manager: SecretManager) -> None:
    secret = f"{PROJECT}/secrets/gemini-rotating"
    rotating = start_function(GEMINI_API_KEY_SECRET=f"{secret}/versions/latest")
    gateway.config(keys=[GEMINI_KEY, "test-rotating-key-1"])
    assert rotating.post({"prompt": "x"}).status_code == 200
    secret_manager.add_version(secret, "test-rotating-key-2")
    gateway.config(keys=[GEMINI_KEY, "test-rotating-key-2"])  # the old key is revoked upstream
    r = rotating.post({"prompt": "x"})
    assert r.status_code == 200, r.text
    assert r.json()["gateway"]["attempts"] == 2
    keys = [req["headers"]["x-goog-api-key"] for req in gateway.requests()[-2:]]
    assert keys == ["test-rotating-key-1", "test-rotating-key-2"]
    assert secret_manager.access_count(secret) == 2
    assert rotating.post({"prompt": "x"}).json()["gateway"]["attempts"] == 1


def test_rejected_key_with_no_new_version_is_502(
    start_function: Any, gateway: Gateway, secret_manager: SecretManager
) -> None:
    secret = f"{PROJECT}/secrets/gemini-leaky"
    leaky = start_function(GEMINI_API_KEY_SECRET=f"{secret}/versions/latest")
    r = leaky.post({"prompt": "x"})
    assert r.status_code == 502
    error = r.json()["error"]
    assert error["type"] == "upstream_error" and error["retryable"] is False
    assert "test-leaky-key-998877" not in r.text
    assert len(gateway.requests()) == 1, "same key after refetch: not sent again"
    assert "test-leaky-key-998877" not in leaky.server.output()


def test_secret_is_fetched_once_not_per_request(start_function: Any, secret_manager: SecretManager) -> None:
    secret = f"{PROJECT}/secrets/gemini-once"
    once = start_function(GEMINI_API_KEY_SECRET=f"{secret}/versions/latest")
    for _ in range(5):
        assert once.post({"prompt": "x"}).status_code == 200
    assert secret_manager.access_count(secret) == 1


def test_concurrent_first_requests_share_one_fetch(start_function: Any, secret_manager: SecretManager) -> None:
    secret = f"{PROJECT}/secrets/gemini-concurrent"
    fresh = start_function(GEMINI_API_KEY_SECRET=f"{secret}/versions/latest")

    async def burst() -> list[int]:
        async with aiohttp.ClientSession() as session:

            async def one() -> int:
                async with session.post(fresh.url + "/", data=b'{"prompt": "x"}', headers=AUTH) as resp:
                    return resp.status

            return await asyncio.gather(*[one() for _ in range(50)])

    assert asyncio.run(burst()) == [200] * 50
    assert secret_manager.access_count(secret) == 1


@pytest.mark.slow
def test_hundreds_in_flight_on_one_instance(fn: Function, gateway: Gateway) -> None:
    gateway.config(delay=1.0)
    count = 300

    async def flood() -> list[tuple[int, str]]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> tuple[int, str]:
                body = f'{{"prompt": "question {i}"}}'.encode()
                async with session.post(fn.url + "/", data=body, headers=AUTH) as resp:
                    data = await resp.json()
                    return resp.status, data.get("text", "")

            return await asyncio.gather(*[one(i) for i in range(count)])

    started = time.monotonic()
    results = asyncio.run(flood())
    elapsed = time.monotonic() - started
    assert [status for status, _ in results] == [200] * count
    assert [text for _, text in results] == [f"Echo: question {i}" for i in range(count)], (
        "every caller got its own answer"
    )
    assert gateway.stats()["max_in_flight"] >= count * 0.9, "held open at once, not queued"
    assert elapsed < 10
