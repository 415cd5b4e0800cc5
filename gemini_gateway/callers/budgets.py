"""Daily token budgets that hold: reserve what a request can cost when it is admitted, settle when it ends.

A budget is tokens (usage `total_tokens`) per caller per UTC day. At
admission a request reserves, atomically, its input estimate
(`token_estimate`) plus the output cap it will send as `maxOutputTokens`:
the smaller of its own ceiling and what is left of the budget after the
input. A caller near its budget still gets a short answer; a request is
refused (429, until the next UTC midnight) only when not even its input
and one output token fit. Gemini bills at most `maxOutputTokens` for the
answer (thinking included), so the reservations never add up past the
budget: the spend passes it by at most what the input estimates were
short of Gemini's count, and only on the requests that also use their
whole output cap. When the request ends its reservation is replaced by
what Gemini reported (a stream: the last usage it sent, also when it was
cut short); a call that failed before any answer used nothing and gives
everything back.

Kept like the rate limits: in this instance's memory, or in Redis when
REDIS_URL is set (one key per caller per day, a Lua script reserves
atomically, so every instance shares one budget). Redis slow or down
(`redis_state`): the request counts in memory, which mirrors the last
total Redis reported for each caller, so failing open never re-admits a
caller that was already over its budget; what is counted in memory
meanwhile is written back to Redis when it answers again, before Redis
is used again.
"""

from __future__ import annotations

import datetime
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from ..errors import RateLimited
from ..logs import log
from .redis_state import Allowance, FailOpen, RedisState, redis_state

__all__ = [
    "Budgets",
    "Grant",
    "MemoryBudgets",
    "RedisBudgets",
    "Ticket",
    "make_budgets",
    "reserve",
    "seconds_until_utc_midnight",
]

_MAX_CALLERS = 100_000
_KEY_PREFIX = "gemini-gateway:budget:"
_KEY_TTL = 2 * 86400  # a day's key outlives its day, whatever the instance clocks say

Clock = Callable[[], float]

# KEYS[1] the caller's key for the day; ARGV[1] budget, ARGV[2] input estimate, ARGV[3] output ceiling,
# ARGV[4] seconds to keep the key. Returns {1, output cap, total} when reserved, {0, 0, total} when not.
_RESERVE_LUA = """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local input = tonumber(ARGV[2])
local room = tonumber(ARGV[1]) - spent - input
if room < 1 then
  return {0, 0, spent}
end
local cap = math.min(tonumber(ARGV[3]), room)
if input + cap > 0 then
  spent = redis.call('INCRBY', KEYS[1], input + cap)
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return {1, cap, spent}
"""

# KEYS[1] the caller's key for a day; ARGV[1] tokens (negative: given back), ARGV[2] seconds to keep it.
# Returns the new total (never below 0: a key Redis lost while a request ran is not driven negative).
_ADJUST_LUA = """
local spent = redis.call('INCRBY', KEYS[1], ARGV[1])
if spent < 0 then
  redis.call('SET', KEYS[1], 0)
  spent = 0
end
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


class Grant(NamedTuple):
    """A reservation's outcome: whether it was made, the output cap it holds, the caller's total after it."""

    ok: bool
    cap: int
    spent: int
    day: str


class Budgets(Protocol):
    async def reserve(self, identity: str, budget: int, tokens: int, ceiling: int, allowance: Allowance) -> Grant:
        """Atomically: if `tokens` and one output token fit in what is left of `budget` today, add them plus
        the output cap (at most `ceiling`) to today's spending."""
        ...

    async def adjust(self, identity: str, day: str, tokens: int, allowance: Allowance) -> int:
        """Add `tokens` (negative: given back) to `day`'s spending; the new total."""
        ...


