"""Hostile callers: the instance keeps serving whatever one caller sends.

One function instance (``python -m functions_framework --target generate --source main.py``,
production mode: gunicorn master + one uvicorn worker) in front of the AI Gateway emulator,
spoken to only over loopback sockets. For each attack, while it runs:

* the function's process tree RSS (sum of ``VmRSS`` of the master and every descendant,
  ``/proc``, every 20 ms): peak growth over the idle baseline taken just before the attack;
* ``GET /healthz`` every 20 ms from a separate client: p50 / p99 / max latency;
* an honest caller, 2 in flight (``POST /`` ``{"prompt": "hi"}`` with its API key, a short
  pause between one caller's requests): p50 latency and how many succeeded.

The three observers run in a child process of their own, so that the attack drivers in this
process never delay them. Attacks (each bounded to a few seconds; ``--quick`` shortens them):

1. 200 unauthenticated uploads at once, ``Content-Length: 8388592``, ~1 MiB sent, then stalled;
2. 50 authenticated slow bodies (8 MiB declared, 4 KB sent, stalled), ``BODY_READ_TIMEOUT_SECONDS=2``;
3. Gemini-native parts flood: 650,000 empty text parts (~7.8 MB), 4 in parallel, repeated;
4. ``POST /`` whose ``response_format.schema`` holds 2.6 million empty objects (~7.8 MB);
5. ``POST /`` with one message of 300,000 empty text parts (~7.8 MB);
6. 900 levels of nesting in ``metadata`` and a lone surrogate in ``prompt``, 200 requests each;
7. a 5,000-digit span in ``X-Cloud-Trace-Context`` on 200 honest requests (200 + an access-log line each);
8. the upstream answers 400 with a 60 KB ``a-a-a-...`` message (emulator fault), 50 requests.

Upstream-side attacks (docs/API.md, "The gateway is untrusted too") run against a second function instance whose AI
Gateway is ``bench/hostile_gateway.py``: honest answers for the honest callers, an attack for a
prompt that names one:

9. an endless SSE stream on ``POST /`` (2 callers reading it as fast as it comes, then leaving);
10. the same on the Gemini-native ``:streamGenerateContent`` route;
11. one answer header of 32 MiB that never ends (``502 upstream_error`` expected);
12. one 15 MiB SSE record in 4 KiB pieces, 1 ms apart, on the Gemini-native stream (forwarded whole);
13. desync: a complete 200 answer with a forged 403 ``API_KEY_INVALID`` right behind it in the
    same segment, 50 requests (every one a 200 with the real answer, no key refetch).

Everything runs on 127.0.0.1 on free ports and is stopped at the end (whole process groups).
Raw numbers: ``bench/results/hostile.json``.

    python bench/hostile.py                  # full run, ~1-2 minutes
    python bench/hostile.py --quick          # shorter attacks
    python bench/hostile.py --check          # exit 1 if a target is missed
    python bench/hostile.py --function-root /tmp/before --label "before a60e8d6" --out bench/results/hostile-before.json
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import math
import multiprocessing as mp
import os
import re
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.pool import ThreadPool
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import hostile_gateway  # noqa: E402
from bench.harness import (  # noqa: E402
    ACCOUNT,
    GATEWAY,
    KEY,
    LOGS,
    MODEL,
    RESULTS,
    clean_env,
    descendants,
    function_args,
    http_json,
    log,
    rss_mb,
    stop_group,
    tail,
    verdict,
)
from bench.instance import machine_info  # noqa: E402
from bench.load import percentile  # noqa: E402
from gemini_gateway.settings import DEFAULT_MODEL  # noqa: E402
from tests.support.processes import Server, free_port, start_server  # noqa: E402

CLIENT_KEY = "bench-client-key"
GEMINI_PATH = f"/v1beta/models/{MODEL}:generateContent"
UPSTREAM_PATH = f"/{ACCOUNT}/{GATEWAY}/google-ai-studio/v1beta/models/{MODEL}:generateContent"
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}
HONEST_BODY = b'{"prompt": "hi"}'
BODY_READ_TIMEOUT_S = 2.0
DECLARED = 8 * 1024 * 1024 - 16  # 8388592: just under MAX_REQUEST_BYTES, so only the body decides

INTERVAL_S = 0.02  # RSS sampling and /healthz polling
MIB = 1024 * 1024
TARGET_GROWTH_FLOOR_MB = 64.0  # per request: max(4 × body, 64 MiB)
TARGET_UNAUTH_TOTAL_MB = 50.0
TARGET_HEALTH_P99_MS = 50.0
TARGET_HONEST_SUCCESS = 0.95
FAULT_MARKER = "a-a-a-a-a-a"


def pct(values: list[float], q: float) -> float:
    return percentile(sorted(values), q)


def fmt(x: float, digits: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


# --------------------------------------------------------------------------- /proc


def tree_rss_mb(pid: int) -> tuple[float, list[int]]:
    """Summed VmRSS of pid and every descendant, and their pids."""
    pids = descendants(pid)
    return sum(rss_mb(p) for p in pids), pids


# --------------------------------------------------------------------------- observers (child process)


def _status_and_body(resp: http.client.HTTPResponse) -> tuple[int, bytes]:
    return resp.status, resp.read()


def _observe(
    port: int,
    pid: int,
    honest_pause_s: float,
    ready: Any,
    stop: Any,
    out: Any,
) -> None:
    """Runs in a child process: RSS sampler, /healthz poller, 2 honest callers, until `stop` is set."""
    baseline_samples = []
    for _ in range(10):
        baseline_samples.append(tree_rss_mb(pid)[0])
        time.sleep(INTERVAL_S)
    rss: list[float] = []
    pids_seen: set[int] = set()
    health: list[float] = []
    health_errors: dict[str, int] = {}
    honest: list[tuple[float, int]] = []  # (latency ms, status); status 0 = transport error
    honest_errors: dict[str, int] = {}
    honest_fault_drawn = [0]
    halt = threading.Event()

    def sampler() -> None:
        while not halt.is_set():
            mb, pids = tree_rss_mb(pid)
            rss.append(mb)
            pids_seen.update(pids)
            halt.wait(INTERVAL_S)

    def poller() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        next_tick = time.perf_counter()
        while not halt.is_set():
            started = time.perf_counter()
            try:
                conn.request("GET", "/healthz")
                status, _ = _status_and_body(conn.getresponse())
                health.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    health_errors[str(status)] = health_errors.get(str(status), 0) + 1
            except Exception as exc:
                health.append((time.perf_counter() - started) * 1000)
                health_errors[type(exc).__name__] = health_errors.get(type(exc).__name__, 0) + 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            next_tick += INTERVAL_S
            now = time.perf_counter()
            if next_tick < now:  # a slow answer: skip the missed ticks
                next_tick = now + INTERVAL_S
            halt.wait(next_tick - now)
        conn.close()

    def caller() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        headers = {"Content-Type": "application/json", **AUTH}
        while not halt.is_set():
            started = time.perf_counter()
            try:
                conn.request("POST", "/", body=HONEST_BODY, headers=headers)
                status, body = _status_and_body(conn.getresponse())
                honest.append(((time.perf_counter() - started) * 1000, status))
                if status != 200:
                    if FAULT_MARKER.encode() in body:
                        honest_fault_drawn[0] += 1
                    else:
                        honest_errors[str(status)] = honest_errors.get(str(status), 0) + 1
            except Exception as exc:
                honest.append(((time.perf_counter() - started) * 1000, 0))
                honest_errors[type(exc).__name__] = honest_errors.get(type(exc).__name__, 0) + 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            halt.wait(honest_pause_s)
        conn.close()

    threads = [threading.Thread(target=f, daemon=True) for f in (sampler, poller, caller, caller)]
    for t in threads:
        t.start()
    ready.set()
    stop.wait(600)
    halt.set()
    deadline = time.monotonic() + 16
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    baseline = statistics.median(baseline_samples)
    peak = max(rss) if rss else baseline
    ok_lat = [lat for lat, status in honest if status == 200]
    out.put(
        {
            "baseline_rss_mb": baseline,
            "peak_rss_mb": peak,
            "growth_mb": max(0.0, peak - baseline),
            "rss_samples": len(rss),
            "processes_seen": len(pids_seen),
            "health": {
                "polls": len(health),
                "errors": health_errors,
                "p50_ms": pct(health, 50),
                "p99_ms": pct(health, 99),
                "max_ms": max(health) if health else math.nan,
                "latencies_ms": [round(x, 2) for x in health],
            },
            "honest": {
                "requests": len(honest),
                "ok": len(ok_lat),
                "fault_drawn": honest_fault_drawn[0],
                "errors": honest_errors,
                "unfinished": sum(t.is_alive() for t in threads[2:]),
                "p50_ms": pct(ok_lat, 50),
                "p99_ms": pct(ok_lat, 99),
                "max_ms_any": max((lat for lat, _ in honest), default=math.nan),
            },
        }
    )


class Observed:
    """Starts the observer process; `result` once the `with` block ends."""

    def __init__(self, port: int, pid: int, honest_pause_s: float) -> None:
        ctx = mp.get_context("fork")
        self._ready = ctx.Event()
        self._stop = ctx.Event()
        self._out: Any = ctx.Queue()
        self._proc = ctx.Process(
            target=_observe, args=(port, pid, honest_pause_s, self._ready, self._stop, self._out), daemon=True
        )
        self.result: dict[str, Any] = {}

    def __enter__(self) -> Observed:
        self._proc.start()
        if not self._ready.wait(30):
            raise RuntimeError("observer did not start")
        time.sleep(0.2)  # the honest callers and the poller are under way before the attack starts
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)
        self._stop.set()
        try:
            self.result = self._out.get(timeout=40)
        finally:
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)


# --------------------------------------------------------------------------- attack drivers


def hold_uploads(port: int, n: int, head: bytes, body: bytes, hold_s: float) -> dict[str, Any]:
    """Open n connections; send head + body on each (as far as the server takes it), then stall.

    Returns when every connection is closed by the server or `hold_s` has passed; then closes
    whatever is left. Per connection: bytes sent, the status answered (if any), when.
    """
    sel = selectors.DefaultSelector()
    conns: list[dict[str, Any]] = []
    data = head + body
    started = time.perf_counter()
    for _ in range(n):
        c: dict[str, Any] = {"sent": 0, "recv": bytearray(), "status": None, "answered_s": None, "closed_s": None}
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError as exc:
            c["error"] = type(exc).__name__
            conns.append(c)
            continue
        sock.setblocking(False)
        c["sock"] = sock
        conns.append(c)
        sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    view = memoryview(data)
    deadline = started + hold_s
    while time.perf_counter() < deadline and sel.get_map():
        for key, mask in sel.select(timeout=0.05):
            c = key.data
            sock = c["sock"]
            now = time.perf_counter() - started
            if mask & selectors.EVENT_READ:
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    chunk = None
                except OSError as exc:
                    c["error"] = type(exc).__name__
                    chunk = b""
                if chunk:
                    c["recv"] += chunk
                    if c["status"] is None and b"\r\n" in c["recv"]:
                        parts = bytes(c["recv"]).split(b" ", 2)
                        c["status"] = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
                        c["answered_s"] = now
                elif chunk == b"":
                    c["closed_s"] = now
                    sel.unregister(sock)
                    continue
            if mask & selectors.EVENT_WRITE:
                if c["sent"] >= len(data):
                    sel.modify(sock, selectors.EVENT_READ, c)
                    continue
                try:
                    c["sent"] += sock.send(view[c["sent"] : c["sent"] + 65536])
                except BlockingIOError:
                    pass
                except OSError as exc:  # the server closed: reset / broken pipe
                    c["error"] = type(exc).__name__
                    sel.modify(sock, selectors.EVENT_READ, c)
    elapsed = time.perf_counter() - started
    for c in conns:
        sock = c.pop("sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
    sel.close()
    statuses: dict[str, int] = {}
    for c in conns:
        k = str(c["status"]) if c["status"] is not None else "no answer"
        statuses[k] = statuses.get(k, 0) + 1
    answered = [c["answered_s"] for c in conns if c["answered_s"] is not None]
    return {
        "connections": n,
        "body_bytes_offered": len(body),
        "sent_bytes_median": statistics.median(c["sent"] - len(head) if c["sent"] > len(head) else 0 for c in conns),
        "statuses": statuses,
        "closed_by_server": sum(c["closed_s"] is not None for c in conns),
        "still_open_when_we_closed": sum(c["closed_s"] is None for c in conns),
        "answered_s_median": statistics.median(answered) if answered else math.nan,
        "answered_s_max": max(answered) if answered else math.nan,
        "send_errors": sum("error" in c for c in conns),
        "elapsed_s": elapsed,
    }


@dataclass
class Item:
    """One request of an attack."""

    kind: str
    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    before: Callable[[], None] | None = None  # e.g. queue an emulator fault first


def drive(
    port: int,
    items: Iterator[Item],
    concurrency: int,
    duration_s: float | None,
    cap_s: float,
    timeout_s: float,
) -> dict[str, Any]:
    """`concurrency` workers send the items (keep-alive) until they run out or `duration_s` passes.

    No request starts after `cap_s`; one that has not been answered after `timeout_s` counts as
    a timeout. Statuses by kind, latencies, response bodies (first 300 bytes) of a few.
    """
    lock = threading.Lock()
    started = time.perf_counter()
    stop_at = started + (duration_s if duration_s is not None else cap_s)
    stop_at = min(stop_at, started + cap_s)
    by_kind: dict[str, dict[str, int]] = {}
    latencies: dict[str, list[float]] = {}
    samples: dict[str, list[str]] = {}
    largest: dict[str, int] = {}
    by_status: dict[str, list[float]] = {}
    ids: list[str] = []

    def record(kind: str, status: str, lat: float, body: bytes) -> None:
        with lock:
            by_kind.setdefault(kind, {})
            by_kind[kind][status] = by_kind[kind].get(status, 0) + 1
            latencies.setdefault(kind, []).append(lat)
            key = kind + " " + status
            by_status.setdefault(key, []).append(lat)
            largest[key] = max(largest.get(key, 0), len(body))
            s = samples.setdefault(key, [])
            if len(s) < 2:
                s.append(body[:300].decode(errors="replace"))

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
        while time.perf_counter() < stop_at:
            with lock:
                item = next(items, None)
            if item is None:
                break
            if item.before is not None:
                item.before()
            t0 = time.perf_counter()
            try:
                conn.request(item.method, item.path, body=item.body, headers=item.headers)
                resp = conn.getresponse()
                body = resp.read()
                record(item.kind, str(resp.status), (time.perf_counter() - t0) * 1000, body)
                rid = resp.getheader("x-request-id")
                if rid:
                    with lock:
                        ids.append(rid)
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
            except Exception as exc:
                record(item.kind, type(exc).__name__, (time.perf_counter() - t0) * 1000, b"")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
        conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(cap_s + timeout_s + 5)
    return {
        "concurrency": concurrency,
        "requests": sum(sum(v.values()) for v in by_kind.values()),
        "statuses": by_kind,
        "latency_ms": {k: {"p50": pct(v, 50), "p99": pct(v, 99), "max": max(v)} for k, v in latencies.items()},
        "latencies_ms": {k: [round(x, 2) for x in v] for k, v in latencies.items()},
        "latencies_by_status_ms": {k: [round(x, 2) for x in v] for k, v in by_status.items()},
        "response_samples": samples,
        "largest_response_bytes": largest,
        "request_ids": ids,
        "unfinished_workers": sum(t.is_alive() for t in threads),
        "elapsed_s": time.perf_counter() - started,
    }


def json_headers(**extra: str) -> dict[str, str]:
    return {"Content-Type": "application/json", **extra}


def parts_flood() -> bytes:
    return b'{"contents":[{"parts":[' + b",".join([b'{"text":""}'] * 650_000) + b"]}]}"


def schema_flood() -> bytes:
    return b'{"prompt":"x","response_format":{"type":"json","schema":{"a":[' + b",".join([b"{}"] * 2_600_000) + b"]}}}"


def messages_flood() -> bytes:
    return b'{"messages":[{"role":"user","content":[' + b",".join([b'{"type":"text","text":""}'] * 300_000) + b"]}]}"


def deep_nesting(levels: int) -> bytes:
    return b'{"prompt":"x","metadata":' + b'{"a":' * levels + b'"x"' + b"}" * levels + b"}"


# --------------------------------------------------------------------------- the function


def start_function(function_root: Path, emulator_url: str, label: str) -> Server:
    port = free_port()
    env = clean_env() | {
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "AI_GATEWAY_ID": GATEWAY,
        "AI_GATEWAY_BASE_URL": emulator_url,
        "GEMINI_API_KEY": KEY,
        "CLIENT_API_KEYS": f"bench:{CLIENT_KEY}",
        "BODY_READ_TIMEOUT_SECONDS": f"{BODY_READ_TIMEOUT_S:g}",
        "PORT": str(port),
    }
    env.pop("ALLOW_UNAUTHENTICATED", None)
    tag = "".join(ch if ch.isalnum() else "-" for ch in label)[:40] or "function"
    log_path = LOGS / f"hostile-{tag}-{port}.log"
    args = [sys.executable, *function_args("main.py", port)]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=function_root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(name="function", port=port, proc=proc, log_path=log_path, env=env)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_group(proc)
            raise RuntimeError(f"the function did not start; its output:\n{tail(log_path)}")
        try:
            http_json("POST", server.url + "/", {"prompt": "hi"}, timeout=30, headers=AUTH)
            return server
        except Exception:
            time.sleep(0.1)


def wait_healthy(server: Server, timeout_s: float) -> float:
    """Seconds until /healthz answers 200 again (after an attack), or NaN."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if server.proc.poll() is not None:
            return math.nan
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=5) as resp:
                if resp.status == 200:
                    return time.monotonic() - started
        except Exception:
            time.sleep(0.1)
    return math.nan


