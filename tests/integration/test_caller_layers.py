"""Caller layers over real sockets (docs/API.md §6): every credential checked, require, replay protection.

The function runs under functions-framework; Firebase's certificates come from a loopback key server
(tests/support/firebase_tokens.py), App Check's JWKS and its verify-and-consume endpoint from the App Check
stand-in (emulators/app_check.py), webhook senders are the standardwebhooks package itself.
"""

from __future__ import annotations

import base64
import itertools
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from gemini_gateway.callers.webhooks import sign
from tests.support.firebase_tokens import KeyServer, app_check_claims, firebase_claims, serve_keys, signing_key
from tests.support.processes import Server, free_port, start_server

from .conftest import CLIENT_KEYS, Function, Gateway

FIREBASE_PROJECT = "test-firebase-app"
NUMBER = "123456789012"
APP = f"1:{NUMBER}:ios:0a1b2c3d"
OTHER_APP = f"1:{NUMBER}:web:4e5f6a7b"
FB_KEY = signing_key("layers-firebase-key")
AC_KEY = signing_key("layers-app-check-key")
KEY = CLIENT_KEYS["ios-app"]
PROMPT = {"prompt": "Hi"}
WHSEC_OLD = "whsec_" + base64.b64encode(b"test-standard-webhooks-secret-old").decode()
WHSEC_NEW = "whsec_" + base64.b64encode(b"test-standard-webhooks-secret-new").decode()
HMAC_SECRET = "test-webhook-secret-layers"


@pytest.fixture(scope="module")
def certs() -> Iterator[KeyServer]:
    with serve_keys() as server:
        server.publish("/certs", {FB_KEY.kid: FB_KEY.certificate_pem()}, max_age=3600)
        yield server


@pytest.fixture(scope="module")
def app_check(logs_dir: Path) -> Iterator[Server]:
    """The App Check stand-in: its JWKS signs valid tokens, its verify endpoint consumes them."""
    jwks = logs_dir / "layers-app-check-jwks.json"
    jwks.write_text(json.dumps({"keys": [AC_KEY.jwk()]}))
    port = free_port()
    args = ["-m", "emulators.app_check", "--port", str(port), "--project", f"{NUMBER}:my-firebase-app"]
    server = start_server("app-check", [*args, "--jwks-file", str(jwks)], port, logs_dir)
    yield server
    server.stop()


def _env(certs: KeyServer, app_check: Server, **more: str) -> dict[str, str]:
    return {
        "FIREBASE_PROJECT_ID": FIREBASE_PROJECT,
        "FIREBASE_CERTS_URL": f"{certs.url}/certs",
        "APP_CHECK_PROJECT_NUMBER": NUMBER,
        "APP_CHECK_JWKS_URL": f"{app_check.url}/v1/jwks",
        "APP_CHECK_VERIFY_URL": f"{app_check.url}/v1beta",
        "APP_CHECK_APP_IDS": APP,
        **more,
    }


@pytest.fixture(scope="module")
def layered(start_function: Any, certs: KeyServer, app_check: Server) -> Function:
    """Client keys, Firebase Auth and App Check all configured, nothing required."""
    function: Function = start_function(**_env(certs, app_check, GOOGLE_CLOUD_PROJECT="layers-plain"))
    return function


def user_token(uid: str = "u-1", anonymous: bool = False) -> str:
    claims = firebase_claims(FIREBASE_PROJECT, uid=uid)
    claims["firebase"] = {"identities": {}, "sign_in_provider": "anonymous" if anonymous else "password"}
    return FB_KEY.sign(claims)


CREDENTIALS: dict[str, dict[str, dict[str, str]]] = {
    "key": {
        "absent": {},
        "good": {"X-API-Key": KEY},
        "bad": {"X-API-Key": KEY[:-1] + "x"},
    },
    "user": {
        "absent": {},
        "good": {"Authorization": ""},  # filled per test: tokens expire
        "bad": {"Authorization": ""},
    },
    "app": {
        "absent": {},
        "good": {"X-Firebase-AppCheck": ""},
        "bad": {"X-Firebase-AppCheck": ""},
    },
}


