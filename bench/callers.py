"""Added latency of each caller layer on a warm instance, of replay protection, and the Redis round trips.

Measured in-process, one `verify` (or gate `identify`, or `take`) at a time,
each timed on its own with perf_counter_ns, after a warm-up that primes every
cache (client keys parsed, webhook secrets parsed, Firebase certificates and
the App Check JWKS fetched and parsed). That is what a request pays on a warm
instance: nothing is fetched. Targets: <= 0.3 ms p50 for a client
API key and for an HMAC webhook, <= 1 ms p50 for a JWT with cached keys.

Layers (docs/API.md §6): the gate with every check configured, for the
"genuine app and signed-in user" request (Firebase ID token + App Check
token, and a caller policy that requires both); Standard Webhooks through the
standardwebhooks package; the replay guard of webhook ids (memory); and App
Check consumption (verifyAppCheckToken) against the local stand-in
(emulators/app_check.py, on loopback: a network round trip and the stand-in's
own verification, so an upper bound of what the function itself adds; against
Firebase add Google's latency).

The Redis limiter is timed against a local redis-server on loopback (started
here on a free port, skipped with a message when the binary is missing):
one EVALSHA of the token-bucket script per request.

Spend control (issue "Spend control per caller"): the daily token budget's
reservation plus its settlement (`reserve`, then `ticket.settle(40)`) in memory
and through RedisBudgets on the same redis-server (an EVALSHA of the reserve
script at admission, one of INCRBY + EXPIRE at the settlement: two round
trips; bench/budgets.py has the whole admission), and caller-policy
resolution (`Policies.for_caller`, a document with "*", "uid:*" and an exact
entry): the first call for a caller (a fresh Policies each time, so nothing is
cached) and the cached call every later request makes.

    python bench/callers.py            # ~10 s
    python bench/callers.py --check    # exit 1 if a target is missed

Raw numbers go to bench/results/callers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.harness import redis_server  # noqa: E402
from gemini_gateway.callers import ApiKeyCheck, CallerCheck, CallerGate  # noqa: E402
from gemini_gateway.callers.app_check import AppCheckCheck, AppCheckConsumer  # noqa: E402
from gemini_gateway.callers.budgets import Budgets, MemoryBudgets, RedisBudgets, reserve, utc_day  # noqa: E402
from gemini_gateway.callers.firebase_auth import FirebaseAuthCheck  # noqa: E402
from gemini_gateway.callers.jwt_keys import KeySet, parse_jwks, parse_x509_certs  # noqa: E402
from gemini_gateway.callers.rate_limit import MemoryLimiter, RedisLimiter, make_limiter  # noqa: E402
from gemini_gateway.callers.redis_state import redis_state  # noqa: E402
from gemini_gateway.callers.seen import MemorySeen  # noqa: E402
from gemini_gateway.callers.webhooks import WebhookCheck, sign  # noqa: E402
from gemini_gateway.policies import PolicySource, parse_policies  # noqa: E402
from gemini_gateway.secret_store import SecretRef, SecretStore  # noqa: E402
from gemini_gateway.settings import load_settings  # noqa: E402
from tests.support.firebase_tokens import app_check_claims, firebase_claims, signing_key  # noqa: E402
from tests.support.processes import free_port, wait_for_port  # noqa: E402

PROJECT, NUMBER = "bench-firebase-app", "123456789012"
APP_ID = f"1:{NUMBER}:ios:0a1b2c3d"
CLIENT_KEYS = ",".join(f"app{n}:bench-client-key-{n:02d}-{'x' * 40}" for n in range(5))  # 5 keys, like a real list
WHSEC = "whsec_" + base64.b64encode(b"bench-standard-webhooks-secret-0123").decode()
WEBHOOK_SECRETS = f"bench-webhook-secret-old-0123456789abcdef,bench-webhook-secret-new-0123456789abcdef,{WHSEC}"
LAYER_POLICIES = json.dumps({"*": {"require": ["app_check", "user"]}})
BODY = json.dumps({"prompt": "Summarise this order: " + "x" * 2000}).encode()  # ~2 KB, HMAC covers it all
POLICY_DOCUMENT = json.dumps(
    {
        "*": {"daily_token_budget": 20_000, "max_output_tokens": 2048},
        "uid:*": {"daily_token_budget": 50_000, "rate_limit_per_minute": 120},
        "uid:bench-vip": {"rate_limit_per_minute": 600, "allowed_tools": ["google_search"]},
    }
)
POLICY_ENV = {"CLOUDFLARE_ACCOUNT_ID": "bench", "AI_GATEWAY_ID": "bench", "GEMINI_API_KEY": "bench"}
DAY_BUDGET = 10**12  # never spent here: every admission succeeds
CHARGED = 40  # tokens charged per request
TARGETS_MS = {"client API key": 0.3, "HMAC webhook": 0.3, "Firebase Auth JWT": 1.0, "App Check JWT": 1.0}


async def _no_fetch(name: str) -> str:
    raise AssertionError("literal secrets only")


def _served(document: Any) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=document, headers={"Cache-Control": "public, max-age=3600"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6

    return {"p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99), "mean_ms": statistics.fmean(ordered) / 1e6}


async def _time(call: Callable[[], Awaitable[Any]], n: int, warmup: int = 200) -> dict[str, float]:
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        await call()
        samples.append(time.perf_counter_ns() - start)
    return {**_percentiles(samples), "n": n}


def _time_sync(call: Callable[[], Any], n: int, warmup: int = 200) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return {**_percentiles(samples), "n": n}


async def _admit_and_charge(budgets: Budgets, identity: str) -> int:
    ticket = await reserve(budgets, identity, DAY_BUDGET, 10, 8192)
    await ticket.settle(CHARGED)
    return ticket.spent


def _policies(n: int) -> dict[str, dict[str, float]]:
    settings = load_settings({**POLICY_ENV, "ALLOW_UNAUTHENTICATED": "true", "RATE_LIMIT_PER_MINUTE": "60"}).settings
    fresh = iter([parse_policies(POLICY_DOCUMENT) for _ in range(n + 200)])  # parsed before timing
    found = next(fresh).for_caller("uid:bench-vip", settings)
    assert (found.rate_limit_per_minute, found.daily_token_budget, found.max_output_tokens) == (600, 50_000, 2048)
    # What every later request pays: PolicySource.effective, the document unchanged, the caller resolved once.
    source = PolicySource(
        SecretRef("caller policies", literal=POLICY_DOCUMENT, scrub=False), SecretStore(_no_fetch, 300), settings
    )
    return {
        'caller policy, first call (exact + "uid:*" + "*")': _time_sync(
            lambda: next(fresh).for_caller("uid:bench-vip", settings), n, warmup=199
        ),
        "caller policy, cached (PolicySource.effective)": _run(_time(lambda: source.effective("uid:bench-vip"), n)),
    }


class _Always:
    """A replay guard that never refuses: times the signature check alone (the guard is timed on its own)."""

    async def first_time(self, key: str, window: float) -> bool:
        return True


async def _checks(n: int) -> dict[str, dict[str, float]]:
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    secrets = SecretStore(_no_fetch, 300)
    fb_key, ac_key = signing_key("bench-firebase"), signing_key("bench-app-check")
    fb_keys = KeySet(
        "https://certs.bench/x509",
        parse_x509_certs,
        label="certs",
        http=_served({fb_key.kid: fb_key.certificate_pem()}),
    )
    ac_keys = KeySet("https://jwks.bench/v1/jwks", parse_jwks, label="jwks", http=_served({"keys": [ac_key.jwk()]}))

    api_key = ApiKeyCheck(secrets, SecretRef("client API keys", literal=CLIENT_KEYS))
    webhook = WebhookCheck(secrets, SecretRef("webhook secret", literal=WEBHOOK_SECRETS), _Always())
    firebase = FirebaseAuthCheck(PROJECT, fb_keys)
    app_check = AppCheckCheck(NUMBER, ac_keys, (APP_ID,))

    fb_token = fb_key.sign(firebase_claims(PROJECT, uid="bench-user"))
    ac_token = ac_key.sign(app_check_claims(NUMBER, APP_ID))
    key_headers = {"authorization": "Bearer bench-client-key-04-" + "x" * 40}
    t = int(time.time())
    signed = {"x-signature": f"t={t},v1={sign('bench-webhook-secret-new-0123456789abcdef', t, BODY)}"}
    now = datetime.now(tz=UTC)
    standard = {
        "webhook-id": "msg_bench",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(WHSEC).sign("msg_bench", now, BODY),
    }
    all_four: list[CallerCheck] = [api_key, firebase, app_check, webhook]
    policies = PolicySource(
        SecretRef("caller policies", literal=LAYER_POLICIES, scrub=False),
        secrets,
        load_settings({**POLICY_ENV, "ALLOW_UNAUTHENTICATED": "true"}).settings,
    )
    gate = CallerGate(all_four, allow_unauthenticated=False, policies=policies)
    both = {"authorization": f"Bearer {fb_token}", "x-firebase-appcheck": ac_token}
    seen, ids = MemorySeen(), (f"msg_{i}" for i in itertools.count())
    memory = MemoryLimiter(make_limiter(600_000, None, None).limit)  # type: ignore[union-attr]
    budgets = MemoryBudgets()

    cases: dict[str, Callable[[], Awaitable[Any]]] = {
        "client API key": lambda: api_key.verify(key_headers, BODY),
        "HMAC webhook": lambda: webhook.verify(signed, BODY),
        "Standard Webhooks (standardwebhooks package)": lambda: webhook.verify(standard, BODY),
        "webhook replay guard (memory)": lambda: seen.first_time(next(ids), 600.0),
        "Firebase Auth JWT": lambda: firebase.verify({"authorization": f"Bearer {fb_token}"}, BODY),
        "App Check JWT": lambda: app_check.verify({"x-firebase-appcheck": ac_token}, BODY),
        "gate: ID token + App Check, policy requires both (all four configured)": lambda: gate.identify(both, BODY),
        "in-memory rate limit (take)": lambda: memory.check("bench-user"),
        f"in-memory daily budget (reserve + settle({CHARGED}))": lambda: _admit_and_charge(budgets, "bench-user"),
    }
    results = {}
    for name, call in cases.items():
        assert await call() is not None or name.startswith("in-memory rate"), f"{name}: the credential was refused"
        results[name] = await _time(call, n)
    assert fb_keys.fetches == 1 and ac_keys.fetches == 1, "the key caches were not warm"
    assert budgets.spent_now("bench-user") == (n + 201) * CHARGED, "the memory budget was not charged"
    return results


def _consume(n: int) -> dict[str, Any]:
    """App Check consumption against the stand-in on loopback: one verifyAppCheckToken per request."""
    ac_key = signing_key("bench-app-check-consume")
    with tempfile.TemporaryDirectory() as tmp:
        jwks = Path(tmp) / "jwks.json"
        jwks.write_text(json.dumps({"keys": [ac_key.jwk()]}))
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "emulators.app_check",
                "--port",
                str(port),
                "--project",
                f"{NUMBER}:bench",
                *("--jwks-file", str(jwks)),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_port(port, proc=proc)
            tokens = [  # one limited-use token per request, as apps send them
                ac_key.sign(app_check_claims(NUMBER, APP_ID, aud=[f"projects/{NUMBER}"], jti=f"bench-{i}"))
                for i in range(n + 50)
            ]

            async def run() -> dict[str, float]:
                from gemini_gateway.callers.gate import Layer

                async with httpx.AsyncClient() as http:
                    consumer = AppCheckConsumer(NUMBER, f"http://127.0.0.1:{port}/v1beta", http)
                    fresh = iter(tokens)
                    return await _time(lambda: consumer.consume(Layer("app_check", "a", token=next(fresh))), n, 50)

            return dict(_run(run()))
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def _redis_budget(url: str, n: int) -> dict[str, float]:
    state = redis_state(url)
    budgets = RedisBudgets(state, MemoryBudgets())  # as make_budgets builds it with REDIS_URL
    try:
        assert await _admit_and_charge(budgets, "bench-user") == CHARGED
        timed = await _time(lambda: _admit_and_charge(budgets, "bench-user"), n)
        held = await state.client.get(f"gemini-gateway:budget:{utc_day(time.time())}:bench-user")
        assert int(held) == (n + 201) * CHARGED, "Redis did not hold the spending"
        assert state.healthy, "RedisBudgets fell back to memory"
        return timed
    finally:
        await budgets.aclose()


async def _redis_round_trip(url: str, n: int) -> dict[str, float]:
    limiter = make_limiter(10_000_000, 10_000_000, url)
    assert isinstance(limiter, RedisLimiter)
    try:
        assert await limiter.take("bench-user") == 0.0
        return await _time(lambda: limiter.take("bench-user"), n)
    finally:
        await limiter.aclose()


def _redis(n: int) -> dict[str, Any]:
    with redis_server() as url:
        if url is None:
            return {"skipped": "redis-server is not installed (apt-get install -y redis-server)"}
        version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
        return {
            **_run(_redis_round_trip(url, n)),
            "budget": _run(_redis_budget(url, n)),
            "redis": version.removeprefix("v="),
        }


def _run(coro: Awaitable[Any]) -> Any:
    try:
        import uvloop  # as in production: uvicorn picks uvloop when it is installed

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="timed calls per check (default 5000)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    checks = _run(_checks(args.n))
    checks["App Check consumption (verifyAppCheckToken, stand-in on loopback)"] = _consume(min(args.n, 1000))
    policies = _policies(args.n)
    redis = _redis(args.n)
    missed = []
    print(
        f"\nCaller checks, warm instance, in-process, {args.n} calls each ({platform.python_version()}, {platform.machine()})\n"
    )
    print("| check | p50 ms | p90 ms | p99 ms | target p50 | |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in checks.items():
        target = TARGETS_MS.get(name)
        verdict = "" if target is None else ("PASS" if r["p50_ms"] <= target else "FAIL")
        if verdict == "FAIL":
            missed.append(name)
        target_text = f"<= {target}" if target is not None else ""
        print(f"| {name} | {r['p50_ms']:.4f} | {r['p90_ms']:.4f} | {r['p99_ms']:.4f} | {target_text} | {verdict} |")
    for name, r in policies.items():
        print(f"| {name} | {r['p50_ms']:.4f} | {r['p90_ms']:.4f} | {r['p99_ms']:.4f} |  |  |")
    if "skipped" in redis:
        print(f"| Redis limiter round trip | skipped: {redis['skipped']} | | | | |")
        print(f"| Redis daily budget | skipped: {redis['skipped']} | | | | |")
    else:
        print(
            f"| Redis limiter round trip (EVALSHA, loopback, redis {redis['redis']}) | {redis['p50_ms']:.4f} "
            f"| {redis['p90_ms']:.4f} | {redis['p99_ms']:.4f} | | |"
        )
        b = redis["budget"]
        print(
            f"| Redis daily budget (reserve EVALSHA + settle({CHARGED}) EVALSHA, loopback) | {b['p50_ms']:.4f} "
            f"| {b['p90_ms']:.4f} | {b['p99_ms']:.4f} | | |"
        )
    out = ROOT / "bench" / "results" / "callers.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "n": args.n,
                "checks": checks,
                "policies": policies,
                "redis": redis,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nraw numbers: {out.relative_to(ROOT)}")
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