def access_lines(server: Server) -> dict[str, int]:
    """request_id → number of access-log lines (lines with httpRequest) in the function's stdout."""
    found: dict[str, int] = {}
    for line in server.output().splitlines():
        if '"httpRequest"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        rid = entry.get("request_id") if isinstance(entry, dict) else None
        if isinstance(rid, str):
            found[rid] = found.get(rid, 0) + 1
    return found


# --------------------------------------------------------------------------- attacks


@dataclass
class Attack:
    number: int
    name: str
    body: str  # what one attack request carries, for the table
    body_bytes: int
    per_request_divisor: int  # peak growth / this = growth per request (attacks in parallel)
    expect: str
    run: Callable[[], dict[str, Any]]
    growth_target_mb: float


def attacks(server: Server, emulator: Server, quick: bool) -> list[Attack]:
    port = server.port
    t = 0.5 if quick else 1.0
    flood_s = 1.5 if quick else 3.0
    out: list[Attack] = []

    # 1. unauthenticated uploads
    head1 = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {DECLARED}\r\n\r\n"
    ).encode()
    body1 = b'{"prompt": "' + b"x" * (MIB - 12)

    def run1() -> dict[str, Any]:
        return hold_uploads(port, 200, head1, body1, hold_s=4.0 * t + 1)

    out.append(
        Attack(1, "200 unauthenticated 8 MiB uploads, ~1 MiB sent, stalled", "1 MiB sent (8 MiB declared) × 200",
               MIB, 200, "401 from the headers", run1, TARGET_UNAUTH_TOTAL_MB)
    )  # fmt: skip

    # 2. authenticated slow bodies
    head2 = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {CLIENT_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {DECLARED}\r\n\r\n"
    ).encode()
    body2 = b'{"prompt": "' + b"x" * 4000

    def run2() -> dict[str, Any]:
        return hold_uploads(port, 50, head2, body2, hold_s=BODY_READ_TIMEOUT_S + 3.0)

    out.append(
        Attack(2, "50 authenticated slow bodies (8 MiB declared, 4 KB sent)", "4 KB sent (8 MiB declared) × 50",
               len(body2), 1, f"408 at BODY_READ_TIMEOUT_SECONDS={BODY_READ_TIMEOUT_S:g}", run2,
               TARGET_GROWTH_FLOOR_MB)
    )  # fmt: skip

    # 3-5. structures that explode in memory, 4 in parallel
    floods = [
        (
            3,
            "Gemini-native parts flood (650,000 empty parts)",
            GEMINI_PATH,
            parts_flood,
            {"x-goog-api-key": CLIENT_KEY},
        ),
        (4, "response_format.schema of 2.6 M empty objects", "/", schema_flood, AUTH),
        (5, "messages with 300,000 empty text parts", "/", messages_flood, AUTH),
    ]
    for number, name, path, make, auth in floods:
        body = make()

        def run_flood(path: str = path, body: bytes = body, auth: dict[str, str] = auth) -> dict[str, Any]:
            item = Item("flood", "POST", path, body, json_headers(**auth))
            return drive(port, itertools.repeat(item), 4, flood_s, cap_s=flood_s, timeout_s=60)

        out.append(
            Attack(number, name, f"{len(body) / 1e6:.1f} MB × 4 in parallel", len(body), 4, "400", run_flood,
                   max(4 * len(body) / MIB, TARGET_GROWTH_FLOOR_MB))
        )  # fmt: skip

    # 6. deep nesting and lone surrogates
    nested = deep_nesting(900)
    surrogate = b'{"prompt": "\\ud800"}'

    def run6() -> dict[str, Any]:
        n = 100 if quick else 200
        items = [Item("nesting", "POST", "/", nested, json_headers(**AUTH)) for _ in range(n)]
        items += [Item("surrogate", "POST", "/", surrogate, json_headers(**AUTH)) for _ in range(n)]
        items = [x for pair in zip(items[:n], items[n:], strict=True) for x in pair]
        return drive(port, iter(items), 4, None, cap_s=30, timeout_s=30)

    out.append(
        Attack(6, "900 levels of nesting / lone surrogate, 200 each", f"{len(nested)} B / {len(surrogate)} B",
               len(nested), 1, "400, never 5xx", run6, TARGET_GROWTH_FLOOR_MB)
    )  # fmt: skip

    # 7. crafted trace header
    trace = "0" * 32 + "/" + "9" * 5000 + ";o=1"
    token = os.urandom(4).hex()

    def run7() -> dict[str, Any]:
        n = 100 if quick else 200
        items = (
            Item("trace", "POST", "/", HONEST_BODY,
                 json_headers(**AUTH, **{"X-Cloud-Trace-Context": trace, "X-Request-Id": f"hostile-{token}-{i}"}))
            for i in range(n)
        )  # fmt: skip
        res = drive(port, items, 2, None, cap_s=30, timeout_s=30)
        wanted = {f"hostile-{token}-{i}" for i in range(n)}
        deadline = time.monotonic() + 3
        while True:
            lines = access_lines(server)
            logged = sum(1 for rid in wanted if lines.get(rid))
            if logged == n or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        res["access_log_lines"] = logged
        res["sent"] = n
        return res

    out.append(
        Attack(7, "5,000-digit span in X-Cloud-Trace-Context, 200 requests", "5 KB header", 5050, 1,
               "200 + an access-log line each", run7, TARGET_GROWTH_FLOOR_MB)
    )  # fmt: skip

    # 8. adversarial upstream error message
    message = ("a-" * 30_000)[:60_000]
    fault = {"faults": [{"status": 400, "message": message}]}
    direct_body = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).encode()

    def queue_fault() -> None:
        http_json("POST", emulator.url + "/__emulator/faults", fault)

    def run8() -> dict[str, Any]:
        # the same faulted answer straight from the emulator, for the function's added latency
        direct: list[float] = []
        conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=30)
        for _ in range(10):
            queue_fault()
            t0 = time.perf_counter()
            conn.request("POST", UPSTREAM_PATH, body=direct_body, headers=json_headers(**{"x-goog-api-key": KEY}))
            resp = conn.getresponse()
            resp.read()
            direct.append((time.perf_counter() - t0) * 1000)
        conn.close()
        n = 25 if quick else 50
        items = (Item("upstream-400", "POST", "/", HONEST_BODY, json_headers(**AUTH), queue_fault) for _ in range(n))
        res = drive(port, items, 1, None, cap_s=10 if quick else 30, timeout_s=60)
        with contextlib.suppress(Exception):
            http_json("DELETE", emulator.url + "/__emulator/faults")
        # added latency over the requests that drew their fault (a 400), else over whatever came back
        lat = res["latencies_by_status_ms"].get("upstream-400 400") or res["latencies_ms"].get("upstream-400", [])
        res["direct_p50_ms"] = pct(direct, 50)
        res["function_p50_ms"] = pct(lat, 50)
        res["added_p50_ms"] = res["function_p50_ms"] - res["direct_p50_ms"]
        res["sent"] = n
        return res

    out.append(
        Attack(8, "upstream 400 with a 60 KB a-a-a-… message, 50 requests", "60 KB upstream message", 60_000, 1,
               "400 relayed, message scrubbed", run8, TARGET_GROWTH_FLOOR_MB)
    )  # fmt: skip
    return out


