"""Cold start: the Gemini key is fetched as the worker starts, once, and a failed start-up fetch is retried."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import GEMINI_KEY, PROJECT, SecretManager

ROOT = Path(__file__).resolve().parents[2]


def wait_for_count(secret_manager: SecretManager, secret: str, count: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = secret_manager.access_count(secret)
        if seen >= count:
            return seen
        time.sleep(0.02)
    return secret_manager.access_count(secret)


def test_key_is_fetched_as_the_worker_starts_and_only_once(start_function: Any, secret_manager: SecretManager) -> None:
    secret = f"{PROJECT}/secrets/gemini-startup"
    fn = start_function(GEMINI_API_KEY_SECRET=f"{secret}/versions/latest")
    assert wait_for_count(secret_manager, secret, 1) == 1, "fetched at start, before any request"
    for _ in range(3):
        assert fn.post({"prompt": "x"}).status_code == 200
    time.sleep(0.2)
    assert secret_manager.access_count(secret) == 1, "the first request used the start-up fetch"


def test_failed_startup_fetch_is_retried_by_the_first_request(
    start_function: Any, secret_manager: SecretManager
) -> None:
    secret = f"{PROJECT}/secrets/gemini-late"
    fn = start_function(GEMINI_API_KEY_SECRET=f"{secret}/versions/latest")
    assert wait_for_count(secret_manager, secret, 1) == 1  # the start-up fetch, which found no such secret
    secret_manager.client.create_secret(
        parent=PROJECT, secret_id="gemini-late", secret={"replication": {"automatic": {}}}
    )
    secret_manager.add_version(secret, GEMINI_KEY)
    response = fn.post({"prompt": "x"})
    assert response.status_code == 200, response.text
    assert secret_manager.access_count(secret) == 2
    assert any("start-up failed" in str(e.get("message")) for e in fn.logs())


def _import_main(**extra: str) -> dict[str, Any]:
    """`import main` in a fresh interpreter, as a cold start does: what it left loaded."""
    probe = (
        "import sys, main; "
        "print(json.dumps({'gc': gc.isenabled(), 'frozen': gc.get_freeze_count() > 0, 'modules': sorted(sys.modules)}))"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CLOUDFLARE_ACCOUNT_ID": "acc",
        "AI_GATEWAY_ID": "gw",
        "GEMINI_API_KEY": "not-a-real-key",
        "ALLOW_UNAUTHENTICATED": "true",
        **extra,
    }
    out = subprocess.run(
        [sys.executable, "-c", f"import gc, json; {probe}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    loaded: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_start_up_loads_nothing_the_first_request_does_not_need() -> None:
    """What `import main` loads is what every cold start pays (bench/instance.py measures the time)."""
    loaded = _import_main()
    assert loaded["gc"] and loaded["frozen"], "start-up re-enables the collector and freezes what it built"
    modules = set(loaded["modules"])
    handlers = ("generate", "health", "openai.handler", "gemini.handler", "templates")
    routes = [m for m in (f"gemini_gateway.routes.{h}" for h in handlers) if m in modules]
    assert routes == [], f"route modules are imported on their first request, not at start: {routes}"
    unused = ("aiohttp", "google.cloud.secretmanager", "jwt", "redis", "rich", "gemini_gateway.openapi")
    for name in (*unused, "dotpromptz", "jsonschema", "yaml"):  # no template in prompts/: no Dotprompt
        assert name not in modules, f"{name} is imported at start without being needed"
    # Server callers (docs/API.md §12): the Cloud Tasks client, google-auth's token code, Standard
    # Webhooks and the jobs' own stores and runner load with the first job, or at start only when configured.
    for unused_prefix in ("google.cloud.tasks_v2", "google.oauth2", "google.auth", "grpc", "standardwebhooks"):
        assert not any(m == unused_prefix or m.startswith(unused_prefix + ".") for m in modules), unused_prefix
    jobs = sorted(m for m in modules if m.startswith("gemini_gateway.jobs."))
    assert jobs == [
        "gemini_gateway.jobs.seams",
        "gemini_gateway.jobs.service",
        "gemini_gateway.jobs.settings",
    ], jobs


def test_templates_are_loaded_and_checked_at_start_before_the_fork() -> None:
    modules = set(_import_main(PROMPTS_DIR="prompts/examples")["modules"])
    assert {"dotpromptz", "jsonschema", "gemini_gateway.templates.dotprompt"} <= modules
    assert "gemini_gateway.routes.templates" not in modules  # the route itself: on its first request
    traced = sorted(m for m in modules if m.startswith(("opentelemetry", "gemini_gateway.tracing.")))
    assert traced == [], f"traces are off by default: nothing of OpenTelemetry is imported ({traced})"


def test_start_up_with_a_jobs_queue_imports_its_clients_before_the_fork() -> None:
    """With JOBS_QUEUE the Cloud Tasks client and PyJWT are paid at start, shared by every forked worker."""
    modules = set(
        _import_main(
            REDIS_URL="redis://127.0.0.1:1/0",
            JOBS_QUEUE="projects/p/locations/l/queues/q",
            JOBS_SERVICE_ACCOUNT="jobs@p.iam.gserviceaccount.com",
            JOBS_URL="https://example.com/fn",
        )["modules"]
    )
    assert {"google.cloud.tasks_v2", "jwt", "redis.asyncio"} <= modules
    assert "google.oauth2.id_token" not in modules, "task tokens are checked with PyJWT and the cached certificates"


@pytest.mark.parametrize(("mode", "exporter"), [("console", False), ("cloud_trace", True)])
def test_traces_on_import_opentelemetry_before_the_fork(mode: str, exporter: bool) -> None:
    """Modules only: the tracer, its exporter thread and the Cloud Trace channel are built in the worker."""
    modules = set(_import_main(TRACES=mode)["modules"])
    assert {"opentelemetry.sdk.trace", "gemini_gateway.tracing.spans"} <= modules
    assert ("opentelemetry.exporter.cloud_trace" in modules) is exporter
