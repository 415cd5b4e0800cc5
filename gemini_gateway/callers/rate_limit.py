"""Per-caller rate limits: a token bucket per caller identity (docs/API.md, "Callers").

Each caller (key name, `uid:<sub>`, `app:<id>`, `webhook`) has a bucket of
RATE_LIMIT_BURST tokens (default: RATE_LIMIT_PER_MINUTE) refilled at
RATE_LIMIT_PER_MINUTE per minute; a request takes one token, and with none
left it is refused with 429 `rate_limited` and `Retry-After` (when the next
token arrives).

Without REDIS_URL the buckets live in this instance's memory, so N instances
allow up to N times the limit. With REDIS_URL every instance shares one
bucket per caller through Redis: one Lua script reads, refills and takes
atomically, on Redis's own clock (`TIME`), so instances' clocks do not matter.

Redis slow or down: fail open to the in-memory limiter, within the request's
Redis allowance (see `redis_state`). Buckets counted in memory meanwhile are
not written back when Redis returns: a bucket refills within a minute, so
there is nothing lasting to reconcile.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import RateLimited
from .redis_state import Allowance, FailOpen, RedisState, redis_state

__all__ = ["Limit", "MemoryLimiter", "RateLimiter", "RedisLimiter", "make_limiter"]

_MAX_CALLERS = 100_000  # in-memory buckets kept; the least recently seen caller is forgotten past this
_KEY_PREFIX = "gemini-gateway:ratelimit:"

# KEYS[1] the caller's bucket; ARGV[1] tokens per second, ARGV[2] burst.
# Returns {1, "0"} when a token was taken, {0, "<seconds until the next token>"} when not.
# Floats travel as strings: Redis truncates Lua numbers to integers in replies.
_TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
end
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


@dataclass(frozen=True, slots=True)
class Limit:
    per_minute: int
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


class RateLimiter(Protocol):
    async def check(self, identity: str, limit: Limit | None = None, allowance: Allowance | None = None) -> None:
        """Take one token of `identity`'s bucket (of `limit`, else the global one), or raise RateLimited.

        `allowance`: the request's time for Redis, shared with its budget.
        """
        ...


def _refuse(wait: float) -> RateLimited:
    return RateLimited("too many requests from this caller; retry later", retry_after=wait)


class MemoryLimiter:
    """Token buckets in this instance's memory."""

    def __init__(self, limit: Limit, clock: Callable[[], float] = time.monotonic, max_callers: int = _MAX_CALLERS):
        self.limit = limit
        self._clock = clock
        self._max_callers = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # identity → (tokens, at)

    def take(self, identity: str, limit: Limit | None = None) -> float:
        """0.0 when a token was taken, else the seconds until the next one."""
        limit = limit or self.limit
        now = self._clock()
        rate, burst = limit.per_second, float(limit.burst)
        tokens, at = self._buckets.pop(identity, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - at) * rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / rate
        self._buckets[identity] = (tokens, now)
        if len(self._buckets) > self._max_callers:
            self._buckets.popitem(last=False)
        return wait

    async def check(self, identity: str, limit: Limit | None = None, allowance: Allowance | None = None) -> None:
        if (limit or self.limit).per_minute <= 0:
            return
        wait = self.take(identity, limit)
        if wait > 0:
            raise _refuse(wait)


class RedisLimiter:
    """One bucket per caller shared by every instance, in Redis; memory while Redis is slow or down."""

    def __init__(self, limit: Limit, redis: RedisState, fallback: MemoryLimiter) -> None:
        self.limit = limit
        self._redis = redis
        self._script = redis.client.register_script(_TOKEN_BUCKET_LUA)
        self._fallback = fallback

    async def take(self, identity: str, limit: Limit | None = None, allowance: Allowance | None = None) -> float:
        """As MemoryLimiter.take, through Redis (or memory when Redis cannot answer within the allowance)."""
        limit = limit or self.limit
        args = [repr(limit.per_second), limit.burst]
        try:
            allowed, wait = await self._redis.call(
                lambda: self._script(keys=[_KEY_PREFIX + identity], args=args), allowance or Allowance()
            )
        except FailOpen:
            return self._fallback.take(identity, limit)
        return 0.0 if int(allowed) == 1 else max(float(wait), 0.001)

    async def check(self, identity: str, limit: Limit | None = None, allowance: Allowance | None = None) -> None:
        if (limit or self.limit).per_minute <= 0:
            return
        wait = await self.take(identity, limit, allowance)
        if wait > 0:
            raise _refuse(wait)

    async def aclose(self) -> None:
        await self._redis.aclose()


def make_limiter(
    per_minute: int,
    burst: int | None,
    redis_url: str | None,
    *,
    always: bool = False,
    redis: RedisState | None = None,
) -> RateLimiter | None:
    """The configured limiter; None when RATE_LIMIT_PER_MINUTE is 0 (off) and no caller policy may set one.

    `redis`: the process's shared Redis state (else one is made from `redis_url`).
    """
    if per_minute <= 0 and not always:
        return None
    limit = Limit(per_minute, burst or per_minute or 1)
    memory = MemoryLimiter(limit)
    if redis is None and redis_url:
        redis = redis_state(redis_url)
    return memory if redis is None else RedisLimiter(limit, redis, memory)
