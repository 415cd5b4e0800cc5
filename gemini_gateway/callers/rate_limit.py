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

Redis down (decision): fail open to the in-memory limiter. A Redis outage
must not become an outage of the function, and the in-memory buckets still
bound every caller (per instance) instead of dropping the limit altogether.
The first failure is logged as a warning (then at most once a minute while it
lasts), Redis is left alone for 5 s after each failure so a dead server does
not add a connect timeout to every request, and the recovery is logged.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import RateLimited
from ..logs import log

__all__ = ["Limit", "MemoryLimiter", "RateLimiter", "RedisLimiter", "make_limiter"]

_MAX_CALLERS = 100_000  # in-memory buckets kept; the least recently seen caller is forgotten past this
_REDIS_TIMEOUT = 0.5  # seconds, connect and each command: a slow Redis falls back instead of stalling requests
_REDIS_PAUSE_AFTER_FAILURE = 5.0
_WARN_EVERY = 60.0
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
    async def check(self, identity: str) -> None:
        """Take one token of `identity`'s bucket, or raise RateLimited."""
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

    def take(self, identity: str) -> float:
        """0.0 when a token was taken, else the seconds until the next one."""
        now = self._clock()
        rate, burst = self.limit.per_second, float(self.limit.burst)
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

    async def check(self, identity: str) -> None:
        wait = self.take(identity)
        if wait > 0:
            raise _refuse(wait)


class RedisLimiter:
    """One bucket per caller shared by every instance, in Redis; memory while Redis is down."""

    def __init__(
        self, limit: Limit, client: Any, fallback: MemoryLimiter, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self._client = client
        self._script = client.register_script(_TOKEN_BUCKET_LUA)
        self._fallback = fallback
        self._clock = clock
        self._paused_until = 0.0
        self._down_since: float | None = None
        self._warned_at = -math.inf

    async def take(self, identity: str) -> float:
        """As MemoryLimiter.take, through Redis (or memory while Redis is down)."""
        from redis.exceptions import RedisError

        now = self._clock()
        if now < self._paused_until:
            return self._fallback.take(identity)
        try:
            allowed, wait = await self._script(
                keys=[_KEY_PREFIX + identity], args=[repr(self.limit.per_second), self.limit.burst]
            )
        except (RedisError, OSError, TimeoutError) as exc:
            self._redis_failed(exc)
            return self._fallback.take(identity)
        if self._down_since is not None:
            log.info(
                "rate limits: Redis is reachable again; limits are shared again",
                extra={"fields": {"down_seconds": round(self._clock() - self._down_since, 1)}},
            )
            self._down_since = None
        return 0.0 if int(allowed) == 1 else max(float(wait), 0.001)

    def _redis_failed(self, exc: BaseException) -> None:
        now = self._clock()
        self._paused_until = now + _REDIS_PAUSE_AFTER_FAILURE
        if self._down_since is None:
            self._down_since = now
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning(
                "rate limits: Redis is unreachable; limiting per instance in memory until it is back",
                extra={"fields": {"error": type(exc).__name__}},
            )

    async def check(self, identity: str) -> None:
        wait = await self.take(identity)
        if wait > 0:
            raise _refuse(wait)

    async def aclose(self) -> None:
        await self._client.aclose()


def make_limiter(per_minute: int, burst: int | None, redis_url: str | None) -> RateLimiter | None:
    """The configured limiter, or None when RATE_LIMIT_PER_MINUTE is 0 (off)."""
    if per_minute <= 0:
        return None
    limit = Limit(per_minute, burst or per_minute)
    memory = MemoryLimiter(limit)
    if not redis_url:
        return memory
    import redis.asyncio  # only deployments with REDIS_URL load the client
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    client = redis.asyncio.Redis.from_url(
        redis_url,
        socket_timeout=_REDIS_TIMEOUT,
        socket_connect_timeout=_REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 1),  # once, at once: a pooled connection may have been closed by a restart
    )
    return RedisLimiter(limit, client, memory)
