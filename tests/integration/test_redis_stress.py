"""Redis under stress, over real sockets: a slow Redis (0.45 s a reply), a black hole (accepts, never answers)
and a refused one, between the function and a real redis-server (tests/support/redis_proxy.py).

What must hold: no request waits on Redis longer than its one allowance
(0.5 s for all its Redis calls: rate limit, budget reservation, settlement),
one warning says the function is failing open, requests then count in memory
without touching Redis, a caller Redis saw over its budget stays refused, and
what was spent in memory meanwhile is written back when Redis answers again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.support.redis_proxy import RedisProxy

from .conftest import CLIENT_KEYS, Function
from .test_budgets import IOS, PROMPT, WEB, redis_spent
from .test_callers import Redis, redis_server  # noqa: F401 - the module-scoped fixture, reused

ALLOWANCE = 0.5
MARGIN = 0.35  # a loaded 2-core test machine's scheduling noise


@pytest.fixture
def proxy(redis_server: Redis) -> Iterator[RedisProxy]:  # noqa: F811
    sick = RedisProxy(redis_server.port)
    yield sick
    sick.stop()


async def _timed(url: str, count: int, headers: dict[str, str]) -> list[tuple[int, float]]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> tuple[int, float]:
            started = time.perf_counter()
            async with session.post(url + "/", json=PROMPT, headers=headers) as resp:
                await resp.read()
                return resp.status, time.perf_counter() - started

        return await asyncio.gather(*[one() for _ in range(count)])


def timed(fn: Function, count: int = 1, headers: dict[str, str] = IOS) -> list[tuple[int, float]]:
    return asyncio.run(_timed(fn.url, count, headers))


def logged(fn: Function, text: str) -> list[dict[str, Any]]:
    return [e for e in fn.logs() if text in str(e.get("message"))]


def wait_for_log(fn: Function, text: str, timeout: float = 6.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while not (found := logged(fn, text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


@pytest.mark.parametrize("sickness", ["slow", "hole", "refuse"])
def test_a_sick_redis_costs_a_request_at_most_one_allowance(
    sickness: str,
    start_function: Any,
    proxy: RedisProxy,
    redis_server: Redis,  # noqa: F811
) -> None:
    fn: Function = start_function(
        RATE_LIMIT_PER_MINUTE="60000",
        DAILY_TOKEN_BUDGET="10000000",
        REDIS_URL=proxy.url,
        GOOGLE_CLOUD_PROJECT=f"redis-{sickness}",
    )
    redis_server.command("FLUSHALL")
    healthy = [took for status, took in timed(fn) + timed(fn) + timed(fn, 10)]
    baseline = max(healthy)
    assert redis_spent(redis_server) > 0  # Redis did the counting
    proxy.mode = sickness
    concurrent = timed(fn, 20)  # Redis turns sick under 20 requests in flight
    after = [took for _ in range(10) for _, took in timed(fn)]
    assert [status for status, _ in concurrent] == [200] * 20
    worst = max(took for _, took in concurrent)
    assert worst <= baseline + ALLOWANCE + MARGIN, (sickness, baseline, worst)
    assert max(after) <= baseline + MARGIN, (sickness, baseline, after)  # then memory: nobody waits on Redis
    warnings = logged(fn, "failing open")
    assert (
        len(warnings) == 1 and warnings[0]["severity"] == "WARNING" and "Redis is unreachable" in warnings[0]["message"]
    )
    assert not logged(fn, "Redis answers again")  # the probe keeps a slow Redis out too


def test_failing_open_keeps_a_spent_caller_refused_and_writes_back_what_memory_counted(
    fn: Function,
    start_function: Any,
    proxy: RedisProxy,
    redis_server: Redis,  # noqa: F811
) -> None:
    cost = int(fn.post(PROMPT, key=None, headers=WEB).json()["usage"]["total_tokens"])
    limited: Function = start_function(
        DAILY_TOKEN_BUDGET=str(2 * cost), REDIS_URL=proxy.url, GOOGLE_CLOUD_PROJECT="redis-write-back"
    )
    redis_server.command("FLUSHALL")
    assert [status for status, _ in timed(limited) + timed(limited) + timed(limited)] == [200, 200, 429]
    assert redis_spent(redis_server, "ios-app") == 2 * cost
    proxy.mode = "hole"
    status, took = timed(limited)[0]
    assert status == 429 and took <= ALLOWANCE + MARGIN  # memory knows what Redis said: not re-admitted
    assert limited.post(PROMPT, key=CLIENT_KEYS["web"]).status_code == 200  # counted in memory meanwhile
    assert redis_spent(redis_server, "web") == 0
    proxy.mode = "pass"
    assert wait_for_log(limited, "Redis answers again")
    assert redis_spent(redis_server, "web") == cost  # written back before Redis was used again
    (written,) = logged(limited, "written back")
    assert written["tokens"] == cost and written["callers"] == 1
    assert limited.post(PROMPT, key=CLIENT_KEYS["web"]).status_code == 200
    assert redis_spent(redis_server, "web") == 2 * cost  # and Redis counts again