def read_stream(port: int, path: str, body: bytes, seconds: float) -> dict[str, Any]:
    """POST a streamed request, read what comes for up to `seconds` (or to its end), then hang up."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    received = 0
    head = tail_bytes = b""
    events: dict[str, int] = {}
    try:
        conn.request("POST", path, body=body, headers=json_headers(**AUTH))
        resp = conn.getresponse()
        status = str(resp.status)
        while time.perf_counter() - started < seconds:
            piece = resp.read1(65536)
            if not piece:
                break
            received += len(piece)
            window = tail_bytes + piece
            for name in re.findall(rb"(?:^|\n)event: ([a-z_]+)\n", window[max(0, len(tail_bytes) - 30) :]):
                events[name.decode()] = events.get(name.decode(), 0) + 1
            head = head or piece[:300]
            tail_bytes = window[-64:]
    except Exception as exc:
        status = type(exc).__name__
    finally:
        conn.close()
    return {"status": status, "bytes": received, "events": events, "head": head.decode(errors="replace"),
            "seconds": time.perf_counter() - started}  # fmt: skip


def upstream_attacks(server: Server, quick: bool) -> list[Attack]:
    """Attacks 9-13: the function's AI Gateway is `bench/hostile_gateway.py`."""
    port = server.port
    stream_s = 3.0 if quick else 8.0
    out: list[Attack] = []
    native_stream = f"/v1beta/models/{DEFAULT_MODEL}:streamGenerateContent?alt=sse"
    for number, name, path, body in (
        (9, "endless upstream stream on POST /", "/", b'{"prompt": "attack:endless", "stream": true}'),
        (10, "endless upstream stream on the Gemini-native route", native_stream,
         b'{"contents": [{"role": "user", "parts": [{"text": "attack:endless"}]}]}'),
    ):  # fmt: skip

        def run_endless(path: str = path, body: bytes = body) -> dict[str, Any]:
            with ThreadPool(2) as pool:
                streams = pool.map(lambda _: read_stream(port, path, body, stream_s), range(2))
            return {"streams": streams, "requests": len(streams)}

        out.append(
            Attack(number, name, f"2 streams read {stream_s:g} s", 0, 1, "200, streamed until the caller left",
                   run_endless, TARGET_GROWTH_FLOOR_MB)
        )  # fmt: skip

    def run11() -> dict[str, Any]:
        n = 3 if quick else 6
        items = (Item("header", "POST", "/", b'{"prompt": "attack:header"}', json_headers(**AUTH)) for _ in range(n))
        return drive(port, items, 1, None, cap_s=60, timeout_s=60)

    out.append(
        Attack(11, "32 MiB upstream answer header that never ends", "32 MiB header per attempt", 32 * MIB, 1,
               "502 upstream_error", run11, TARGET_GROWTH_FLOOR_MB)
    )  # fmt: skip

    def run12() -> dict[str, Any]:
        # The Gemini-native route forwards a record whole (POST / keeps a streamed answer for its `done`
        # event and ends one past 4 MiB with an error event: docs/API.md, "The gateway is untrusted too").
        body = b'{"contents": [{"role": "user", "parts": [{"text": "attack:record"}]}]}'
        one = read_stream(port, native_stream, body, 60.0)
        return {"streams": [one], "requests": 1}

    out.append(
        Attack(12, "one 15 MiB upstream SSE record in 4 KiB pieces (Gemini-native stream)", "15 MiB record",
               15 * MIB, 1, "200: the 15 MiB record forwarded whole, no error", run12, TARGET_GROWTH_FLOOR_MB)
    )  # fmt: skip

    def run13() -> dict[str, Any]:
        n = 25 if quick else 50
        items = (Item("desync", "POST", "/", b'{"prompt": "attack:desync"}', json_headers(**AUTH)) for _ in range(n))
        res = drive(port, items, 2, None, cap_s=30, timeout_s=30)
        res["sent"] = n
        return res

    out.append(
        Attack(13, "desync: a forged 403 behind a complete 200, 50 requests", "answer + 403 in one segment", 0, 1,
               "200 with the real answer", run13, TARGET_GROWTH_FLOOR_MB)
    )  # fmt: skip
    return out


