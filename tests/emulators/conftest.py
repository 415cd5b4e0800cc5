"""Emulators started once per session as real subprocesses on loopback ports.

Why subprocesses: that is how the function's tests and the benchmarks use
them, so the CLI, readiness line and signal handling get exercised too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.firebase_tokens import signing_key
from tests.support.jobs import CloudTasks, Receiver, receiving, start_cloud_tasks
from tests.support.processes import Server, free_port, start_server, wait_for_port

__all__ = [
    "APP_CHECK_KID",
    "APP_CHECK_NUMBER",
    "APP_CHECK_PROJECT_ID",
    "AUTH_KEY",
    "GATEWAY_TOKEN",
    "GEMINI_KEY",
    "GEMINI_KEY_2",
    "QUEUE",
    "AppCheck",
    "CloudTasks",
    "Gateway",
    "Receiver",
    "SecretManager",
]

GEMINI_KEY = "test-gemini-key-1"
GEMINI_KEY_2 = "test-gemini-key-2"
AUTH_KEY = "AQ.Ab8RN6test-emulator-auth-key_fake0123456789"
"""An AI Studio auth key's shape: `AQ.` then base64url characters."""
GATEWAY_TOKEN = "test-gateway-token-1"
MODEL = "gemini-2.5-flash"


@dataclass
class Gateway:
    """A running AI Gateway emulator plus helpers for its control API."""

    server: Server
    client: httpx.Client

    @property
    def url(self) -> str:
        return self.server.url

    def model_url(self, action: str = "generateContent", model: str = MODEL, version: str = "v1beta") -> str:
        return f"{self.url}/test-account/test-gateway/google-ai-studio/{version}/models/{model}:{action}"

    @property
    def studio_url(self) -> str:
        """The gateway prefix the Google SDKs take as their base URL (they add `/{version}/...`)."""
        return f"{self.url}/test-account/test-gateway/google-ai-studio"

    def faults(self, *faults: dict[str, Any]) -> None:
        r = self.client.post(f"{self.url}/__emulator/faults", json={"faults": list(faults)})
        r.raise_for_status()

    def config(self, **config: Any) -> dict[str, Any]:
        r = self.client.post(f"{self.url}/__emulator/config", json=config)
        r.raise_for_status()
        return dict(r.json())

    def requests(self) -> list[dict[str, Any]]:
        return list(self.client.get(f"{self.url}/__emulator/requests").json()["requests"])

    def stats(self) -> dict[str, int]:
        return dict(self.client.get(f"{self.url}/__emulator/stats").json())

    def reset(self) -> None:
        self.client.post(f"{self.url}/__emulator/reset").raise_for_status()


@dataclass
class SecretManager:
    """A running Secret Manager emulator: gRPC host:port and the stats HTTP URL."""

    server: Server
    host: str
    stats_url: str


@pytest.fixture(scope="session")
def emulator_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulator-logs")


@pytest.fixture(scope="session")
def gateway_server(emulator_logs: Path) -> Iterator[Server]:
    port = free_port()
    keys = ["--key", GEMINI_KEY, "--key", GEMINI_KEY_2, "--key", AUTH_KEY]
    args = ["-m", "emulators.ai_gateway", "--port", str(port), *keys, "--background-delay", "0.3"]
    server = start_server("ai-gateway", args, port, log_dir=emulator_logs)
    yield server
    server.stop()


@pytest.fixture
def gateway(gateway_server: Server) -> Iterator[Gateway]:
    """The shared emulator, reset to its command-line config before each test."""
    with httpx.Client(timeout=10) as client:
        gw = Gateway(gateway_server, client)
        gw.reset()
        yield gw


