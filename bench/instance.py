"""Instance economy: cold start, 1,000 requests in flight, CPU per request.

The function is a black box here: it is started the way Cloud Run starts it
(``python -m functions_framework --target generate --source main.py``, production
mode: gunicorn master + one uvicorn worker) with an environment, and only
spoken to over HTTP on loopback. Side by side, in one run:

1. **Cold start** — time from ``Popen`` to the first ``200`` answer to ``POST /``
   (polled with a raw socket every 5 ms), for four servers, in interleaved rounds
   (function, function + Secret Manager, hello world, google-genai peer, function, ...)
   after one discarded warm-up round:
   * *function*: AI Gateway emulator upstream, ``GEMINI_API_KEY`` in the environment;
   * *function+SM*: the deployed shape, ``GEMINI_API_KEY_SECRET`` read from the Secret
     Manager emulator (the first answer includes the secret fetch);
   * *hello*: ``bench/hello_asgi/main.py``, a functions-framework ASGI hello world
     served the same way (the floor);
   * *peer*: ``bench/peer_genai/main.py`` (google-genai SDK in a Flask function, gunicorn gthread).
   Plus ``python -X importtime -c "import main"`` for the function: total and top imports.
2. **1,000 in flight** — emulator delay 1.0 s, 1,000 concurrent ``POST /`` on one
   function instance: wall time until all are answered, errors, and the peak RSS of
   the whole process tree (sum of ``VmRSS`` of the master and all descendants,
   sampled every 50 ms; PSS too, which does not count pages shared after fork twice).
3. **CPU per request** — instant upstream, closed loop at c=16, N requests each to the
   emulator directly, the function, the forwarder (``bench/forward_asgi/main.py``: the
   same server and upstream stack with nothing but one upstream POST, the floor for any
   Gemini proxy on this stack) and the hello world, in interleaved rounds:
   CPU seconds of each server's process tree per request (``/proc/<pid>/stat``),
   p50 latency, and the function's added p50 over the direct call.

Everything runs on 127.0.0.1 on free ports, is bounded in count and time, and is
stopped at the end (whole process groups). Raw numbers: ``bench/results/instance.json``.

    python bench/instance.py              # full run, ~3 minutes on 2 cores
    python bench/instance.py --quick      # 2 rounds, fewer requests (~1 minute)
    python bench/instance.py --check      # exit 1 if a target is missed
    python bench/instance.py --function-root /tmp/snapshot   # measure another checkout's main.py
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    CpuMeter,
    PeakSampler,
    clean_env,
    cpu_model,
    descendants,
    function_args,
    http_json,
    log,
    machine_busy_s,
    proc_cpu_s,
    pss_mb,
    rss_mb,
    stop_group,
    tail,
    tree_cpu_s,
    verdict,
)
from bench.load import LoadResult, merge, run_load_sync  # noqa: E402
from tests.support.processes import Server, free_port, start_server  # noqa: E402

SECRET = "projects/bench/secrets/gemini"
FUNCTION_BODY = {"prompt": "hi"}
DIRECT_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 8192}}
MODEL_PATH = f"/{ACCOUNT}/{GATEWAY}/google-ai-studio/v1beta/models/{MODEL}:generateContent"

POLL_S = 0.005
COLD_TIMEOUT_S = 60.0
INFLIGHT = 1000
INFLIGHT_CAP_S = 30.0

TARGET_COLD_VS_HELLO = 1.6
TARGET_INFLIGHT_S = 2.5
TARGET_TREE_MB = 200.0
TARGET_ADDED_P50_MS = 2.0

VARIANTS = ("function", "function+SM", "hello", "peer")


def tree_memory_mb(pid: int, pss: bool = True) -> dict[str, Any]:
    pids = descendants(pid)
    rss = [rss_mb(p) for p in pids]
    out: dict[str, Any] = {"processes": len(pids), "rss_mb": sum(rss), "rss_per_process_mb": rss}
    if pss:
        out["pss_mb"] = sum(pss_mb(p) for p in pids)
    return out


def tree_memory_sampler(pid: int) -> PeakSampler:
    """The process tree's summed VmRSS and PSS and its process count, every 50 ms; peaks kept."""

    def measure() -> dict[str, float]:
        m = tree_memory_mb(pid)
        return {"rss_peak_mb": m["rss_mb"], "pss_peak_mb": m["pss_mb"], "processes_max": m["processes"]}

    return PeakSampler(measure)


