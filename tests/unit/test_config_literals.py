"""Local-development literals of secrets that cannot work stop the start, naming the variable (docs/API.md §2).

A malformed CLIENT_API_KEYS, WEBHOOK_SECRET or TOOL_ID_KEY will not fix itself:
served, it was a 503 (or, for the id key, a 500) on every request.
"""

from __future__ import annotations

import asyncio

import pytest

from gemini_gateway.callers.webhooks import parse_secrets
from gemini_gateway.errors import Unavailable
from gemini_gateway.runtime import configuration_problems
from gemini_gateway.secret_store import SecretRef, SecretStore
from gemini_gateway.tool_ids import IdKeys

BASE = {
    "CLOUDFLARE_ACCOUNT_ID": "test-account",
    "AI_GATEWAY_ID": "test-gateway",
    "GEMINI_API_KEY": "test-gemini-key-1",
    "ALLOW_UNAUTHENTICATED": "true",
}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLIENT_API_KEYS", "test-key-without-a-name"),
        ("WEBHOOK_SECRET", "whsec_not*base64"),
        ("WEBHOOK_SECRET", "whsec_"),
        ("TOOL_ID_KEY", " , ,"),
    ],
)
def test_a_literal_that_cannot_work_stops_the_start(variable: str, value: str) -> None:
    problems = dict(configuration_problems({**BASE, variable: value}))
    assert variable in problems, problems


@pytest.mark.parametrize(
    ("variable", "value"),
    [("CLIENT_API_KEYS", "ios:test-key-1,web:test-key-2"), ("WEBHOOK_SECRET", "test-secret"), ("TOOL_ID_KEY", "a,b")],
)
def test_a_usable_literal_starts(variable: str, value: str) -> None:
    assert configuration_problems({**BASE, variable: value}) == []


def test_the_secret_manager_variable_wins_over_the_literal() -> None:
    secret = "projects/p/secrets/s/versions/latest"
    env = {**BASE, "CLIENT_API_KEYS": "malformed", "CLIENT_API_KEYS_SECRET": secret}
    assert configuration_problems(env) == []


def test_an_empty_whsec_secret_is_refused_when_parsed() -> None:
    with pytest.raises(ValueError, match="empty"):
        parse_secrets("whsec_")


async def _never(name: str) -> str:
    raise AssertionError("a literal never fetches")


def test_an_id_key_secret_of_separators_only_is_503_not_a_crash() -> None:
    keys = IdKeys(SecretStore(_never, 300), SecretRef("tool-call id key", literal=",\n,"), SecretRef("g", literal="x"))
    with pytest.raises(Unavailable):
        asyncio.run(keys.keys())