@pytest.fixture(scope="session")
def secret_manager(emulator_logs: Path) -> Iterator[SecretManager]:
    port, stats_port = free_port(), free_port()
    args = [
        "-m",
        "emulators.secret_manager",
        "--port",
        str(port),
        "--stats-port",
        str(stats_port),
        "--seed",
        f"projects/demo/secrets/gemini-api-key={GEMINI_KEY}",
        "--seed",
        "projects/demo/secrets/two-versions=first",
        "--seed",
        "projects/demo/secrets/two-versions=second",
        "--seed",
        "projects/demo/secrets/forbidden=nope",
        "--deny",
        "projects/demo/secrets/forbidden",
    ]
    server = start_server("secret-manager", args, port, log_dir=emulator_logs)
    wait_for_port(stats_port, proc=server.proc)
    yield SecretManager(server, f"127.0.0.1:{port}", f"http://127.0.0.1:{stats_port}")
    server.stop()


# --------------------------------------------------------------------------- Cloud Tasks

QUEUE = "projects/demo/locations/us-central1/queues/jobs"
TASKS_MAX_ATTEMPTS = 4
TASKS_DEADLINE = 1.0


@pytest.fixture(scope="session")
def cloud_tasks_server(emulator_logs: Path) -> Iterator[CloudTasks]:
    emulator = start_cloud_tasks(
        emulator_logs,
        queue=QUEUE,
        max_attempts=TASKS_MAX_ATTEMPTS,
        min_backoff=0.05,
        max_backoff=0.4,
        max_doublings=2,
        dispatch_deadline=TASKS_DEADLINE,
    )
    yield emulator
    emulator.stop()


@pytest.fixture
def cloud_tasks(cloud_tasks_server: CloudTasks) -> CloudTasks:
    """The shared emulator, reset (no tasks, no used names, only the start-up queue) before each test."""
    cloud_tasks_server.reset()
    return cloud_tasks_server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as target:
        yield target


# --------------------------------------------------------------------------- App Check

APP_CHECK_NUMBER = "123456789012"
APP_CHECK_PROJECT_ID = "my-firebase-app"
APP_CHECK_KID = "app-check-emulator-test"
"""The tests' App Check signing key (tests/support/firebase_tokens.py); the stand-in gets its JWKS."""


@dataclass
class AppCheck:
    """A running App Check stand-in plus helpers for its control API."""

    server: Server
    client: httpx.Client

    @property
    def base(self) -> str:
        """What APP_CHECK_VERIFY_URL is set to."""
        return f"{self.server.url}/v1beta"

    def verify(self, token: Any, project: str = APP_CHECK_NUMBER, **kw: Any) -> httpx.Response:
        return self.client.post(
            f"{self.base}/projects/{project}:verifyAppCheckToken", json={"appCheckToken": token}, **kw
        )

    def config(self, **config: Any) -> dict[str, Any]:
        r = self.client.post(f"{self.server.url}/__emulator/config", json=config)
        r.raise_for_status()
        return dict(r.json())

    def faults(self, *faults: dict[str, Any]) -> None:
        self.client.post(f"{self.server.url}/__emulator/faults", json={"faults": list(faults)}).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return dict(self.client.get(f"{self.server.url}/__emulator/stats").json())

    def reset(self) -> None:
        self.client.post(f"{self.server.url}/__emulator/reset").raise_for_status()


@pytest.fixture(scope="session")
def app_check_server(emulator_logs: Path) -> Iterator[Server]:
    jwks = emulator_logs / "app-check-jwks.json"
    jwks.write_text(json.dumps({"keys": [signing_key(APP_CHECK_KID).jwk()]}))
    port = free_port()
    args = [
        "-m",
        "emulators.app_check",
        "--port",
        str(port),
        "--project",
        f"{APP_CHECK_NUMBER}:{APP_CHECK_PROJECT_ID}",
        "--jwks-file",
        str(jwks),
    ]
    server = start_server("app-check", args, port, log_dir=emulator_logs)
    yield server
    server.stop()


@pytest.fixture
def app_check(app_check_server: Server) -> Iterator[AppCheck]:
    """The shared stand-in, reset to its command-line config before each test."""
    with httpx.Client(timeout=10) as client:
        stand_in = AppCheck(app_check_server, client)
        stand_in.reset()
        yield stand_in
