"""gemini_gateway.rate_limit: per-caller token buckets, in memory and through Redis (docs/API.md, "Rate limits").

The Redis limiter's script runs against a real redis-server in
tests/integration/test_callers.py; here the shared Redis state's handling of
failures is checked with a stand-in client that refuses (as redis-py does
when the server is down), hangs (a black hole) or answers slowly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gemini_gateway.callers.rate_limit import Limit, MemoryLimiter, RedisLimiter, make_limiter
from gemini_gateway.callers.redis_state import REQUEST_ALLOWANCE, SLOW_REPLY, Allowance, RedisState
from gemini_gateway.errors import RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_off_when_zero() -> None:
    assert make_limiter(0, None, None) is None
    assert make_limiter(0, 5, "redis://127.0.0.1:1") is None


def test_burst_defaults_to_the_per_minute_figure() -> None:
    limiter = make_limiter(30, None, None)
    assert isinstance(limiter, MemoryLimiter) and limiter.limit == Limit(30, 30)


def test_burst_then_refuse_with_retry_after() -> None:
    clock = Clock()
    limiter = MemoryLimiter(Limit(per_minute=6, burst=3), clock)
    assert [limiter.take("ios") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("ios")
    assert wait == pytest.approx(10.0)  # 6/min = one token every 10 s
    with pytest.raises(RateLimited) as info:
        asyncio.run(limiter.check("ios"))
    assert info.value.status == 429 and info.value.type == "rate_limited"
    assert info.value.headers["Retry-After"] == "10"


def test_refill_over_time() -> None:
    clock = Clock()
    limiter = MemoryLimiter(Limit(per_minute=60, burst=2), clock)
    assert limiter.take("a") == limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    clock.now += 1.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    clock.now += 3600
    assert [limiter.take("a") for _ in range(3)][:2] == [0.0, 0.0]  # never more than the burst


def test_callers_have_their_own_buckets() -> None:
    limiter = MemoryLimiter(Limit(per_minute=1, burst=1), Clock())
    assert limiter.take("uid:a") == 0.0
    assert limiter.take("uid:a") > 0
    assert limiter.take("uid:b") == 0.0
    assert limiter.take("webhook") == 0.0


def test_memory_is_bounded() -> None:
    limiter = MemoryLimiter(Limit(per_minute=1, burst=1), Clock(), max_callers=3)
    for n in range(10):
        limiter.take(f"uid:{n}")
    assert len(limiter._buckets) == 3


class StandIn:
    """A Redis client stand-in: each script call (and PING) does what `answer` says: fail, hang, or reply."""

    def __init__(self, answer: str = "take", delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.calls = 0
        self.pings = 0

    async def _reply(self) -> Any:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.answer == "refuse":
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
        if self.answer == "hang":
            await asyncio.sleep(3600)  # a black hole: accepts, never answers
        return [1, b"0"]

    def register_script(self, script: str) -> Any:
        async def run(keys: list[str], args: list[Any]) -> Any:
            self.calls += 1
            return await self._reply()

        return run

    async def ping(self) -> bool:
        self.pings += 1
        await self._reply()
        return True

    async def aclose(self) -> None:
        pass


def _limiter(client: StandIn, limit: Limit, probe_every: float = 60.0) -> tuple[RedisLimiter, RedisState]:
    state = RedisState(client, probe_every=probe_every)
    return RedisLimiter(limit, state, MemoryLimiter(limit)), state


def test_redis_down_fails_open_to_memory_and_requests_leave_it_alone(caplog: pytest.LogCaptureFixture) -> None:
    dead = StandIn("refuse")
    limiter, state = _limiter(dead, Limit(per_minute=6, burst=2))

    async def scenario() -> list[float]:
        waits = [await limiter.take("ios") for _ in range(3)]
        await state.aclose()
        return waits

    with caplog.at_level(logging.WARNING, logger="gemini_gateway"):
        waits = asyncio.run(scenario())
    assert waits[:2] == [0.0, 0.0] and waits[2] > 0  # still limited, per instance
    assert dead.calls == 1  # after the first failure no request touches Redis: the one probe asks
    warnings = [r for r in caplog.records if "Redis is unreachable" in r.getMessage()]
    assert len(warnings) == 1 and "failing open" in warnings[0].getMessage()


@pytest.mark.parametrize("answer", ["hang", "slow"])
def test_a_black_hole_or_a_slow_redis_costs_a_request_at_most_its_allowance(answer: str) -> None:
    client = StandIn("hang") if answer == "hang" else StandIn("take", delay=0.45)
    limiter, state = _limiter(client, Limit(per_minute=600, burst=100))

    async def scenario() -> list[float]:
        took = []
        for _ in range(3):
            allowance = Allowance()
            started = time.perf_counter()
            await limiter.take("ios", allowance=allowance)
            await limiter.take("web", allowance=allowance)  # the budget's call shares the allowance
            took.append(time.perf_counter() - started)
        await state.aclose()
        return took

    took = asyncio.run(scenario())
    assert REQUEST_ALLOWANCE - 0.05 <= took[0] <= REQUEST_ALLOWANCE + 0.1  # the first request waits once
    assert max(took[1:]) < 0.01  # then memory: no request waits on a sick Redis
    assert client.calls == 1 and not state.healthy


def test_one_probe_brings_redis_back_and_the_recovery_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    client = StandIn("refuse")
    limiter, state = _limiter(client, Limit(per_minute=6, burst=1), probe_every=0.01)

    async def scenario() -> list[float]:
        first = await limiter.take("ios")  # Redis down: memory takes the only token
        await asyncio.sleep(0.05)
        assert client.pings >= 2 and client.calls == 1  # probing is the probe's job, not the requests'
        client.answer = "take"
        for _ in range(100):
            await asyncio.sleep(0.01)
            if state.healthy:
                break
        waits = [first, await limiter.take("ios"), await limiter.take("ios")]  # Redis back: it decides
        await state.aclose()
        return waits

    with caplog.at_level(logging.INFO, logger="gemini_gateway"):
        assert asyncio.run(scenario()) == [0.0, 0.0, 0.0]
    assert client.calls == 3
    assert any("Redis answers again" in r.getMessage() for r in caplog.records)


def test_a_probe_that_answers_slowly_keeps_redis_out() -> None:
    client = StandIn("take", delay=SLOW_REPLY + 0.05)
    limiter, state = _limiter(client, Limit(per_minute=600, burst=100), probe_every=0.01)

    async def scenario() -> bool:
        await limiter.take("ios")  # answered, but too slowly: marked
        await asyncio.sleep(0.8)
        healthy = state.healthy
        await state.aclose()
        return healthy

    assert asyncio.run(scenario()) is False
    assert client.pings >= 1


def test_redis_denial_carries_its_wait() -> None:
    class Denies:
        def register_script(self, script: str) -> Any:
            async def run(keys: list[str], args: list[Any]) -> Any:
                assert keys == ["gemini-gateway:ratelimit:uid:abc"] and args == ["0.1", 2]
                return [0, b"7.25"]

            return run

    limit = Limit(per_minute=6, burst=2)
    limiter = RedisLimiter(limit, RedisState(Denies()), MemoryLimiter(limit))
    with pytest.raises(RateLimited) as info:
        asyncio.run(limiter.check("uid:abc"))
    assert info.value.headers["Retry-After"] == "8"
