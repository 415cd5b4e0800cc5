"""Budgets that hold, over real sockets: reservations under concurrency (memory and a real Redis), the output
cap sent upstream, settlement of answers, streams and failures, caller policies, ceilings.

The emulator stops at maxOutputTokens, thinking included, as Gemini does, and
counts a prompt's tokens as its characters / 4 + 1, which is this function's
estimate for plain ASCII text: the estimate's error is 0 here, so a budget
must hold exactly.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import httpx
import openai
import pytest

from .conftest import CLIENT_KEYS, Function, Gateway, leave_midway
from .test_callers import Redis, redis_server  # noqa: F401 - the module-scoped fixture, reused

IOS = {"Authorization": f"Bearer {CLIENT_KEYS['ios-app']}"}
WEB = {"Authorization": f"Bearer {CLIENT_KEYS['web']}"}
PROMPT = {"prompt": "How many tokens is this?"}
LONG_ANSWER = "word " * 800  # 4,000 characters: ~1,000 tokens, more than a 1,000-token cap lets through
QUESTION = "x" * 40  # estimated 11 tokens; the emulator counts 11


def tokens_per_answer(fn: Function) -> int:
    """What one PROMPT answer costs with the emulator (it is deterministic)."""
    return int(fn.post(PROMPT, key=None, headers=WEB).json()["usage"]["total_tokens"])


def budgeted(start_function: Any, budget: int, **env: str) -> Function:
    function: Function = start_function(DAILY_TOKEN_BUDGET=str(budget), **env)
    return function


def assert_budget_refused(response: httpx.Response, budget: int) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["type"] == "rate_limited" and error["retryable"] is True
    (detail,) = error["details"]
    assert detail["limit"] == "daily_tokens" and detail["budget"] == budget
    assert detail["spent"] + detail["input_estimate"] + 1 > budget  # not even the input (and a token) fits
    wait = int(response.headers["retry-after"])
    midnight = 86400 - time.time() % 86400
    assert abs(wait - midnight) <= 5
    return dict(detail)


def redis_spent(redis: Redis, identity: str = "ios-app") -> int:
    day = time.strftime("%Y-%m-%d", time.gmtime())
    return int(redis.command("GET", f"gemini-gateway:budget:{day}:{identity}") or 0)


async def _burst(url: str, bodies: list[dict[str, Any]], headers: dict[str, str]) -> list[tuple[int, Any]]:
    """Every body at once, each on its own connection; (status, JSON) in order."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(body: dict[str, Any]) -> tuple[int, Any]:
            async with session.post(url + "/", json=body, headers=headers) as resp:
                return resp.status, await resp.json()

        return await asyncio.gather(*[one(body) for body in bodies])


def burst(fn: Function, count: int, body: dict[str, Any], headers: dict[str, str] = IOS) -> list[tuple[int, Any]]:
    return asyncio.run(_burst(fn.url, [body] * count, headers))


def test_two_callers_have_separate_budgets_and_the_last_answer_is_cut_to_fit(
    fn: Function, start_function: Any, gateway: Gateway
) -> None:
    cost = tokens_per_answer(fn)
    budget = 2 * cost - 1  # a second whole answer would pass it
    limited = budgeted(start_function, budget, GOOGLE_CLOUD_PROJECT="budget-memory")
    first = limited.post(PROMPT, key=None, headers=IOS)
    assert first.status_code == 200 and int(first.headers["x-budget-remaining"]) == budget - cost
    second = limited.post(PROMPT, key=None, headers=IOS)
    assert second.status_code == 200 and second.headers["x-budget-remaining"] == "0"
    assert second.json()["finish_reason"] == "length" and second.json()["usage"]["total_tokens"] == cost - 1
    assert_budget_refused(limited.post(PROMPT, key=None, headers=IOS), budget)
    assert limited.post(PROMPT, key=None, headers=WEB).status_code == 200  # another caller, its own budget
    sent = [r["body"]["generationConfig"]["maxOutputTokens"] for r in gateway.requests()]
    estimate = len(PROMPT["prompt"]) // 4 + 1
    assert sent[1:3] == [budget - estimate, budget - cost - estimate]  # all that is left after the input
    assert len(sent) == 1 + 3  # the refused request never went upstream


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_fifty_at_once_hold_the_budget_and_the_cap_sent_upstream_shrinks(
    store: str,
    start_function: Any,
    gateway: Gateway,
    redis_server: Redis,  # noqa: F811
) -> None:
    """50 concurrent requests, each answered ~1,000 tokens after 1 s: the budget (5,000) holds exactly."""
    budget = 5000
    env = {"MAX_OUTPUT_TOKENS_LIMIT": "1000", "GOOGLE_CLOUD_PROJECT": f"budget-burst-{store}"}
    if store == "redis":
        env["REDIS_URL"] = redis_server.url
        redis_server.command("FLUSHALL")
    limited = budgeted(start_function, budget, **env)
    gateway.faults(*[{"delay": 1.0, "text": LONG_ANSWER}] * 50)
    started = time.monotonic()
    results = burst(limited, 50, {"prompt": QUESTION})
    assert time.monotonic() - started < 5  # all at once, not one after another
    answered = [body for status, body in results if status == 200]
    refused = [body for status, body in results if status == 429]
    assert len(answered) + len(refused) == 50 and len(answered) == 5
    for body in refused:
        (detail,) = body["error"]["details"]
        assert detail["limit"] == "daily_tokens" and detail["input_estimate"] == 11
    spent = sum(body["usage"]["total_tokens"] for body in answered)
    estimate_error = max(abs(body["usage"]["input_tokens"] - 11) for body in answered)
    assert spent <= budget + estimate_error  # no overshoot past one input estimate's error (0 here)
    assert spent == budget  # and nothing wasted: the last answer was cut to what was left
    caps = sorted((r["body"]["generationConfig"]["maxOutputTokens"] for r in gateway.requests()), reverse=True)
    assert caps == [1000, 1000, 1000, 1000, 1000 - 4 * 11 - 11]  # the cap shrank as the budget ran out
    assert sorted(body["finish_reason"] for body in answered) == ["length"] * 5
    if store == "redis":
        assert redis_spent(redis_server) == budget
    lines = [e for e in limited.logs() if e.get("status") == 429 and "httpRequest" in e]
    assert len(lines) == 45 and {e.get("limit") for e in lines} == {"daily_tokens"}


