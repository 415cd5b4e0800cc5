"""Spend control over real sockets: daily token budgets (memory and a real Redis), caller policies, ceilings."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai

from tests.support.processes import free_port

from .conftest import CLIENT_KEYS, Function, Gateway
from .test_callers import Redis, redis_server  # noqa: F401 - the module-scoped fixture, reused

IOS = {"Authorization": f"Bearer {CLIENT_KEYS['ios-app']}"}
WEB = {"Authorization": f"Bearer {CLIENT_KEYS['web']}"}
PROMPT = {"prompt": "How many tokens is this?"}


def tokens_per_answer(fn: Function) -> int:
    """What one PROMPT answer costs with the emulator (it is deterministic)."""
    return int(fn.post(PROMPT, key=None, headers=WEB).json()["usage"]["total_tokens"])


def budgeted(start_function: Any, budget: int, **env: str) -> Function:
    function: Function = start_function(DAILY_TOKEN_BUDGET=str(budget), **env)
    return function


def assert_budget_spent(response: httpx.Response, budget: int) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["type"] == "rate_limited" and error["retryable"] is True
    (detail,) = error["details"]
    assert detail["limit"] == "daily_tokens" and detail["budget"] == budget and detail["spent"] >= budget
    wait = int(response.headers["retry-after"])
    midnight = 86400 - time.time() % 86400
    assert abs(wait - midnight) <= 5


def test_two_callers_have_separate_budgets(fn: Function, start_function: Any, gateway: Gateway) -> None:
    cost = tokens_per_answer(fn)
    budget = 2 * cost - 1  # two answers go over it
    limited = budgeted(start_function, budget, GOOGLE_CLOUD_PROJECT="budget-memory")
    first = limited.post(PROMPT, key=None, headers=IOS)
    assert first.status_code == 200 and int(first.headers["x-budget-remaining"]) == budget - cost
    second = limited.post(PROMPT, key=None, headers=IOS)
    assert second.status_code == 200 and second.headers["x-budget-remaining"] == "0"
    assert_budget_spent(limited.post(PROMPT, key=None, headers=IOS), budget)
    assert limited.post(PROMPT, key=None, headers=WEB).status_code == 200  # another caller, its own budget
    assert len(gateway.requests()) == 1 + 3  # the refused request never went upstream


def test_streams_are_charged_at_done_and_when_cut_short(fn: Function, start_function: Any, gateway: Gateway) -> None:
    cost = tokens_per_answer(fn)
    limited = budgeted(start_function, 100 * cost, GOOGLE_CLOUD_PROJECT="budget-stream")
    stream = limited.post({**PROMPT, "stream": True}, key=None, headers=IOS)
    assert stream.status_code == 200 and "event: done" in stream.text
    gateway.faults({"stream_error_after": 2})
    cut = limited.post(
        {"prompt": "one two three four five six seven eight nine ten", "stream": True}, key=None, headers=IOS
    )
    assert "event: error" in cut.text
    time.sleep(0.3)
    lines = [e for e in limited.logs() if e.get("stream") and "budget_spent" in e]
    assert len(lines) == 2
    assert lines[0]["budget_spent"] == cost
    assert lines[1]["budget_spent"] > cost  # what the last chunk before the cut reported
    after = limited.post(PROMPT, key=None, headers=IOS)
    assert int(after.headers["x-budget-remaining"]) == 100 * cost - lines[1]["budget_spent"] - cost


def test_caller_policies_exact_then_star_then_global(fn: Function, start_function: Any, gateway: Gateway) -> None:
    cost = tokens_per_answer(fn)
    policies = {
        "*": {"daily_token_budget": cost},  # one answer a day for everyone...
        "web": {"daily_token_budget": 1000 * cost, "allowed_models": ["gemini-2.5-flash", "gemini-3.8-flash"]},
        "ios-app": {"max_output_tokens": 100, "allowed_models": ["gemini-2.5-flash"]},
    }
    with_policies: Function = start_function(CALLER_POLICIES=json.dumps(policies))
    over = with_policies.post({**PROMPT, "max_output_tokens": 200}, key=None, headers=IOS)
    assert over.status_code == 400 and over.json()["error"]["details"][0]["field"] == "max_output_tokens"
    denied = with_policies.post({**PROMPT, "model": "gemini-3.8-flash"}, key=None, headers=IOS)
    assert denied.status_code == 400 and denied.json()["error"]["details"][0]["field"] == "model"
    assert with_policies.post(PROMPT, key=None, headers=IOS).status_code == 200
    assert gateway.requests()[-1]["body"]["generationConfig"]["maxOutputTokens"] == 100  # its own ceiling
    assert_budget_spent(with_policies.post(PROMPT, key=None, headers=IOS), cost)  # the "*" budget
    for _ in range(3):
        assert with_policies.post({**PROMPT, "model": "gemini-3.8-flash"}, key=None, headers=WEB).status_code == 200


def test_two_instances_share_one_budget_in_redis(
    fn: Function,
    start_function: Any,
    redis_server: Redis,  # noqa: F811
) -> None:
    cost = tokens_per_answer(fn)
    budget = 2 * cost - 1
    a = budgeted(start_function, budget, REDIS_URL=redis_server.url, GOOGLE_CLOUD_PROJECT="budget-redis-a")
    b = budgeted(start_function, budget, REDIS_URL=redis_server.url, GOOGLE_CLOUD_PROJECT="budget-redis-b")
    redis_server.command("FLUSHALL")
    assert a.post(PROMPT, key=None, headers=IOS).status_code == 200
    assert b.post(PROMPT, key=None, headers=IOS).status_code == 200
    assert_budget_spent(a.post(PROMPT, key=None, headers=IOS), budget)
    assert_budget_spent(b.post(PROMPT, key=None, headers=IOS), budget)
    day = time.strftime("%Y-%m-%d", time.gmtime())
    key = f"gemini-gateway:budget:{day}:ios-app"
    assert int(redis_server.command("GET", key)) == 2 * cost
    assert 0 < int(redis_server.command("TTL", key)) <= 2 * 86400


def test_redis_down_falls_back_to_memory(fn: Function, start_function: Any) -> None:
    cost = tokens_per_answer(fn)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    limited = budgeted(start_function, 2 * cost - 1, REDIS_URL=dead, GOOGLE_CLOUD_PROJECT="budget-no-redis")
    assert [limited.post(PROMPT, key=None, headers=IOS).status_code for _ in range(2)] == [200, 200]
    assert limited.post(PROMPT, key=None, headers=IOS).status_code == 429  # still limited: per instance
    assert any("daily token budgets: Redis is unreachable" in str(e.get("message")) for e in limited.logs())


def test_output_ceiling_on_the_openai_route(start_function: Any, gateway: Gateway) -> None:
    capped: Function = start_function(MAX_OUTPUT_TOKENS_LIMIT="100")
    client = openai.OpenAI(base_url=capped.url + "/v1", api_key=CLIENT_KEYS["web"], max_retries=0)
    messages: Any = [{"role": "user", "content": "hi"}]
    try:
        client.chat.completions.create(model="gemini-2.5-flash", messages=messages, max_tokens=101)
        raise AssertionError("expected a 400")
    except openai.BadRequestError as exc:
        assert exc.param == "max_tokens"
    client.chat.completions.create(model="gemini-2.5-flash", messages=messages)
    assert gateway.requests()[-1]["body"]["generationConfig"]["maxOutputTokens"] == 100
