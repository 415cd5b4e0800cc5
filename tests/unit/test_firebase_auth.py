"""gemini_gateway.firebase_auth and jwt_keys: Firebase Auth ID tokens (docs/API.md §6).

Keys are generated here and served through httpx.MockTransport; each refusal
(alg none, HS256 with the public key, wrong kid, expired,
future iat, wrong audience, wrong issuer, tampered payload) is its own test.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gemini_gateway.callers import Caller, CallerGate
from gemini_gateway.callers.firebase_auth import FirebaseAuthCheck, firebase_key_set
from gemini_gateway.callers.gate import Layer
from gemini_gateway.callers.jwt_keys import KeySet, bearer_token, parse_x509_certs, rs256_kid
from gemini_gateway.errors import Unauthenticated, Unavailable
from tests.support.callers import verified
from tests.support.firebase_tokens import b64url, firebase_claims, signing_key, unsigned_token

PROJECT = "test-firebase-app"
CERTS_URL = "https://certs.test/x509"
KEY = signing_key("firebase-key-1")
OTHER = signing_key("firebase-key-2")


class CertServer:
    """A MockTransport that serves a {kid: PEM} document and counts fetches."""

    def __init__(self, *keys: Any, max_age: int | None = 3600, status: int = 200) -> None:
        self.document = {k.kid: k.certificate_pem() for k in keys}
        self.max_age = max_age
        self.status = status
        self.fetches = 0
        self.delay = 0.0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = (
            {"Cache-Control": f"public, max-age={self.max_age}, must-revalidate"} if self.max_age is not None else {}
        )
        return httpx.Response(self.status, json=self.document, headers=headers)

    def key_set(self, clock: Callable[[], float] = time.monotonic) -> KeySet:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return KeySet(CERTS_URL, parse_x509_certs, label="Firebase Auth certificates", http=http, clock=clock)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def identify(token: str, server: CertServer | None = None) -> Caller | None:
    check = FirebaseAuthCheck(PROJECT, (server or CertServer(KEY)).key_set())
    return asyncio.run(verified(check, bearer(token), b"{}"))


def test_valid_token_is_the_uid() -> None:
    assert identify(KEY.sign(firebase_claims(PROJECT, uid="abc123"))) == Caller("uid:abc123")


def test_bearer_parsing() -> None:
    assert bearer_token({"authorization": "bearer  tok.en.x "}) == "tok.en.x"
    assert bearer_token({"authorization": "Basic abc"}) is None
    assert bearer_token({}) is None


# --- the refusals, one test each ----------------------------------------------------------------------------------


def test_alg_none_refused() -> None:
    token = unsigned_token({"alg": "none", "typ": "JWT", "kid": KEY.kid}, firebase_claims(PROJECT))
    assert identify(token) is None
    # even with something in the signature slot, or an upper-case "None"
    assert identify(unsigned_token({"alg": "None", "kid": KEY.kid}, firebase_claims(PROJECT), b"x")) is None


def test_hs256_signed_with_the_public_key_refused() -> None:
    """The classic key-confusion forgery: HMAC keyed with the (public) RSA key bytes."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KEY.kid}).encode())
    body = b64url(json.dumps(firebase_claims(PROJECT)).encode())
    for secret in (KEY.public_pem, KEY.certificate_pem().encode()):
        mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        assert identify(f"{head}.{body}.{b64url(mac)}") is None


def test_hs256_header_with_rs256_signature_refused() -> None:
    token = KEY.sign(firebase_claims(PROJECT))
    _, body, sig = token.split(".")
    head = b64url(json.dumps({"alg": "HS256", "kid": KEY.kid}).encode())
    assert identify(f"{head}.{body}.{sig}") is None


def test_other_rs_family_algorithms_refused() -> None:
    token = KEY.sign(firebase_claims(PROJECT))
    _, body, sig = token.split(".")
    for alg in ("RS512", "PS256", "ES256"):
        head = b64url(json.dumps({"alg": alg, "kid": KEY.kid}).encode())
        assert rs256_kid(f"{head}.{body}.{sig}") is None


def test_wrong_kid_refused() -> None:
    assert identify(KEY.sign(firebase_claims(PROJECT), kid="not-a-published-kid")) is None


def test_signed_by_an_unpublished_key_under_a_published_kid_refused() -> None:
    assert identify(OTHER.sign(firebase_claims(PROJECT), kid=KEY.kid)) is None


