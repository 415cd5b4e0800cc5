"""Real servers on loopback: the AI Gateway emulator, the Secret Manager
emulator, and the function under functions-framework's production server.

Nothing is monkeypatched: the function's httpx client and the real
google-cloud-secret-manager client talk to the emulators over sockets.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.cloud import secretmanager
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import SecretManagerServiceGrpcTransport

from tests.support.processes import Server, free_port, start_server, stop_all

PROJECT = "projects/test-project"
GEMINI_KEY = "AQ.Ab8RN6LtestEmulatorGeminiKey-v1_not-a-real-auth-key"  # an AI Studio auth key, as issued today
GEMINI_SECRET = f"{PROJECT}/secrets/gemini-api-key"
CLIENT_KEYS_SECRET = f"{PROJECT}/secrets/client-api-keys"
CLIENT_KEYS = {"ios-app": "test-client-key-ios", "web": "test-client-key-web"}
DENIED_SECRET = f"{PROJECT}/secrets/denied"
MODELS = "gemini-2.5-flash,gemini-2.5-pro,gemini-3.8-flash"
ORIGIN = "https://app.example.com"

# Extra secrets seeded at start, for tests that need one of their own (access counts, rotation).
EXTRA_SECRETS = {
    f"{PROJECT}/secrets/gemini-once": GEMINI_KEY,
    f"{PROJECT}/secrets/gemini-concurrent": GEMINI_KEY,
    f"{PROJECT}/secrets/gemini-rotating": "test-rotating-key-1",
    f"{PROJECT}/secrets/gemini-leaky": "test-leaky-key-998877",
    f"{PROJECT}/secrets/gemini-startup": GEMINI_KEY,
}


class Gateway:
    """The AI Gateway emulator and its control API."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.url = server.url
        self._http = httpx.Client(base_url=server.url, timeout=10)

    def reset(self) -> None:
        self._http.post("/__emulator/reset").raise_for_status()

    def config(self, **values: Any) -> None:
        self._http.post("/__emulator/config", json=values).raise_for_status()

    def faults(self, *faults: Mapping[str, Any]) -> None:
        self._http.post("/__emulator/faults", json={"faults": list(faults)}).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        return list(self._http.get("/__emulator/requests").json()["requests"])

    def stats(self) -> dict[str, Any]:
        return dict(self._http.get("/__emulator/stats").json())

    def the_one_request_once_disconnected(self, timeout: float = 3.0) -> dict[str, Any]:
        """The single recorded upstream request, once it shows the function hung up (or at timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.requests()
            if (seen and seen[0]["disconnected"]) or time.monotonic() > deadline:
                (one,) = seen
                return one
            time.sleep(0.05)


def leave_midway(port: int, path: str, headers: Mapping[str, str], body: bytes, until: Callable[[bytes], bool]) -> None:
    """Send a raw HTTP/1.1 POST, wait until `until()` is true of what arrived, then hang up."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\n{head}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        sock.settimeout(0.05)
        received = b""
        deadline = time.monotonic() + 5
        while not until(received) and time.monotonic() < deadline:
            try:
                received += sock.recv(65536)
            except TimeoutError:
                continue


class SecretManager:
    """The Secret Manager emulator, driven with the real client library."""

    def __init__(self, server: Server, stats_port: int) -> None:
        self.server = server
        self.host = f"127.0.0.1:{server.port}"
        self._stats = httpx.Client(base_url=f"http://127.0.0.1:{stats_port}", timeout=10)
        channel = grpc.insecure_channel(self.host)
        self.client = secretmanager.SecretManagerServiceClient(
            transport=SecretManagerServiceGrpcTransport(channel=channel)
        )

    def add_version(self, secret: str, value: str) -> str:
        version = self.client.add_secret_version(parent=secret, payload={"data": value.encode()})
        return str(version.name)

    def access_count(self, secret: str) -> int:
        counts = self._stats.get("/stats").json()["access_count"]
        return int(counts.get(secret, 0))


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def gateway(logs_dir: Path) -> Iterator[Gateway]:
    port = free_port()
    server = start_server(
        "ai-gateway", ["-m", "emulators.ai_gateway", "--port", str(port), "--key", GEMINI_KEY], port, logs_dir
    )
    yield Gateway(server)
    server.stop()