@dataclass(eq=False)
class Ticket:
    """One admitted request's reservation in its caller's budget; settled once, when its usage is known."""

    budgets: Budgets
    identity: str
    budget: int
    day: str
    input_estimate: int
    output_cap: int
    spent: int  # the caller's total: after the reservation, then after the settlement
    allowance: Allowance  # what is left of the request's time for Redis
    settled: bool = False

    @property
    def reserved(self) -> int:
        return self.input_estimate + self.output_cap

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.spent)

    async def settle(self, tokens: int) -> None:
        """Replace the reservation by the `tokens` the request used (0 when it failed before any answer)."""
        if self.settled:
            return
        self.settled = True
        if tokens != self.reserved:
            self.spent = await self.budgets.adjust(self.identity, self.day, tokens - self.reserved, self.allowance)


async def reserve(
    budgets: Budgets,
    identity: str,
    budget: int,
    input_estimate: int,
    ceiling: int,
    allowance: Allowance | None = None,
    clock: Clock = time.time,
) -> Ticket:
    """The request's reservation (its output cap at most `ceiling`), or 429 until the next UTC midnight.

    `ceiling` 0: a request that costs no tokens (countTokens), admitted while anything is left.
    """
    allowance = allowance or Allowance()
    grant = await budgets.reserve(identity, budget, input_estimate, ceiling, allowance)
    if not grant.ok:
        spent = grant.spent >= budget
        raise RateLimited(
            "this caller's daily token budget is spent; it renews at midnight UTC"
            if spent
            else f"this request's input (about {input_estimate} tokens) does not fit in what is left of this "
            "caller's daily token budget; it renews at midnight UTC",
            retry_after=seconds_until_utc_midnight(clock()),
            facts=[{"limit": "daily_tokens", "budget": budget, "spent": grant.spent, "input_estimate": input_estimate}],
        )
    return Ticket(budgets, identity, budget, grant.day, input_estimate, grant.cap, grant.spent, allowance)


class MemoryBudgets:
    """Today's spending per caller in this instance's memory (the least recently seen forgotten past 100,000)."""

    def __init__(self, clock: Clock = time.time, max_callers: int = _MAX_CALLERS) -> None:
        self._clock = clock
        self._max = max_callers
        self._spent: OrderedDict[str, tuple[str, int]] = OrderedDict()  # identity → (day, tokens)

    def today(self) -> str:
        return utc_day(self._clock())

    def recent_days(self) -> set[str]:
        """Today and yesterday (UTC): the days whose spending may still be settled."""
        now = self._clock()
        return {utc_day(now), utc_day(now - 86400)}

    def spent_now(self, identity: str) -> int:
        day, tokens = self._spent.get(identity, ("", 0))
        return tokens if day == self.today() else 0

    def reserve_now(self, identity: str, budget: int, tokens: int, ceiling: int) -> Grant:
        day = self.today()
        spent = self.spent_now(identity)
        room = budget - spent - tokens
        if room < 1:
            return Grant(False, 0, spent, day)
        cap = min(ceiling, room)
        return Grant(True, cap, self._set(identity, day, spent + tokens + cap), day)

    def add_now(self, identity: str, day: str, tokens: int) -> int:
        """Add to `day`'s spending; a day that is over (or forgotten) is left alone."""
        stored, spent = self._spent.get(identity, (day, 0))
        if stored != day:
            return spent if stored == self.today() else 0
        return self._set(identity, day, max(0, spent + tokens))

    def mirror(self, identity: str, day: str, total: int) -> None:
        """What Redis said `identity` spent on `day`: what memory decides from when Redis cannot answer."""
        if day == self.today():
            self._set(identity, day, total)

    def _set(self, identity: str, day: str, total: int) -> int:
        self._spent.pop(identity, None)
        self._spent[identity] = (day, total)
        if len(self._spent) > self._max:
            self._spent.popitem(last=False)
        return total

    async def reserve(self, identity: str, budget: int, tokens: int, ceiling: int, allowance: Allowance) -> Grant:
        return self.reserve_now(identity, budget, tokens, ceiling)

    async def adjust(self, identity: str, day: str, tokens: int, allowance: Allowance) -> int:
        return self.add_now(identity, day, tokens)