def test_short_answers_give_back_their_reservations(start_function: Any, gateway: Gateway) -> None:
    """Reservations hold the budget while calls run; the unused part comes back when each one settles."""
    limited = budgeted(start_function, 5000, MAX_OUTPUT_TOKENS_LIMIT="1000", GOOGLE_CLOUD_PROJECT="budget-refunds")
    gateway.faults(*[{"delay": 0.5}] * 20)
    first = burst(limited, 20, {"prompt": QUESTION})
    answered = [body for status, body in first if status == 200]
    assert len(answered) == 5  # 5 x (11 + 1,000) reserved at once: the budget is held while they run
    spent = sum(body["usage"]["total_tokens"] for body in answered)
    after = limited.post({"prompt": QUESTION}, key=None, headers=IOS)
    assert after.status_code == 200  # the short answers gave back what they did not use
    assert int(after.headers["x-budget-remaining"]) == 5000 - spent - after.json()["usage"]["total_tokens"]


def test_a_huge_prompt_is_refused_by_its_reservation(start_function: Any, gateway: Gateway) -> None:
    limited = budgeted(start_function, 1000, GOOGLE_CLOUD_PROJECT="budget-huge")
    huge = limited.post({"prompt": "x" * 4_000_000}, key=None, headers=IOS)
    detail = assert_budget_refused(huge, 1000)
    assert detail["input_estimate"] == 1_000_001 and detail["spent"] == 0
    assert gateway.requests() == []
    assert limited.post(PROMPT, key=None, headers=IOS).status_code == 200  # nothing was reserved for it


def _access_lines(fn: Function, count: int) -> list[dict[str, Any]]:
    # A stream's line is written after its last byte: a loaded machine may take a while.
    deadline = time.monotonic() + 10
    while True:
        lines = [e for e in fn.logs() if "httpRequest" in e and "budget_spent" in e]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_streams_settle_at_done_and_when_cut_short(fn: Function, start_function: Any, gateway: Gateway) -> None:
    cost = tokens_per_answer(fn)
    budget = 100 * cost
    limited = budgeted(start_function, budget, GOOGLE_CLOUD_PROJECT="budget-stream")
    stream = limited.post({**PROMPT, "stream": True}, key=None, headers=IOS)
    assert stream.status_code == 200 and "event: done" in stream.text
    assert int(stream.headers["x-budget-remaining"]) < budget - cost  # sent before the end: the reservation held
    gateway.faults({"stream_error_after": 2})
    cut = limited.post(
        {"prompt": "one two three four five six seven eight nine ten", "stream": True}, key=None, headers=IOS
    )
    assert "event: error" in cut.text
    first, second = _access_lines(limited, 2)[:2]
    assert first["budget_spent"] == cost and first["budget_reserved"] > cost
    used = second["budget_spent"] - cost  # what the last chunk before the cut reported
    assert 0 < used < second["budget_reserved"] and second["stream_error"] is True
    after = limited.post(PROMPT, key=None, headers=IOS)
    assert int(after.headers["x-budget-remaining"]) == budget - cost - used - cost


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_caller_that_leaves_keeps_its_whole_reservation(stream: bool, start_function: Any, gateway: Gateway) -> None:
    """Gemini bills what it generated up to the cap sent, usage or not: hanging up early must not be free."""
    limited = budgeted(start_function, 20_000, GOOGLE_CLOUD_PROJECT=f"budget-leave-{int(stream)}")
    gateway.faults({"delay": 5})
    body = json.dumps({**PROMPT, "stream": stream}).encode()
    leave_midway(limited.server.port, "/", IOS, body, until=lambda _: bool(gateway.requests()))
    assert gateway.the_one_request_once_disconnected()["disconnected"] is True
    (line,) = _access_lines(limited, 1)
    assert line["status"] == 499 and line["error_type"] == "client_disconnected"
    assert line["budget_spent"] == line["budget_reserved"] > 8192  # the input estimate and the whole cap
    after = limited.post(PROMPT, key=None, headers=IOS)
    used = after.json()["usage"]["total_tokens"]
    assert int(after.headers["x-budget-remaining"]) == 20_000 - line["budget_reserved"] - used