def expectation_met(a: Attack, res: dict[str, Any]) -> tuple[bool, str]:
    """Did the attack get the answers expected of it? (verdict, summary of answers)"""
    r = res["attack"]
    if a.number in (9, 10, 12):
        streams = r["streams"]
        summary = "; ".join(f"{x['status']}, {x['bytes'] / MIB:.1f} MiB in {x['seconds']:.1f} s" for x in streams)
        if a.number == 12:
            clean = all(not x["events"].get("error") for x in streams)
            summary += ", no error event" if clean else ", an error event"
            return all(x["status"] == "200" and x["bytes"] > 15 * MIB for x in streams) and clean, summary
        return all(x["status"] == "200" and x["bytes"] > MIB for x in streams), summary
    if a.number in (1, 2):
        want = "401" if a.number == 1 else "408"
        got = r["statuses"].get(want, 0)
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        if a.number == 2 and r["answered_s_median"] == r["answered_s_median"]:
            summary += f" (answered after {r['answered_s_median']:.1f} s median)"
        if r["still_open_when_we_closed"]:
            summary += f"; {r['still_open_when_we_closed']} still open at {r['elapsed_s']:.1f} s, closed by us"
        return got == r["connections"], summary
    statuses = r["statuses"]
    summary = "; ".join(
        f"{kind} " + ", ".join(f"{k}: {v}" for k, v in sorted(s.items())) for kind, s in statuses.items()
    )
    total = r["requests"]
    if a.number in (3, 4, 5):
        ok = total > 0 and statuses.get("flood", {}).get("400", 0) == total
    elif a.number == 6:
        ok = total > 0 and all(set(s) == {"400"} for s in statuses.values())
    elif a.number == 11:
        ok = total > 0 and statuses.get("header", {}).get("502", 0) == total
    elif a.number == 13:
        s13 = statuses.get("desync", {})
        samples = r["response_samples"].get("desync 200", [])
        ok = s13.get("200", 0) == r["sent"] and all(hostile_gateway.ANSWER_TEXT in x for x in samples)
    elif a.number == 7:
        ok = statuses.get("trace", {}).get("200", 0) == r["sent"] and r["access_log_lines"] == r["sent"]
        summary += f"; access-log lines {r['access_log_lines']}/{r['sent']}"
    else:
        # a 200 here is an attack request whose queued fault an honest request drew first
        s = statuses.get("upstream-400", {})
        relayed = s.get("400", 0)
        largest = r["largest_response_bytes"].get("upstream-400 400", 0)
        ok = relayed > 0 and set(s) <= {"400", "200"} and largest < 2000
        if relayed + s.get("200", 0) < r["sent"]:
            summary += f" (of {r['sent']} planned)"
        summary += f"; largest 400 body {largest} B; added p50 {fmt(r['added_p50_ms'])} ms"
    return ok, summary