def tree_cpu_meter(trees: dict[str, int]) -> CpuMeter:
    """CPU of each named process tree and of this process (the load generator)."""
    readers: dict[str, Callable[[], float]] = {name: functools.partial(tree_cpu_s, pid) for name, pid in trees.items()}
    return CpuMeter(readers | {"load_generator": lambda: proc_cpu_s(os.getpid())})


# --------------------------------------------------------------------------- processes


@dataclass
class Variant:
    """One server shape: how to start it (cwd, --source, env)."""

    name: str
    cwd: Path
    source: str
    env: dict[str, str]

    def args(self, port: int) -> list[str]:
        return [sys.executable, *function_args(self.source, port)]


def make_variants(function_root: Path, gateway_url: str, sm_host: str) -> dict[str, Variant]:
    upstream = {
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "AI_GATEWAY_ID": GATEWAY,
        "AI_GATEWAY_BASE_URL": gateway_url,
        "ALLOW_UNAUTHENTICATED": "true",
        "DEFAULT_MODEL": MODEL,  # every variant asks for the same model
    }
    base = clean_env()
    return {
        "function": Variant("function", function_root, "main.py", base | upstream | {"GEMINI_API_KEY": KEY}),
        "function+SM": Variant(
            "function+SM",
            function_root,
            "main.py",
            base
            | upstream
            | {"GEMINI_API_KEY_SECRET": f"{SECRET}/versions/latest", "SECRET_MANAGER_EMULATOR_HOST": sm_host},
        ),
        "hello": Variant("hello", ROOT, "bench/hello_asgi/main.py", dict(base)),
        "peer": Variant("peer", ROOT, "bench/peer_genai/main.py", base | upstream | {"GEMINI_API_KEY": KEY}),
        "forwarder": Variant(
            "forwarder", ROOT, "bench/forward_asgi/main.py", base | upstream | {"GEMINI_API_KEY": KEY}
        ),
    }


def start_variant(variant: Variant, tag: str) -> Server:
    """Start a variant and wait until it answers 200 (for the long-running servers of sections 2 and 3)."""
    port = free_port()
    log_path = LOGS / f"instance-{tag}-{port}.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            variant.args(port), cwd=variant.cwd, env=variant.env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(name=tag, port=port, proc=proc, log_path=log_path, env=variant.env)
    try:
        status = first_200(port, proc, json.dumps(FUNCTION_BODY).encode(), time.perf_counter() + COLD_TIMEOUT_S)
        if status["status"] != 200:
            raise RuntimeError(f"answered {status['status']}")
    except Exception as exc:
        stop_group(proc)
        raise RuntimeError(f"{tag} did not start ({exc}); its output:\n{tail(log_path)}") from None
    return server