@pytest.mark.parametrize("route", ["/", "/v1/chat/completions"])
def test_a_call_that_fails_before_any_answer_gives_everything_back(
    route: str, start_function: Any, gateway: Gateway
) -> None:
    limited = budgeted(start_function, 10_000, GOOGLE_CLOUD_PROJECT="budget-failures")
    before = int(limited.post(PROMPT, key=None, headers=IOS).headers["x-budget-remaining"])
    gateway.faults(*[{"status": 503}] * 3)
    body: dict[str, Any] = PROMPT if route == "/" else {"messages": [{"role": "user", "content": "hi"}]}
    failed = limited.post(body, key=None, headers=IOS, path=route)
    assert failed.status_code == 502
    assert failed.headers["x-budget-remaining"] == str(before)  # the reservation came back whole
    line = [e for e in limited.logs() if e.get("status") == 502 and "budget_spent" in e][-1]
    assert line["budget_spent"] == 10_000 - before and line["budget_reserved"] > 8192


def test_the_native_route_sends_the_budgets_cap_and_count_tokens_reserves_nothing(
    start_function: Any, gateway: Gateway
) -> None:
    limited = budgeted(start_function, 300, GOOGLE_CLOUD_PROJECT="budget-native")
    url = "/v1beta/models/gemini-2.5-flash"
    contents = {"contents": [{"parts": [{"text": QUESTION}]}], "generationConfig": {"maxOutputTokens": 1000}}
    headers = {"x-goog-api-key": CLIENT_KEYS["ios-app"]}
    answer = limited.post(contents, key=None, headers=headers, path=f"{url}:generateContent")
    assert answer.status_code == 200, answer.text
    assert gateway.requests()[-1]["body"]["generationConfig"]["maxOutputTokens"] == 300 - 11  # not the 1,000 asked
    counted = limited.post({"contents": contents["contents"]}, key=None, headers=headers, path=f"{url}:countTokens")
    assert counted.status_code == 200
    assert counted.headers["x-budget-remaining"] == answer.headers["x-budget-remaining"]


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
    sent = gateway.requests()[-1]["body"]["generationConfig"]["maxOutputTokens"]
    assert sent == cost - 7  # its own ceiling (100), cut to the "*" budget left after its input (7)
    assert_budget_refused(with_policies.post(PROMPT, key=None, headers=IOS), cost)  # the "*" budget
    for _ in range(3):
        assert with_policies.post({**PROMPT, "model": "gemini-3.8-flash"}, key=None, headers=WEB).status_code == 200


def test_two_instances_share_one_budget_in_redis(
    fn: Function,
    start_function: Any,
    redis_server: Redis,  # noqa: F811
) -> None:
    cost = tokens_per_answer(fn)
    budget = 2 * cost
    a = budgeted(start_function, budget, REDIS_URL=redis_server.url, GOOGLE_CLOUD_PROJECT="budget-redis-a")
    b = budgeted(start_function, budget, REDIS_URL=redis_server.url, GOOGLE_CLOUD_PROJECT="budget-redis-b")
    redis_server.command("FLUSHALL")
    assert a.post(PROMPT, key=None, headers=IOS).status_code == 200
    assert b.post(PROMPT, key=None, headers=IOS).status_code == 200
    assert_budget_refused(a.post(PROMPT, key=None, headers=IOS), budget)
    assert_budget_refused(b.post(PROMPT, key=None, headers=IOS), budget)
    assert redis_spent(redis_server) == 2 * cost
    day = time.strftime("%Y-%m-%d", time.gmtime())
    assert 0 < int(redis_server.command("TTL", f"gemini-gateway:budget:{day}:ios-app")) <= 2 * 86400


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


def test_the_interactions_route_sends_the_budgets_cap(start_function: Any, gateway: Gateway) -> None:
    limited = budgeted(start_function, 300, GOOGLE_CLOUD_PROJECT="budget-interactions")
    body = {"model": "gemini-2.5-flash", "input": QUESTION, "generation_config": {"max_output_tokens": 1000}}
    headers = {"x-goog-api-key": CLIENT_KEYS["ios-app"]}
    created = limited.post(body, key=None, headers=headers, path="/v1beta/interactions")
    assert created.status_code == 200, created.text
    assert gateway.requests()[-1]["body"]["generation_config"]["max_output_tokens"] == 300 - 11
    assert int(created.headers["x-budget-remaining"]) == 300 - created.json()["usage"]["total_tokens"]
