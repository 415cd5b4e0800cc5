"""The benchmark: direct to the AI Gateway emulator vs through the function vs through a google-genai peer.

One process starts everything on loopback (the emulator, the function in
functions-framework's production mode, the peer under functions-framework's
default gunicorn gthread server), drives the load itself, and prints a
markdown table with its targets marked PASS/FAIL. Raw numbers go
to ``bench/results/latest.json``; server logs to ``bench/results/logs/``.

    python bench/run.py            # full run, ~2-3 minutes on 2 cores
    python bench/run.py --quick    # smaller counts, shorter caps (~1 minute)

Sections:
  (a) instant upstream, concurrency 16: direct / function / peer
      (+ the same at concurrency 1, which shows per-request overhead without queueing);
  (b) upstream taking 1 s, 500 requests in flight at once: function, then peer
      (peer capped), with the emulator's max_in_flight and the servers' peak RSS;
  (c) httpx's own pool vs httpx-aiohttp vs the function's pool, 500 concurrent 1-second calls
      (bench/client_transports.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.client_transports import compare as compare_transports  # noqa: E402
from bench.harness import (  # noqa: E402
    ACCOUNT,
    GATEWAY,
    KEY,
    LOGS,
    MODEL,
    RESULTS,
    CpuMeter,
    PeakSampler,
    children,
    clean_env,
    cpu_model,
    function_args,
    http_json,
    log,
    rss_mb,
    stop_group,
    verdict,
)
from bench.load import LoadResult, merge, run_load_sync  # noqa: E402
from tests.support.processes import Server, free_port, start_server  # noqa: E402

PROMPT = "Say hello to the benchmark"
MODEL_PATH = f"/{ACCOUNT}/{GATEWAY}/google-ai-studio/v1beta/models/{MODEL}:generateContent"
# What the function sends upstream for {"prompt": PROMPT} (checked against the emulator's record).
# What the function sends for FUNCTION_BODY: the prompt, and the output ceiling (MAX_OUTPUT_TOKENS_LIMIT).
DIRECT_BODY = {
    "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
    "generationConfig": {"maxOutputTokens": 8192},
}
FUNCTION_BODY = {"prompt": PROMPT}

TARGET_ADDED_P50_MS = 2.0
TARGET_RATIO = 3.0
TARGET_INFLIGHT_S = 3.0
TARGET_RSS_MB = 200.0


# --------------------------------------------------------------------------- helpers


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except Exception as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s: {last}")


def stop_tree(server: Server, grace: float = 5.0) -> None:
    """Stop a server and everything it spawned (its own session/process group, made by start_server)."""
    stop_group(server.proc, grace)


def master_worker_rss(pid: int) -> dict[str, float]:
    """VmRSS of a gunicorn master, its largest worker, and all of them, in MB."""
    master = rss_mb(pid)
    workers = [rss_mb(c) for c in children(pid)]
    return {"master_mb": master, "worker_mb": max(workers, default=0.0), "total_mb": master + sum(workers)}


class RssSampler(PeakSampler):
    """`master_worker_rss` of one server, sampled every 50 ms while in a `with` block."""

    def __init__(self, pid: int) -> None:
        super().__init__(lambda: master_worker_rss(pid))
        self.pid = pid

    def snapshot(self) -> dict[str, float]:
        return master_worker_rss(self.pid)

    def peaks(self) -> dict[str, float]:
        return {f"{k.removesuffix('_mb')}_peak_mb": v for k, v in self.peak.items()} | {"samples": self.samples}


def fmt(x: float | None, nd: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{nd}f}"


def machine_info() -> dict[str, Any]:
    cpu = cpu_model()
    mem_mb = None
    try:
        with open("/proc/meminfo") as fh:
            mem_mb = int(fh.readline().split()[1]) // 1024
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "mem_mb": mem_mb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# --------------------------------------------------------------------------- servers


def start_emulator() -> Server:
    port = free_port()
    server = start_server(
        "ai-gateway-emulator",
        ["-m", "emulators.ai_gateway", "--port", str(port), "--key", KEY],
        port,
        LOGS,
    )
    http_json("GET", server.url + "/__emulator/stats")
    return server


def upstream_env(emulator: Server) -> dict[str, str]:
    return {
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "AI_GATEWAY_ID": GATEWAY,
        "AI_GATEWAY_BASE_URL": emulator.url,
        "GEMINI_API_KEY": KEY,
        "ALLOW_UNAUTHENTICATED": "true",
        "DEFAULT_MODEL": MODEL,  # the direct path and the peer ask for the same model
    }


def start_function(emulator: Server) -> Server:
    port = free_port()
    env = clean_env() | upstream_env(emulator)
    server = start_server(
        "function",
        function_args("main.py", port),
        port,
        LOGS,
        env=env,
        inherit_env=False,
    )
    wait_http(server.url + "/healthz")
    return server


def start_peer(emulator: Server) -> Server:
    port = free_port()
    env = clean_env() | upstream_env(emulator)
    server = start_server(
        "peer-genai",
        function_args("bench/peer_genai/main.py", port),
        port,
        LOGS,
        env=env,
        inherit_env=False,
    )
    return server


def check_answers(emulator: Server, function: Server, peer: Server) -> dict[str, Any]:
    """One request each way; the function and the peer must really reach the emulator."""
    http_json("POST", emulator.url + "/__emulator/reset")
    req = urllib.request.Request(
        emulator.url + MODEL_PATH,
        data=json.dumps(DIRECT_BODY).encode(),
        method="POST",
        headers={"content-type": "application/json", "x-goog-api-key": KEY},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        direct = json.loads(resp.read())
    fn = http_json("POST", function.url + "/", FUNCTION_BODY, timeout=30)
    pe = http_json("POST", peer.url + "/", FUNCTION_BODY, timeout=30)
    records = http_json("GET", emulator.url + "/__emulator/requests")["requests"]
    seen = [{"path": r["path"], "status": r["status"], "user_agent": r["headers"].get("user-agent")} for r in records]
    if len(records) != 3 or any(r["status"] != 200 for r in records):
        raise RuntimeError(f"the emulator did not see 3 good calls: {seen}")
    if records[1]["body"] != DIRECT_BODY:
        raise RuntimeError(f"the function sent {records[1]['body']!r}, direct sends {DIRECT_BODY!r}: fix DIRECT_BODY")
    parts = direct["candidates"][0]["content"]["parts"]
    direct_text = "".join(p.get("text", "") for p in parts if not p.get("thought"))
    if not (fn.get("text") == direct_text == pe.get("text")):
        raise RuntimeError(f"answers differ: direct {direct_text!r}, function {fn.get('text')!r}, peer {pe!r}")
    return {"upstream_calls": seen, "text": direct_text}


# --------------------------------------------------------------------------- sections


def section_a(
    emulator: Server, function: Server, peer: Server, count: int, count_c1: int, rounds: int
) -> dict[str, Any]:
    """Direct / function / peer, interleaved over `rounds` rounds so that drift hits all three alike."""
    http_json("POST", emulator.url + "/__emulator/config", {"delay": 0.0})
    direct_url = emulator.url + MODEL_PATH
    paths: tuple[tuple[str, str, dict[str, Any], dict[str, str]], ...] = (
        ("direct", direct_url, DIRECT_BODY, {"x-goog-api-key": KEY}),
        ("function", function.url + "/", FUNCTION_BODY, {}),
        ("peer", peer.url + "/", FUNCTION_BODY, {}),
    )
    procs = {"load_generator": [os.getpid()], "emulator": [emulator.proc.pid]}
    procs["function"] = [function.proc.pid, *children(function.proc.pid)]
    procs["peer"] = [peer.proc.pid, *children(peer.proc.pid)]
    out: dict[str, Any] = {}
    for conc, n in ((16, count), (1, count_c1)):
        per_round = max(1, n // rounds)
        parts: dict[str, list[LoadResult]] = {name: [] for name, *_ in paths}
        cpu: dict[str, CpuMeter] = {name: CpuMeter.of_processes(procs) for name, *_ in paths}
        for r in range(rounds):
            for name, url, body, headers in paths:
                http_json("POST", emulator.url + "/__emulator/reset")
                # Warm-up (not counted) inside run_load; CPU is metered around the whole call.
                with cpu[name]:
                    res = run_load_sync(
                        url, body, count=per_round, concurrency=conc, headers=headers, warmup=max(50, conc * 4)
                    )
                parts[name].append(res)
                log(f"  c={conc:<3d} round {r + 1}/{rounds} {name:9s} {res.line()}")
        runs = {name: merge(rs) for name, rs in parts.items()}
        d = runs["direct"]
        block: dict[str, Any] = {k: v.as_dict() for k, v in runs.items()}
        block["rounds"] = {k: [x.as_dict() for x in rs] for k, rs in parts.items()}
        block["cpu"] = {k: m.report() for k, m in cpu.items()}
        for name in ("function", "peer"):
            block[f"{name}_added_p50_ms"] = runs[name].p50_ms - d.p50_ms
            block[f"{name}_added_p99_ms"] = runs[name].p99_ms - d.p99_ms
        block["throughput_ratio_function_over_peer"] = (
            runs["function"].rps / runs["peer"].rps if runs["peer"].rps else math.inf
        )
        out[f"c{conc}"] = block
    return out


def _inflight(emulator: Server, server: Server, n: int, time_limit: float, sampler_pid: int | None) -> dict[str, Any]:
    http_json("POST", emulator.url + "/__emulator/reset")
    http_json("POST", emulator.url + "/__emulator/config", {"delay": 1.0})
    sampler = RssSampler(sampler_pid) if sampler_pid else None
    idle = sampler.snapshot() if sampler else {}
    if sampler:
        sampler.__enter__()
    try:
        res = run_load_sync(server.url + "/", FUNCTION_BODY, count=n, concurrency=n, warmup=0, time_limit=time_limit)
    finally:
        if sampler:
            sampler.__exit__()
    stats = http_json("GET", emulator.url + "/__emulator/stats")
    out = {
        "load": res.as_dict(),
        "emulator_stats": stats,
        "rss_idle": idle,
        "rss": sampler.peaks() if sampler else {},
    }
    return out


def section_b(emulator: Server, function: Server, peer: Server, n: int, peer_cap: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Warm the function's upstream pool a little so the first burst is not also its first call.
    run_load_sync(function.url + "/", FUNCTION_BODY, count=20, concurrency=20, warmup=0)
    fn = _inflight(emulator, function, n, 30.0, function.proc.pid)
    r = fn["load"]
    log(
        f"  function: {r['ok']}/{n} ok in {r['wall_s']:.2f} s, {r['errors']} errors, "
        f"emulator max_in_flight {fn['emulator_stats']['max_in_flight']}, "
        f"worker peak RSS {fn['rss']['worker_peak_mb']:.0f} MB"
    )
    out["function"] = fn
    pe = _inflight(emulator, peer, n, peer_cap, peer.proc.pid)
    r = pe["load"]
    rate = r["ok"] / r["wall_s"] if r["wall_s"] else 0.0
    pe["completions_per_s"] = rate
    pe["projected_all_s"] = n / rate if rate else math.inf
    log(
        f"  peer:     {r['ok']}/{n} ok in {r['wall_s']:.2f} s (cap {peer_cap:.0f} s), {r['errors']} errors, "
        f"{r['unfinished']} unfinished, emulator max_in_flight {pe['emulator_stats']['max_in_flight']}, "
        f"worker peak RSS {pe['rss']['worker_peak_mb']:.0f} MB"
    )
    out["peer"] = pe
    return out


# --------------------------------------------------------------------------- report


def table(res: dict[str, Any]) -> str:
    a16 = res["a"]["c16"]
    a1 = res["a"]["c1"]
    b = res["b"]
    c = res.get("c")
    t = res["targets"]
    lines = [
        f"### Benchmark — {res['machine']['cpus']} CPUs ({res['machine']['cpu_model']}), "
        f"Python {res['machine']['python']}, commit {res['machine']['git_commit']}, {res['machine']['time']}",
        "",
        "**(a) instant upstream** (emulator delay 0)",
        "",
        "| path | conc | requests | errors | req/s | req/s per round | p50 ms | p90 ms | p99 ms | added p50 ms | added p99 ms |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for conc_key, blk in (("16", a16), ("1", a1)):
        for name in ("direct", "function", "peer"):
            r = blk[name]
            add50 = "" if name == "direct" else fmt(blk[f"{name}_added_p50_ms"])
            add99 = "" if name == "direct" else fmt(blk[f"{name}_added_p99_ms"])
            spread = " / ".join(f"{x['rps']:.0f}" for x in blk["rounds"][name])
            lines.append(
                f"| {name} | {conc_key} | {r['ok']} | {r['errors']} | {r['rps']:.0f} | {spread} | {fmt(r['p50_ms'])} | "
                f"{fmt(r['p90_ms'])} | {fmt(r['p99_ms'])} | {add50} | {add99} |"
            )
    lines.append("")
    lines.append(f"CPU during the c=16 runs (% of one core; the machine has {res['machine']['cpus']} CPUs):")
    lines.append("")
    lines.append(
        "| path | load generator | emulator | function (all procs) | peer (all procs) | other processes, % of machine |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|")
    for name in ("direct", "function", "peer"):
        c16 = a16["cpu"][name]
        p = c16["pct_of_one_core"]
        lines.append(
            f"| {name} | {p['load_generator']:.0f} | {p['emulator']:.0f} | {p['function']:.0f} | {p['peer']:.0f} | "
            f"{c16['other_processes_pct_of_machine']:.0f} |"
        )
    lines += [
        "",
        "**(b) upstream takes 1 s, all requests in flight at once** (one instance)",
        "",
        "| server | sent | ok | errors | unfinished | wall s | emulator max in flight | worker peak RSS MB | master peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("function", "peer"):
        r = b[name]
        ld = r["load"]
        cap = " (capped)" if ld["timed_out"] else ""
        lines.append(
            f"| {name} | {ld['count']} | {ld['ok']} | {ld['errors']} | {ld['unfinished']} | {ld['wall_s']:.2f}{cap} | "
            f"{r['emulator_stats']['max_in_flight']} | {fmt(r['rss']['worker_peak_mb'], 0)} | "
            f"{fmt(r['rss']['master_peak_mb'], 0)} |"
        )
    pe = b["peer"]
    lines.append("")
    lines.append(
        f"Peer: {pe['completions_per_s']:.1f} completions/s, i.e. ~{pe['projected_all_s']:.0f} s for all "
        f"{pe['load']['count']}."
    )
    if c:
        lines += [
            "",
            f"**(c) client transports**: {c['concurrency']} concurrent 1-second calls to the emulator, one process",
            "",
            "| client | " + " | ".join(f"round {i + 1} s (client CPU s)" for i in range(c["rounds"])) + " | errors |",
            "|---|" + "---:|" * (c["rounds"] + 1),
        ]
        for name, rounds in c["results"].items():
            lines.append(
                f"| {name} | "
                + " | ".join(f"{fmt(x['wall_s'])} ({fmt(x['cpu_s'])})" for x in rounds)
                + f" | {sum(x['errors'] for x in rounds)} |"
            )
    lines += ["", "**Targets**", "", "| target | measured | result |", "|---|---|---|"]
    for row in t:
        lines.append(f"| {row['target']} | {row['measured']} | {verdict(row['pass'])} |")
    return "\n".join(lines)


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    a16 = res["a"]["c16"]
    fn = res["b"]["function"]
    ld = fn["load"]
    added = a16["function_added_p50_ms"]
    ratio = a16["throughput_ratio_function_over_peer"]
    rss = fn["rss"]["worker_peak_mb"]
    return [
        {
            "target": f"added p50 ≤ {TARGET_ADDED_P50_MS:g} ms at c=16",
            "measured": f"{added:.2f} ms (c=1: {res['a']['c1']['function_added_p50_ms']:.2f} ms)",
            "pass": added <= TARGET_ADDED_P50_MS,
        },
        {
            "target": f"function throughput ≥ {TARGET_RATIO:g}× peer (c=16)",
            "measured": f"{ratio:.2f}× ({a16['function']['rps']:.0f} vs {a16['peer']['rps']:.0f} req/s)",
            "pass": ratio >= TARGET_RATIO,
        },
        {
            "target": f"{ld['count']} in flight done in < {TARGET_INFLIGHT_S:g} s",
            "measured": f"{ld['wall_s']:.2f} s",
            "pass": ld["wall_s"] < TARGET_INFLIGHT_S and ld["ok"] == ld["count"],
        },
        {
            "target": f"{ld['count']} in flight: 0 errors",
            "measured": f"{ld['errors']} errors, {ld['unfinished']} unfinished",
            "pass": ld["errors"] == 0 and ld["unfinished"] == 0,
        },
        {
            "target": f"worker RSS < {TARGET_RSS_MB:g} MB",
            "measured": f"{rss:.0f} MB peak (idle {fn['rss_idle'].get('worker_mb', 0):.0f} MB)",
            "pass": 0 < rss < TARGET_RSS_MB,
        },
    ]


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests and shorter caps (~1 minute)")
    parser.add_argument("--check", action="store_true", help="exit 1 if any target is missed")
    parser.add_argument("--no-transports", action="store_true", help="skip section (c)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)

    count = 600 if args.quick else 3000
    count_c1 = 100 if args.quick else 300
    inflight = 500
    peer_cap = 20.0 if args.quick else 60.0
    rounds = 1 if args.quick else 2
    rounds_a = 2 if args.quick else 3

    LOGS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    res: dict[str, Any] = {"machine": machine_info(), "quick": args.quick, "loadavg_before": os.getloadavg()}
    servers: list[Server] = []
    try:
        log("starting the emulator, the function and the peer ...")
        emulator = start_emulator()
        servers.append(emulator)
        function = start_function(emulator)
        servers.append(function)
        peer = start_peer(emulator)
        servers.append(peer)
        res["check"] = check_answers(emulator, function, peer)
        log(
            f"  all three answer {res['check']['text']!r}; upstream paths: "
            + ", ".join(sorted({c["path"] for c in res["check"]["upstream_calls"]}))
        )

        log(
            f"(a) instant upstream: {count} requests at concurrency 16, {count_c1} at concurrency 1, "
            f"in {rounds_a} interleaved rounds"
        )
        res["a"] = section_a(emulator, function, peer, count, count_c1, rounds_a)

        log(f"(b) upstream 1 s: {inflight} requests in flight at once")
        res["b"] = section_b(emulator, function, peer, inflight, peer_cap)
        res["b"]["peer_cap_s"] = peer_cap

        # The peer may still be working through its queue; stop both servers before (c).
        stop_tree(peer)
        stop_tree(function)

        if not args.no_transports:
            log(f"(c) client transports: {inflight} concurrent 1-second calls, {rounds} round(s) each")
            http_json("POST", emulator.url + "/__emulator/reset")
            http_json("POST", emulator.url + "/__emulator/config", {"delay": 1.0})
            results = asyncio.run(compare_transports(emulator.url, KEY, inflight, rounds))
            res["c"] = {"concurrency": inflight, "rounds": rounds, "results": results}
    finally:
        for s in reversed(servers):
            stop_tree(s)

    res["loadavg_after"] = os.getloadavg()
    res["targets"] = targets(res)
    res["elapsed_s"] = time.monotonic() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print()
    print(table(res))
    print()
    log(
        f"raw numbers: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}; "
        f"server logs: {LOGS.relative_to(ROOT)}/; total {res['elapsed_s']:.0f} s"
    )
    missed = [t["target"] for t in res["targets"] if not t["pass"]]
    if missed:
        log("targets missed: " + "; ".join(missed))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
