"""Budget admission cost: what a daily token budget adds to each request's admission, per store.

In-process, one request at a time, the whole admission and settlement a
`POST /` request goes through: `intake.admit` (identify, body, policy, model,
limits, the upstream body built, rate limit, the budget's reservation) then
`ctx.settle` (the reservation settled to the answer's usage, the access
line). Nothing goes upstream. Side by side:

  - no budget;
  - a budget in memory;
  - a budget in memory near its end (the output cap shrinks, so the upstream
    body is built a second time with it, on every request);
  - a budget in Redis (a local redis-server on loopback: one EVALSHA to
    reserve, one to settle);
  - a budget and a rate limit in Redis (one more EVALSHA).

Per request: CPU time of this process (`process_time`, so Redis's own CPU is
not in it; the median, robust to the machine's noise) and wall time (which
includes the loopback round trips). The variants run interleaved, in five
rounds. And the
input estimate alone, on a 2 KB prompt and on 1 MB ones (ASCII, and
non-ASCII, which costs an encode).

    python bench/budgets.py            # ~20 s
    python bench/budgets.py --quick    # ~5 s

Raw numbers go to bench/results/budgets.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from starlette.requests import Request  # noqa: E402

from bench.harness import RESULTS, log, redis_server  # noqa: E402
from gemini_gateway import runtime  # noqa: E402
from gemini_gateway.access_log import AccessLog  # noqa: E402
from gemini_gateway.answer import Usage  # noqa: E402
from gemini_gateway.chat.models import GenerateRequest  # noqa: E402
from gemini_gateway.context import RequestContext  # noqa: E402
from gemini_gateway.intake import admit  # noqa: E402
from gemini_gateway.routes.generate import INTAKE  # noqa: E402

BODY = json.dumps({"prompt": "Summarise this ticket: " + "x" * 2000, "max_output_tokens": 512}).encode()
ESTIMATE = len(json.loads(BODY)["prompt"]) // 4 + 1
USED = 300  # tokens the "answer" used: every settlement gives some of the reservation back
_ANSWER = {"used": USED}
BASE_ENV = {
    "CLOUDFLARE_ACCOUNT_ID": "bench-account",
    "AI_GATEWAY_ID": "bench-gateway",
    "AI_GATEWAY_BASE_URL": "http://127.0.0.1:9",  # never called
    "GEMINI_API_KEY": "bench-key",
    "ALLOW_UNAUTHENTICATED": "true",
    "GOOGLE_CLOUD_PROJECT": "bench",
}


def _request() -> Request:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": BODY, "more_body": False}

    return Request(scope, receive)


async def _one() -> int:
    ctx = RequestContext(_request(), AccessLog(request_id="bench", started=time.perf_counter()))
    _, call = await admit(ctx, INTAKE)
    used = _ANSWER["used"]
    ctx.record_usage(Usage(input_tokens=ESTIMATE, output_tokens=max(0, used - ESTIMATE), total_tokens=used))
    await ctx.settle(200)
    return len(call.body)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Access lines to /dev/null: every variant writes one, and the terminal is not what is measured."""
    saved = sys.stdout
    with open(os.devnull, "w") as null:
        sys.stdout = null
        try:
            yield
        finally:
            sys.stdout = saved


async def _round(env: dict[str, str], n: int, cpu: list[int], wall: list[int]) -> None:
    runtime.preload({**BASE_ENV, **env})
    for _ in range(50):
        await _one()
    for _ in range(n):
        c0, w0 = time.process_time_ns(), time.perf_counter_ns()
        await _one()
        cpu.append(time.process_time_ns() - c0)
        wall.append(time.perf_counter_ns() - w0)
    rt = runtime.get_runtime()
    for part in (rt.limiter, rt.budgets):
        closing = getattr(part, "aclose", None)
        if closing is not None:
            await closing()


def _summary(cpu: list[int], wall: list[int]) -> dict[str, float]:
    cpu, wall = sorted(cpu), sorted(wall)
    return {
        "cpu_us_p50": cpu[len(cpu) // 2] / 1000,
        "cpu_us_mean": statistics.fmean(cpu) / 1000,
        "wall_us_p50": wall[len(wall) // 2] / 1000,
        "wall_us_p99": wall[int(len(wall) * 0.99)] / 1000,
        "n": len(cpu),
    }


def _estimates(n: int) -> dict[str, float]:
    cases = {
        "2 KB ASCII prompt": "x" * 2000,
        "1 MB ASCII prompt": "x" * 1_000_000,
        "1 MB non-ASCII prompt": "é" * 500_000,
    }
    results = {}
    for name, prompt in cases.items():
        request = GenerateRequest.model_validate({"prompt": prompt})
        started = time.perf_counter_ns()
        for _ in range(n):
            request.input_estimate()
        results[name] = (time.perf_counter_ns() - started) / n / 1000
    return results


async def _all(n: int, redis_url: str | None, rounds: int = 5) -> dict[str, Any]:
    """Every variant, interleaved in `rounds` rounds (the machine's noise spreads over all of them)."""
    huge = str(10**12)
    variants: dict[str, tuple[dict[str, str], int]] = {  # env, tokens the "answer" used
        "no budget": ({}, USED),
        "budget in memory": ({"DAILY_TOKEN_BUDGET": huge}, USED),
        # 100 tokens left after the input, 512 asked: the body is built twice; using none keeps it there
        "budget in memory, near its end (body built twice)": ({"DAILY_TOKEN_BUDGET": str(ESTIMATE + 100)}, 0),
    }
    if redis_url:
        variants["budget in Redis"] = ({"DAILY_TOKEN_BUDGET": huge, "REDIS_URL": redis_url}, USED)
        variants["budget and rate limit in Redis"] = (
            {"DAILY_TOKEN_BUDGET": huge, "RATE_LIMIT_PER_MINUTE": "1000000", "REDIS_URL": redis_url},
            USED,
        )
    samples: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in variants}
    for _ in range(rounds):
        for name, (env, used) in variants.items():
            _ANSWER["used"] = used
            await _round(env, n // rounds, *samples[name])
    return {name: _summary(*pair) for name, pair in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    args = parser.parse_args()
    n = 500 if args.quick else 3000
    with redis_server() as redis_url, _quiet():
        results = asyncio.run(_all(n, redis_url))
        estimates = _estimates(20 if args.quick else 200)
    base = results["no budget"]
    log(f"\nBudget admission, one POST / at a time (admit + settle, {n} requests each, {BODY.__len__()} B body)\n")
    log("| variant | CPU µs/request p50 | + vs no budget | CPU mean | wall p50 µs | wall p99 µs |")
    log("|---|---|---|---|---|---|")
    for name, r in results.items():
        delta = r["cpu_us_p50"] - base["cpu_us_p50"]
        log(
            f"| {name} | {r['cpu_us_p50']:.1f} | {delta:+.1f} | {r['cpu_us_mean']:.1f} | {r['wall_us_p50']:.1f} "
            f"| {r['wall_us_p99']:.1f} |"
        )
    if redis_url is None:
        log("| budget in Redis | skipped: redis-server is not installed | | | | |")
    log("\nInput estimate alone\n")
    log("| prompt | µs |")
    log("|---|---|")
    for name, us in estimates.items():
        log(f"| {name} | {us:.2f} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "budgets.json").write_text(json.dumps({"admission": results, "estimate_us": estimates}, indent=2))


if __name__ == "__main__":
    main()