def run_attack(a: Attack, server: Server, honest_pause_s: float) -> dict[str, Any]:
    with Observed(server.port, server.proc.pid, honest_pause_s) as obs:
        started = time.perf_counter()
        attack = a.run()
        wall = time.perf_counter() - started
    res: dict[str, Any] = {"number": a.number, "name": a.name, "attack_wall_s": wall, "attack": attack}
    res.update(obs.result)
    res["function_alive"] = server.proc.poll() is None
    res["recovered_s"] = wait_healthy(server, 60)
    per_request = res["growth_mb"] / a.per_request_divisor if a.number in (3, 4, 5) else res["growth_mb"]
    res["growth_per_request_mb"] = per_request
    expected, summary = expectation_met(a, res)
    h = res["honest"]
    answered = h["ok"] + (h["fault_drawn"] if a.number == 8 else 0)
    success = answered / h["requests"] if h["requests"] else 0.0
    res["targets"] = {
        "growth": {"limit_mb": a.growth_target_mb, "measured_mb": per_request, "pass": per_request <= a.growth_target_mb},
        "healthz_p99": {"limit_ms": TARGET_HEALTH_P99_MS, "measured_ms": res["health"]["p99_ms"],
                        "pass": res["health"]["p99_ms"] < TARGET_HEALTH_P99_MS and not res["health"]["errors"]},
        "honest": {"limit": TARGET_HONEST_SUCCESS, "measured": success, "pass": success >= TARGET_HONEST_SUCCESS},
        "expected_answers": {"expect": a.expect, "summary": summary, "pass": expected},
    }  # fmt: skip
    res["pass"] = all(t["pass"] for t in res["targets"].values())
    return res