class RedisBudgets:
    """Today's spending per caller in Redis, shared by every instance; memory while Redis cannot answer."""

    def __init__(self, redis: RedisState, memory: MemoryBudgets) -> None:
        self._redis = redis
        self._reserve = redis.client.register_script(_RESERVE_LUA)
        self._adjust = redis.client.register_script(_ADJUST_LUA)
        self._memory = memory
        self._owed: dict[tuple[str, str], int] = {}  # (day, identity) → tokens counted in memory, for Redis
        redis.on_recovery(self.write_back)

    @staticmethod
    def _key(day: str, identity: str) -> str:
        return f"{_KEY_PREFIX}{day}:{identity}"

    def _owe(self, day: str, identity: str, tokens: int) -> None:
        self._owed[(day, identity)] = self._owed.get((day, identity), 0) + tokens

    async def reserve(self, identity: str, budget: int, tokens: int, ceiling: int, allowance: Allowance) -> Grant:
        day = self._memory.today()
        key = self._key(day, identity)
        try:
            ok, cap, spent = await self._redis.call(
                lambda: self._reserve(keys=[key], args=[budget, tokens, ceiling, _KEY_TTL]), allowance
            )
        except FailOpen:
            # Whether or not a cut call reserved in Redis, count it here: when in doubt, it was spent.
            grant = self._memory.reserve_now(identity, budget, tokens, ceiling)
            if grant.ok:
                self._owe(day, identity, tokens + grant.cap)
            return grant
        self._memory.mirror(identity, day, int(spent))
        return Grant(bool(ok), int(cap), int(spent), day)

    async def adjust(self, identity: str, day: str, tokens: int, allowance: Allowance) -> int:
        key = self._key(day, identity)
        try:
            total = int(await self._redis.call(lambda: self._adjust(keys=[key], args=[tokens, _KEY_TTL]), allowance))
        except FailOpen as failed:
            # A cut call may have reached Redis: a refund is then not queued again (it could be given twice),
            # a charge is (counted twice at worst). Either way the error is on the side of the budget.
            if tokens > 0 or not failed.sent:
                self._owe(day, identity, tokens)
            return self._memory.add_now(identity, day, tokens)
        self._memory.mirror(identity, day, total)
        return total

    async def write_back(self) -> None:
        """What was counted in memory while Redis could not answer, added to Redis (before it is used again)."""
        written, callers = 0, set()
        while self._owed:
            owed, self._owed = self._owed, {}
            days = self._memory.recent_days()
            entries = [(day, who, tokens) for (day, who), tokens in owed.items() if tokens and day in days]
            try:
                pipe = self._redis.client.pipeline(transaction=False)
                for day, who, tokens in entries:
                    await self._adjust(keys=[self._key(day, who)], args=[tokens, _KEY_TTL], client=pipe)
                totals = await pipe.execute() if entries else []
            except BaseException:
                for (day, who), tokens in owed.items():
                    self._owe(day, who, tokens)
                raise
            for (day, who, tokens), total in zip(entries, totals, strict=True):
                self._memory.mirror(who, day, int(total))
                written += tokens
                callers.add(who)
        if callers:
            log.info(
                "daily token budgets: what was counted in memory while Redis could not answer is written back",
                extra={"fields": {"tokens": written, "callers": len(callers)}},
            )

    async def aclose(self) -> None:
        await self._redis.aclose()


def make_budgets(redis_url: str | None, redis: RedisState | None = None) -> Budgets:
    """Budgets in memory, or in Redis (`redis`, the process's shared state, else one made from `redis_url`)."""
    memory = MemoryBudgets()
    if redis is None and redis_url:
        redis = redis_state(redis_url)
    return memory if redis is None else RedisBudgets(redis, memory)