@pytest.fixture(scope="session")
def secret_manager(logs_dir: Path) -> Iterator[SecretManager]:
    port, stats_port = free_port(), free_port()
    seeds = {
        GEMINI_SECRET: GEMINI_KEY,
        CLIENT_KEYS_SECRET: ",".join(f"{name}:{key}" for name, key in CLIENT_KEYS.items()),
        DENIED_SECRET: "never-served",
        **EXTRA_SECRETS,
    }
    args = [
        "-m",
        "emulators.secret_manager",
        "--port",
        str(port),
        "--stats-port",
        str(stats_port),
        "--deny",
        DENIED_SECRET,
    ]
    for name, value in seeds.items():
        args += ["--seed", f"{name}={value}"]
    server = start_server("secret-manager", args, port, logs_dir)
    yield SecretManager(server, stats_port)
    server.stop()


def base_env(gateway: Gateway, secret_manager: SecretManager) -> dict[str, str]:
    return {
        "CLOUDFLARE_ACCOUNT_ID": "test-account",
        "AI_GATEWAY_ID": "test-gateway",
        "AI_GATEWAY_BASE_URL": gateway.url,
        "GEMINI_API_KEY_SECRET": f"{GEMINI_SECRET}/versions/latest",
        "CLIENT_API_KEYS_SECRET": f"{CLIENT_KEYS_SECRET}/versions/latest",
        "SECRET_MANAGER_EMULATOR_HOST": secret_manager.host,
        "ALLOWED_MODELS": MODELS,
        "DEFAULT_MODEL": "gemini-2.5-flash",
        "ALLOWED_ORIGINS": ORIGIN,
        "UPSTREAM_TIMEOUT_SECONDS": "10",
        "GOOGLE_CLOUD_PROJECT": "test-project",
        "LOG_EXECUTION_ID": "true",  # as Cloud Run sets it: our logs must survive it
    }


class Function:
    """One function process; `client` sends authenticated JSON by default."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.url = server.url
        self.http = httpx.Client(base_url=server.url, timeout=30)

    def post(
        self, body: Any = None, *, key: str | None = CLIENT_KEYS["ios-app"], path: str = "/", **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if key is not None:
            headers.setdefault("Authorization", f"Bearer {key}")
        if body is not None and "content" not in kw:
            kw["content"] = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        return self.http.post(path, headers=headers, **kw)

    def logs(self) -> list[dict[str, Any]]:
        """Every JSON log line the process wrote."""
        lines = []
        for line in self.server.output().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                lines.append(entry)
        return lines

    def access_line(self, request_id: str, timeout: float = 3.0) -> dict[str, Any] | None:
        """The request's access-log line; a stream's is written just after its last byte, so wait for it."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.logs():
                if line.get("request_id") == request_id and "httpRequest" in line:
                    return line
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def start_function(gateway: Gateway, secret_manager: SecretManager, logs_dir: Path) -> Iterator[Any]:
    """start_function(**env_overrides) → a Function; same overrides, same process."""
    started: dict[tuple[tuple[str, str | None], ...], Function] = {}

    def start(**overrides: str | None) -> Function:
        key = tuple(sorted(overrides.items()))
        if key not in started:
            env = base_env(gateway, secret_manager)
            for name, value in overrides.items():
                if value is None:
                    env.pop(name, None)
                else:
                    env[name] = value
            port = free_port()
            env["PORT"] = str(port)
            args = ["-m", "functions_framework", "--target", "generate", "--source", "main.py"]
            started[key] = Function(start_server("function", args, port, logs_dir, env=env))
        return started[key]

    yield start
    stop_all([fn.server for fn in started.values()])


@pytest.fixture(scope="session")
def fn(start_function: Any) -> Function:
    """The default function: keys from Secret Manager, client API keys required."""
    function: Function = start_function()
    return function


@pytest.fixture(autouse=True)
def _clean_gateway(gateway: Gateway) -> Iterator[None]:
    gateway.reset()
    yield
    gateway.reset()
