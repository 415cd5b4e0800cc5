"""gemini_gateway.app_check: Firebase App Check tokens in X-Firebase-AppCheck (docs/API.md §6)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest

from gemini_gateway.callers import Caller, CallerGate
from gemini_gateway.callers.app_check import AppCheckCheck, app_check_key_set
from gemini_gateway.callers.gate import Layer
from gemini_gateway.callers.jwt_keys import KeySet, decode_rs256, parse_jwks
from gemini_gateway.errors import Forbidden, Unauthenticated
from tests.support.callers import verified
from tests.support.firebase_tokens import app_check_claims, b64url, signing_key, unsigned_token

NUMBER = "123456789012"
IOS_APP = f"1:{NUMBER}:ios:0a1b2c3d"
WEB_APP = f"1:{NUMBER}:web:4e5f6a7b"
KEY = signing_key("app-check-key-1")
OTHER = signing_key("app-check-key-2")


def key_set(*keys: Any) -> tuple[KeySet, list[int]]:
    fetches = [0]
    document = {"keys": [k.jwk() for k in (keys or (KEY,))]}

    def handler(request: httpx.Request) -> httpx.Response:
        fetches[0] += 1
        return httpx.Response(200, json=document, headers={"Cache-Control": "public, max-age=21600"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return KeySet("https://jwks.test/v1/jwks", parse_jwks, label="App Check keys", http=http), fetches


def identify(token: str, app_ids: tuple[str, ...] = ()) -> Caller | None:
    keys, _ = key_set()
    check = AppCheckCheck(NUMBER, keys, app_ids)
    return asyncio.run(verified(check, {"x-firebase-appcheck": token}, b"{}"))


def test_valid_token_is_the_app_id() -> None:
    assert identify(KEY.sign(app_check_claims(NUMBER, IOS_APP), headers={"typ": "JWT"})) == Caller(f"app:{IOS_APP}")


def test_no_header_no_fetch() -> None:
    keys, fetches = key_set()
    assert asyncio.run(verified(AppCheckCheck(NUMBER, keys), {"authorization": "Bearer x"}, b"")) is None
    assert fetches == [0]


def test_keys_fetched_once() -> None:
    keys, fetches = key_set()
    check = AppCheckCheck(NUMBER, keys)
    token = KEY.sign(app_check_claims(NUMBER, IOS_APP))

    async def scenario() -> None:
        for _ in range(5):
            assert await verified(check, {"x-firebase-appcheck": token}, b"") is not None

    asyncio.run(scenario())
    assert fetches == [1]


# --- the refusals, one test each ----------------------------------------------------------------------------------


def test_alg_none_refused() -> None:
    assert identify(unsigned_token({"alg": "none", "kid": KEY.kid}, app_check_claims(NUMBER, IOS_APP))) is None


def test_hs256_signed_with_the_public_key_refused() -> None:
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KEY.kid}).encode())
    body = b64url(json.dumps(app_check_claims(NUMBER, IOS_APP)).encode())
    mac = hmac.new(KEY.public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    token = f"{head}.{body}.{b64url(mac)}"
    assert identify(token) is None
    # and the verifier itself refuses it even when handed the key directly
    claims = decode_rs256(token, KEY.private.public_key(), audience=f"projects/{NUMBER}", issuer="x")
    assert claims is None


def test_wrong_kid_refused() -> None:
    assert identify(KEY.sign(app_check_claims(NUMBER, IOS_APP), kid="unknown-kid")) is None


def test_signed_by_another_key_refused() -> None:
    assert identify(OTHER.sign(app_check_claims(NUMBER, IOS_APP), kid=KEY.kid)) is None


def test_expired_refused() -> None:
    now = int(time.time())
    assert identify(KEY.sign(app_check_claims(NUMBER, IOS_APP, exp=now - 61, iat=now - 3600))) is None


def test_future_iat_refused() -> None:
    assert identify(KEY.sign(app_check_claims(NUMBER, IOS_APP, iat=int(time.time()) + 300))) is None


def test_wrong_audience_refused() -> None:
    assert identify(KEY.sign(app_check_claims(NUMBER, IOS_APP, aud=["projects/999999999999"]))) is None
    assert identify(KEY.sign(app_check_claims(NUMBER, IOS_APP, aud=None))) is None


def test_wrong_issuer_refused() -> None:
    assert (
        identify(KEY.sign(app_check_claims(NUMBER, IOS_APP, iss="https://firebaseappcheck.googleapis.com/1"))) is None
    )


def test_tampered_payload_refused() -> None:
    head, _, sig = KEY.sign(app_check_claims(NUMBER, IOS_APP)).split(".")
    forged = b64url(json.dumps(app_check_claims(NUMBER, WEB_APP)).encode())
    assert identify(f"{head}.{forged}.{sig}") is None


def test_empty_sub_refused() -> None:
    assert identify(KEY.sign(app_check_claims(NUMBER, ""))) is None


# --- the app id allow-list ------------------------------------------------------------------------------------


def test_allowed_app_passes() -> None:
    token = KEY.sign(app_check_claims(NUMBER, IOS_APP))
    assert identify(token, (IOS_APP, WEB_APP)) == Caller(f"app:{IOS_APP}")


def test_valid_token_of_another_app_is_forbidden() -> None:
    with pytest.raises(Forbidden):
        identify(KEY.sign(app_check_claims(NUMBER, WEB_APP)), (IOS_APP,))


def test_invalid_token_of_another_app_is_still_unauthenticated() -> None:
    assert identify(KEY.sign(app_check_claims(NUMBER, WEB_APP, aud=["projects/1"])), (IOS_APP,)) is None


class Admits:
    kind = "api_key"
    needs_body = False

    def presented(self, headers: Any) -> bool:
        return "x-api-key" in headers

    async def verify(self, headers: Any, body: bytes) -> Layer:
        if headers.get("x-api-key") != "k":
            raise Unauthenticated()
        return Layer("api_key", "ios-app")


def test_another_apps_token_is_forbidden_even_beside_a_good_key() -> None:
    """docs/API.md §6: every credential presented is checked; a key cannot cover for an app not allowed."""
    keys, _ = key_set()
    gate = CallerGate([AppCheckCheck(NUMBER, keys, (IOS_APP,)), Admits()], allow_unauthenticated=False)
    token = KEY.sign(app_check_claims(NUMBER, WEB_APP))
    allowed = KEY.sign(app_check_claims(NUMBER, IOS_APP))

    async def scenario() -> None:
        with pytest.raises(Forbidden):
            await gate.identify({"x-firebase-appcheck": token}, b"")
        with pytest.raises(Forbidden):
            await gate.identify({"x-firebase-appcheck": token, "x-api-key": "k"}, b"")
        with pytest.raises(Unauthenticated):
            await gate.identify({"x-firebase-appcheck": token + "x", "x-api-key": "k"}, b"")
        both = await gate.identify({"x-firebase-appcheck": allowed, "x-api-key": "k"}, b"")
        assert both.identity == "ios-app" and [layer.kind for layer in both.layers] == ["api_key", "app_check"]

    asyncio.run(scenario())


# --- the JWKS --------------------------------------------------------------------------------------------------


def test_parse_jwks_keeps_only_rs256_signing_keys() -> None:
    good = KEY.jwk()
    weak = {**OTHER.jwk(), "kid": "weak"}
    weak["n"] = b64url((2**1023 + 1).to_bytes(128, "big"))  # 1024-bit modulus
    document = {
        "keys": [
            good,
            {**OTHER.jwk(), "kid": "enc", "use": "enc"},
            {**OTHER.jwk(), "kid": "ps", "alg": "PS256"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            weak,
            "junk",
        ]
    }
    assert list(parse_jwks(document)) == [KEY.kid]
    with pytest.raises(ValueError):
        parse_jwks({"no": "keys"})


def test_default_url_is_googles() -> None:
    assert app_check_key_set().url == "https://firebaseappcheck.googleapis.com/v1/jwks"