def run_idle(server: Server, honest_pause_s: float, seconds: float) -> dict[str, Any]:
    with Observed(server.port, server.proc.pid, honest_pause_s) as obs:
        time.sleep(seconds)
    res: dict[str, Any] = {"number": 0, "name": "no attack (control)"}
    res.update(obs.result)
    return res


# --------------------------------------------------------------------------- report


def table(res: dict[str, Any]) -> str:
    m = res["machine"]
    changed = len(m["function_uncommitted_changes"])
    dirty = f" + {changed} uncommitted files in main.py/gemini_gateway" if changed else ""
    lines = [
        f"### Hostile callers — {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, "
        f"function: {m['label'] or 'commit ' + m['git_commit']}{dirty}, {m['time']}, "
        f"load average {res['loadavg_before'][0]:.2f} before / {res['loadavg_after'][0]:.2f} after",
        "",
        "| # | attack | body | attack answers | peak growth MB (per request) | /healthz p50 / p99 / max ms "
        "| honest p50 ms | honest ok / sent | growth | /healthz | honest | answers |",
        "|---|---|---|---|---:|---:|---:|---:|---|---|---|---|",
    ]
    idle = res["idle"]
    h, hc = idle["health"], idle["honest"]
    lines.append(
        f"| 0 | no attack (control) | – | – | {fmt(idle['growth_mb'])} | {fmt(h['p50_ms'])} / {fmt(h['p99_ms'])} / "
        f"{fmt(h['max_ms'])} | {fmt(hc['p50_ms'])} | {hc['ok']} / {hc['requests']} | | | | |"
    )
    if "idle_hostile_gateway" in res:
        idle = res["idle_hostile_gateway"]
        h, hc = idle["health"], idle["honest"]
        lines.append(
            f"| 0b | no attack (control), behind the hostile AI Gateway | – | – | {fmt(idle['growth_mb'])} | "
            f"{fmt(h['p50_ms'])} / {fmt(h['p99_ms'])} / {fmt(h['max_ms'])} | {fmt(hc['p50_ms'])} | "
            f"{hc['ok']} / {hc['requests']} | | | | |"
        )
    for r in res["attacks"]:
        h, hc, t = r["health"], r["honest"], r["targets"]
        growth = fmt(r["growth_mb"])
        if r["number"] in (3, 4, 5):
            growth += f" ({fmt(r['growth_per_request_mb'])})"
        honest = f"{hc['ok']} / {hc['requests']}"
        if r["number"] == 8 and hc["fault_drawn"]:
            honest += f" (+{hc['fault_drawn']} drew a queued fault)"
        herr = f" ({sum(h['errors'].values())} failed)" if h["errors"] else ""
        lines.append(
            f"| {r['number']} | {r['name']} | {r['body']} | {t['expected_answers']['summary']} | {growth} | "
            f"{fmt(h['p50_ms'])} / {fmt(h['p99_ms'])} / {fmt(h['max_ms'])}{herr} | {fmt(hc['p50_ms'])} | {honest} | "
            f"{verdict(t['growth']['pass'])} | {verdict(t['healthz_p99']['pass'])} | {verdict(t['honest']['pass'])} | "
            f"{verdict(t['expected_answers']['pass'])} |"
        )
    lines += [
        "",
        f"Targets: peak growth ≤ max(4 × body, 64 MiB) per request (attacks 3-5: peak ÷ 4 in parallel; others: the "
        f"whole attack), < {TARGET_UNAUTH_TOTAL_MB:g} MB in all for attack 1; /healthz p99 < "
        f"{TARGET_HEALTH_P99_MS:g} ms with no failed poll; honest requests ≥ {TARGET_HONEST_SUCCESS:.0%} answered "
        "(attack 8: 200 or the upstream's 400 relayed); each attack gets the answers expected of it.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

UPSTREAM_ATTACKS = (9, 10, 11, 12, 13)


def run_each(planned: list[Attack], function: Server, only: set[int], pause: float, res: dict[str, Any]) -> bool:
    """Run the attacks in turn (those in `only`, if given); False if the function stopped answering."""
    for a in planned:
        if only and a.number not in only:
            continue
        if function.proc.poll() is not None:
            log(f"{a.number}. skipped: the function exited ({function.proc.returncode})")
            return False
        log(f"{a.number}. {a.name} ...")
        r = run_attack(a, function, pause)
        r["body"] = a.body
        r["body_bytes"] = a.body_bytes
        res["attacks"].append(r)
        h = r["health"]
        log(
            f"   growth {r['growth_mb']:.1f} MB (baseline {r['baseline_rss_mb']:.0f} MB), /healthz p50 "
            f"{fmt(h['p50_ms'])} p99 {fmt(h['p99_ms'])} max {fmt(h['max_ms'])} ms, honest "
            f"{r['honest']['ok']}/{r['honest']['requests']} p50 {fmt(r['honest']['p50_ms'])} ms; "
            f"{r['targets']['expected_answers']['summary']}; {'PASS' if r['pass'] else 'FAIL'}"
        )
        if not r["function_alive"] or r["recovered_s"] != r["recovered_s"]:
            log("   the function did not come back; stopping here")
            return False
        time.sleep(0.5)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter attacks")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument(
        "--function-root", type=Path, default=ROOT, help="directory holding the main.py to measure (default: this repo)"
    )
    parser.add_argument("--label", default="", help="what is measured, e.g. 'before a60e8d6'")
    parser.add_argument("--only", default="", help="comma-separated attack numbers to run (default: all)")
    parser.add_argument(
        "--honest-pause-ms", type=float, default=20.0, help="pause between one honest caller's requests"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "hostile.json")
    args = parser.parse_args(argv)
    args.out = args.out.resolve()
    function_root = args.function_root.resolve()
    if not (function_root / "main.py").is_file():
        parser.error(f"no main.py in {function_root}")
    only = {int(x) for x in args.only.split(",") if x.strip()}
    pause = args.honest_pause_ms / 1000

    LOGS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    res: dict[str, Any] = {
        "machine": machine_info(function_root, args.label),
        "quick": args.quick,
        "honest_pause_ms": args.honest_pause_ms,
        "loadavg_before": os.getloadavg(),
        "attacks": [],
    }
    servers: list[Server] = []
    gateway_proc: Any = None
    try:
        log("starting the AI Gateway emulator and the function ...")
        emu_port = free_port()
        emulator = start_server(
            "hostile-ai-gateway", ["-m", "emulators.ai_gateway", "--port", str(emu_port), "--key", KEY], emu_port, LOGS
        )
        servers.append(emulator)
        function = start_function(function_root, emulator.url, args.label or "function")
        servers.append(function)
        time.sleep(1.0)
        log("0. no attack (control), 2 s")
        res["idle"] = run_idle(function, pause, 2.0)
        went_on = run_each(attacks(function, emulator, args.quick), function, only, pause, res)
        if went_on and (not only or only & set(UPSTREAM_ATTACKS)):
            log("starting the hostile AI Gateway and a second function in front of it ...")
            gateway_port = free_port()
            ready = mp.get_context("fork").Event()
            gateway_proc = mp.get_context("fork").Process(
                target=hostile_gateway.run, args=(gateway_port, ready), daemon=True
            )
            gateway_proc.start()
            if not ready.wait(10):
                raise RuntimeError("the hostile AI Gateway did not start")
            behind = start_function(
                function_root, f"http://127.0.0.1:{gateway_port}", (args.label or "function") + "-hg"
            )
            servers.append(behind)
            time.sleep(1.0)
            log("0b. no attack (control), in front of the hostile AI Gateway, 2 s")
            res["idle_hostile_gateway"] = run_idle(behind, pause, 2.0)
            run_each(upstream_attacks(behind, args.quick), behind, only, pause, res)
    finally:
        for s in reversed(servers):
            stop_group(s.proc)
        if gateway_proc is not None:
            gateway_proc.terminate()
            gateway_proc.join(5)

    res["loadavg_after"] = os.getloadavg()
    res["elapsed_s"] = time.monotonic() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    if "idle" in res:
        print()
        print(table(res))
        print()
    out = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    log(f"raw numbers: {out}; logs: {LOGS.relative_to(ROOT)}/hostile-*; total {res['elapsed_s']:.0f} s")
    missed = [f"{r['number']}. {k}" for r in res["attacks"] for k, t in r["targets"].items() if not t["pass"]]
    if missed:
        log("targets missed: " + "; ".join(missed))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
