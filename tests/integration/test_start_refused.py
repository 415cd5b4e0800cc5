"""A bad revision never takes traffic (docs/API.md §2): static problems stop the start, transient ones 503.

Each case starts the function the way Cloud Run does (functions-framework,
production server) and checks that it exits non-zero before its port ever
accepts a connection, after one log line naming every problem.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.integration.conftest import GEMINI_KEY, PROJECT, Gateway, SecretManager, base_env
from tests.support.processes import ROOT, free_port

pytestmark = pytest.mark.slow


def _refused(env: dict[str, str]) -> tuple[int, list[dict[str, Any]], str]:
    """Start the function with `env`; (exit status, its JSON lines, all output), never having listened."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "functions_framework", "--target", "generate", "--source", "main.py"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env, "PORT": str(port), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    listened = False
    while proc.poll() is None and time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.05)
            listened = listened or probe.connect_ex(("127.0.0.1", port)) == 0
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
    output = proc.communicate(timeout=10)[0].decode("utf-8", "replace")
    assert not listened, f"the port accepted connections before the exit:\n{output}"
    lines = []
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            lines.append(entry)
    return proc.returncode, lines, output


@pytest.mark.parametrize(
    ("change", "variables"),
    [
        ({"CLOUDFLARE_ACCOUNT_ID": None}, ["CLOUDFLARE_ACCOUNT_ID"]),
        ({"MAX_REQUEST_BYTES": "lots"}, ["MAX_REQUEST_BYTES"]),
        ({"CLIENT_API_KEYS_SECRET": None}, ["ALLOW_UNAUTHENTICATED"]),
        ({"GEMINI_API_KEY_SECRET": "projects/p/secrets/s"}, ["GEMINI_API_KEY_SECRET"]),
        ({"CALLER_POLICIES": '{"uid:*": {"daily_budget": 5}}'}, ["CALLER_POLICIES"]),
        ({"JOBS_QUEUE": "projects/p/locations/l/queues/q"}, ["JOBS_QUEUE", "JOBS_SERVICE_ACCOUNT", "JOBS_URL"]),
        ({"AI_GATEWAY_ID": "", "ALLOWED_ORIGINS": "app.example.com"}, ["AI_GATEWAY_ID", "ALLOWED_ORIGINS"]),
    ],
)
def test_a_static_problem_stops_the_start_naming_every_variable(
    gateway: Gateway, secret_manager: SecretManager, change: dict[str, str | None], variables: list[str]
) -> None:
    env = base_env(gateway, secret_manager)
    for name, value in change.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    status, lines, output = _refused(env)
    assert status != 0, output
    (refusal,) = [line for line in lines if line.get("severity") == "CRITICAL"]
    assert refusal["variables"] == variables, refusal
    assert all(name in refusal["message"] for name in variables)
    if "CALLER_POLICIES" in change:
        assert "uid:*.daily_budget" in refusal["message"], "the policy entry and field are named"
    assert "Traceback" not in output, output


def test_a_missing_secret_version_is_not_static_it_serves_503_until_it_exists(
    start_function: Any, secret_manager: SecretManager
) -> None:
    secret = f"{PROJECT}/secrets/gemini-later"
    fn = start_function(GEMINI_API_KEY_SECRET=f"{secret}/versions/latest")
    first = fn.post({"prompt": "x"})
    assert first.status_code == 503 and first.json()["error"]["retryable"] is True, first.text
    secret_manager.client.create_secret(
        parent=PROJECT, secret_id="gemini-later", secret={"replication": {"automatic": {}}}
    )
    secret_manager.add_version(secret, GEMINI_KEY)
    deadline = time.monotonic() + 30  # a failed fetch is retried after 10 s at most
    while (status := fn.post({"prompt": "x"}).status_code) != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 200
