"""The Gemini-native and Interactions routes' overhead: direct to the AI Gateway emulator vs through the function.

The same c=16 comparison as `bench/run.py` section (a), on
`POST /v1beta/models/{model}:generateContent` (and `:streamGenerateContent?alt=sse`)
and `POST /v1beta/interactions`: the caller sends Google's own body to the
function, which checks it, swaps the key and relays the answer (sealing the
interaction ids). Rounds are interleaved (direct, function, direct, ...) so
that noise from the rest of the machine hits both alike; latencies are pooled
over the rounds. Then the time to the first `step.delta` of a streamed
interaction, one at a time, direct and through the function, medians.
Target: added p50 <= 2 ms at c=16.

    python bench/gemini_native.py            # 3 rounds x 1,000 requests per path and concurrency
    python bench/gemini_native.py --quick    # 3 rounds x 300
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    ACCOUNT,
    GATEWAY,
    KEY,
    MODEL,
    RESULTS,
    http_json,
    log,
)
from bench.load import LoadResult, merge, run_load_sync  # noqa: E402
from bench.run import (  # noqa: E402
    DIRECT_BODY,
    machine_info,
    start_emulator,
    start_function,
    stop_tree,
)

UPSTREAM = f"/{ACCOUNT}/{GATEWAY}/google-ai-studio/v1beta/models/{MODEL}"
NATIVE = f"/v1beta/models/{MODEL}"
INTERACTIONS_UPSTREAM = f"/{ACCOUNT}/{GATEWAY}/google-ai-studio/v1beta/interactions"
INTERACTIONS = "/v1beta/interactions"
INTERACTION_BODY = {
    "model": MODEL,
    "input": "Say hello in five words please",
    "generation_config": {"max_output_tokens": 8192},
}
TARGET_ADDED_P50_MS = 2.0
# The function runs with ALLOW_UNAUTHENTICATED=true: any key is accepted, none is forwarded.
CALLER_KEY = "bench-client-key"


def check(emulator_url: str, function_url: str) -> None:
    """One call each way: the function's upstream body must be the direct body, the answers equal."""
    http_json("POST", emulator_url + "/__emulator/reset")
    answers = []
    for url, key in ((emulator_url + UPSTREAM, KEY), (function_url + NATIVE, CALLER_KEY)):
        req = urllib.request.Request(
            url + ":generateContent",
            data=json.dumps(DIRECT_BODY).encode(),
            method="POST",
            headers={"content-type": "application/json", "x-goog-api-key": key},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            answers.append(json.loads(resp.read()))
    records = http_json("GET", emulator_url + "/__emulator/requests")["requests"]
    if [r["status"] for r in records] != [200, 200] or records[1]["body"] != DIRECT_BODY:
        raise RuntimeError(f"unexpected upstream calls: {records}")
    if records[1]["headers"].get("x-goog-api-key") != KEY:
        raise RuntimeError("the function did not send its own key upstream")
    texts = [a["candidates"][0]["content"]["parts"][-1]["text"] for a in answers]
    if texts[0] != texts[1]:
        raise RuntimeError(f"answers differ: {texts}")


def compare(emulator_url: str, function_url: str, method: str, conc: int, count: int, rounds: int) -> dict[str, Any]:
    query = "?alt=sse" if method == "streamGenerateContent" else ""
    paths = (
        ("direct", f"{emulator_url}{UPSTREAM}:{method}{query}", KEY),
        ("function", f"{function_url}{NATIVE}:{method}{query}", CALLER_KEY),
    )
    body: Any = DIRECT_BODY
    if method == "interactions":
        paths = (
            ("direct", f"{emulator_url}{INTERACTIONS_UPSTREAM}", KEY),
            ("function", f"{function_url}{INTERACTIONS}", CALLER_KEY),
        )
        body = INTERACTION_BODY
    parts: dict[str, list[LoadResult]] = {name: [] for name, _, _ in paths}
    per_round = max(1, count // rounds)
    for r in range(rounds):
        for name, url, key in paths:
            http_json("POST", emulator_url + "/__emulator/reset")
            res = run_load_sync(
                url,
                body,
                count=per_round,
                concurrency=conc,
                headers={"x-goog-api-key": key},
                warmup=max(50, conc * 4),
            )
            parts[name].append(res)
            log(f"  {method} c={conc:<3d} round {r + 1}/{rounds} {name:9s} {res.line()}")
    runs = {name: merge(rs) for name, rs in parts.items()}
    return {
        **{name: run.as_dict() for name, run in runs.items()},
        "added_p50_ms": runs["function"].p50_ms - runs["direct"].p50_ms,
        "added_p99_ms": runs["function"].p99_ms - runs["direct"].p99_ms,
        "rps_ratio_function_over_direct": runs["function"].rps / runs["direct"].rps if runs["direct"].rps else None,
    }


def first_delta(emulator_url: str, function_url: str, n: int) -> dict[str, float]:
    """Median time to the first `step.delta` of a streamed interaction, one at a time, direct and through the function."""
    import statistics

    import httpx

    body = {**INTERACTION_BODY, "stream": True}
    medians: dict[str, float] = {}
    with httpx.Client(timeout=30) as http:
        for name, url, key in (
            ("direct", f"{emulator_url}{INTERACTIONS_UPSTREAM}", KEY),
            ("function", f"{function_url}{INTERACTIONS}", CALLER_KEY),
        ):
            samples = []
            for i in range(n + 10):
                started = time.perf_counter()
                headers = {"x-goog-api-key": key, "accept": "text/event-stream"}
                with http.stream("POST", url, json=body, headers=headers) as response:
                    for line in response.iter_lines():
                        if line.startswith("data:") and '"step.delta"' in line:
                            if i >= 10:  # warm-up
                                samples.append((time.perf_counter() - started) * 1000)
                            break
            medians[name] = statistics.median(samples)
    return {**medians, "added_ms": medians["function"] - medians["direct"]}


def table(results: dict[str, Any]) -> str:
    lines = [
        "| route | c | path | req/s | p50 ms | p99 ms | errors | added p50 ms | added p99 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, block in results.items():
        method, conc = key.rsplit("@c", 1)
        for name in ("direct", "function"):
            run = block[name]
            added = (f"{block['added_p50_ms']:.2f}", f"{block['added_p99_ms']:.2f}") if name == "function" else ("", "")
            lines.append(
                f"| {method} | {conc} | {name} | {run['rps']:.0f} | {run['p50_ms']:.2f} | {run['p99_ms']:.2f} "
                f"| {run['errors']} | {added[0]} | {added[1]} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 rounds x 300 requests per path")
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    parser.add_argument("--out", type=Path, default=RESULTS / "gemini_native.json")
    args = parser.parse_args(argv)
    count = 900 if args.quick else 3000
    emulator = start_emulator()
    function = start_function(emulator)
    try:
        check(emulator.url, function.url)
        results: dict[str, Any] = {}
        for method in ("generateContent", "streamGenerateContent", "interactions"):
            for conc, n in ((16, count), (1, count // 10)):
                results[f"{method}@c{conc}"] = compare(emulator.url, function.url, method, conc, n, rounds=3)
        delta = first_delta(emulator.url, function.url, 50 if args.quick else 200)
    finally:
        stop_tree(function)
        stop_tree(emulator)
    added = results["generateContent@c16"]["added_p50_ms"]
    passed = added <= TARGET_ADDED_P50_MS
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": machine_info(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": results,
        "interaction_first_step_delta_ms": delta,
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(table(results))
    print(
        f"\nstreamed interaction, time to the first step.delta (median, c=1): direct {delta['direct']:.2f} ms, "
        f"function {delta['function']:.2f} ms, added {delta['added_ms']:.2f} ms"
    )
    print(
        f"\nadded p50 at c=16 (generateContent): {added:.2f} ms, target <= {TARGET_ADDED_P50_MS} ms: "
        f"{'PASS' if passed else 'FAIL'}"
    )
    print(f"raw numbers: {args.out}")
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
