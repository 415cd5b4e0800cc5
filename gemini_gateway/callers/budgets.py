"""Daily token budgets: tokens (usage `total_tokens`) per caller per UTC day.

A request is admitted while the caller's spent tokens are under its budget
(DAILY_TOKEN_BUDGET, or its caller policy); its usage is charged when the
answer arrives (a stream: at `done`, or what the last chunk reported when
it was cut short). Rate limits count requests; this counts what they cost.

Kept like the rate limits: in this instance's memory, or in Redis when
REDIS_URL is set (one key per caller per day, `INCRBY` then `EXPIRE`, so every
instance shares one budget and yesterday's keys expire on their own). Redis
down: the same fail-open-to-memory rule as the rate limiter (`redis_state`).
"""

from __future__ import annotations

import datetime
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import RateLimited
from .redis_state import RedisHealth, redis_client

__all__ = ["Budgets", "MemoryBudgets", "RedisBudgets", "Ticket", "make_budgets", "seconds_until_utc_midnight"]

_MAX_CALLERS = 100_000
_KEY_PREFIX = "gemini-gateway:budget:"
_KEY_TTL = 2 * 86400  # a day's key outlives its day, whatever the instance clocks say

Clock = Callable[[], float]

# KEYS[1] the caller's key for the day; ARGV[1] tokens, ARGV[2] seconds to keep it. Returns the total spent.
_CHARGE_LUA = """
local spent = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return spent
"""


_day_cache: tuple[int, str] = (-1, "")


def utc_day(now: float) -> str:
    """ "2026-11-28" for a Unix time; cached for the day (it was most of an in-memory budget check)."""
    global _day_cache
    day = int(now // 86400)
    if _day_cache[0] != day:
        _day_cache = (day, datetime.datetime.fromtimestamp(day * 86400, datetime.UTC).strftime("%Y-%m-%d"))
    return _day_cache[1]


def seconds_until_utc_midnight(now: float) -> float:
    return 86400 - now % 86400


class Budgets(Protocol):
    async def spent(self, identity: str) -> int:
        """Tokens `identity` spent today (UTC)."""
        ...

    async def charge(self, identity: str, tokens: int) -> int:
        """Add `tokens` to today's spending; the new total."""
        ...


@dataclass
class Ticket:
    """One admitted request's place in its caller's budget; charged once, when its usage is known."""

    budgets: Budgets
    identity: str
    budget: int
    spent: int  # at admission
    charged: bool = False

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.spent)

    async def charge(self, tokens: int) -> None:
        if self.charged:
            return
        self.charged = True
        if tokens > 0:
            self.spent = await self.budgets.charge(self.identity, tokens)


async def admit(budgets: Budgets, identity: str, budget: int, clock: Clock = time.time) -> Ticket:
    """A ticket while `identity` is under `budget`; 429 (until the next UTC midnight) once it is not."""
    spent = await budgets.spent(identity)
    if spent >= budget:
        raise RateLimited(
            "this caller's daily token budget is spent; it renews at midnight UTC",
            retry_after=seconds_until_utc_midnight(clock()),
            facts=[{"limit": "daily_tokens", "budget": budget, "spent": spent}],
        )
    return Ticket(budgets, identity, budget, spent)


class MemoryBudgets:
    """Today's spending per caller in this instance's memory (the least recently seen forgotten past 100,000)."""

    def __init__(self, clock: Clock = time.time, max_callers: int = _MAX_CALLERS) -> None:
        self._clock = clock
        self._max = max_callers
        self._spent: OrderedDict[str, tuple[str, int]] = OrderedDict()  # identity → (day, tokens)

    async def spent(self, identity: str) -> int:
        return self.spent_now(identity)

    def spent_now(self, identity: str) -> int:
        day, tokens = self._spent.get(identity, ("", 0))
        return tokens if day == utc_day(self._clock()) else 0

    async def charge(self, identity: str, tokens: int) -> int:
        return self.charge_now(identity, tokens)

    def charge_now(self, identity: str, tokens: int) -> int:
        total = self.spent_now(identity) + tokens
        self._spent.pop(identity, None)
        self._spent[identity] = (utc_day(self._clock()), total)
        if len(self._spent) > self._max:
            self._spent.popitem(last=False)
        return total


class RedisBudgets:
    """Today's spending per caller in Redis, shared by every instance; memory while Redis is down."""

    def __init__(self, client: Any, fallback: MemoryBudgets, clock: Clock = time.time) -> None:
        self._client = client
        self._charge = client.register_script(_CHARGE_LUA)
        self._fallback = fallback
        self._clock = clock
        self._health = RedisHealth("daily token budgets")

    def _key(self, identity: str) -> str:
        return f"{_KEY_PREFIX}{utc_day(self._clock())}:{identity}"

    async def spent(self, identity: str) -> int:
        from redis.exceptions import RedisError

        if not self._health.usable():
            return self._fallback.spent_now(identity)
        try:
            value = await self._client.get(self._key(identity))
        except (RedisError, OSError, TimeoutError) as exc:
            self._health.failed(exc)
            return self._fallback.spent_now(identity)
        self._health.succeeded()
        return int(value or 0)

    async def charge(self, identity: str, tokens: int) -> int:
        from redis.exceptions import RedisError

        if not self._health.usable():
            return self._fallback.charge_now(identity, tokens)
        try:
            total = await self._charge(keys=[self._key(identity)], args=[tokens, _KEY_TTL])
        except (RedisError, OSError, TimeoutError) as exc:
            self._health.failed(exc)
            return self._fallback.charge_now(identity, tokens)
        self._health.succeeded()
        return int(total)

    async def aclose(self) -> None:
        await self._client.aclose()


def make_budgets(redis_url: str | None) -> Budgets:
    memory = MemoryBudgets()
    return RedisBudgets(redis_client(redis_url), memory) if redis_url else memory
