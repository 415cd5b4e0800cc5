"""What the jobs tests share: a callback receiver, the Cloud Tasks emulator, and verifying a delivery.

All real sockets on loopback: the receiver is a threaded HTTP server that
records every request and answers from a script; the Cloud Tasks emulator is
the repository's own (`emulators/cloud_tasks.py`), started as a process and
talked to by the function over gRPC.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from .processes import Server, free_port, redis_process, start_server, wait_for_port

__all__ = [
    "CALLBACK_SECRET",
    "JOBS_ACCOUNT",
    "QUEUE",
    "CloudTasks",
    "Receiver",
    "RedisServer",
    "receiving",
    "start_cloud_tasks",
    "start_redis",
    "verified",
]

CALLBACK_SECRET = "whsec_" + base64.b64encode(b"test-callback-secret-32-bytes!!!").decode()
"""A Standard Webhooks secret for tests (32 bytes of test text)."""
QUEUE = "projects/test-project/locations/us-central1/queues/jobs"
JOBS_ACCOUNT = "jobs@test-project.iam.gserviceaccount.com"


@dataclass
class Receiver:
    """A loopback HTTP target (job callbacks, dispatched tasks): records each request, answers from `script` (then 200).

    A script entry is a status, `(seconds, status)` to answer that late, or
    `("redirect", url)` for a 302 to `url`. Every answer sets a cookie, which no sender may send back.
    """

    url: str
    script: list[Any] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> Any:
        with self.lock:
            return self.script.pop(0) if self.script else 200

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self.lock:
            return list(self.received)


@contextmanager
def receiving(script: list[Any] | None = None) -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            rec = holder["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with rec.lock:
                rec.received.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "time": time.time(),
                    }
                )
            answer = rec.next_answer()
            location = None
            if isinstance(answer, tuple) and answer[0] == "redirect":
                status, location = 302, answer[1]
            elif isinstance(answer, tuple):
                time.sleep(answer[0])
                status = answer[1]
            else:
                status = answer
            data = json.dumps({"status": status}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Set-Cookie", "receiver-session=test-cookie; Path=/")
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the sender gave up waiting

        do_POST = do_PUT = do_GET = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    holder["receiver"] = Receiver(f"http://127.0.0.1:{httpd.server_address[1]}", list(script or []))
    threading.Thread(target=httpd.serve_forever, name="callback-receiver", daemon=True).start()
    try:
        yield holder["receiver"]
    finally:
        httpd.shutdown()
        httpd.server_close()


def verified(delivery: dict[str, Any], secret: str = CALLBACK_SECRET) -> dict[str, Any]:
    """The delivery's JSON, verified as a receiver would: the standardwebhooks package, 5-minute window."""
    from standardwebhooks import Webhook

    return dict(Webhook(secret).verify(delivery["body"], delivery["headers"]))


@dataclass
class CloudTasks:
    """A running Cloud Tasks emulator: gRPC host:port, and its HTTP side (OIDC certs, control API)."""

    server: Server
    host: str
    http_url: str
    client: httpx.Client

    @property
    def certs_url(self) -> str:
        return f"{self.http_url}/oauth2/v1/certs"

    def tasks(self) -> list[dict[str, Any]]:
        return list(self.client.get(f"{self.http_url}/__emulator/tasks").json()["tasks"])

    def task(self, name: str) -> dict[str, Any]:
        r = self.client.get(f"{self.http_url}/__emulator/tasks", params={"name": name})
        r.raise_for_status()
        return dict(r.json())

    def wait(self, name: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """Until every task (or the task `name`) has finished; the emulator's answer."""
        params: dict[str, Any] = {"timeout": timeout} if name is None else {"timeout": timeout, "name": name}
        r = self.client.get(f"{self.http_url}/__emulator/wait", params=params, timeout=timeout + 5)
        r.raise_for_status()
        body = dict(r.json())
        assert body["done"], body
        return body

    def stats(self) -> dict[str, int]:
        return dict(self.client.get(f"{self.http_url}/__emulator/stats").json())

    def mint(self, audience: str, email: str, **extra: Any) -> str:
        r = self.client.post(
            f"{self.http_url}/__emulator/oidc/token", json={"audience": audience, "email": email, **extra}
        )
        r.raise_for_status()
        return str(r.json()["token"])

    def reset(self) -> None:
        self.client.post(f"{self.http_url}/__emulator/reset").raise_for_status()

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


def start_cloud_tasks(
    log_dir: Path,
    *,
    queue: str = QUEUE,
    max_attempts: int = 60,
    min_backoff: float = 0.1,
    max_backoff: float = 1.0,
    max_doublings: int = 3,
    dispatch_deadline: float | None = None,
) -> CloudTasks:
    port, http_port = free_port(), free_port()
    args = [
        "-m",
        "emulators.cloud_tasks",
        "--port",
        str(port),
        "--oidc-port",
        str(http_port),
        "--queue",
        queue,
        "--max-attempts",
        str(max_attempts),
        "--min-backoff",
        str(min_backoff),
        "--max-backoff",
        str(max_backoff),
        "--max-doublings",
        str(max_doublings),
    ]
    if dispatch_deadline is not None:
        args += ["--dispatch-deadline", str(dispatch_deadline)]
    server = start_server("cloud-tasks", args, port, log_dir)
    wait_for_port(http_port, proc=server.proc)
    return CloudTasks(server, f"127.0.0.1:{port}", f"http://127.0.0.1:{http_port}", httpx.Client(timeout=10))


@dataclass
class RedisServer:
    """A throwaway redis-server on loopback (skips the test when none is installed)."""

    proc: Any
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start_redis(log_dir: Path) -> RedisServer:
    import pytest

    started = redis_process(log_dir, log=True)
    if started is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server; .ci/run installs it in CI)")
    return RedisServer(*started)
