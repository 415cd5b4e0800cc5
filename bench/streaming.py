"""Streaming benchmark: time to first delta, and 1,000 streams open at once on one instance.

Starts the AI Gateway emulator and the function (functions-framework's
production server) on loopback with the helpers of ``bench/run.py``, then:

  (s1) time to first delta, one request at a time, interleaved rounds:
       direct to the emulator's ``:streamGenerateContent?alt=sse`` (time to its
       first ``data:`` record) vs through the function's ``POST /`` with
       ``"stream": true`` (time to its first ``event: delta``). Target: the
       function adds ≤ 3 ms at p50.
  (s2) 1,000 streams open at once: the emulator pauses between chunks, so every
       stream stays open for seconds; peak RSS of the function's processes is
       sampled throughout. Targets: worker peak RSS ≤ 300 MB, zero errors
       (every stream ends with ``event: done``).

    python bench/streaming.py            # ~1 minute on 2 cores
    python bench/streaming.py --quick    # fewer requests, 500 streams

Raw numbers go to ``bench/results/streaming.json``. From ``bench/run.py``:
``from bench.streaming import run_streaming, streaming_table`` and
``res["streaming"] = run_streaming(quick=args.quick)`` (it starts and stops
its own servers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    ACCOUNT,
    GATEWAY,
    KEY,
    LOGS,
    MODEL,
    RESULTS,
    http_json,
    log,
    verdict,
)
from bench.load import percentile  # noqa: E402
from bench.run import (  # noqa: E402
    RssSampler,
    fmt,
    machine_info,
    start_emulator,
    start_function,
    stop_tree,
)
from tests.support.processes import Server  # noqa: E402

__all__ = ["run_streaming", "streaming_table", "streaming_targets"]

PROMPT = "Stream a short greeting to the benchmark please"
STREAM_PATH = f"/{ACCOUNT}/{GATEWAY}/google-ai-studio/v1beta/models/{MODEL}:streamGenerateContent"
# What the function sends upstream for FUNCTION_BODY (checked against the emulator's record).
DIRECT_BODY = {
    "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
    "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}, "maxOutputTokens": 8192},
}
FUNCTION_BODY = {"prompt": PROMPT, "stream": True, "thinking_budget": 0}

TARGET_TTFD_ADDED_P50_MS = 3.0
TARGET_STREAMS_RSS_MB = 300.0


# --------------------------------------------------------------------------- one stream


async def _one_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], marker: bytes
) -> tuple[int, float, float, bytes]:
    """(status, ms to the first complete record starting with `marker`, ms to the end, whole body)."""
    started = time.perf_counter()
    first = math.nan
    buffer = b""
    async with session.post(url, data=body, headers=headers) as resp:
        async for chunk in resp.content.iter_any():
            buffer += chunk
            if math.isnan(first):
                at = buffer.find(marker)
                if at >= 0 and (buffer.find(b"\n\n", at) >= 0 or buffer.find(b"\r\n\r\n", at) >= 0):
                    first = (time.perf_counter() - started) * 1000
        status = resp.status
    return status, first, (time.perf_counter() - started) * 1000, buffer


def _stream_ok(status: int, body: bytes) -> bool:
    return status == 200 and b"event: done\n" in body and b"event: error\n" not in body


# --------------------------------------------------------------------------- (s1) time to first delta


async def _ttfd(emulator: Server, function: Server, count: int, rounds: int) -> dict[str, Any]:
    paths = {
        "direct": (emulator.url + STREAM_PATH + "?alt=sse", DIRECT_BODY, {"x-goog-api-key": KEY}, b"data:"),
        "function": (function.url + "/", FUNCTION_BODY, {}, b"event: delta\n"),
    }
    firsts: dict[str, list[float]] = {name: [] for name in paths}
    totals: dict[str, list[float]] = {name: [] for name in paths}
    errors: dict[str, int] = dict.fromkeys(paths, 0)
    per_round = max(1, count // rounds)
    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        for url, body, headers, marker in paths.values():  # warm-up: connections, caches, code paths
            for _ in range(30):
                await _one_stream(
                    session, url, json.dumps(body).encode(), {"content-type": "application/json", **headers}, marker
                )
        for r in range(rounds):
            for name, (url, body, headers, marker) in paths.items():
                data = json.dumps(body).encode()
                hdrs = {"content-type": "application/json", **headers}
                for _ in range(per_round):
                    status, first, total, whole = await _one_stream(session, url, data, hdrs, marker)
                    good = status == 200 and not math.isnan(first)
                    if name == "function":
                        good = good and _stream_ok(status, whole)
                    if good:
                        firsts[name].append(first)
                        totals[name].append(total)
                    else:
                        errors[name] += 1
            log(f"  round {r + 1}/{rounds}: " + ", ".join(f"{n} p50 {_p(firsts[n], 50):.2f} ms" for n in paths))
    out: dict[str, Any] = {}
    for name in paths:
        f, t = sorted(firsts[name]), sorted(totals[name])
        out[name] = {
            "ok": len(f),
            "errors": errors[name],
            "first_p50_ms": _p(f, 50),
            "first_p90_ms": _p(f, 90),
            "first_p99_ms": _p(f, 99),
            "total_p50_ms": _p(t, 50),
        }
    out["added_first_p50_ms"] = out["function"]["first_p50_ms"] - out["direct"]["first_p50_ms"]
    out["added_first_p90_ms"] = out["function"]["first_p90_ms"] - out["direct"]["first_p90_ms"]
    return out


def _p(values: list[float], q: float) -> float:
    return percentile(sorted(values), q)


# --------------------------------------------------------------------------- (s2) many streams at once


async def _many(function: Server, n: int, time_limit: float) -> dict[str, Any]:
    url = function.url + "/"
    data = json.dumps(FUNCTION_BODY).encode()
    headers = {"content-type": "application/json"}
    open_now = 0
    peak_open = 0
    statuses: dict[str, int] = {}
    samples: list[str] = []
    firsts: list[float] = []
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=time_limit)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> bool:
            nonlocal open_now, peak_open
            started = time.perf_counter()
            counted = False
            try:
                async with session.post(url, data=data, headers=headers) as resp:
                    if resp.status == 200:
                        open_now += 1
                        counted = True
                        peak_open = max(peak_open, open_now)
                    body = b""
                    async for chunk in resp.content.iter_any():
                        if not body and b"event: delta" in chunk:
                            firsts.append((time.perf_counter() - started) * 1000)
                        body += chunk
                    key = str(resp.status)
                    ok = _stream_ok(resp.status, body)
                    if resp.status == 200 and not ok:
                        key = "200-without-done"
            except Exception as exc:
                key, ok = type(exc).__name__, False
                if len(samples) < 5:
                    samples.append(f"{key}: {exc}")
            finally:
                if counted:
                    open_now -= 1
            statuses[key] = statuses.get(key, 0) + 1
            return ok

        started = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - started
    ok = sum(results)
    return {
        "streams": n,
        "ok": ok,
        "errors": n - ok,
        "statuses": statuses,
        "error_samples": samples,
        "peak_open_at_client": peak_open,
        "wall_s": wall,
        "first_delta_p50_ms": _p(firsts, 50),
        "first_delta_p99_ms": _p(firsts, 99),
    }


def _streams_at_once(emulator: Server, function: Server, n: int, chunk_gap: float) -> dict[str, Any]:
    http_json("POST", emulator.url + "/__emulator/reset")
    http_json("POST", emulator.url + "/__emulator/config", {"stream_delay": chunk_gap})
    sampler = RssSampler(function.proc.pid)
    idle = sampler.snapshot()
    with sampler:
        res = asyncio.run(_many(function, n, time_limit=120.0))
    http_json("POST", emulator.url + "/__emulator/config", {"stream_delay": 0.0})
    res["emulator_stats"] = http_json("GET", emulator.url + "/__emulator/stats")
    res["rss_idle"] = idle
    res["rss"] = sampler.peaks()
    res["chunk_gap_s"] = chunk_gap
    return res


# --------------------------------------------------------------------------- report


def streaming_targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    t, m = res["ttfd"], res["many"]
    rss = m["rss"]["worker_peak_mb"] or m["rss"]["master_peak_mb"]
    return [
        {
            "target": f"time to first delta: function adds ≤ {TARGET_TTFD_ADDED_P50_MS:g} ms at p50",
            "measured": f"{t['added_first_p50_ms']:.2f} ms ({t['function']['first_p50_ms']:.2f} vs "
            f"{t['direct']['first_p50_ms']:.2f} ms direct; p90 added {t['added_first_p90_ms']:.2f} ms)",
            "pass": t["added_first_p50_ms"] <= TARGET_TTFD_ADDED_P50_MS and t["function"]["errors"] == 0,
        },
        {
            "target": f"{m['streams']} streams open at once: worker peak RSS ≤ {TARGET_STREAMS_RSS_MB:g} MB",
            "measured": f"{rss:.0f} MB (idle {m['rss_idle'].get('worker_mb') or m['rss_idle'].get('master_mb', 0):.0f} MB)",
            "pass": 0 < rss <= TARGET_STREAMS_RSS_MB,
        },
        {
            "target": f"{m['streams']} streams open at once: 0 errors",
            "measured": f"{m['errors']} errors, {m['peak_open_at_client']} open at once at the client, "
            f"emulator max in flight {m['emulator_stats']['max_in_flight']}",
            "pass": m["errors"] == 0 and m["peak_open_at_client"] == m["streams"],
        },
    ]


def streaming_table(res: dict[str, Any]) -> str:
    t, m = res["ttfd"], res["many"]
    lines = [
        "**(s1) time to first delta**, one stream at a time (emulator without pauses, thinking off)",
        "",
        "| path | streams | errors | first p50 ms | first p90 ms | first p99 ms | whole stream p50 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("direct", "function"):
        r = t[name]
        lines.append(
            f"| {name} | {r['ok']} | {r['errors']} | {fmt(r['first_p50_ms'])} | {fmt(r['first_p90_ms'])} | "
            f"{fmt(r['first_p99_ms'])} | {fmt(r['total_p50_ms'])} |"
        )
    lines += [
        "",
        f"**(s2) {m['streams']} streams open at once** (emulator pauses {m['chunk_gap_s']:g} s between chunks)",
        "",
        "| streams | ok | errors | open at once (client) | emulator max in flight | wall s | first delta p50 / p99 ms "
        "| worker peak RSS MB | master peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|",
        f"| {m['streams']} | {m['ok']} | {m['errors']} | {m['peak_open_at_client']} | "
        f"{m['emulator_stats']['max_in_flight']} | {m['wall_s']:.2f} | {fmt(m['first_delta_p50_ms'])} / "
        f"{fmt(m['first_delta_p99_ms'])} | {fmt(m['rss']['worker_peak_mb'], 0)} | {fmt(m['rss']['master_peak_mb'], 0)} |",
        "",
        "| target | measured | result |",
        "|---|---|---|",
    ]
    for row in res["targets"]:
        lines.append(f"| {row['target']} | {row['measured']} | {verdict(row['pass'])} |")
    return "\n".join(lines)


def _check(emulator: Server, function: Server) -> None:
    """The function's upstream body is DIRECT_BODY, so both paths ask the emulator the same thing."""
    http_json("POST", emulator.url + "/__emulator/reset")
    asyncio.run(_probe(function))
    records = http_json("GET", emulator.url + "/__emulator/requests")["requests"]
    if len(records) != 1 or records[0]["body"] != DIRECT_BODY:
        raise RuntimeError(f"the function sent {[r['body'] for r in records]!r}, direct sends {DIRECT_BODY!r}")


