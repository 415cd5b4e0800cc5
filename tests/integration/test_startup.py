"""Cold start: the Gemini key is fetched as the worker starts, once, and a failed start-up fetch is retried."""

from __future__ import annotations

import time
from typing import Any

from .conftest import GEMINI_KEY, PROJECT, SecretManager


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
    secret_manager.client.create_secret(parent=PROJECT, secret_id="gemini-late", secret={"replication": {"automatic": {}}})
    secret_manager.add_version(secret, GEMINI_KEY)
    response = fn.post({"prompt": "x"})
    assert response.status_code == 200, response.text
    assert secret_manager.access_count(secret) == 2
    assert any("start-up failed" in str(e.get("message")) for e in fn.logs())
