"""Caller policies (resolution, validation); the daily token budgets themselves are in test_budgets.py."""

from __future__ import annotations

import json

import pytest

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


def test_default_model_falls_back_to_what_the_policy_allows() -> None:
    from gemini_gateway.intake import resolve_model

    assert resolve_model(None, SETTINGS, ("gemini-3.5-flash-lite",)) == "gemini-3.5-flash-lite"
    assert resolve_model(None, SETTINGS, (SETTINGS.default_model, "x")) == SETTINGS.default_model
