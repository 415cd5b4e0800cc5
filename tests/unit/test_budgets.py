"""Daily token budgets: reservations, settlement, days, and Redis failing open and writing back.

The Lua scripts themselves run against a real redis-server in
tests/integration/test_budgets.py; here the stores' rules are checked in
memory and with stand-in clients that fail, hang or answer like the scripts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from gemini_gateway.callers.budgets import (
    MemoryBudgets,
    RedisBudgets,
    Ticket,
    reserve,
    seconds_until_utc_midnight,
    utc_day,
)
from gemini_gateway.callers.redis_state import Allowance, RedisState
from gemini_gateway.errors import RateLimited

DAY0 = 86400 * 20_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_the_output_cap_shrinks_to_what_is_left_then_only_the_input_decides() -> None:
    budgets = MemoryBudgets(Clock(DAY0))

    async def scenario() -> list[Ticket]:
        return [await reserve(budgets, "ios", 1000, 100, 300) for _ in range(3)]

    first, second, third = run(scenario())
    assert (first.output_cap, first.reserved, first.spent) == (300, 400, 400)
    assert (second.output_cap, second.spent) == (300, 800)
    assert (third.output_cap, third.spent, third.remaining) == (100, 1000, 0)  # a short answer, not an overshoot
    with pytest.raises(RateLimited) as info:
        run(reserve(budgets, "ios", 1000, 1, 300))
    assert info.value.facts == ({"limit": "daily_tokens", "budget": 1000, "spent": 1000, "input_estimate": 1},)
    assert "is spent" in info.value.message


def test_a_prompt_larger_than_what_is_left_is_refused_before_anything_is_reserved() -> None:
    budgets = MemoryBudgets(Clock(DAY0))
    with pytest.raises(RateLimited) as info:
        run(reserve(budgets, "ios", 1000, 1_000_086, 8192))
    assert info.value.status == 429 and "does not fit" in info.value.message
    assert budgets.spent_now("ios") == 0
    assert run(reserve(budgets, "ios", 1000, 999, 8192)).output_cap == 1  # the input and one output token fit


def test_settling_gives_back_what_was_not_used_once() -> None:
    budgets = MemoryBudgets(Clock(DAY0))

    async def scenario() -> tuple[int, int, int]:
        ticket = await reserve(budgets, "ios", 10_000, 50, 1000)
        held = budgets.spent_now("ios")
        await ticket.settle(120)
        await ticket.settle(5000)  # settled once only
        failed = await reserve(budgets, "ios", 10_000, 50, 1000)
        await failed.settle(0)  # failed before any answer: everything back
        return held, ticket.spent, budgets.spent_now("ios")

    assert run(scenario()) == (1050, 120, 120)


def test_an_answer_larger_than_its_reservation_is_charged_in_full() -> None:
    budgets = MemoryBudgets(Clock(DAY0))

    async def scenario() -> int:
        ticket = await reserve(budgets, "ios", 10_000, 10, 100)
        await ticket.settle(150)  # the estimate was short: Gemini's count wins
        return budgets.spent_now("ios")

    assert run(scenario()) == 150


def test_fifty_at_once_never_reserve_past_the_budget() -> None:
    budgets = MemoryBudgets(Clock(DAY0))

    async def scenario() -> list[Ticket | RateLimited]:
        async def one() -> Ticket | RateLimited:
            try:
                return await reserve(budgets, "ios", 5000, 20, 1000)
            except RateLimited as refused:
                return refused

        return await asyncio.gather(*(one() for _ in range(50)))

    outcomes = run(scenario())
    tickets = [t for t in outcomes if isinstance(t, Ticket)]
    assert [t.output_cap for t in tickets] == [1000, 1000, 1000, 1000, 900]
    assert sum(t.reserved for t in tickets) == 5000 == budgets.spent_now("ios")


def test_budget_renews_at_utc_midnight_and_yesterdays_settlement_stays_yesterdays() -> None:
    clock = Clock(DAY0 + 86399.5)  # half a second before midnight UTC
    budgets = MemoryBudgets(clock)

    async def scenario() -> None:
        ticket = await reserve(budgets, "ios", 100, 10, 90, clock=clock)
        with pytest.raises(RateLimited) as info:
            await reserve(budgets, "ios", 100, 10, 90, clock=clock)
        assert info.value.retry_after == 1
        clock.now += 1
        fresh = await reserve(budgets, "ios", 100, 10, 50, clock=clock)
        assert fresh.remaining == 40
        await ticket.settle(0)  # yesterday's refund does not grow today's budget
        assert budgets.spent_now("ios") == 60

    run(scenario())
    assert seconds_until_utc_midnight(86400 * 3 + 60) == 86400 - 60


def test_count_tokens_reserves_nothing_but_is_refused_once_the_budget_is_spent() -> None:
    budgets = MemoryBudgets(Clock(DAY0))
    ticket = run(reserve(budgets, "ios", 100, 0, 0))
    assert (ticket.reserved, budgets.spent_now("ios")) == (0, 0)
    budgets.mirror("ios", budgets.today(), 100)
    with pytest.raises(RateLimited):
        run(reserve(budgets, "ios", 100, 0, 0))


def test_memory_is_bounded() -> None:
    budgets = MemoryBudgets(Clock(DAY0), max_callers=3)
    for n in range(10):
        run(reserve(budgets, f"uid:{n}", 100, 1, 1))
    assert len(budgets._spent) == 3


# --- Redis: the stores' side of failing open


class ScriptedRedis:
    """Answers like the two scripts on a dict, or fails while `down`; counts what reached it."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self.down = False
        self.calls = 0

    def register_script(self, script: str) -> Any:
        reserve_script = "room" in script

        async def run(keys: list[str], args: list[Any], client: Any = None) -> Any:
            if client is not None:
                client.queued.append((reserve_script, keys, args))
                return client
            self.calls += 1
            if self.down:
                raise OSError("connection refused")
            return self.apply(reserve_script, keys, args)

        return run

    def apply(self, reserve_script: bool, keys: list[str], args: list[Any]) -> Any:
        key = keys[0]
        spent = self.totals.get(key, 0)
        if reserve_script:
            budget, tokens, ceiling = int(args[0]), int(args[1]), int(args[2])
            room = budget - spent - tokens
            if room < 1:
                return [0, 0, spent]
            cap = min(ceiling, room)
            self.totals[key] = spent + tokens + cap
            return [1, cap, self.totals[key]]
        self.totals[key] = max(0, spent + int(args[0]))
        return self.totals[key]

    def pipeline(self, transaction: bool = True) -> Any:
        outer = self

        class Pipe:
            def __init__(self) -> None:
                self.queued: list[Any] = []

            async def execute(self) -> list[Any]:
                if outer.down:
                    raise OSError("connection refused")
                return [outer.apply(*entry) for entry in self.queued]

        return Pipe()

    async def ping(self) -> bool:
        if self.down:
            raise OSError("connection refused")
        return True

    async def aclose(self) -> None:
        pass


