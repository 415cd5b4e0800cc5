"""Caller policies (resolution, validation) and daily token budgets (days, tickets, Redis down)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gemini_gateway.callers.budgets import MemoryBudgets, RedisBudgets, admit, seconds_until_utc_midnight
from gemini_gateway.errors import RateLimited
from gemini_gateway.policies import PolicyError, parse_policies
from gemini_gateway.settings import ConfigError, load_settings

ENV = {"CLOUDFLARE_ACCOUNT_ID": "a", "AI_GATEWAY_ID": "g", "GEMINI_API_KEY": "k", "ALLOW_UNAUTHENTICATED": "true"}
SETTINGS = load_settings({**ENV, "DAILY_TOKEN_BUDGET": "1000", "RATE_LIMIT_PER_MINUTE": "60"}).settings

POLICIES = parse_policies(
    json.dumps(
        {
            "*": {"daily_token_budget": 100, "max_output_tokens": 512},
            "uid:*": {"daily_token_budget": 50_000},
            "uid:vip": {"rate_limit_per_minute": 600, "allowed_tools": ["google_search"]},
            "webhook": {"daily_token_budget": 0, "allowed_models": ["gemini-3.5-flash-lite"]},
        }
    )
)


@pytest.mark.parametrize(
    ("identity", "budget", "rate", "tools", "ceiling"),
    [
        ("uid:vip", 50_000, 600, ("google_search",), 512),  # exact, then uid:*, then *
        ("uid:someone", 50_000, 60, (), 512),  # wildcard, then *, then global
        ("app:1:2:ios:3", 100, 60, (), 512),  # no app:* entry: * then global
        ("webhook", 0, 60, (), 512),  # 0 switches the budget off for it
        ("ios", 100, 60, (), 512),
    ],
)
def test_most_specific_value_wins_field_by_field(
    identity: str, budget: int, rate: int, tools: tuple[str, ...], ceiling: int
) -> None:
    found = POLICIES.for_caller(identity, SETTINGS)
    assert (found.daily_token_budget, found.rate_limit_per_minute, found.allowed_tools) == (budget, rate, tools)
    assert found.max_output_tokens == ceiling


def test_global_settings_apply_without_an_entry() -> None:
    found = parse_policies("{}").for_caller("ios", SETTINGS)
    assert (found.daily_token_budget, found.max_output_tokens, found.allowed_models) == (
        1000,
        8192,
        SETTINGS.allowed_models,
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[]", "JSON object"),
        ("{", "not valid JSON"),
        ('{"*": {"daily_budget": 1}}', "*.daily_budget"),
        ('{"*": {"daily_token_budget": "1"}}', "*.daily_token_budget"),
        ('{"*": {"allowed_tools": ["web_browse"]}}', "allowed_tools"),
        ('{"*": {"max_output_tokens": 0}}', "max_output_tokens"),
    ],
)
def test_bad_policies_are_named(text: str, says: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policies(text)
    assert says in str(info.value)


def test_bad_policies_refuse_to_start() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**ENV, "CALLER_POLICIES": '{"uid:*": {"rate": 1}}'})
    assert info.value.variables == ["CALLER_POLICIES"]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_budget_renews_at_utc_midnight() -> None:
    clock = Clock(86400 * 20_000 + 86399.5)  # half a second before midnight UTC
    budgets = MemoryBudgets(clock)

    async def run() -> None:
        ticket = await admit(budgets, "ios", 10, clock)
        await ticket.charge(10)
        await ticket.charge(10)  # charged once only
        assert await budgets.spent("ios") == 10
        with pytest.raises(RateLimited) as info:
            await admit(budgets, "ios", 10, clock)
        assert info.value.retry_after == 1 and info.value.facts[0] == {
            "limit": "daily_tokens",
            "budget": 10,
            "spent": 10,
        }
        clock.now += 1
        assert (await admit(budgets, "ios", 10, clock)).remaining == 10

    asyncio.run(run())
    assert seconds_until_utc_midnight(86400 * 3 + 60) == 86400 - 60


def test_redis_budgets_fall_back_to_memory() -> None:
    class Dead:
        def register_script(self, script: str) -> Any:
            async def run(**kw: Any) -> Any:
                raise OSError("connection refused")

            return run

        async def get(self, key: str) -> Any:
            raise OSError("connection refused")

    clock = Clock(1_700_000_000.0)
    fallback = MemoryBudgets(clock)
    budgets = RedisBudgets(Dead(), fallback, clock)

    async def run() -> None:
        assert await budgets.charge("ios", 7) == 7
        assert await budgets.spent("ios") == 7

    asyncio.run(run())


def test_default_model_falls_back_to_what_the_policy_allows() -> None:
    from gemini_gateway.intake import resolve_model

    assert resolve_model(None, SETTINGS, ("gemini-3.5-flash-lite",)) == "gemini-3.5-flash-lite"
    assert resolve_model(None, SETTINGS, (SETTINGS.default_model, "x")) == SETTINGS.default_model
