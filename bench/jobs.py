"""Server callers (docs/API.md §12): what an Idempotency-Key adds, what an enqueue costs, jobs per second.

Everything on loopback, as child processes: the AI Gateway emulator, a
redis-server, the repository's Cloud Tasks emulator, and the function under
functions-framework's production server (one worker), three ways:

- memory:      no REDIS_URL, no JOBS_QUEUE (keys and jobs in the instance's memory, jobs in-process);
- redis:       REDIS_URL (keys and jobs in Redis), jobs in-process;
- cloud tasks: REDIS_URL + JOBS_QUEUE on the emulator (real google-cloud-tasks client, OIDC-checked callbacks).

(1) Added latency of an idempotent request, instant upstream, one request at a
    time, interleaved request by request: a plain `POST /`, the same with a new
    `Idempotency-Key` (claim, run, keep), and a replay of that key (no upstream).
(2) Enqueue latency: `POST /` with `Prefer: respond-async` until its `202`
    (the job then runs: in-process, or dispatched back by the emulator).
(3) Jobs completed per second on one instance with a 1 s upstream: N jobs with
    a callback submitted 32 at a time, timed from the first submission to the
    last verified delivery; every job must be delivered exactly once.

    python bench/jobs.py            # ~2 minutes on 2 cores
    python bench/jobs.py --quick    # ~40 s

Raw numbers go to bench/results/jobs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.harness import (  # noqa: E402
    ACCOUNT,
    GATEWAY,
    KEY,
    LOGS,
    MODEL,
    RESULTS,
    clean_env,
    function_args,
    log,
    start_redis,
    stop_group,
)
from tests.support.jobs import (  # noqa: E402
    CALLBACK_SECRET,
    JOBS_ACCOUNT,
    QUEUE,
    Receiver,
    receiving,
    start_cloud_tasks,
    verified,
)
from tests.support.processes import Server, free_port, start_server  # noqa: E402

PROMPT = {"prompt": "Summarise the order in one line."}


def _pct(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {
        "p50_ms": at(0.5),
        "p90_ms": at(0.9),
        "p99_ms": at(0.99),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
    }


def _function(name: str, env: dict[str, str], port: int | None = None) -> Server:
    port = port or free_port()
    full = {**clean_env(), **env, "PORT": str(port)}
    return start_server(name, function_args("main.py", port), port, LOGS, env=full, inherit_env=False)


def _sequential(client: httpx.Client, send: Any, n: int) -> list[float]:
    """`send(client, i)` n times, one at a time: the seconds each took."""
    samples = []
    for i in range(n):
        start = time.perf_counter()
        response = send(client, i)
        samples.append(time.perf_counter() - start)
        assert response.status_code in (200, 202), response.text
    return samples


def idempotency_latency(url: str, n: int) -> dict[str, Any]:
    """(1): a plain request, a first use of a new key, a replay of that key; interleaved request by request."""
    paths: dict[str, list[float]] = {"plain": [], "new key": [], "replay": []}
    run = os.urandom(4).hex()

    def timed(client: httpx.Client, path: str, headers: dict[str, str]) -> None:
        start = time.perf_counter()
        response = client.post("/", json=PROMPT, headers=headers)
        paths[path].append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
        assert (response.headers.get("idempotent-replayed") == "true") == (path == "replay")

    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(20):  # warm-up: the route, the pool, the store
            client.post("/", json=PROMPT, headers={"Idempotency-Key": f"warm-{run}-{i}"})
        for path in paths.values():
            path.clear()
        for i in range(n):
            key = {"Idempotency-Key": f"k-{run}-{i}"}
            timed(client, "plain", {})
            timed(client, "new key", key)
            timed(client, "replay", key)
    return {name: _pct(samples) for name, samples in paths.items()}


def enqueue_latency(url: str, n: int) -> dict[str, float]:
    """(2): `Prefer: respond-async` until the 202."""
    with httpx.Client(base_url=url, timeout=30) as client:
        send = lambda c, i: c.post("/", json=PROMPT, headers={"Prefer": "respond-async"})  # noqa: E731
        _sequential(client, send, 20)
        return _pct(_sequential(client, send, n))


def throughput(url: str, receiver: Receiver, n: int, concurrency: int = 32) -> dict[str, Any]:
    """(3): N jobs with callbacks, 32 submissions in flight, until every one is delivered."""
    with receiver.lock:
        receiver.received.clear()
    body = {**PROMPT, "callback": {"url": f"{receiver.url}/hooks/bench"}}

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=url, timeout=60, limits=limits) as client:

        def submit(i: int) -> str:
            r = client.post("/", json=body, headers={"Prefer": "respond-async"})
            assert r.status_code == 202, r.text
            return str(r.json()["job"]["id"])

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            ids = list(pool.map(submit, range(n)))
    submitted = time.perf_counter() - started
    deliveries = receiver.wait_for(n, timeout=30 + 4 * n)
    elapsed = time.perf_counter() - started
    time.sleep(1.0)  # late duplicates would show here
    with receiver.lock:
        got = list(receiver.received)
    events = [verified(d) for d in got]
    delivered = {e["data"]["id"] for e in events if e["type"] == "job.succeeded"}
    return {
        "jobs": n,
        "submitted_s": round(submitted, 2),
        "all_delivered_s": round(elapsed, 2),
        "jobs_per_s": round(len(deliveries[:n]) / elapsed, 1),
        "delivered_once": len(got) == n and delivered == set(ids),
        "deliveries": len(got),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts (~40 s)")
    args = parser.parse_args()
    n_latency, n_enqueue, n_jobs = (200, 100, 100) if args.quick else (1000, 300, 300)
    LOGS.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    started: list[Any] = []
    results: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(), "quick": args.quick}
    try:
        gw_port = free_port()
        gateway = start_server(
            "ai-gateway", ["-m", "emulators.ai_gateway", "--port", str(gw_port), "--key", KEY], gw_port, LOGS
        )
        started.append(gateway.proc)
        redis = start_redis(tmp)
        if redis is None:
            sys.exit("redis-server is not installed (apt-get install -y redis-server)")
        redis_proc, redis_url = redis
        started.append(redis_proc)
        tasks = start_cloud_tasks(LOGS, max_attempts=20, max_backoff=1.0)
        started.append(tasks.server.proc)
        receiver_cm = receiving()
        receiver = receiver_cm.__enter__()
        base = {
            "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
            "AI_GATEWAY_ID": GATEWAY,
            "AI_GATEWAY_BASE_URL": gateway.url,
            "GEMINI_API_KEY": KEY,
            "ALLOW_UNAUTHENTICATED": "true",
            "DEFAULT_MODEL": MODEL,
            "CALLBACK_URL_PREFIXES": f"{receiver.url}/hooks/",
            "CALLBACK_SIGNING_SECRET": CALLBACK_SECRET,
        }
        queued_port = free_port()
        functions = {
            "memory": _function("function-memory", base),
            "redis": _function("function-redis", {**base, "REDIS_URL": redis_url}),
            "cloud tasks": _function(
                "function-queued",
                {
                    **base,
                    "REDIS_URL": redis_url,
                    "JOBS_QUEUE": QUEUE,
                    "JOBS_SERVICE_ACCOUNT": JOBS_ACCOUNT,
                    "JOBS_URL": f"http://127.0.0.1:{queued_port}",
                    "CLOUD_TASKS_EMULATOR_HOST": tasks.host,
                    "GOOGLE_OIDC_CERTS_URL": tasks.certs_url,
                },
                queued_port,
            ),
        }
        started += [f.proc for f in functions.values()]

        log(f"(1) Idempotency-Key, instant upstream, c=1, {n_latency} requests per path, interleaved")
        results["idempotency"] = {
            name: idempotency_latency(functions[name].url, n_latency) for name in ("memory", "redis")
        }
        log(f"(2) enqueue latency (Prefer: respond-async until the 202), c=1, {n_enqueue} requests")
        results["enqueue"] = {name: enqueue_latency(f.url, n_enqueue) for name, f in functions.items()}
        tasks.wait(timeout=60)
        log(f"(3) jobs per second, 1 s upstream, {n_jobs} jobs with callbacks, 32 submissions in flight")
        httpx.post(f"{gateway.url}/__emulator/config", json={"delay": 1.0}).raise_for_status()
        results["throughput"] = {
            name: throughput(functions[name].url, receiver, n_jobs) for name in ("memory", "cloud tasks")
        }
        receiver_cm.__exit__(None, None, None)
    finally:
        for proc in reversed(started):
            stop_group(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nServer callers on one instance ({platform.python_version()}, {platform.machine()}, loopback)\n")
    print("| (1) POST /, instant upstream, c=1 | store | p50 ms | p99 ms | added p50 ms |")
    print("|---|---|---:|---:|---:|")
    for store, paths in results["idempotency"].items():
        plain = paths["plain"]["p50_ms"]
        for path, r in paths.items():
            added = "" if path == "plain" else f"{r['p50_ms'] - plain:+.3f}"
            print(f"| {path} | {store} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {added} |")
    print("\n| (2) enqueue: POST / with Prefer: respond-async → 202, c=1 | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for name, r in results["enqueue"].items():
        print(f"| {name} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} |")
    print("\n| (3) 1 s upstream | jobs | all delivered after s | jobs/s | each delivered once |")
    print("|---|---:|---:|---:|---|")
    for name, r in results["throughput"].items():
        print(f"| {name} | {r['jobs']} | {r['all_delivered_s']} | {r['jobs_per_s']} | {r['delivered_once']} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "jobs.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nraw numbers: {out.relative_to(ROOT)}")
    return 0 if all(r["delivered_once"] for r in results["throughput"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