def key(identity: str, now: float = DAY0) -> str:
    return f"gemini-gateway:budget:{utc_day(now)}:{identity}"


def test_failing_open_does_not_readmit_a_caller_redis_saw_over_its_budget(caplog: pytest.LogCaptureFixture) -> None:
    redis = ScriptedRedis()
    state = RedisState(redis, probe_every=0.01)
    budgets = RedisBudgets(state, MemoryBudgets(Clock(DAY0)))

    async def scenario() -> None:
        ticket = await reserve(budgets, "ios", 1000, 100, 900)
        assert ticket.output_cap == 900 and redis.totals[key("ios")] == 1000
        redis.down = True
        await ticket.settle(1000)  # nothing to settle: no call
        with pytest.raises(RateLimited):
            await reserve(budgets, "ios", 1000, 1, 10)  # Redis is down, memory remembers what Redis said
        assert not state.healthy

    with caplog.at_level(logging.WARNING, logger="gemini_gateway"):
        run(scenario())
    assert len([r for r in caplog.records if "failing open" in r.getMessage()]) == 1


def test_what_was_spent_while_failing_open_is_written_back_before_redis_is_used_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = ScriptedRedis()
    state = RedisState(redis, probe_every=0.01)
    budgets = RedisBudgets(state, MemoryBudgets(Clock(DAY0)))

    async def scenario() -> None:
        redis.down = True
        first = await reserve(budgets, "ios", 10_000, 100, 900)  # fails open: memory, owed to Redis
        second = await reserve(budgets, "web", 10_000, 10, 90)
        assert not state.healthy and redis.calls == 1  # the second request did not touch Redis
        await first.settle(300)  # refund counted in memory, owed too
        redis.down = False
        for _ in range(100):
            await asyncio.sleep(0.01)
            if state.healthy:
                break
        assert state.healthy
        assert redis.totals == {key("ios"): 300, key("web"): 100}
        await second.settle(40)  # after the recovery: straight to Redis
        assert redis.totals[key("web")] == 40
        await state.aclose()

    with caplog.at_level(logging.INFO, logger="gemini_gateway"):
        run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert any("written back" in m for m in messages)
    assert any("Redis answers again" in m for m in messages)


def test_a_refund_whose_call_was_cut_is_not_written_back_twice() -> None:
    redis = ScriptedRedis()
    state = RedisState(redis, probe_every=60)
    budgets = RedisBudgets(state, MemoryBudgets(Clock(DAY0)))

    async def scenario() -> dict[tuple[str, str], int]:
        ticket = await reserve(budgets, "ios", 10_000, 100, 900)
        charge = await reserve(budgets, "web", 10_000, 10, 10)
        redis.down = True
        await ticket.settle(0)  # sent and failed: maybe applied, so not owed again
        await charge.settle(50)  # not sent (Redis is now unhealthy): owed
        owed = dict(budgets._owed)
        await state.aclose()
        return owed

    assert run(scenario()) == {(utc_day(DAY0), "web"): 30}


def test_a_settlement_counts_in_memory_once_the_requests_allowance_is_spent() -> None:
    redis = ScriptedRedis()
    budgets = RedisBudgets(RedisState(redis), MemoryBudgets(Clock(DAY0)))

    async def scenario() -> int:
        allowance = Allowance()
        ticket = await reserve(budgets, "ios", 10_000, 100, 900, allowance)
        allowance.left = 0
        await ticket.settle(200)
        return redis.calls

    assert run(scenario()) == 1
    assert budgets._owed == {(utc_day(DAY0), "ios"): -800}