def _headers(key: str, user: str, app: str) -> dict[str, str]:
    headers: dict[str, str] = {**CREDENTIALS["key"][key]}
    if user == "good":
        headers["Authorization"] = f"Bearer {user_token('u-1')}"
    elif user == "bad":
        headers["Authorization"] = f"Bearer {FB_KEY.sign(firebase_claims(FIREBASE_PROJECT, aud='other-app'))}"
    if app == "good":
        headers["X-Firebase-AppCheck"] = AC_KEY.sign(app_check_claims(NUMBER, APP))
    elif app == "bad":
        headers["X-Firebase-AppCheck"] = AC_KEY.sign(app_check_claims(NUMBER, APP, aud=["projects/1"]))
    return headers


def _post(fn: Function, headers: dict[str, str], body: Any = PROMPT) -> httpx.Response:
    return fn.post(body, key=None, headers=headers)


MATRIX = list(itertools.product(("absent", "good", "bad"), repeat=3))


@pytest.mark.parametrize(("key", "user", "app"), MATRIX, ids=["-".join(case) for case in MATRIX])
def test_every_presented_credential_is_checked(
    layered: Function, gateway: Gateway, key: str, user: str, app: str
) -> None:
    r = _post(layered, _headers(key, user, app))
    if "bad" in (key, user, app) or (key, user, app) == ("absent", "absent", "absent"):
        assert r.status_code == 401, r.text
        assert r.json()["error"]["message"] == "missing or invalid caller credentials"
        assert gateway.requests() == []
        return
    assert r.status_code == 200, r.text
    expected = "uid:u-1" if user == "good" else "ios-app" if key == "good" else f"app:{APP}"
    (seen,) = gateway.requests()
    assert json.loads(seen["headers"]["cf-aig-metadata"])["caller"] == expected
    line = layered.access_line(r.headers["x-request-id"])
    assert line is not None and line["caller"] == expected
    kinds = [kind for kind, state in (("user", user), ("api_key", key), ("app_check", app)) if state == "good"]
    assert line["layers"] == kinds
    assert (line.get("key"), line.get("app_id")) == (
        "ios-app" if key == "good" else None,
        APP if app == "good" else None,
    )


def test_another_apps_token_is_403_even_beside_a_good_key(layered: Function, gateway: Gateway) -> None:
    other = AC_KEY.sign(app_check_claims(NUMBER, OTHER_APP))
    r = _post(layered, {"X-API-Key": KEY, "X-Firebase-AppCheck": other})
    assert r.status_code == 403, r.text
    assert gateway.requests() == []


# --------------------------------------------------------------------------- require


@pytest.fixture(scope="module")
def requiring(start_function: Any, certs: KeyServer, app_check: Server) -> Function:
    policies = {
        "*": {"require": ["app_check", "user"]},
        "ios-app": {},  # the backend key: exempt
        "web": {"require": ["app_check"]},
        "uid:*": {"require": ["app_check"], "allow_anonymous_users": False},
    }
    function: Function = start_function(
        **_env(certs, app_check, CALLER_POLICIES=json.dumps(policies), GOOGLE_CLOUD_PROJECT="layers-require")
    )
    return function


@pytest.mark.parametrize(
    ("credentials", "status", "names"),
    [
        ({"key": "ios-app"}, 200, None),  # "ios-app": {} exempts it
        ({"key": "web"}, 401, "X-Firebase-AppCheck"),
        ({"key": "web", "app": True}, 200, None),
        ({"user": True}, 401, "X-Firebase-AppCheck"),
        ({"user": True, "app": True}, 200, None),
        ({"app": True}, 401, "Authorization: Bearer <Firebase ID token"),  # "*" wants a user too
        ({"anonymous": True, "app": True}, 401, "not an anonymous one"),
    ],
)
def test_require(requiring: Function, credentials: dict[str, Any], status: int, names: str | None) -> None:
    headers: dict[str, str] = {}
    if "key" in credentials:
        headers["X-API-Key"] = CLIENT_KEYS[credentials["key"]]
    if credentials.get("user"):
        headers["Authorization"] = f"Bearer {user_token('u-2')}"
    if credentials.get("anonymous"):
        headers["Authorization"] = f"Bearer {user_token('anon-1', anonymous=True)}"
    if credentials.get("app"):
        headers["X-Firebase-AppCheck"] = AC_KEY.sign(app_check_claims(NUMBER, APP))
    r = _post(requiring, headers)
    assert r.status_code == status, r.text
    if names is not None:
        assert names in r.json()["error"]["message"]


