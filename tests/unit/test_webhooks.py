"""gemini_gateway.webhooks: HMAC-signed webhook calls (X-Signature, docs/API.md §6)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest

from gemini_gateway.callers import Caller, CallerGate
from gemini_gateway.callers.webhooks import WebhookCheck, parse_secrets, parse_signature, sign
from gemini_gateway.errors import Unauthenticated, Unavailable
from gemini_gateway.secret_store import SecretRef, SecretStore
from tests.support.callers import verified

SECRET = "test-webhook-secret-1"
NEW_SECRET = "test-webhook-secret-2"
NOW = 1_760_000_000
BODY = b'{"prompt":"hello"}'


async def no_fetch(name: str) -> str:
    raise AssertionError("a literal SecretRef must never fetch")


def check(secrets: str = SECRET, now: float = NOW) -> WebhookCheck:
    return WebhookCheck(SecretStore(no_fetch, 300), SecretRef("webhook secret", literal=secrets), clock=lambda: now)


def identify(header: str | None, body: bytes = BODY, secrets: str = SECRET, now: float = NOW) -> Caller | None:
    headers = {} if header is None else {"x-signature": header}
    return asyncio.run(verified(check(secrets, now), headers, body))


def test_valid_signature_is_the_webhook_caller() -> None:
    assert identify(f"t={NOW},v1={sign(SECRET, NOW, BODY)}") == Caller("webhook")


def test_signature_is_hmac_sha256_of_t_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == expected
    assert identify(f"t={NOW},v1={expected.upper()}") == Caller("webhook")  # hex case does not matter


def test_no_header_is_not_this_check() -> None:
    assert identify(None) is None


def test_tampered_body_refused() -> None:
    assert identify(f"t={NOW},v1={sign(SECRET, NOW, BODY)}", body=b'{"prompt":"hellO"}') is None


def test_tampered_timestamp_refused() -> None:
    assert identify(f"t={NOW + 1},v1={sign(SECRET, NOW, BODY)}") is None


def test_wrong_secret_refused() -> None:
    assert identify(f"t={NOW},v1={sign('another-secret', NOW, BODY)}") is None


def test_replayed_outside_tolerance_refused() -> None:
    old = NOW - 301
    assert identify(f"t={old},v1={sign(SECRET, old, BODY)}") is None


def test_from_the_future_outside_tolerance_refused() -> None:
    later = NOW + 301
    assert identify(f"t={later},v1={sign(SECRET, later, BODY)}") is None


def test_inside_tolerance_both_ways_accepted() -> None:
    for t in (NOW - 300, NOW + 300):
        assert identify(f"t={t},v1={sign(SECRET, t, BODY)}") == Caller("webhook")


def test_rotation_two_v1_values_either_matches() -> None:
    """The sender signs with the old and the new secret while the receiver moves over."""
    header = f"t={NOW},v1={sign(NEW_SECRET, NOW, BODY)},v1={sign(SECRET, NOW, BODY)}"
    assert identify(header, secrets=SECRET) == Caller("webhook")
    assert identify(header, secrets=NEW_SECRET) == Caller("webhook")
    assert identify(header, secrets="unrelated") is None


def test_rotation_two_secrets_configured() -> None:
    for secrets in (f"{SECRET}\n{NEW_SECRET}", f"{SECRET},{NEW_SECRET}", f" {NEW_SECRET} ,\n{SECRET}\n"):
        assert identify(f"t={NOW},v1={sign(SECRET, NOW, BODY)}", secrets=secrets) == Caller("webhook")
        assert identify(f"t={NOW},v1={sign(NEW_SECRET, NOW, BODY)}", secrets=secrets) == Caller("webhook")


def test_empty_body_is_signed_too() -> None:
    assert identify(f"t={NOW},v1={sign(SECRET, NOW, b'')}", body=b"") == Caller("webhook")


def test_other_schemes_are_ignored() -> None:
    header = f"t={NOW},v0=deadbeef,v1={sign(SECRET, NOW, BODY)},x=y"
    assert identify(header) == Caller("webhook")


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={'a' * 64}",
        f"t={NOW}",
        f"t=abc,v1={'a' * 64}",
        f"t={NOW},v1=short",
        f"t={NOW},t={NOW},v1={'a' * 64}",
        f"t=-{NOW},v1={'a' * 64}",
        f"t={NOW}," + ",".join(f"v1={'a' * 64}" for _ in range(9)),
        "t=1," + "x" * 3000,
    ],
)
def test_malformed_headers_refused(header: str) -> None:
    assert identify(header) is None


def test_parse_signature() -> None:
    assert parse_signature(f" t = {NOW} , v1 = {'AB' * 32} ") == (NOW, [b"ab" * 32])


def test_parse_secrets() -> None:
    assert parse_secrets("a\nb,c\r\n") == ([b"a", b"b", b"c"], [])
    assert parse_secrets("a,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == (
        [b"a"],
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )
    with pytest.raises(ValueError):
        parse_secrets(" ,\n ")


def test_misconfigured_secret_is_unavailable_without_quoting_it() -> None:
    with pytest.raises(Unavailable) as info:
        identify(f"t={NOW},v1={sign(SECRET, NOW, BODY)}", secrets=" , ")
    assert SECRET not in info.value.message


def test_secret_comes_through_the_secret_store() -> None:
    fetched: list[str] = []

    async def fetch(name: str) -> str:
        fetched.append(name)
        return f"{SECRET}\n"

    name = "projects/p/secrets/webhook/versions/latest"
    webhook = WebhookCheck(SecretStore(fetch, 300), SecretRef("webhook secret", name), clock=lambda: NOW)

    async def scenario() -> list[Caller | None]:
        # three different deliveries (a second of each would be a replay): each signed afresh
        return [
            await verified(webhook, {"x-signature": f"t={NOW - i},v1={sign(SECRET, NOW - i, BODY)}"}, BODY)
            for i in range(3)
        ]

    assert asyncio.run(scenario()) == [Caller("webhook")] * 3
    assert fetched == [name]


def test_rejection_through_the_gate_is_plain_401() -> None:
    gate = CallerGate([check()], allow_unauthenticated=False)
    with pytest.raises(Unauthenticated) as info:
        asyncio.run(gate.identify({"x-signature": f"t={NOW},v1={sign('close', NOW, BODY)}"}, BODY))
    assert info.value.message == "missing or invalid caller credentials"
