"""Start real servers as child processes on loopback ports, and stop them.

Tests talk to the function, the AI Gateway emulator and the Secret Manager
emulator over real sockets; this module is the one place that knows how to
launch a process, wait until its port answers, and clean it up.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ROOT", "Server", "free_port", "redis_process", "start_server", "stop_all", "wait_for_port"]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Server:
    """A child process serving on a loopback port; its output goes to a log file."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        stop_all([self])


def stop_all(servers: Sequence[Server], timeout: float = 10.0) -> None:
    """SIGTERM every server first, then wait for each (killing what outlives `timeout`).

    Stopping them one after the other cost a session's teardown ~0.3 s per function (gunicorn's graceful
    exit), ~30 s for the functions one run starts; in parallel it costs the slowest one.
    """
    running = [server.proc for server in servers if server.proc.poll() is None]
    for proc in running:
        proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_server(
    name: str,
    args: Sequence[str],
    port: int,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    inherit_env: bool = True,
    timeout: float = 30.0,
) -> Server:
    """Run `python args...` from the repo root and wait for `port` to accept."""
    full_env = dict(os.environ) if inherit_env else {"PATH": os.environ.get("PATH", "")}
    full_env.update(env or {})
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-{port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        wait_for_port(port, timeout=timeout, proc=proc)
    except Exception:
        proc.kill()
        raise RuntimeError(f"{name} did not start; its output:\n{log_path.read_text(errors='replace')}") from None
    return Server(name=name, port=port, proc=proc, log_path=log_path, env=dict(env or {}))


def redis_process(data_dir: Path, log: bool = False) -> tuple[subprocess.Popen[bytes], int] | None:
    """A throwaway redis-server on a free loopback port, no persistence: (process, port) once it listens.

    Its output goes to `data_dir/redis-<port>.log` with `log`. None when redis-server is not installed
    (tests skip, benchmarks leave their Redis rows out).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with open(data_dir / f"redis-{port}.log" if log else os.devnull, "wb") as out:
        proc = subprocess.Popen(
            [*args, "--dir", str(data_dir)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    wait_for_port(port, proc=proc)
    return proc, port