async def _probe(function: Server) -> None:
    async with aiohttp.ClientSession() as session:
        status, _, _, body = await _one_stream(
            session, function.url + "/", json.dumps(FUNCTION_BODY).encode(), {"content-type": "application/json"}, b""
        )
    if not _stream_ok(status, body):
        raise RuntimeError(f"the function's stream did not end with done: {status} {body[:300]!r}")


def run_streaming(quick: bool = False, streams: int | None = None) -> dict[str, Any]:
    """Start the emulator and the function, measure (s1) and (s2), stop them; the results with targets."""
    count = 200 if quick else 600
    rounds = 2 if quick else 3
    n = streams or (500 if quick else 1000)
    LOGS.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"machine": machine_info(), "quick": quick}
    servers: list[Server] = []
    try:
        emulator = start_emulator()
        servers.append(emulator)
        function = start_function(emulator)
        servers.append(function)
        _check(emulator, function)
        log(f"(s1) time to first delta: {count} streams each way, one at a time, {rounds} interleaved rounds")
        res["ttfd"] = asyncio.run(_ttfd(emulator, function, count, rounds))
        log(f"(s2) {n} streams open at once")
        res["many"] = _streams_at_once(emulator, function, n, chunk_gap=1.0)
        m = res["many"]
        log(
            f"  {m['ok']}/{n} ok, {m['errors']} errors {m['statuses']}, {m['peak_open_at_client']} open at once, "
            f"worker peak RSS {m['rss']['worker_peak_mb']:.0f} MB, master {m['rss']['master_peak_mb']:.0f} MB"
        )
    finally:
        for server in reversed(servers):
            stop_tree(server)
    res["targets"] = streaming_targets(res)
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests, 500 streams")
    parser.add_argument("--streams", type=int, default=None, help="streams open at once (default 1000)")
    parser.add_argument("--out", type=Path, default=RESULTS / "streaming.json")
    args = parser.parse_args(argv)
    started = time.monotonic()
    res = run_streaming(quick=args.quick, streams=args.streams)
    res["elapsed_s"] = time.monotonic() - started
    res["loadavg"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print()
    print(streaming_table(res))
    print()
    log(f"raw numbers: {args.out}; total {res['elapsed_s']:.0f} s")
    return 0 if all(t["pass"] for t in res["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