def test_expired_refused() -> None:
    now = time.time()
    assert identify(KEY.sign(firebase_claims(PROJECT, exp=int(now) - 61, iat=int(now) - 3600))) is None


def test_expired_within_clock_skew_accepted() -> None:
    now = time.time()
    assert identify(KEY.sign(firebase_claims(PROJECT, exp=int(now) - 30))) == Caller("uid:user-123")


def test_future_iat_refused() -> None:
    now = time.time()
    assert identify(KEY.sign(firebase_claims(PROJECT, iat=int(now) + 300))) is None


def test_future_auth_time_refused() -> None:
    now = time.time()
    assert identify(KEY.sign(firebase_claims(PROJECT, auth_time=int(now) + 300))) is None


def test_missing_auth_time_refused() -> None:
    assert identify(KEY.sign(firebase_claims(PROJECT, auth_time=None))) is None


def test_wrong_audience_refused() -> None:
    assert identify(KEY.sign(firebase_claims(PROJECT, aud="someone-elses-app"))) is None


def test_wrong_issuer_refused() -> None:
    assert identify(KEY.sign(firebase_claims(PROJECT, iss="https://securetoken.google.com/someone-else"))) is None
    assert identify(KEY.sign(firebase_claims(PROJECT, iss="https://evil.example/test-firebase-app"))) is None


def test_tampered_payload_refused() -> None:
    head, _, sig = KEY.sign(firebase_claims(PROJECT, uid="user-123")).split(".")
    forged = b64url(json.dumps(firebase_claims(PROJECT, uid="admin")).encode())
    assert identify(f"{head}.{forged}.{sig}") is None


@pytest.mark.parametrize("sub", ["", "   ", "x" * 129, None])
def test_empty_or_absurd_sub_refused(sub: str | None) -> None:
    claims = firebase_claims(PROJECT, sub=sub)
    if sub is None:
        claims.pop("sub", None)
    assert identify(KEY.sign(claims)) is None


@pytest.mark.parametrize("token", ["test-client-key-ios", "a.b", "a.b.c.d", "x" * 9000, "..", "a.b."])
def test_not_a_jwt_is_not_looked_up(token: str) -> None:
    server = CertServer(KEY)
    assert identify(token, server) is None
    assert server.fetches == 0


def test_no_bearer_no_fetch() -> None:
    server = CertServer(KEY)
    check = FirebaseAuthCheck(PROJECT, server.key_set())
    assert asyncio.run(verified(check, {"x-api-key": "k"}, b"")) is None
    assert server.fetches == 0


def test_rejection_through_the_gate_says_nothing_specific() -> None:
    gate = CallerGate([FirebaseAuthCheck(PROJECT, CertServer(KEY).key_set())], allow_unauthenticated=False)
    with pytest.raises(Unauthenticated) as info:
        asyncio.run(gate.identify(bearer(KEY.sign(firebase_claims(PROJECT, aud="other"))), b""))
    assert info.value.message == "missing or invalid caller credentials"


# --- the certificate cache -----------------------------------------------------------------------------------


def test_certs_cached_per_max_age() -> None:
    clock = Clock()
    server = CertServer(KEY, max_age=600)
    check = FirebaseAuthCheck(PROJECT, server.key_set(clock))
    token = KEY.sign(firebase_claims(PROJECT))

    async def scenario() -> list[int]:
        seen = []
        for advance in (0, 100, 499, 2, 1):  # t = 0, 100, 599, 601 (expired → refetch), 602
            clock.now += advance
            assert await verified(check, bearer(token), b"") == Caller("uid:user-123")
            seen.append(server.fetches)
        return seen

    assert asyncio.run(scenario()) == [1, 1, 1, 2, 2]


def test_concurrent_callers_share_one_fetch() -> None:
    server = CertServer(KEY)
    server.delay = 0.05
    check = FirebaseAuthCheck(PROJECT, server.key_set())
    token = KEY.sign(firebase_claims(PROJECT))

    async def scenario() -> list[Caller | None]:
        return await asyncio.gather(*(verified(check, bearer(token), b"") for _ in range(20)))

    assert asyncio.run(scenario()) == [Caller("uid:user-123")] * 20
    assert server.fetches == 1


