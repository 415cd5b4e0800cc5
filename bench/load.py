"""A small async HTTP load generator (aiohttp client, one session).

Runs ``count`` POSTs of one JSON body against one URL, ``concurrency`` at a
time (closed loop: each of ``concurrency`` workers sends its next request as
soon as its previous one is answered), after a few warm-up requests that are
not counted. Records every request's latency and status and summarises them.

``concurrency >= count`` means "all in flight at once" (the 500-in-flight
test). ``time_limit`` bounds a run: requests still open when it passes are
cancelled and counted as ``unfinished``, not as errors.

Usable on its own::

    python bench/load.py http://127.0.0.1:8080/ --count 1000 --concurrency 16 --body '{"prompt": "hi"}'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

__all__ = ["LoadResult", "merge", "percentile", "run_load", "run_load_sync"]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an already sorted list; NaN if empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class LoadResult:
    """What one run measured. Latencies are in milliseconds, of successful requests only."""

    url: str
    count: int
    concurrency: int
    completed: int = 0
    ok: int = 0
    errors: int = 0
    unfinished: int = 0
    wall_s: float = 0.0
    rps: float = 0.0
    p50_ms: float = math.nan
    p90_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    mean_ms: float = math.nan
    statuses: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    timed_out: bool = False
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["latencies_ms"]
        return d

    def summarise(self) -> None:
        """Fill the derived figures from ``latencies_ms``, ``ok`` and ``wall_s``."""
        lat = sorted(self.latencies_ms)
        self.latencies_ms = lat
        self.completed = self.ok + self.errors
        self.unfinished = self.count - self.completed
        self.rps = self.ok / self.wall_s if self.wall_s > 0 else 0.0
        if lat:
            self.p50_ms = percentile(lat, 50)
            self.p90_ms = percentile(lat, 90)
            self.p99_ms = percentile(lat, 99)
            self.max_ms = lat[-1]
            self.mean_ms = sum(lat) / len(lat)

    def line(self) -> str:
        return (
            f"{self.ok}/{self.count} ok, {self.errors} errors, {self.unfinished} unfinished, "
            f"{self.wall_s:.2f} s, {self.rps:.0f} req/s, p50 {self.p50_ms:.2f} ms, "
            f"p90 {self.p90_ms:.2f} ms, p99 {self.p99_ms:.2f} ms"
        )


async def run_load(
    url: str,
    body: Any,
    *,
    count: int,
    concurrency: int,
    headers: Mapping[str, str] | None = None,
    warmup: int = 20,
    time_limit: float | None = None,
    request_timeout: float = 120.0,
    expect_status: int = 200,
) -> LoadResult:
    """Send ``count`` POSTs with JSON ``body`` to ``url``, ``concurrency`` at a time."""
    data = json.dumps(body).encode()
    hdrs = {"content-type": "application/json", **(headers or {})}
    concurrency = max(1, min(concurrency, count))
    connector = aiohttp.TCPConnector(limit=max(1000, concurrency * 2), limit_per_host=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    result = LoadResult(url=url, count=count, concurrency=concurrency)
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> None:
            start = time.perf_counter()
            try:
                async with session.post(url, data=data, headers=hdrs) as resp:
                    await resp.read()
                    status = resp.status
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                key = type(exc).__name__
                statuses[key] = statuses.get(key, 0) + 1
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(f"{key}: {exc}")
                return
            elapsed = (time.perf_counter() - start) * 1000.0
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == expect_status:
                result.ok += 1
                latencies.append(elapsed)
            else:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(f"HTTP {status}")

        # Warm-up: open connections and let the servers settle; not counted.
        if warmup > 0:
            w = min(warmup, concurrency)
            for _ in range(max(1, warmup // w)):
                await asyncio.gather(*(one() for _ in range(w)))
            result.ok = result.errors = 0
            latencies.clear()
            statuses.clear()
            result.error_samples.clear()

        next_index = 0

        async def worker() -> None:
            nonlocal next_index
            while next_index < count:
                next_index += 1
                await one()

        started = time.perf_counter()
        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        done, pending = await asyncio.wait(tasks, timeout=time_limit)
        for task in pending:
            task.cancel()
        if pending:
            result.timed_out = True
            await asyncio.gather(*pending, return_exceptions=True)
        result.wall_s = time.perf_counter() - started
        for task in done:
            exc = task.exception()
            if exc is not None:  # a bug in the generator itself: surface it
                raise exc

    result.statuses = statuses
    result.latencies_ms = latencies
    result.summarise()
    return result


def merge(results: list[LoadResult]) -> LoadResult:
    """Pool several runs against the same URL: latencies pooled, throughput = all ok / all wall time."""
    first = results[0]
    out = LoadResult(url=first.url, count=sum(r.count for r in results), concurrency=first.concurrency)
    for r in results:
        out.ok += r.ok
        out.errors += r.errors
        out.wall_s += r.wall_s
        out.latencies_ms.extend(r.latencies_ms)
        out.timed_out = out.timed_out or r.timed_out
        for k, v in r.statuses.items():
            out.statuses[k] = out.statuses.get(k, 0) + v
        out.error_samples.extend(r.error_samples[: 5 - len(out.error_samples)])
    out.summarise()
    return out


def run_load_sync(url: str, body: Any, **kwargs: Any) -> LoadResult:
    """run_load in a fresh event loop (for callers that are not async)."""
    return asyncio.run(run_load(url, body, **kwargs))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--count", "-n", type=int, default=1000)
    parser.add_argument("--concurrency", "-c", type=int, default=16)
    parser.add_argument("--body", default='{"prompt": "Say hello"}', help="JSON request body")
    parser.add_argument("--header", "-H", action="append", default=[], help="'Name: value' (repeatable)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--time-limit", type=float, default=None)
    args = parser.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    res = run_load_sync(
        args.url,
        json.loads(args.body),
        count=args.count,
        concurrency=args.concurrency,
        headers=headers,
        warmup=args.warmup,
        time_limit=args.time_limit,
    )
    print(res.line())
    print(json.dumps(res.as_dict(), indent=2))


if __name__ == "__main__":
    main()
