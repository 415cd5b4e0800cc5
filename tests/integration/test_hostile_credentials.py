"""Hostile credentials over real sockets: a crafted token is a 401 (never a 500), a replay a 409.

The function runs as a real process with Firebase Auth, App Check and a
signed-webhook secret holding two secrets (a rotation); Google's key
endpoints are a loopback server in this test process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gemini_gateway.callers.webhooks import sign
from tests.support.firebase_tokens import KeyServer, app_check_claims, b64url, serve_keys, signing_key

from .conftest import Function, Gateway

FIREBASE_PROJECT = "test-firebase-hostile"
NUMBER = "123456789012"
IOS_APP = f"1:{NUMBER}:ios:0a1b2c3d"
AC_KEY = signing_key("it-hostile-app-check-key")
FB_KEY = signing_key("it-hostile-firebase-key")
OLD, NEW = "test-webhook-secret-old", "test-webhook-secret-new"
PROMPT = json.dumps({"prompt": "Hi"}).encode()


@pytest.fixture(scope="module")
def keys() -> Iterator[KeyServer]:
    with serve_keys() as server:
        server.publish("/certs", {FB_KEY.kid: FB_KEY.certificate_pem()}, max_age=3600)
        server.publish("/jwks", {"keys": [AC_KEY.jwk()]}, max_age=21600)
        yield server


@pytest.fixture(scope="module")
def hostile_fn(start_function: Any, keys: KeyServer) -> Function:
    function: Function = start_function(
        FIREBASE_PROJECT_ID=FIREBASE_PROJECT,
        FIREBASE_CERTS_URL=f"{keys.url}/certs",
        APP_CHECK_PROJECT_NUMBER=NUMBER,
        APP_CHECK_JWKS_URL=f"{keys.url}/jwks",
        WEBHOOK_SECRET=f"{OLD}\n{NEW}",
    )
    return function


def post(fn: Function, headers: dict[str, str]) -> httpx.Response:
    return fn.http.post("/", content=PROMPT, headers={"Content-Type": "application/json", **headers})


def nested_header_token(prefix: bytes) -> str:
    """A JWT-shaped token whose header is JSON nested past Python's recursion limit."""
    return ".".join([b64url(prefix + b"[" * 2000 + b"]" * 2000 + (b"}" if prefix else b"")), "e30", "c2ln"])


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Firebase-AppCheck": nested_header_token(b"")},
        {"Authorization": "Bearer " + nested_header_token(b'{"a":')},  # eyJ...: a Firebase ID token's shape
    ],
    ids=["app check", "firebase"],
)
def test_deeply_nested_token_header_is_401_not_500(
    hostile_fn: Function, gateway: Gateway, headers: dict[str, str]
) -> None:
    r = post(hostile_fn, headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["type"] == "unauthenticated"
    assert gateway.requests() == []
    assert not [line for line in hostile_fn.logs() if line.get("message") == "unexpected failure"]


def test_app_check_still_admits(hostile_fn: Function, gateway: Gateway) -> None:
    r = post(hostile_fn, {"X-Firebase-AppCheck": AC_KEY.sign(app_check_claims(NUMBER, IOS_APP))})
    assert r.status_code == 200, r.text


def test_rotation_delivery_replayed_with_one_of_its_signatures_is_409(hostile_fn: Function, gateway: Gateway) -> None:
    """A sender mid-rotation signs with both secrets; a replay keeping only one v1 is the same delivery."""
    t = int(time.time())
    old, new = sign(OLD, t, PROMPT), sign(NEW, t, PROMPT)
    first = post(hostile_fn, {"X-Signature": f"t={t},v1={old},v1={new}"})
    assert first.status_code == 200, first.text
    for replay in (f"t={t},v1={old}", f"t={t},v1={new}", f"t={t},v1={new},v1={old}"):
        r = post(hostile_fn, {"X-Signature": replay})
        assert r.status_code == 409, (replay, r.text)
        assert r.json()["error"]["type"] == "conflict"
    assert len(gateway.requests()) == 1
