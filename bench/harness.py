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
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gemini_gateway.config_types import DEFAULT_MODEL
from tests.support.processes import redis_process

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "logs"
KEY = "bench-key"
ACCOUNT = "bench-account"
GATEWAY = "bench-gateway"
MODEL = DEFAULT_MODEL  # what the function asks for when a request names none: every bench uses it
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


def start_redis(data_dir: str | Path) -> tuple[subprocess.Popen[bytes], str] | None:
    """A throwaway redis-server (`tests/support/processes.redis_process`): (process, URL), or None if not installed."""
    started = redis_process(Path(data_dir))
    if started is None:
        return None
    proc, port = started
    return proc, f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    """`start_redis` for the length of a block: its URL, or None when redis-server is not installed."""
    with tempfile.TemporaryDirectory() as tmp:
        started = start_redis(tmp)
        if started is None:
            yield None
            return
        proc, url = started
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def function_args(source: str, port: int) -> list[str]:
    """How Cloud Run starts a function (functions-framework in production mode: gunicorn + uvicorn
    worker), on loopback; arguments to `python`."""
    return ["-m", "functions_framework", "--target", "generate", "--source", source,
            "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- /proc


def children(pid: int) -> list[int]:
    """Direct children of pid (Linux /proc)."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(x) for x in fh.read().split())
        except OSError:
            pass
    return out


def descendants(pid: int) -> list[int]:
    """pid and every process below it (Linux /proc), breadth first."""
    out = [pid]
    i = 0
    while i < len(out):
        out.extend(children(out[i]))
        i += 1
    return out


def _first_kb(path: str, key: str) -> int:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_mb(pid: int) -> float:
    """VmRSS of one process in MB (0 if it is gone)."""
    return _first_kb(f"/proc/{pid}/status", "VmRSS:") / 1024


def pss_mb(pid: int) -> float:
    """Proportional set size: pages shared with other processes (after fork) counted once, split."""
    return _first_kb(f"/proc/{pid}/smaps_rollup", "Pss:") / 1024


def cpu_model() -> str:
    return next(
        (line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name")), ""
    )


def _lines(path: str) -> list[str]:
    try:
        with open(path) as fh:
            return fh.read().splitlines()
    except OSError:
        return []


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


class CpuMeter:
    """CPU seconds per named reader, and the whole machine's, over one or more `with` blocks.

    "Other processes" is the machine's busy time minus what the readers account for:
    how much the rest of the machine (other sessions' work) competed.
    """

    def __init__(self, readers: dict[str, Callable[[], float]]) -> None:
        self.readers = readers
        self.used: dict[str, float] = dict.fromkeys(readers, 0.0)
        self.machine = 0.0
        self.wall = 0.0
        self._start: tuple[dict[str, float], float, float] | None = None

    @classmethod
    def of_processes(cls, groups: dict[str, list[int]]) -> CpuMeter:
        """Each group: the summed CPU of its listed processes (not their children)."""

        def reader(pids: list[int]) -> Callable[[], float]:
            return lambda: sum(proc_cpu_s(p) for p in pids)

        return cls({k: reader(pids) for k, pids in groups.items()})

    def _snap(self) -> dict[str, float]:
        return {k: read() for k, read in self.readers.items()}

    def __enter__(self) -> CpuMeter:
        self._start = (self._snap(), machine_busy_s(), time.perf_counter())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._start is not None
        snap, busy, t0 = self._start
        now = self._snap()
        for k in self.readers:
            self.used[k] += now[k] - snap[k]
        self.machine += machine_busy_s() - busy
        self.wall += time.perf_counter() - t0

    def report(self) -> dict[str, Any]:
        """Percent of one core per reader, and the machine's other work as percent of all its CPUs."""
        ncpu = os.cpu_count() or 1
        w = self.wall or 1e-9
        ours = sum(self.used.values())
        return {
            "wall_s": self.wall,
            "cpu_s": dict(self.used),
            "pct_of_one_core": {k: 100 * v / w for k, v in self.used.items()},
            "machine_busy_pct": 100 * self.machine / (w * ncpu),
            "other_processes_pct_of_machine": max(0.0, 100 * (self.machine - ours) / (w * ncpu)),
        }


class PeakSampler:
    """Calls `measure` every `interval` seconds in a thread while in a `with` block; keeps each key's peak."""

    def __init__(self, measure: Callable[[], dict[str, float]], interval: float = 0.05) -> None:
        self.measure = measure
        self.interval = interval
        self.peak: dict[str, float] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while True:  # at least one sample, however short the block
            for k, v in self.measure().items():
                self.peak[k] = max(self.peak.get(k, v), v)
            self.samples += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
