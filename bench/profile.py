"""Where the function's time goes under load: py-spy on its worker, plus CPU time per process.

Starts the emulator (instant upstream) and the function as ``bench/run.py``
does, drives ``--count`` requests at ``--concurrency`` through the function
while ``py-spy record`` samples the gunicorn/uvicorn worker, then prints:

- CPU seconds used by each process during the load (load generator, emulator,
  function worker) — which one is the bottleneck on this machine;
- the top functions by self time and by inclusive time (% of samples), and a
  coarse split by package (uvicorn, starlette, gemini_gateway, httpx, aiohttp,
  logging, json, pydantic, ...).

Needs py-spy (``.venv/bin/pip install py-spy``) and ptrace permission.
Output: ``bench/results/profile-<concurrency>.txt`` (collapsed stacks) and
``bench/results/profile-<concurrency>.svg`` (flame graph).

    python bench/profile.py [--count 6000] [--concurrency 16] [--rate 250] [--idle]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import RESULTS, children, http_json, proc_cpu_s  # noqa: E402
from bench.load import run_load_sync  # noqa: E402
from bench.run import FUNCTION_BODY, start_emulator, start_function, stop_tree  # noqa: E402

BUCKETS = [
    ("gemini_gateway/", "gemini_gateway (the function's code)"),
    ("/main.py", "gemini_gateway (the function's code)"),
    ("httpx_aiohttp/", "httpx_aiohttp"),
    ("httpx/", "httpx"),
    ("httpcore/", "httpcore"),
    ("aiohttp/", "aiohttp (client)"),
    ("uvicorn/", "uvicorn"),
    ("h11/", "h11"),
    ("httptools/", "httptools"),
    ("starlette/", "starlette"),
    ("functions_framework/", "functions_framework"),
    ("pydantic", "pydantic"),
    ("logging/", "logging"),
    ("json/", "json"),
    ("asyncio/", "asyncio (event loop)"),
    ("selectors.py", "asyncio (event loop)"),
    ("gunicorn/", "gunicorn"),
    ("uvloop", "uvloop"),
]


def frame_file(frame: str) -> str:
    # py-spy collapsed frames look like "function (path/to/file.py:123)"
    if "(" in frame and frame.endswith(")"):
        return frame.rsplit("(", 1)[1][:-1]
    return ""


def frame_name(frame: str) -> str:
    if "(" in frame and frame.endswith(")"):
        func, loc = frame.rsplit(" (", 1)
        loc = loc[:-1]
        path = loc.rpartition(":")[0]
        parts = Path(path).parts
        short = "/".join(parts[-2:]) if len(parts) >= 2 else path
        return f"{func} ({short})"
    return frame


def bucket(frame: str) -> str:
    f = frame_file(frame)
    for needle, name in BUCKETS:
        if needle in f:
            return name
    return "other"


# Inclusive shares of named parts of a request (a sample counts if any of its frames matches).
PHASES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("ASGI app incl. everything below (RequestResponseCycle.run_asgi)", ("RequestResponseCycle.run_asgi (",), ()),
    ("  functions-framework + Starlette layers down to handle()", ("Router.__call__ (starlette",), ()),
    ("  gemini_gateway: handle() (app.py)", ("handle (gemini_gateway/app.py)",), ()),
    ("    upstream call: GatewayClient._call (httpx + httpx_aiohttp + aiohttp)", ("GatewayClient._call (",), ()),
    (
        "      httpx's own layers (send/build_request, outside the transport)",
        ("AsyncClient.send (", "BaseClient.build_request ("),
        ("AiohttpTransport.handle_async_request (",),
    ),
    ("      httpx_aiohttp transport incl. aiohttp", ("AiohttpTransport.handle_async_request (",), ()),
    ("      aiohttp client (ClientSession._request)", ("ClientSession._request (",), ()),
    ("      aiohttp writing the request to the socket", ("StreamWriter._writelines (",), ()),
    ("      reading/parsing the upstream JSON (whole_body)", ("whole_body (",), ()),
    ("    request: read_body + validate + to_gemini_body", ("read_body (", "validate (", "to_gemini_body ("), ()),
    ("    normalise: read_answer + result_body", ("read_answer (", "result_body ("), ()),
    ("    json_response (serialising the answer)", ("json_response (",), ()),
    ("    access log (_access_log: JSON log line to stdout)", ("_access_log (",), ()),
    ("    cancel_if_gone's watcher task (watch)", ("watch (gemini_gateway",), ()),
    ("  uvicorn writing the response (RequestResponseCycle.send)", ("RequestResponseCycle.send (",), ()),
    ("uvicorn protocol outside the app (parsing, connection handling)", ("HttpToolsProtocol.",), ()),
]


def summarise(collapsed: Path, top: int = 25) -> str:
    self_counts: collections.Counter[str] = collections.Counter()
    incl_counts: collections.Counter[str] = collections.Counter()
    bucket_self: collections.Counter[str] = collections.Counter()
    phase_counts: collections.Counter[str] = collections.Counter()
    total = 0
    idle = 0
    for line in collapsed.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, n = line.rpartition(" ")
        count = int(n)
        frames = stack.split(";")
        total += count
        leaf = frames[-1]
        if "select (selectors.py" in leaf or "poll (selectors.py" in leaf or "epoll" in leaf:
            idle += count
        self_counts[frame_name(leaf)] += count
        bucket_self[bucket(leaf)] += count
        names = {frame_name(f) for f in frames}
        for fr in names:
            incl_counts[fr] += count
        for label, needles, excluded in PHASES:
            if any(n in fr for fr in names for n in needles) and not any(n in fr for fr in names for n in excluded):
                phase_counts[label] += count
    if total == 0:
        return "no samples"
    out = [f"samples: {total} (of which waiting in epoll/select: {100 * idle / total:.1f} %)", ""]
    out.append("inclusive time by part of the request (% of worker samples):")
    for label, _, _ in PHASES:
        out.append(f"  {100 * phase_counts[label] / total:5.1f} %  {label}")
    out.append("")
    out.append("self time by package (leaf frame):")
    for name, c in bucket_self.most_common():
        out.append(f"  {100 * c / total:5.1f} %  {name}")
    out.append("")
    out.append(f"top {top} functions by self time:")
    for name, c in self_counts.most_common(top):
        out.append(f"  {100 * c / total:5.1f} %  {name}")
    out.append("")
    out.append(f"top {top} functions by inclusive time:")
    shown = 0
    for name, c in incl_counts.most_common():
        if c >= 0.99 * total:  # the process skeleton (gunicorn, click, runpy, asyncio.run)
            continue
        out.append(f"  {100 * c / total:5.1f} %  {name}")
        shown += 1
        if shown >= top:
            break
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--idle", action="store_true", help="include idle (waiting) samples")
    args = parser.parse_args(argv)

    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        sys.exit("py-spy not found: .venv/bin/pip install py-spy")
    RESULTS.mkdir(parents=True, exist_ok=True)
    emulator = start_emulator()
    function = start_function(emulator)
    try:
        http_json("POST", emulator.url + "/__emulator/config", {"delay": 0.0})
        workers = children(function.proc.pid)
        if len(workers) != 1:
            sys.exit(f"expected one worker under {function.proc.pid}, found {workers}")
        worker = workers[0]
        run_load_sync(function.url + "/", FUNCTION_BODY, count=500, concurrency=args.concurrency, warmup=50)

        collapsed = RESULTS / f"profile-c{args.concurrency}.txt"
        svg = RESULTS / f"profile-c{args.concurrency}.svg"
        procs = {"load generator (this process)": os.getpid(), "emulator": emulator.proc.pid, "function worker": worker}
        before = {k: proc_cpu_s(p) for k, p in procs.items()}
        result: dict[str, object] = {}

        def drive() -> None:
            t0 = time.perf_counter()
            result["load"] = run_load_sync(
                function.url + "/", FUNCTION_BODY, count=args.count, concurrency=args.concurrency, warmup=0
            )
            result["wall"] = time.perf_counter() - t0

        spy_cmd = [pyspy, "record", "--pid", str(worker), "--rate", str(args.rate)]
        if args.idle:
            spy_cmd.append("--idle")
        raw = subprocess.Popen(
            [*spy_cmd, "--format", "raw", "--output", str(collapsed)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(1.0)  # let py-spy attach
        t = threading.Thread(target=drive)
        t.start()
        t.join()
        after = {k: proc_cpu_s(p) for k, p in procs.items()}
        raw.send_signal(2)  # SIGINT: py-spy writes its output and exits
        _, err = raw.communicate(timeout=30)
        wall = float(result["wall"])  # type: ignore[arg-type]
        print(f"load: {result['load'].line()}")  # type: ignore[attr-defined]
        print(f"\nCPU used during the load ({wall:.2f} s wall, {os.cpu_count()} CPUs):")
        for k in procs:
            used = after[k] - before[k]
            print(f"  {k:30s} {used:6.2f} s CPU = {100 * used / wall:5.1f} % of one core")
        if not collapsed.exists():
            print("py-spy produced nothing:", err.decode(errors="replace")[-2000:])
            return
        print()
        print(summarise(collapsed))
        # A flame graph from the same stacks, for people who prefer pictures.
        subprocess.run(
            [*spy_cmd, "--duration", "1", "--output", str(svg)], capture_output=True, check=False, timeout=30
        )
        print(f"\ncollapsed stacks: {collapsed.relative_to(ROOT)}")
    finally:
        stop_tree(function)
        stop_tree(emulator)


if __name__ == "__main__":
    main()
