"""Why the function uses httpx with the httpx-aiohttp transport: measured.

500 POSTs started at once (``asyncio.gather``) against the AI Gateway
emulator answering every call after 1 s, from one process, with:

- ``httpx-pool``: ``httpx.AsyncClient`` with its own pool (httpcore),
  ``Limits(max_connections=1000, max_keepalive_connections=1000)``;
- ``httpx-aiohttp``: ``httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport(
  client=lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))))``,
  the function's set-up until 2026-11-28;
- ``function-pool``: ``httpx.AsyncClient(transport=gemini_gateway.upstream.transport.Pool(1000))``,
  the function's own HTTP/1.1 pool (asyncio + httptools) since then.

Each client does two rounds (the second one with a warm pool); wall time and
the client process's CPU seconds per round. The floor is the upstream delay
plus a little: ~1.1-1.2 s on loopback.

Run alone (starts its own emulator on a free loopback port)::

    python bench/client_transports.py [--concurrency 500] [--rounds 2]

or against an emulator already running with ``--url http://127.0.0.1:PORT --key K``
(``bench/run.py`` does that).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import httpx_aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import MODEL  # noqa: E402

MODEL_PATH = f"/bench-account/bench-gateway/google-ai-studio/v1beta/models/{MODEL}:generateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}
ROUND_TIMEOUT = 60.0


def _httpx_pool() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=1000),
        timeout=httpx.Timeout(ROUND_TIMEOUT),
    )


def _httpx_aiohttp() -> httpx.AsyncClient:
    transport = httpx_aiohttp.AiohttpTransport(
        client=lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
    )
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(ROUND_TIMEOUT))


def _function_pool() -> httpx.AsyncClient:
    from gemini_gateway.upstream.transport import Pool

    return httpx.AsyncClient(transport=Pool(max_connections=1000), timeout=httpx.Timeout(ROUND_TIMEOUT))


CLIENTS: dict[str, Callable[[], httpx.AsyncClient]] = {
    "httpx-pool": _httpx_pool,
    "httpx-aiohttp": _httpx_aiohttp,
    "function-pool": _function_pool,
}


async def _round(client: httpx.AsyncClient, url: str, key: str, concurrency: int) -> dict[str, Any]:
    headers = {"x-goog-api-key": key}

    async def one() -> bool:
        try:
            resp = await client.post(url, json=BODY, headers=headers)
            return resp.status_code == 200
        except Exception:
            return False

    started = time.perf_counter()
    cpu = time.process_time()
    try:
        results = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(concurrency))), ROUND_TIMEOUT + 5)
        ok = sum(results)
        timed_out = False
    except TimeoutError:
        ok, timed_out = 0, True
    wall = time.perf_counter() - started
    cpu_s = time.process_time() - cpu
    return {"wall_s": wall, "cpu_s": cpu_s, "ok": ok, "errors": concurrency - ok, "timed_out": timed_out}


async def compare(base_url: str, key: str, concurrency: int = 500, rounds: int = 2) -> dict[str, list[dict[str, Any]]]:
    """For each client: ``rounds`` rounds of ``concurrency`` concurrent calls; wall time and errors of each."""
    url = base_url.rstrip("/") + MODEL_PATH
    out: dict[str, list[dict[str, Any]]] = {}
    for name, make in CLIENTS.items():
        out[name] = []
        async with make() as client:
            for _ in range(rounds):
                res = await _round(client, url, key, concurrency)
                out[name].append(res)
                print(
                    f"  {name:14s} round {len(out[name])}: {res['wall_s']:.2f} s, CPU {res['cpu_s']:.2f} s, "
                    f"{res['ok']} ok, {res['errors']} errors",
                    flush=True,
                )
        await asyncio.sleep(0.5)  # let the emulator close the old connections
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running AI Gateway emulator (default: start one)")
    parser.add_argument("--key", default="bench-key")
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    server = None
    base_url = args.url
    if base_url is None:
        from tests.support.processes import free_port, start_server

        port = free_port()
        server = start_server(
            "ai-gateway-emulator",
            ["-m", "emulators.ai_gateway", "--port", str(port), "--key", args.key, "--delay", "1.0"],
            port,
            ROOT / "bench" / "results" / "logs",
        )
        base_url = server.url
    try:
        results = asyncio.run(compare(base_url, args.key, args.concurrency, args.rounds))
    finally:
        if server is not None:
            server.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
