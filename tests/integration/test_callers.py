"""Caller checks over real sockets (docs/API.md §6).

The function runs as a real process; Google's key endpoints are played by a
loopback HTTP server in this test process (FIREBASE_CERTS_URL and
APP_CHECK_JWKS_URL point at it), the webhook secret comes from the Secret
Manager emulator, and shared rate limits go through a real redis-server
(started here on a free loopback port; `.ci/run` installs it).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from gemini_gateway.callers.webhooks import sign
from tests.support.firebase_tokens import (
    KeyServer,
    app_check_claims,
    b64url,
    firebase_claims,
    serve_keys,
    signing_key,
    unsigned_token,
)
from tests.support.processes import free_port, redis_process

from .conftest import CLIENT_KEYS, PROJECT, Function, Gateway, SecretManager

FIREBASE_PROJECT = "test-firebase-app"
NUMBER = "123456789012"
IOS_APP = f"1:{NUMBER}:ios:0a1b2c3d"
WEB_APP = f"1:{NUMBER}:web:4e5f6a7b"
FB_KEY = signing_key("it-firebase-key")
AC_KEY = signing_key("it-app-check-key")
WEBHOOK_OLD, WEBHOOK_NEW = "test-webhook-secret-old", "test-webhook-secret-new"
PROMPT = json.dumps({"prompt": "Hi"}).encode()
REJECTED = {"type": "unauthenticated", "message": "missing or invalid caller credentials", "retryable": False}


# --- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> Iterator[KeyServer]:
    with serve_keys() as server:
        certs = {FB_KEY.kid: FB_KEY.certificate_pem()}
        server.publish("/certs", certs, max_age=3600)
        server.publish("/certs-concurrent", certs, max_age=3600)
        server.publish("/jwks", {"keys": [AC_KEY.jwk()]}, max_age=21600)
        yield server


@pytest.fixture(scope="module")
def webhook_secret(secret_manager: SecretManager) -> str:
    """Two secrets during a rotation, newline-separated, in Secret Manager."""
    secret = secret_manager.client.create_secret(
        parent=PROJECT, secret_id="callers-webhook", secret={"replication": {"automatic": {}}}
    )
    secret_manager.add_version(secret.name, f"{WEBHOOK_OLD}\n{WEBHOOK_NEW}\n")
    return f"{secret.name}/versions/latest"


@pytest.fixture(scope="module")
def callers_fn(start_function: Any, keys: KeyServer, webhook_secret: str) -> Function:
    """Every check configured at once: client keys, webhook, Firebase Auth, App Check (iOS app only)."""
    function: Function = start_function(
        FIREBASE_PROJECT_ID=FIREBASE_PROJECT,
        FIREBASE_CERTS_URL=f"{keys.url}/certs",
        APP_CHECK_PROJECT_NUMBER=NUMBER,
        APP_CHECK_JWKS_URL=f"{keys.url}/jwks",
        APP_CHECK_APP_IDS=IOS_APP,
        WEBHOOK_SECRET_SECRET=webhook_secret,
    )
    return function


def post(fn: Function, headers: dict[str, str], body: bytes = PROMPT) -> httpx.Response:
    return fn.http.post("/", content=body, headers={"Content-Type": "application/json", **headers})


def upstream_caller(gateway: Gateway) -> str:
    (seen,) = gateway.requests()
    for name in ("authorization", "x-firebase-appcheck", "x-signature", "x-api-key"):
        assert name not in seen["headers"], f"the caller's {name} was forwarded upstream"
    return str(json.loads(seen["headers"]["cf-aig-metadata"])["caller"])


def signed(secret: str, body: bytes = PROMPT, at: int | None = None) -> dict[str, str]:
    t = int(time.time()) if at is None else at
    return {"X-Signature": f"t={t},v1={sign(secret, t, body)}"}


# --- each check admits, and names the caller upstream ------------------------------------------------------------


def test_firebase_id_token(callers_fn: Function, gateway: Gateway) -> None:
    token = FB_KEY.sign(firebase_claims(FIREBASE_PROJECT, uid="uid-42"))
    r = post(callers_fn, {"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert upstream_caller(gateway) == "uid:uid-42"


def test_app_check_token(callers_fn: Function, gateway: Gateway) -> None:
    token = AC_KEY.sign(app_check_claims(NUMBER, IOS_APP), headers={"typ": "JWT"})
    r = post(callers_fn, {"X-Firebase-AppCheck": token})
    assert r.status_code == 200, r.text
    assert upstream_caller(gateway) == f"app:{IOS_APP}"


@pytest.mark.parametrize("secret", [WEBHOOK_OLD, WEBHOOK_NEW])
def test_signed_webhook_with_either_secret(callers_fn: Function, gateway: Gateway, secret: str) -> None:
    body = b'{"prompt": "Hi",  "metadata": {"event": "order.created"}}'  # signed as sent, spaces and all
    r = post(callers_fn, signed(secret, body), body)
    assert r.status_code == 200, r.text
    assert upstream_caller(gateway) == "webhook"


def test_webhook_rotation_two_v1_values(callers_fn: Function, gateway: Gateway) -> None:
    t = int(time.time())
    header = f"t={t},v1={sign('a-retired-secret', t, PROMPT)},v1={sign(WEBHOOK_NEW, t, PROMPT)}"
    r = post(callers_fn, {"X-Signature": header})
    assert r.status_code == 200, r.text
    assert upstream_caller(gateway) == "webhook"


def test_client_api_key_still_works(callers_fn: Function, gateway: Gateway) -> None:
    r = post(callers_fn, {"X-API-Key": CLIENT_KEYS["web"]})
    assert r.status_code == 200, r.text
    assert upstream_caller(gateway) == "web"


def test_keys_fetched_once_per_max_age(callers_fn: Function, keys: KeyServer) -> None:
    token = FB_KEY.sign(firebase_claims(FIREBASE_PROJECT))
    app = AC_KEY.sign(app_check_claims(NUMBER, IOS_APP))
    for _ in range(5):
        assert post(callers_fn, {"Authorization": f"Bearer {token}"}).status_code == 200
        assert post(callers_fn, {"X-Firebase-AppCheck": app}).status_code == 200
    assert keys.count("/certs") == 1
    assert keys.count("/jwks") == 1


def test_concurrent_first_callers_share_one_fetch(start_function: Any, keys: KeyServer) -> None:
    fn: Function = start_function(
        FIREBASE_PROJECT_ID=FIREBASE_PROJECT,
        FIREBASE_CERTS_URL=f"{keys.url}/certs-concurrent",
        CLIENT_API_KEYS_SECRET=None,
    )
    token = FB_KEY.sign(firebase_claims(FIREBASE_PROJECT))
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: post(fn, {"Authorization": f"Bearer {token}"}).status_code, range(16)))
    assert statuses == [200] * 16
    assert keys.count("/certs-concurrent") == 1


# --- every rejection: 401 in the error shape of docs/API.md §8, no hint, nothing sent upstream -------------------


def _now() -> int:
    return int(time.time())


REFUSALS: dict[str, Any] = {
    "firebase alg none": lambda: {
        "Authorization": "Bearer "
        + unsigned_token({"alg": "none", "kid": FB_KEY.kid}, firebase_claims(FIREBASE_PROJECT))
    },
    "firebase wrong kid": lambda: {
        "Authorization": "Bearer " + FB_KEY.sign(firebase_claims(FIREBASE_PROJECT), kid="unpublished")
    },
    "firebase expired": lambda: {
        "Authorization": "Bearer " + FB_KEY.sign(firebase_claims(FIREBASE_PROJECT, exp=_now() - 120, iat=_now() - 3600))
    },
    "firebase future iat": lambda: {
        "Authorization": "Bearer " + FB_KEY.sign(firebase_claims(FIREBASE_PROJECT, iat=_now() + 600))
    },
    "firebase wrong audience": lambda: {
        "Authorization": "Bearer " + FB_KEY.sign(firebase_claims(FIREBASE_PROJECT, aud="other-app"))
    },
    "firebase wrong issuer": lambda: {
        "Authorization": "Bearer "
        + FB_KEY.sign(firebase_claims(FIREBASE_PROJECT, iss="https://securetoken.google.com/other-app"))
    },
    "firebase tampered": lambda: {
        "Authorization": "Bearer "
        + ".".join(
            [
                FB_KEY.sign(firebase_claims(FIREBASE_PROJECT)).split(".")[0],
                b64url(json.dumps(firebase_claims(FIREBASE_PROJECT, uid="admin")).encode()),
                FB_KEY.sign(firebase_claims(FIREBASE_PROJECT)).split(".")[2],
            ]
        )
    },
    "app check signed by another key": lambda: {
        "X-Firebase-AppCheck": FB_KEY.sign(app_check_claims(NUMBER, IOS_APP), kid=AC_KEY.kid)
    },
    "app check wrong audience": lambda: {
        "X-Firebase-AppCheck": AC_KEY.sign(app_check_claims(NUMBER, IOS_APP, aud=["projects/1"]))
    },
    "webhook outside tolerance": lambda: signed(WEBHOOK_NEW, at=_now() - 301),
    "webhook wrong secret": lambda: signed("test-webhook-secret-olf"),
    "webhook other body": lambda: signed(WEBHOOK_NEW, body=b'{"prompt":"Hi!"}'),
    "client key off by one": lambda: {"X-API-Key": CLIENT_KEYS["web"][:-1] + "x"},
    "nothing": lambda: {},
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_with_a_plain_401(callers_fn: Function, gateway: Gateway, case: str) -> None:
    r = post(callers_fn, REFUSALS[case]())
    assert r.status_code == 401, r.text
    error = r.json()["error"]
    assert {k: error[k] for k in REJECTED} == REJECTED
    assert set(error) == {"type", "message", "retryable", "request_id"}
    assert r.headers["www-authenticate"] == "Bearer"
    assert gateway.requests() == []


def test_app_check_of_another_app_is_forbidden(callers_fn: Function, gateway: Gateway) -> None:
    r = post(callers_fn, {"X-Firebase-AppCheck": AC_KEY.sign(app_check_claims(NUMBER, WEB_APP))})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["type"] == "forbidden"
    assert gateway.requests() == []


# --- rate limits: one limit shared by two instances through Redis --------------------------------------------------


class Redis:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc, self.port = proc, port
        self.url = f"redis://127.0.0.1:{port}/0"

    def command(self, *args: str) -> Any:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start_redis(log_dir: Path) -> Redis:
    started = redis_process(log_dir, log=True)
    if started is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server; .ci/run installs it in CI)")
    return Redis(*started)


@pytest.fixture(scope="module")
def redis_server(logs_dir: Path) -> Iterator[Redis]:
    server = start_redis(logs_dir)
    yield server
    server.stop()


def limited(start_function: Any, redis_url: str, instance: str, burst: str = "3") -> Function:
    """A function with 6 requests/minute (one token per 10 s), `burst` at once; `instance` forces a new process."""
    function: Function = start_function(
        RATE_LIMIT_PER_MINUTE="6", RATE_LIMIT_BURST=burst, REDIS_URL=redis_url, GOOGLE_CLOUD_PROJECT=instance
    )
    return function


def ask(fn: Function, key: str = CLIENT_KEYS["ios-app"]) -> httpx.Response:
    return post(fn, {"Authorization": f"Bearer {key}"})


def assert_rate_limited(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["type"] == "rate_limited"
    assert r.json()["error"]["retryable"] is True
    assert 1 <= int(r.headers["retry-after"]) <= 10


def test_two_instances_share_one_limit(start_function: Any, redis_server: Redis, gateway: Gateway) -> None:
    a = limited(start_function, redis_server.url, "test-project-a")
    b = limited(start_function, redis_server.url, "test-project-b")
    assert a.server.proc.pid != b.server.proc.pid
    redis_server.command("FLUSHALL")
    assert [ask(a).status_code, ask(b).status_code, ask(a).status_code] == [200, 200, 200]
    assert_rate_limited(ask(b))
    assert_rate_limited(ask(a))
    assert ask(b, CLIENT_KEYS["web"]).status_code == 200  # another caller, another bucket
    assert len(gateway.requests()) == 4
    ttl = int(redis_server.command("PTTL", "gemini-gateway:ratelimit:ios-app"))
    assert 0 < ttl <= 31_000  # forgotten once it would be full again (3 tokens x 10 s) + 1 s


def test_redis_unreachable_falls_back_to_memory(start_function: Any) -> None:
    fn = limited(start_function, f"redis://127.0.0.1:{free_port()}/0", "test-project-no-redis", burst="2")
    assert [ask(fn).status_code, ask(fn).status_code] == [200, 200]
    assert_rate_limited(ask(fn))  # still limited: per instance, in memory
    warnings = [e for e in fn.logs() if "Redis is unreachable" in str(e.get("message"))]
    assert len(warnings) == 1
    assert warnings[0]["severity"] == "WARNING"


def test_redis_stopping_keeps_serving(start_function: Any, logs_dir: Path) -> None:
    own = start_redis(logs_dir)
    try:
        fn = limited(start_function, own.url, "test-project-redis-stops", burst="2")
        assert ask(fn).status_code == 200
        assert own.command("EXISTS", "gemini-gateway:ratelimit:ios-app") == 1
    finally:
        own.stop()
    assert [ask(fn).status_code, ask(fn).status_code] == [200, 200]  # fail open to a fresh in-memory bucket
    assert_rate_limited(ask(fn))
    assert any("Redis is unreachable" in str(e.get("message")) for e in fn.logs())


def test_bucket_script_refills_on_redis_time(redis_server: Redis) -> None:
    """The Lua token bucket itself: burst, wait until the next token, refill, per-caller keys."""
    import asyncio

    from gemini_gateway.callers.rate_limit import RedisLimiter, make_limiter

    async def scenario() -> list[float]:
        limiter = make_limiter(600, 2, redis_server.url)  # 10 tokens a second, 2 at once
        assert isinstance(limiter, RedisLimiter)
        waits = [await limiter.take("uid:lua") for _ in range(3)]
        await asyncio.sleep(0.15)
        waits.append(await limiter.take("uid:lua"))
        waits.append(await limiter.take("uid:other"))
        await limiter.aclose()
        return waits

    redis_server.command("FLUSHALL")
    waits = asyncio.run(scenario())
    assert waits[:2] == [0.0, 0.0]
    assert 0.05 < waits[2] <= 0.1
    assert waits[3:] == [0.0, 0.0]
