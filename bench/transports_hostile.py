"""Three HTTP/1.1 client transports in front of a hostile AI Gateway, side by side.

The function's own pool (``gemini_gateway.upstream.transport.Pool``, built by
``make_transport``) was hardened against the gateway's bytes
(``tests/integration/test_hostile_gateway.py``). This puts it beside
httpx-aiohttp (``httpx_aiohttp.AiohttpTransport`` over an aiohttp session,
the OpenAI SDK's choice and ``bench/client_transports.py``'s set-up) and
httpx's own ``httpx.AsyncHTTPTransport()`` (httpcore + h11) as a reference,
on the transport-level cases of that suite, with the same bytes:

- ``smuggled-204``: a 204 and, in the same segment, a 200 with ``X-Smuggled``;
- ``forged-403``: a 200 (Content-Length 2) and, in the same segment, a 403;
- ``half-second``: a 200 and the start of a second answer (the connection held 10 s);
- ``garbage``: a 200 and non-HTTP bytes;
- ``cut-by-reset``: Content-Length 100, ten bytes, then a TCP reset;
- ``close-delimited-reset``: a body delimited by the close, ended by a reset instead;
- ``endless-header``: one header value that never ends (32 MiB in 64 KiB pieces);
- ``gzip-unasked``: an 8 MiB gzip bomb (8 KiB on the wire) to a request without Accept-Encoding, well
  framed, so the connection stays usable;
- ``half-closed-idle``: the server half-closes (FIN) an idle kept-alive connection; the next call.

Each case gets a fresh client and its own server; after the hostile call, the
next call on the same client must get the server's plain ``200 {}`` within
the cap (5 s), never the hostile connection's leftovers. Requests are built
as the function builds them: a bare ``httpx.Request`` (no Accept-Encoding
from httpx), connect timeout 10 s, no read timeout, sent with
``AsyncClient.send``. The raw servers run in this process; each transport's
client runs in a child process of its own (uvloop, as uvicorn serves the
function), so its CPU seconds and peak RSS (``VmHWM``, reset per case via
``/proc/self/clear_refs``) are the client's alone.

Run (about 15 s; ``--quick``: 8 MiB header, 2 s cap)::

    .venv/bin/python bench/transports_hostile.py [--quick]

Prints a markdown table; the raw results go to ``bench/results/transports_hostile.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import importlib.metadata
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvloop

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import RESULTS  # noqa: E402
from tests.support.raw_http import OK, Handler, Raw, endless, keep_alive, raw_server, reset  # noqa: E402

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter

MIB = 1024 * 1024
TRANSPORTS = {  # name -> the table's column
    "function-pool": "function Pool (make_transport)",
    "httpx-aiohttp": "httpx-aiohttp (aiohttp 1000)",
    "httpx-httpcore": "httpx AsyncHTTPTransport (reference)",
}
TIMEOUTS = {"timeout": {"connect": 10.0, "read": None, "write": None, "pool": None}}  # the function's
CHILD_LIMIT = 60.0


# --- the hostile servers (the bytes of tests/integration/test_hostile_gateway.py) -----------------------------


def then_ok(first: bytes, hold: float = 0.5, keep: bool = False) -> Handler:
    """The first connection answers `first`, then is kept open `hold` s (or kept alive: `keep`); every later one
    answers OK, kept alive."""

    async def handler(raw: Raw, reader: Reader, writer: Writer) -> None:
        if raw.connections == 1:
            await raw.read_request(reader)
            writer.write(first)
            await writer.drain()
            if not keep:
                await asyncio.sleep(hold)
                return
        await keep_alive(raw, reader, writer)

    return handler


def cut_by_reset(head_and_part: bytes) -> Handler:
    async def handler(raw: Raw, reader: Reader, writer: Writer) -> None:
        if raw.connections > 1:
            await keep_alive(raw, reader, writer)
            return
        await raw.read_request(reader)
        writer.write(head_and_part)
        await writer.drain()
        await asyncio.sleep(0.05)
        reset(writer)

    return handler


async def half_closed(raw: Raw, reader: Reader, writer: Writer) -> None:
    """Answer one request; on the first connection, then send FIN and keep the socket open for reading 1 s."""
    await raw.read_request(reader)
    writer.write(OK)
    await writer.drain()
    if raw.connections == 1:
        writer.write_eof()
        await asyncio.sleep(1)


def _gzip_answer() -> bytes:
    bomb = gzip.compress(b"\0" * 8 * MIB)
    return b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%b" % (len(bomb), bomb)


@dataclass(frozen=True)
class Case:
    label: str
    server: Callable[[bool], Handler]  # quick -> handler
    reuse_after: float | None = None  # half-closed-idle: the hostile call is the second one, this long after


CASES: dict[str, Case] = {
    "smuggled-204": Case(
        "204 + smuggled 200 in one segment",
        lambda q: then_ok(
            b"HTTP/1.1 204 No Content\r\n\r\n" + b"HTTP/1.1 200 OK\r\nX-Smuggled: yes\r\nContent-Length: 5\r\n\r\nhello"
        ),
    ),
    "forged-403": Case(
        "200 CL:2 + forged 403 in one segment",
        lambda q: then_ok(OK + b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nsecret"),
    ),
    "half-second": Case(
        "200 + start of a 2nd answer", lambda q: then_ok(OK + b"HTTP/1.1 200 OK\r\nContent-Le", hold=10)
    ),
    "garbage": Case("garbage after a complete 200", lambda q: then_ok(OK + b"\x00\x01 not http at all")),
    "cut-by-reset": Case(
        "CL:100 body cut by a reset",
        lambda q: cut_by_reset(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!"),
    ),
    "close-delimited-reset": Case(
        "close-delimited body ended by a reset",
        lambda q: cut_by_reset(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"partial":'),
    ),
    "endless-header": Case(
        "header value that never ends",
        lambda q: endless(b"HTTP/1.1 200 OK\r\nX-Endless: ", b"a" * 65536, (8 if q else 32) * MIB),
    ),
    "gzip-unasked": Case("8 MiB gzip bomb, not asked for", lambda q: then_ok(_gzip_answer(), keep=True)),
    "half-closed-idle": Case("idle conn. half-closed, then reused", lambda q: half_closed, reuse_after=0.05),
}


# --- the client side (a child process per transport) ---------------------------------------------------------


def _client(name: str) -> httpx.AsyncClient:
    transport: httpx.AsyncBaseTransport
    if name == "function-pool":
        from gemini_gateway.upstream.client import make_transport

        transport = make_transport()
    elif name == "httpx-aiohttp":
        import aiohttp
        import httpx_aiohttp

        transport = httpx_aiohttp.AiohttpTransport(
            client=lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
        )
    else:
        transport = httpx.AsyncHTTPTransport()
    return httpx.AsyncClient(transport=transport)


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key))


async def _call(client: httpx.AsyncClient, url: str, cap: float) -> dict[str, Any]:
    """One POST read whole, as the function sends it; what came back, or the error, and how long it took."""
    request = httpx.Request(
        "POST", url, content=b'{"a":1}', headers={"content-type": "application/json"}, extensions=TIMEOUTS
    )
    started = time.perf_counter()
    try:
        async with asyncio.timeout(cap):
            response = await client.send(request)
    except TimeoutError:
        return {"error": "timeout", "seconds": time.perf_counter() - started}
    except Exception as exc:
        kind = type(exc)
        name = kind.__name__ if kind.__module__.startswith("httpx") else f"{kind.__module__}.{kind.__name__}"
        cause = type(exc.__cause__) if exc.__cause__ is not None else None
        return {
            "error": name,
            "cause": f"{cause.__module__}.{cause.__name__}" if cause else None,
            "message": str(exc)[:300],
            "seconds": time.perf_counter() - started,
        }
    return {
        "status": response.status_code,
        "body_bytes": len(response.content),
        "body_head": response.content[:40].decode("latin-1"),
        "smuggled": "x-smuggled" in response.headers,
        "content_length": response.headers.get_list("content-length"),
        "seconds": time.perf_counter() - started,
    }


def _plain_ok(result: dict[str, Any]) -> bool:
    return result.get("status") == 200 and result.get("body_head") == "{}" and not result.get("smuggled")


async def _run_case(transport: str, case: Case, url: str, cap: float) -> dict[str, Any]:
    async with _client(transport) as client:
        if case.reuse_after is not None:  # a normal first call, the hostile act happens while idle
            await _call(client, url, cap)
            await asyncio.sleep(case.reuse_after)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS
        rss_before = _status_kb("VmRSS:")
        cpu = time.process_time()
        hostile = await _call(client, url, cap)
        hostile["cpu_s"] = time.process_time() - cpu
        hostile["peak_rss_growth_mib"] = (_status_kb("VmHWM:") - rss_before) / 1024
        after = hostile if case.reuse_after is not None else await _call(client, url, cap)
        after["ok"] = _plain_ok(after)
        return {"hostile": hostile, "next": after}


async def _child(transport: str, urls: dict[str, str], cap: float) -> dict[str, Any]:
    async with _client(transport) as warm:  # lazy imports and first-use costs out of the measured cases
        await _call(warm, urls.pop("warm-up"), cap)
    out: dict[str, Any] = {}
    for name, url in urls.items():
        try:
            async with asyncio.timeout(3 * cap + 5):  # a client that cannot even close is a result too
                out[name] = await _run_case(transport, CASES[name], url, cap)
        except Exception as exc:
            out[name] = {"case_error": f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:300]}
    return out


# --- the parent: servers, children, the table -----------------------------------------------------------------


async def _one_transport(transport: str, quick: bool, cap: float) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        servers = {name: await stack.enter_async_context(raw_server(c.server(quick))) for name, c in CASES.items()}
        warm = await stack.enter_async_context(raw_server(keep_alive))
        urls = {"warm-up": warm.url(), **{name: raw.url() for name, raw in servers.items()}}
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}  # loopback, direct
        args = ["--client", transport, "--urls", json.dumps(urls), "--cap", str(cap)]
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
        )
        try:
            stdout, stderr = await asyncio.wait_for(child.communicate(), CHILD_LIMIT)
        except TimeoutError:
            child.kill()
            await child.wait()
            return {"child_error": f"no answer in {CHILD_LIMIT:.0f} s"}
        if child.returncode != 0:
            return {"child_error": stderr.decode(errors="replace")[-2000:]}
        results: dict[str, Any] = json.loads(stdout)
        for name, raw in servers.items():
            first = raw.requests[0] if raw.requests else b""
            asked = [line for line in first.split(b"\r\n") if line.lower().startswith(b"accept-encoding:")]
            results[name]["server"] = {
                "connections": raw.connections,
                "requests": len(raw.requests),
                "accept_encoding": asked[0].split(b":", 1)[1].strip().decode() if asked else None,
            }
        return results


def _describe(result: dict[str, Any], cap: float) -> str:
    if "error" in result:
        if result["error"] == "timeout":
            return f"hangs ({cap:.0f} s cap)"
        error, cause = str(result["error"]), result.get("cause") or ""
        said = error.rsplit(".", 1)[-1] + (" (not an httpx error)" if "." in error else "")
        return said + (
            f" (from {cause.rsplit('.', 1)[-1]})" if cause.startswith("aiohttp") and "." not in error else ""
        )
    said = f"{result['status']}"
    body = result["body_bytes"]
    if body <= 24:
        said += f" {result['body_head']!r}" if body else " empty"
    else:
        said += f", {body / MIB:.0f} MiB body" if body >= MIB else f", {body} B body"
    if result["smuggled"]:
        said += " + X-Smuggled"
    if len(result["content_length"]) > 1:
        said += f", Content-Length {result['content_length']}"
    return said


def _cell(name: str, res: dict[str, Any], cap: float) -> str:
    if "hostile" not in res:
        return str(res.get("case_error", "(no result)"))[:80]
    hostile, after = res["hostile"], res["next"]
    cell = _describe(hostile, cap)
    if name == "endless-header":
        cell += (
            f" in {hostile['seconds']:.2f} s, CPU {hostile['cpu_s']:.2f} s, +{hostile['peak_rss_growth_mib']:.0f} MiB"
        )
    if name == "gzip-unasked":
        asked = res["server"]["accept_encoding"]
        cell += f" (sent Accept-Encoding: {asked})" if asked else " (no Accept-Encoding sent)"
        cell += f", +{hostile['peak_rss_growth_mib']:.0f} MiB"
    if name == "half-closed-idle":
        cell += f", {res['server']['connections']} connections"
        return cell + (" · next OK: yes" if after["ok"] else " · next OK: no")
    if after["ok"]:
        return cell + " · next OK: yes"
    return cell + f" · next OK: no ({_describe(after, cap)}, {after['seconds']:.1f} s)"


def table(results: dict[str, dict[str, Any]], cap: float) -> str:
    lines = ["| case | " + " | ".join(TRANSPORTS.values()) + " |", "|---" * (len(TRANSPORTS) + 1) + "|"]
    for name, case in CASES.items():
        cells = []
        for transport in TRANSPORTS:
            per = results[transport]
            cells.append(
                per["child_error"][-120:].replace("\n", " ") if "child_error" in per else _cell(name, per[name], cap)
            )
        lines.append(f"| {case.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def _parent(quick: bool, cap: float) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for transport in TRANSPORTS:
        print(f"  {transport} ...", flush=True)
        results[transport] = await _one_transport(transport, quick, cap)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 MiB endless header, 2 s cap")
    parser.add_argument("--client", choices=list(TRANSPORTS), help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    parser.add_argument("--cap", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cap = args.cap or (2.0 if args.quick else 5.0)
    if args.client:
        print(json.dumps(uvloop.run(_child(args.client, json.loads(args.urls), cap))))
        return
    started = time.perf_counter()
    results = uvloop.run(_parent(args.quick, cap))
    versions = {p: importlib.metadata.version(p) for p in ("httpx", "httpcore", "h11", "aiohttp", "httpx-aiohttp")}
    meta = {"quick": args.quick, "cap_s": cap, "loop": "uvloop", "python": sys.version.split()[0], **versions}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "transports_hostile.json"
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(table(results, cap))
    print(f"\n{' · '.join(f'{k} {v}' for k, v in meta.items())}; {time.perf_counter() - started:.0f} s; raw: {out}")


if __name__ == "__main__":
    main()