def _post_once(port: int, body: bytes, timeout: float) -> tuple[int | None, bytes, float | None]:
    """connect + POST / + read to EOF on a fresh socket. (status, response, connect time) or (None, b"", None)."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=min(1.0, timeout))
    except OSError:
        return None, b"", None
    connected = time.perf_counter()
    try:
        sock.settimeout(max(0.05, timeout))
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (port, len(body), body)
        )
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        return None, b"", connected
    finally:
        sock.close()
    data = b"".join(chunks)
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(m.group(1)) if m else None), data, connected


def first_200(
    port: int, proc: subprocess.Popen[bytes], body: bytes, deadline: float, t0: float | None = None
) -> dict[str, Any]:
    """Poll every POLL_S until POST / answers 200; times in seconds since t0 (default: now)."""
    t0 = time.perf_counter() if t0 is None else t0
    attempts = 0
    first_connect: float | None = None
    statuses: dict[str, int] = {}
    while True:
        now = time.perf_counter()
        if now >= deadline:
            raise TimeoutError(f"no 200 after {now - t0:.1f} s (answers so far: {statuses})")
        if proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode} (answers so far: {statuses})")
        attempts += 1
        status, data, connected = _post_once(port, body, deadline - now)
        if connected is not None and first_connect is None:
            first_connect = connected - t0
        if status is not None:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 200:
            done = time.perf_counter()
            payload = data.partition(b"\r\n\r\n")[2]
            return {
                "status": 200,
                "first_200_s": done - t0,
                "first_connect_s": first_connect,
                "attempts": attempts,
                "statuses": statuses,
                "body": payload[:200].decode(errors="replace"),
            }
        time.sleep(POLL_S)


def cold_start_once(variant: Variant, tag: str) -> dict[str, Any]:
    port = free_port()
    log_path = LOGS / f"instance-cold-{tag}.log"
    body = json.dumps(FUNCTION_BODY).encode()
    ncpu = os.cpu_count() or 1
    busy0 = machine_busy_s()
    own0 = proc_cpu_s(os.getpid())
    with log_path.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            variant.args(port), cwd=variant.cwd, env=variant.env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        res = first_200(port, proc, body, t0 + COLD_TIMEOUT_S, t0=t0)
        # CPU the server tree used until its first answer (it is all still alive: nothing reaped yet).
        res["server_cpu_s"] = tree_cpu_s(proc.pid)
        wall = time.perf_counter() - t0
        busy = machine_busy_s() - busy0
        res["machine_busy_pct"] = 100 * busy / (wall * ncpu)
        # Everything else: not the server tree, not this process (the poller); the emulators are idle.
        ours = res["server_cpu_s"] + proc_cpu_s(os.getpid()) - own0
        res["other_processes_pct_of_machine"] = max(0.0, 100 * (busy - ours) / (wall * ncpu))
        res["tree_rss_mb_at_first_200"] = tree_memory_mb(proc.pid, pss=False)["rss_mb"]
    except Exception as exc:
        stop_group(proc)
        raise RuntimeError(f"{variant.name} cold start failed: {exc}; its output:\n{tail(log_path)}") from None
    stop_group(proc)
    return res


def sm_access_total(stats_url: str) -> int:
    stats = http_json("GET", stats_url + "/stats")
    return int(sum(stats.get("access_count", {}).values()))


def section_cold(variants: dict[str, Variant], rounds: int, sm_stats_url: str) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    warmup: dict[str, Any] = {}
    for r in range(rounds + 1):
        label = "warm-up (discarded)" if r == 0 else f"round {r}/{rounds}"
        for name in VARIANTS:
            before = sm_access_total(sm_stats_url) if name == "function+SM" else 0
            res = cold_start_once(variants[name], f"{name.replace('+', '-')}-{r}")
            if name == "function+SM":
                res["secret_accesses"] = sm_access_total(sm_stats_url) - before
                if res["secret_accesses"] < 1:
                    raise RuntimeError("function+SM answered 200 without reading its secret from the emulator")
            if name.startswith("function") and '"text"' not in res["body"]:
                raise RuntimeError(f"{name} answered 200 but not a generate answer: {res['body']!r}")
            if r == 0:
                warmup[name] = res
            else:
                runs[name].append(res)
            log(
                f"  {label:20s} {name:12s} first 200 after {1000 * res['first_200_s']:7.1f} ms "
                f"(port open {1000 * (res['first_connect_s'] or 0):6.1f} ms, server CPU "
                f"{1000 * res['server_cpu_s']:6.0f} ms, other processes {res['other_processes_pct_of_machine']:3.0f} %)"
            )
            time.sleep(0.2)
    summary: dict[str, Any] = {}
    for name, rs in runs.items():
        ms = [1000 * x["first_200_s"] for x in rs]
        port_ms = [1000 * (x["first_connect_s"] or math.nan) for x in rs]
        cpu_ms = [1000 * x["server_cpu_s"] for x in rs]
        summary[name] = {
            "median_ms": statistics.median(ms),
            "min_ms": min(ms),
            "max_ms": max(ms),
            "port_open_median_ms": statistics.median(port_ms),
            "server_cpu_median_ms": statistics.median(cpu_ms),
            "rss_at_first_200_median_mb": statistics.median(x["tree_rss_mb_at_first_200"] for x in rs),
            "other_processes_pct_max": max(x["other_processes_pct_of_machine"] for x in rs),
            "other_processes_pct_median": statistics.median(x["other_processes_pct_of_machine"] for x in rs),
        }
    med = {name: summary[name]["median_ms"] for name in VARIANTS}
    ratios = {f"{fn}/{base}": med[fn] / med[base] for fn in ("function", "function+SM") for base in ("hello", "peer")}
    cpu = {name: summary[name]["server_cpu_median_ms"] for name in VARIANTS}
    cpu_ratios = {
        f"{fn}/{base}": cpu[fn] / cpu[base] for fn in ("function", "function+SM") for base in ("hello", "peer")
    }
    return {
        "rounds": rounds,
        "runs": runs,
        "warmup": warmup,
        "summary": summary,
        "ratios": ratios,
        "server_cpu_ratios": cpu_ratios,
    }


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S.*)$")


def importtime(variant: Variant, repeats: int) -> dict[str, Any]:
    """`python -X importtime -c "import main"` in the function's directory and environment; the median run."""
    runs = []
    for _ in range(repeats):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import main"],
            cwd=variant.cwd,
            env=variant.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"import main failed for {variant.name}:\n{proc.stderr[-3000:]}")
        rows: list[dict[str, Any]] = []
        for line in proc.stderr.splitlines():
            m = _IMPORT_LINE.match(line)
            if m:
                rows.append(
                    {"module": m.group(4), "self_ms": int(m.group(1)) / 1000, "cumulative_ms": int(m.group(2)) / 1000,
                     "depth": len(m.group(3)) // 2}
                )  # fmt: skip
        main_row = next((r for r in reversed(rows) if r["module"] == "main"), None)
        if main_row is None:
            raise RuntimeError("no 'main' line in -X importtime output")
        runs.append({"total_ms": main_row["cumulative_ms"], "modules": len(rows), "rows": rows})
    runs.sort(key=lambda x: x["total_ms"])
    chosen = runs[len(runs) // 2]
    rows = chosen["rows"]
    by_package: dict[str, float] = {}
    for row in rows:
        top = row["module"].split(".")[0]
        if top == "google":  # google.cloud.secretmanager, google.genai, google.protobuf, ...: one level more
            top = ".".join(row["module"].split(".")[:2])
        by_package[top] = by_package.get(top, 0.0) + row["self_ms"]
    return {
        "variant": variant.name,
        "total_ms_runs": [x["total_ms"] for x in runs],
        "total_ms": chosen["total_ms"],
        "modules": chosen["modules"],
        "all_modules_self_ms": sum(r["self_ms"] for r in rows),
        "top_cumulative": sorted(rows, key=lambda r: -r["cumulative_ms"])[:15],
        "top_self": sorted(rows, key=lambda r: -r["self_ms"])[:10],
        "self_ms_by_package": dict(sorted(by_package.items(), key=lambda kv: -kv[1])[:12]),
    }


# --------------------------------------------------------------------------- 2. 1,000 in flight


def section_inflight(emulator: Server, function: Server, n: int) -> dict[str, Any]:
    http_json("POST", emulator.url + "/__emulator/config", {"delay": 0.0})
    run_load_sync(function.url + "/", FUNCTION_BODY, count=20, concurrency=20, warmup=0)  # warm the upstream pool
    http_json("POST", emulator.url + "/__emulator/reset")
    http_json("POST", emulator.url + "/__emulator/config", {"delay": 1.0})
    idle = tree_memory_mb(function.proc.pid)
    trees = {"function": function.proc.pid, "emulator": emulator.proc.pid}
    with tree_cpu_meter(trees) as cpu, tree_memory_sampler(function.proc.pid) as sampler:
        res = run_load_sync(
            function.url + "/", FUNCTION_BODY, count=n, concurrency=n, warmup=0, time_limit=INFLIGHT_CAP_S
        )
    stats = http_json("GET", emulator.url + "/__emulator/stats")
    http_json("POST", emulator.url + "/__emulator/config", {"delay": 0.0})
    after = tree_memory_mb(function.proc.pid)
    return {
        "load": res.as_dict(),
        "emulator_stats": stats,
        "tree_idle": idle,
        "tree_after": after,
        "tree_peak": sampler.peak | {"samples": sampler.samples},
        "cpu": cpu.report(),
    }


# --------------------------------------------------------------------------- 3. CPU per request


def section_cpu(
    emulator: Server, function: Server, hello: Server, forwarder: Server, count: int, rounds: int
) -> dict[str, Any]:
    http_json("POST", emulator.url + "/__emulator/config", {"delay": 0.0})
    paths: dict[str, tuple[str, dict[str, Any], dict[str, str], Server]] = {
        "direct": (emulator.url + MODEL_PATH, DIRECT_BODY, {"x-goog-api-key": KEY}, emulator),
        "function": (function.url + "/", FUNCTION_BODY, {}, function),
        "forwarder": (forwarder.url + "/", FUNCTION_BODY, {}, forwarder),
        "hello": (hello.url + "/", FUNCTION_BODY, {}, hello),
    }
    trees = {
        "function": function.proc.pid,
        "forwarder": forwarder.proc.pid,
        "hello": hello.proc.pid,
        "emulator": emulator.proc.pid,
    }
    per_round = max(1, count // rounds)
    parts: dict[str, list[LoadResult]] = {k: [] for k in paths}
    cpu: dict[str, list[dict[str, Any]]] = {k: [] for k in paths}
    for r in range(rounds):
        for name, (url, body, headers, _server) in paths.items():
            http_json("POST", emulator.url + "/__emulator/reset")
            run_load_sync(url, body, count=64, concurrency=16, headers=headers, warmup=0)  # warm-up, not counted
            with tree_cpu_meter(trees) as win:
                res = run_load_sync(url, body, count=per_round, concurrency=16, headers=headers, warmup=0)
            parts[name].append(res)
            cpu[name].append(win.report())
            log(f"  round {r + 1}/{rounds} {name:9s} {res.line()}")
    out: dict[str, Any] = {"count": per_round * rounds, "concurrency": 16, "rounds": rounds}
    runs = {k: merge(v) for k, v in parts.items()}
    for name, res in runs.items():
        wins = cpu[name]
        server_key = "emulator" if name == "direct" else name
        server_cpu = sum(w["cpu_s"][server_key] for w in wins)
        wall = sum(w["wall_s"] for w in wins)
        busy = sum(w["machine_busy_pct"] * w["wall_s"] for w in wins) / wall
        other = sum(w["other_processes_pct_of_machine"] * w["wall_s"] for w in wins) / wall
        emulator_cpu = sum(w["cpu_s"]["emulator"] for w in wins)
        out[name] = {
            **res.as_dict(),
            "rps_per_round": [x.rps for x in parts[name]],
            "server_cpu_s": server_cpu,
            "server_cpu_ms_per_request": 1000 * server_cpu / res.ok if res.ok else math.nan,
            "server_pct_of_one_core": 100 * server_cpu / wall,
            "emulator_pct_of_one_core": 100 * emulator_cpu / wall,
            "load_generator_pct_of_one_core": 100 * sum(w["cpu_s"]["load_generator"] for w in wins) / wall,
            "machine_busy_pct": busy,
            "other_processes_pct_of_machine": other,
            "windows": wins,
        }
    f, h, d, w = out["function"], out["hello"], out["direct"], out["forwarder"]
    out["cpu_ratio_function_over_hello"] = f["server_cpu_ms_per_request"] / h["server_cpu_ms_per_request"]
    out["cpu_ratio_function_over_forwarder"] = f["server_cpu_ms_per_request"] / w["server_cpu_ms_per_request"]
    out["function_added_p50_ms"] = f["p50_ms"] - d["p50_ms"]
    out["forwarder_added_p50_ms"] = w["p50_ms"] - d["p50_ms"]
    out["hello_added_p50_ms"] = h["p50_ms"] - d["p50_ms"]
    return out


# --------------------------------------------------------------------------- report


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cold = res["cold_start"]["summary"]
    for fn in ("function", "function+SM"):
        m, hello, peer = cold[fn]["median_ms"], cold["hello"]["median_ms"], cold["peer"]["median_ms"]
        rows.append(
            {
                "target": f"cold start ({fn}) ≤ {TARGET_COLD_VS_HELLO:g} × hello world",
                "measured": f"{m:.0f} ms vs {hello:.0f} ms = {m / hello:.2f}×",
                "pass": m <= TARGET_COLD_VS_HELLO * hello,
                "gating": True,
            }
        )
        rows.append(
            {
                "target": f"cold start ({fn}) < google-genai peer",
                "measured": f"{m:.0f} ms vs {peer:.0f} ms = {m / peer:.2f}×",
                "pass": m < peer,
                "gating": True,
            }
        )
    inf = res["inflight"]
    ld = inf["load"]
    rows.append(
        {
            "target": f"{ld['count']:,} in flight all answered within {TARGET_INFLIGHT_S:g} s",
            "measured": f"{ld['ok']}/{ld['count']} ok in {ld['wall_s']:.2f} s, {ld['errors']} errors",
            "pass": ld["ok"] == ld["count"] and ld["errors"] == 0 and ld["wall_s"] <= TARGET_INFLIGHT_S,
            "gating": True,
        }
    )
    peak = inf["tree_peak"]["rss_peak_mb"]
    rows.append(
        {
            "target": f"{ld['count']:,} in flight: process tree ≤ {TARGET_TREE_MB:g} MB (sum of VmRSS)",
            "measured": f"{peak:.0f} MB peak (idle {inf['tree_idle']['rss_mb']:.0f} MB; PSS peak "
            f"{inf['tree_peak']['pss_peak_mb']:.0f} MB)",
            "pass": 0 < peak <= TARGET_TREE_MB,
            "gating": True,
        }
    )
    cpu = res["cpu"]
    rows.append(
        {
            "target": f"added p50 at c=16 ≤ {TARGET_ADDED_P50_MS:g} ms (report only)",
            "measured": f"{cpu['function_added_p50_ms']:.2f} ms (forwarder: {cpu['forwarder_added_p50_ms']:.2f} ms, "
            f"hello world: {cpu['hello_added_p50_ms']:.2f} ms)",
            "pass": cpu["function_added_p50_ms"] <= TARGET_ADDED_P50_MS,
            "gating": False,
        }
    )
    return rows


def table(res: dict[str, Any]) -> str:
    m = res["machine"]
    cold = res["cold_start"]
    changed = len(m["function_uncommitted_changes"])
    dirty = f" + {changed} uncommitted files in main.py/gemini_gateway" if changed else ""
    lines = [
        f"### Instance economy — {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, "
        f"function: {m['label'] or 'commit ' + m['git_commit']}{dirty}, {m['time']}",
        "",
        f"**Cold start**: Popen → first 200 to `POST /`, {cold['rounds']} interleaved rounds "
        "(after one discarded warm-up round)",
        "",
        "| server | median ms | min ms | max ms | port open (median) ms | server CPU to first 200 (median) ms "
        "| tree RSS at first 200 MB | other processes, % of machine (median / max) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in VARIANTS:
        s = cold["summary"][name]
        lines.append(
            f"| {name} | {s['median_ms']:.0f} | {s['min_ms']:.0f} | {s['max_ms']:.0f} | "
            f"{s['port_open_median_ms']:.0f} | {s['server_cpu_median_ms']:.0f} | "
            f"{s['rss_at_first_200_median_mb']:.0f} | {s['other_processes_pct_median']:.0f} / "
            f"{s['other_processes_pct_max']:.0f} |"
        )
    r, c = cold["ratios"], cold["server_cpu_ratios"]
    lines += [
        "",
        f"Ratios of medians: function/hello {r['function/hello']:.2f}, function/peer {r['function/peer']:.2f}; "
        f"function+SM/hello {r['function+SM/hello']:.2f}, function+SM/peer {r['function+SM/peer']:.2f}.",
        f"Server CPU to first 200 (less sensitive to a busy machine than wall time), ratios of medians: "
        f"function/hello {c['function/hello']:.2f}, function/peer {c['function/peer']:.2f}; "
        f"function+SM/hello {c['function+SM/hello']:.2f}, function+SM/peer {c['function+SM/peer']:.2f}.",
    ]
    for it in res["importtime"]:
        lines += [
            "",
            f'`python -X importtime -c "import main"` ({it["variant"]} environment): **{it["total_ms"]:.0f} ms** '
            f"for `main`, {it['modules']} modules (runs: {', '.join(f'{x:.0f}' for x in it['total_ms_runs'])} ms)",
        ]
        if it["variant"] != "function+SM":
            continue
        lines += ["", "| module (top 15 cumulative) | cumulative ms | self ms |", "|---|---:|---:|"]
        for row in it["top_cumulative"]:
            lines.append(
                f"| {'· ' * row['depth']}{row['module']} | {row['cumulative_ms']:.0f} | {row['self_ms']:.1f} |"
            )
        lines += [
            "",
            "Largest self times: " + ", ".join(f"{x['module']} {x['self_ms']:.0f} ms" for x in it["top_self"]),
            "",
            "Self time by top-level package: "
            + ", ".join(f"{k} {v:.0f} ms" for k, v in it["self_ms_by_package"].items()),
        ]
    inf = res["inflight"]
    ld = inf["load"]
    cap = " (capped)" if ld["timed_out"] else ""
    lines += [
        "",
        f"**{ld['count']:,} in flight** on one function instance, upstream takes 1 s",
        "",
        "| sent | ok | errors | unfinished | wall s | emulator max in flight | tree peak RSS MB | tree peak PSS MB "
        "| tree idle RSS MB | function CPU % of one core | other processes, % of machine |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {ld['count']} | {ld['ok']} | {ld['errors']} | {ld['unfinished']} | {ld['wall_s']:.2f}{cap} | "
        f"{inf['emulator_stats']['max_in_flight']} | {inf['tree_peak']['rss_peak_mb']:.0f} | "
        f"{inf['tree_peak']['pss_peak_mb']:.0f} | {inf['tree_idle']['rss_mb']:.0f} | "
        f"{inf['cpu']['pct_of_one_core']['function']:.0f} | {inf['cpu']['other_processes_pct_of_machine']:.0f} |",
    ]
    cpu = res["cpu"]
    lines += [
        "",
        f"**CPU per request**: instant upstream, c={cpu['concurrency']}, {cpu['count']} requests per path in "
        f"{cpu['rounds']} interleaved rounds",
        "",
        "| path | ok | errors | req/s | p50 ms | p99 ms | added p50 ms | server CPU ms/request | server % of one core "
        "| emulator % | load generator % | other processes, % of machine |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("direct", "function", "forwarder", "hello"):
        x = cpu[name]
        added = "" if name == "direct" else f"{cpu[f'{name}_added_p50_ms']:.2f}"
        server = "emulator" if name == "direct" else name
        lines.append(
            f"| {name} | {x['ok']} | {x['errors']} | {x['rps']:.0f} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | "
            f"{added} | {x['server_cpu_ms_per_request']:.3f} ({server}) | {x['server_pct_of_one_core']:.0f} | "
            f"{x['emulator_pct_of_one_core']:.0f} | {x['load_generator_pct_of_one_core']:.0f} | "
            f"{x['other_processes_pct_of_machine']:.0f} |"
        )
    lines += [
        "",
        f"CPU per request, function / hello world: {cpu['cpu_ratio_function_over_hello']:.2f}×; "
        f"function / forwarder: {cpu['cpu_ratio_function_over_forwarder']:.2f}×",
        "",
        "**Targets**",
        "",
        "| target | measured | result |",
        "|---|---|---|",
    ]
    for t in res["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {verdict(t['pass'])} |")
    return "\n".join(lines)


def machine_info(function_root: Path, label: str) -> dict[str, Any]:
    cpu = cpu_model()

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=function_root, capture_output=True, text=True, check=False, timeout=20
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    in_repo = git("rev-parse", "--show-toplevel") == str(function_root)  # not a snapshot outside git
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "function_root": str(function_root),
        "label": label,
        "git_commit": git("rev-parse", "--short", "HEAD") if in_repo else "?",
        "function_uncommitted_changes": git("status", "--porcelain", "--", "main.py", "gemini_gateway").splitlines()
        if in_repo
        else [],
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 rounds, 1,000 requests per path for CPU (~1 minute)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--rounds", type=int, default=None, help="cold-start rounds (default 5; 2 with --quick)")
    parser.add_argument("--requests", type=int, default=None, help="CPU section: requests per path (default 3000)")
    parser.add_argument(
        "--function-root", type=Path, default=ROOT, help="directory holding the main.py to measure (default: this repo)"
    )
    parser.add_argument("--label", default="", help="what is measured, e.g. 'HEAD a60e8d6' for a snapshot")
    parser.add_argument("--out", type=Path, default=RESULTS / "instance.json")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 5)
    count = args.requests or (1000 if args.quick else 3000)
    cpu_rounds = 2 if args.quick else 3
    function_root = args.function_root.resolve()
    if not (function_root / "main.py").is_file():
        parser.error(f"no main.py in {function_root}")

    LOGS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    res: dict[str, Any] = {
        "machine": machine_info(function_root, args.label),
        "quick": args.quick,
        "loadavg_before": os.getloadavg(),
    }
    servers: list[Server] = []
    try:
        log("starting the AI Gateway and Secret Manager emulators ...")
        gw_port = free_port()
        emulator = start_server(
            "instance-ai-gateway", ["-m", "emulators.ai_gateway", "--port", str(gw_port), "--key", KEY], gw_port, LOGS
        )
        servers.append(emulator)
        sm_port, sm_stats_port = free_port(), free_port()
        sm = start_server(
            "instance-secret-manager",
            ["-m", "emulators.secret_manager", "--port", str(sm_port), "--stats-port", str(sm_stats_port),
             "--seed", f"{SECRET}={KEY}"],
            sm_port,
            LOGS,
        )  # fmt: skip
        servers.append(sm)
        sm_stats_url = f"http://127.0.0.1:{sm_stats_port}"
        variants = make_variants(function_root, emulator.url, f"127.0.0.1:{sm_port}")

        log("import time of main (python -X importtime -c 'import main', median of 3) ...")
        res["importtime"] = [importtime(variants[name], 3) for name in ("function", "function+SM")]
        for it in res["importtime"]:
            log(f"  {it['variant']:12s} import main: {it['total_ms']:.0f} ms ({it['modules']} modules)")

        log(f"1. cold start: {' / '.join(VARIANTS)}, 1 warm-up round + {rounds} rounds, interleaved")
        res["cold_start"] = section_cold(variants, rounds, sm_stats_url)

        log("starting the function and the hello world for sections 2 and 3 ...")
        function = start_variant(variants["function"], "function")
        servers.append(function)
        hello = start_variant(variants["hello"], "hello")
        servers.append(hello)
        forwarder = start_variant(variants["forwarder"], "forwarder")
        servers.append(forwarder)

        log(f"3. CPU per request: instant upstream, c=16, {count} requests per path, {cpu_rounds} rounds")
        res["cpu"] = section_cpu(emulator, function, hello, forwarder, count, cpu_rounds)
        stop_group(hello.proc)
        stop_group(forwarder.proc)

        log(f"2. {INFLIGHT} requests in flight at once on the function, upstream 1 s")
        res["inflight"] = section_inflight(emulator, function, INFLIGHT)
        ld = res["inflight"]["load"]
        log(
            f"  {ld['ok']}/{ld['count']} ok in {ld['wall_s']:.2f} s, {ld['errors']} errors, "
            f"emulator max_in_flight {res['inflight']['emulator_stats']['max_in_flight']}, "
            f"tree peak RSS {res['inflight']['tree_peak']['rss_peak_mb']:.0f} MB"
        )
    finally:
        for s in reversed(servers):
            stop_group(s.proc)

    res["loadavg_after"] = os.getloadavg()
    res["targets"] = targets(res)
    res["elapsed_s"] = time.monotonic() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print()
    print(table(res))
    print()
    out = args.out.relative_to(ROOT) if args.out.resolve().is_relative_to(ROOT) else args.out
    log(f"raw numbers: {out}; logs: {LOGS.relative_to(ROOT)}/instance-*; total {res['elapsed_s']:.0f} s")
    missed = [t["target"] for t in res["targets"] if t["gating"] and not t["pass"]]
    if missed:
        log("targets missed: " + "; ".join(missed))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