def test_a_missing_layer_is_decided_before_the_body_is_read(requiring: Function) -> None:
    """Headers of a 1 MiB upload, no body: the 401 comes at once and the connection is closed."""
    head = (
        f"POST / HTTP/1.1\r\nHost: x\r\nX-API-Key: {CLIENT_KEYS['web']}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", requiring.server.port), timeout=5) as sock:
        sock.sendall(head)
        answer = sock.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 401"), answer
    assert "connection: close" in answer.lower()


# --------------------------------------------------------------------------- replay protection


@pytest.fixture(scope="module")
def consuming(start_function: Any, certs: KeyServer, app_check: Server) -> Function:
    function: Function = start_function(
        **_env(certs, app_check, APP_CHECK_CONSUME="true", GOOGLE_CLOUD_PROJECT="layers-consume")
    )
    return function


def _stand_in(app_check: Server, path: str, **body: Any) -> dict[str, Any]:
    if body:
        httpx.post(f"{app_check.url}{path}", json=body, timeout=5).raise_for_status()
        return {}
    return dict(httpx.get(f"{app_check.url}{path}", timeout=5).json())


def test_app_check_tokens_are_consumed_once(consuming: Function, app_check: Server) -> None:
    token = AC_KEY.sign(app_check_claims(NUMBER, APP))
    first = _post(consuming, {"X-Firebase-AppCheck": token})
    assert first.status_code == 200, first.text
    replay = _post(consuming, {"X-Firebase-AppCheck": token})
    assert replay.status_code == 401, replay.text
    assert "already used" in replay.json()["error"]["message"]
    line = consuming.access_line(replay.headers["x-request-id"])
    assert line is not None and "replay" in line["refused"]
    assert _stand_in(app_check, "/__emulator/stats")["with_authorization"] == 0, "no credentials to a stand-in"


def test_firebase_unreachable_is_503_never_a_pass(consuming: Function, app_check: Server) -> None:
    _stand_in(app_check, "/__emulator/config", status=503)
    try:
        r = _post(consuming, {"X-Firebase-AppCheck": AC_KEY.sign(app_check_claims(NUMBER, APP))})
        assert r.status_code == 503, r.text
        assert r.json()["error"]["retryable"] is True
    finally:
        httpx.post(f"{app_check.url}/__emulator/reset", timeout=5).raise_for_status()


def test_policy_turns_consumption_on_for_one_caller(start_function: Any, certs: KeyServer, app_check: Server) -> None:
    policies = {f"app:{APP}": {"app_check_consume": True}}
    fn: Function = start_function(
        **_env(certs, app_check, CALLER_POLICIES=json.dumps(policies), GOOGLE_CLOUD_PROJECT="layers-consume-policy")
    )
    token = AC_KEY.sign(app_check_claims(NUMBER, APP))
    assert _post(fn, {"X-Firebase-AppCheck": token}).status_code == 200
    assert _post(fn, {"X-Firebase-AppCheck": token}).status_code == 401
    # with a user, the identity is the uid, whose policy does not consume: the same token passes again
    both = {"X-Firebase-AppCheck": token, "Authorization": f"Bearer {user_token('u-3')}"}
    assert _post(fn, both).status_code == 200


# --------------------------------------------------------------------------- webhooks


@pytest.fixture(scope="module")
def webhooks(start_function: Any) -> Function:
    function: Function = start_function(
        CLIENT_API_KEYS_SECRET=None,
        WEBHOOK_SECRET=f"{HMAC_SECRET}\n{WHSEC_OLD}\n{WHSEC_NEW}",
        GOOGLE_CLOUD_PROJECT="layers-webhooks",
    )
    return function


def _deliver(fn: Function, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return fn.post(content=body, key=None, headers={**headers, "Content-Type": "application/json"})


def _standard(secret: str, body: bytes, msg_id: str, at: datetime | None = None) -> dict[str, str]:
    when = at or datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id, when, body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())), "webhook-signature": signature}


@pytest.mark.parametrize("secret", [WHSEC_OLD, WHSEC_NEW])
def test_standard_webhooks_sender(webhooks: Function, gateway: Gateway, secret: str) -> None:
    body = json.dumps(PROMPT).encode()
    r = _deliver(webhooks, body, _standard(secret, body, f"msg_{secret[-6:]}_{time.time()}"))
    assert r.status_code == 200, r.text
    assert json.loads(gateway.requests()[0]["headers"]["cf-aig-metadata"])["caller"] == "webhook"


