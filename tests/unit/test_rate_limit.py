"""gemini_gateway.rate_limit: per-caller token buckets, in memory and through Redis (contract section 6).

The Redis limiter's script runs against a real redis-server in
tests/integration/test_callers.py; here its failure handling is checked with
a client whose every call fails (as redis-py's does when the server is down).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gemini_gateway.callers.rate_limit import Limit, MemoryLimiter, RedisLimiter, make_limiter
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


class DeadRedis:
    """What redis-py's client does when nothing listens: every call raises ConnectionError."""

    def __init__(self) -> None:
        self.calls = 0

    def register_script(self, script: str) -> Any:
        async def run(keys: list[str], args: list[Any]) -> Any:
            self.calls += 1
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

        return run


def test_redis_down_fails_open_to_memory(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    dead = DeadRedis()
    limit = Limit(per_minute=6, burst=2)
    limiter = RedisLimiter(limit, dead, MemoryLimiter(limit, clock), clock)

    async def scenario() -> list[float]:
        return [await limiter.take("ios") for _ in range(3)]

    with caplog.at_level(logging.WARNING, logger="gemini_gateway"):
        waits = asyncio.run(scenario())
    assert waits[:2] == [0.0, 0.0] and waits[2] > 0  # still limited, per instance
    assert dead.calls == 1  # Redis left alone for a while after a failure
    warnings = [r for r in caplog.records if "Redis is unreachable" in r.getMessage()]
    assert len(warnings) == 1


def test_redis_retried_after_the_pause_and_warned_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    dead = DeadRedis()
    limit = Limit(per_minute=600, burst=100)
    limiter = RedisLimiter(limit, dead, MemoryLimiter(limit, clock), clock)

    async def scenario() -> None:
        for _ in range(12):  # one minute of requests, 5 s apart
            await limiter.take("ios")
            clock.now += 5.0
        await limiter.take("ios")

    with caplog.at_level(logging.WARNING, logger="gemini_gateway"):
        asyncio.run(scenario())
    assert dead.calls == 13
    assert len([r for r in caplog.records if "Redis is unreachable" in r.getMessage()]) == 2


class FlakyRedis:
    """Down for the first `failures` calls, then answers like the script: a token taken."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def register_script(self, script: str) -> Any:
        async def run(keys: list[str], args: list[Any]) -> Any:
            self.calls += 1
            if self.calls <= self.failures:
                raise RedisConnectionError("Connection refused.")
            return [1, b"0"]

        return run


def test_redis_recovery_is_used_again_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    flaky = FlakyRedis(failures=1)
    limit = Limit(per_minute=6, burst=1)
    fallback = MemoryLimiter(limit, clock)
    limiter = RedisLimiter(limit, flaky, fallback, clock)

    async def scenario() -> list[float]:
        first = await limiter.take("ios")  # Redis down: memory takes the only token
        clock.now += 5.0
        return [first, await limiter.take("ios"), await limiter.take("ios")]  # Redis back: it decides

    with caplog.at_level(logging.INFO, logger="gemini_gateway"):
        assert asyncio.run(scenario()) == [0.0, 0.0, 0.0]
    assert flaky.calls == 3
    assert any("Redis is reachable again" in r.getMessage() for r in caplog.records)


def test_redis_denial_carries_its_wait() -> None:
    class Denies:
        def register_script(self, script: str) -> Any:
            async def run(keys: list[str], args: list[Any]) -> Any:
                assert keys == ["gemini-gateway:ratelimit:uid:abc"] and args == ["0.1", 2]
                return [0, b"7.25"]

            return run

    limit = Limit(per_minute=6, burst=2)
    limiter = RedisLimiter(limit, Denies(), MemoryLimiter(limit))
    with pytest.raises(RateLimited) as info:
        asyncio.run(limiter.check("uid:abc"))
    assert info.value.headers["Retry-After"] == "8"