def test_unknown_kid_refetches_at_most_once_a_minute() -> None:
    clock = Clock()
    server = CertServer(KEY)
    check = FirebaseAuthCheck(PROJECT, server.key_set(clock))

    async def scenario() -> None:
        assert await verified(check, bearer(KEY.sign(firebase_claims(PROJECT))), b"") is not None
        clock.now += 61
        for n in range(5):  # made-up kids: one refetch, not five
            assert await verified(check, bearer(KEY.sign(firebase_claims(PROJECT), kid=f"made-up-{n}")), b"") is None
        assert server.fetches == 2
        # Google rotates: the new key appears; a minute later its first token triggers the fetch
        server.document[OTHER.kid] = OTHER.certificate_pem()
        clock.now += 61
        assert await verified(check, bearer(OTHER.sign(firebase_claims(PROJECT, uid="u2"))), b"") == Caller("uid:u2")
        assert server.fetches == 3

    asyncio.run(scenario())


def test_fetch_failure_without_keys_is_unavailable() -> None:
    server = CertServer(KEY, status=500)
    check = FirebaseAuthCheck(PROJECT, server.key_set())
    with pytest.raises(Unavailable):
        asyncio.run(verified(check, bearer(KEY.sign(firebase_claims(PROJECT))), b""))


def test_fetch_failure_keeps_serving_the_old_keys() -> None:
    clock = Clock()
    server = CertServer(KEY, max_age=60)
    check = FirebaseAuthCheck(PROJECT, server.key_set(clock))
    token = KEY.sign(firebase_claims(PROJECT))

    async def scenario() -> None:
        assert await verified(check, bearer(token), b"") is not None
        server.status = 503
        clock.now += 120
        assert await verified(check, bearer(token), b"") == Caller("uid:user-123")
        assert await verified(check, bearer(token), b"") == Caller("uid:user-123")
        assert server.fetches == 2  # the failed refetch is not retried on every request
        server.status = 200
        clock.now += 11
        assert await verified(check, bearer(token), b"") is not None
        assert server.fetches == 3

    asyncio.run(scenario())


def test_missing_cache_control_uses_the_default() -> None:
    clock = Clock()
    server = CertServer(KEY, max_age=None)
    check = FirebaseAuthCheck(PROJECT, server.key_set(clock))
    token = KEY.sign(firebase_claims(PROJECT))

    async def scenario() -> None:
        await verified(check, bearer(token), b"")
        clock.now += 3599
        await verified(check, bearer(token), b"")
        assert server.fetches == 1
        clock.now += 2
        await verified(check, bearer(token), b"")
        assert server.fetches == 2

    asyncio.run(scenario())


def test_max_age_zero_is_not_a_fetch_per_request() -> None:
    clock = Clock()
    server = CertServer(KEY, max_age=0)
    check = FirebaseAuthCheck(PROJECT, server.key_set(clock))
    token = KEY.sign(firebase_claims(PROJECT))

    async def scenario() -> None:
        for _ in range(10):
            await verified(check, bearer(token), b"")
        assert server.fetches == 1

    asyncio.run(scenario())


def test_parse_x509_skips_junk() -> None:
    keys = parse_x509_certs({KEY.kid: KEY.certificate_pem(), "junk": "-----BEGIN CERTIFICATE-----\nxx", "n": 3})
    assert list(keys) == [KEY.kid]
    with pytest.raises(ValueError):
        parse_x509_certs(["not", "a", "map"])


def test_default_url_is_googles() -> None:
    assert firebase_key_set().url == (
        "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
    )


def test_keys_unreachable_is_503_even_beside_another_credential() -> None:
    """docs/API.md §6: a presented token that cannot be judged is never skipped for another credential."""

    class Admits:
        kind = "app_check"
        needs_body = False

        def presented(self, headers: Any) -> bool:
            return "x-firebase-appcheck" in headers

        async def verify(self, headers: Any, body: bytes) -> Layer:
            return Layer("app_check", "app:ios")

    gate = CallerGate([FirebaseAuthCheck(PROJECT, CertServer(KEY, status=503).key_set()), Admits()], False)
    token = KEY.sign(firebase_claims(PROJECT))

    async def scenario() -> None:
        with pytest.raises(Unavailable):
            await gate.identify({**bearer(token), "x-firebase-appcheck": "t"}, b"")
        assert (await gate.identify({"x-firebase-appcheck": "t"}, b"")).identity == "app:ios"
        with pytest.raises(Unavailable):
            await gate.identify(bearer(token), b"")

    asyncio.run(scenario())