@pytest.mark.parametrize(
    "case",
    ["bad signature", "old timestamp", "other body", "no whsec secret matches"],
)
def test_standard_webhooks_refused(webhooks: Function, gateway: Gateway, case: str) -> None:
    body = json.dumps(PROMPT).encode()
    msg = f"msg_refused_{case.replace(' ', '_')}_{time.time()}"
    headers = _standard(WHSEC_NEW, body, msg)
    if case == "bad signature":
        headers["webhook-signature"] = "v1," + base64.b64encode(b"x" * 32).decode()
    elif case == "old timestamp":
        headers = _standard(WHSEC_NEW, body, msg, at=datetime.fromtimestamp(time.time() - 400, tz=UTC))
    elif case == "other body":
        body = b'{"prompt": "Hi!"}'
    else:
        headers = _standard("whsec_" + base64.b64encode(b"test-someone-elses-secret").decode(), body, msg)
    r = _deliver(webhooks, body, headers)
    assert r.status_code == 401, r.text
    assert gateway.requests() == []
    line = webhooks.access_line(r.headers["x-request-id"])
    assert line is not None and line["webhook_refused"]


def test_a_replayed_delivery_is_409(webhooks: Function, gateway: Gateway) -> None:
    body = json.dumps(PROMPT).encode()
    standard = _standard(WHSEC_NEW, body, f"msg_replayed_{time.time()}")
    assert _deliver(webhooks, body, standard).status_code == 200
    again = _deliver(webhooks, body, standard)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["type"] == "conflict" and again.json()["error"]["retryable"] is False
    t = int(time.time())
    own = {"X-Signature": f"t={t},v1={sign(HMAC_SECRET, t, body)}"}
    assert _deliver(webhooks, body, own).status_code == 200
    assert _deliver(webhooks, body, own).status_code == 409
    assert len(gateway.requests()) == 2


# --------------------------------------------------------------------------- tool-call ids


def _tool_turn(call_id: str, name: str = "get_weather") -> dict[str, Any]:
    tools = [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    return {
        "tools": tools,
        "messages": [
            {"role": "user", "content": "Weather in Rome?"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": call_id, "name": name, "arguments": {}}]},
            {"role": "tool", "tool_call_id": call_id, "content": {"temp": 20}},
        ],
    }


def test_tool_call_ids_belong_to_their_caller(fn: Function, gateway: Gateway) -> None:
    gateway.faults({"function_calls": [{"name": "get_weather", "args": {"city": "Rome"}}]})
    first = fn.post({"prompt": "Weather in Rome?", "tools": _tool_turn("x")["tools"]}, key=CLIENT_KEYS["ios-app"])
    assert first.status_code == 200, first.text
    call_id = first.json()["tool_calls"][0]["id"]
    assert fn.post(_tool_turn(call_id), key=CLIENT_KEYS["ios-app"]).status_code == 200
    stolen = fn.post(_tool_turn(call_id), key=CLIENT_KEYS["web"])
    assert stolen.status_code == 400, stolen.text
    assert stolen.json()["error"]["details"][0]["field"] == "messages[1].tool_calls[0].id"


@pytest.mark.parametrize(
    "forged",
    [
        "call_" + base64.urlsafe_b64encode(b"\x02" + b"\x00" * 16 + b'{"x":1}').decode(),
        "call_" + base64.urlsafe_b64encode(b"\x02" + b"\x00" * 16 + b"[1,2]").decode(),
        "call_" + base64.urlsafe_b64encode(b"\x01" + b"\x00" * 8 + b'{"n":"delete_account"}').decode(),
        "call_!!!",
        "call_",
    ],
)
def test_forged_tool_call_ids_are_400_never_500(fn: Function, forged: str) -> None:
    r = fn.post(_tool_turn(forged))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"][0]["field"] == "messages[1].tool_calls[0].id"


@pytest.mark.parametrize("key", ["Caller", "caller ", " CALLER"])
def test_metadata_keys_that_fold_to_caller_are_refused(fn: Function, key: str) -> None:
    r = fn.post({"prompt": "Hi", "metadata": {key: "admin"}})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"][0]["field"] == f"metadata.{key}"
