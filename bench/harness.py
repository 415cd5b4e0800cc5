"""What every benchmark script shares: where results go, the emulator's names, and Linux /proc readings.

One copy, so the scripts measure processes the same way and start servers
from the same clean environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "logs"
KEY = "bench-key"
ACCOUNT = "bench-account"
GATEWAY = "bench-gateway"
MODEL = "gemini-2.5-flash"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(msg, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def http_json(
    method: str, url: str, body: Any = None, timeout: float = 10.0, headers: dict[str, str] | None = None
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def clean_env() -> dict[str, str]:
    """The caller's environment minus anything that would change how the servers run."""
    drop = {"THREADS", "WORKERS", "GUNICORN_LOG_LEVEL", "CLOUD_RUN_TIMEOUT_SECONDS", "LOG_EXECUTION_ID", "PORT"}
    drop |= {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME", "FUNCTION_TARGET", "FUNCTION_SOURCE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    for k in list(env):  # never let a real configuration leak in
        if k.startswith(("GEMINI_", "AI_GATEWAY_", "CLOUDFLARE_", "CLIENT_API_KEYS", "SECRET_MANAGER_", "GOOGLE_")):
            del env[k]
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stop_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group (made with start_new_session), SIGKILL it after `grace`.

    gunicorn's SIGTERM is a graceful stop that would first work through every
    queued request (a peer may still hold hundreds after a capped run), hence the kill.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- /proc


def descendants(pid: int) -> list[int]:
    """pid and every process below it (Linux /proc), depth first."""
    out = [pid]
    i = 0
    while i < len(out):
        p = out[i]
        i += 1
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    out.extend(int(x) for x in fh.read().split())
            except OSError:
                pass
    return out


def proc_cpu_s(pid: int) -> float:
    """utime + stime of one process, in seconds (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_cpu_s(pid: int) -> float:
    return sum(proc_cpu_s(p) for p in descendants(pid))


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy since boot (all CPUs, /proc/stat)."""
    with open("/proc/stat") as fh:
        vals = [int(x) for x in fh.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = vals
    return (user + nice + system + irq + softirq + steal) / CLK_TCK
