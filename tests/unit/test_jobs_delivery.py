"""One delivery attempt over a real loopback socket: signed, bounded in time, never redirected, no cookies."""

from __future__ import annotations

import asyncio
import time

import pytest

from gemini_gateway.jobs.delivery import Deliverer
from gemini_gateway.secret_store import SecretRef, SecretStore
from tests.support.jobs import CALLBACK_SECRET, receiving, verified


async def _no_fetch(name: str) -> str:
    raise AssertionError("no Secret Manager here")


def deliverer(timeout: float = 15.0, secret: str | None = CALLBACK_SECRET) -> Deliverer:
    ref = SecretRef("callback signing secret", literal=secret) if secret is not None else None
    return Deliverer(SecretStore(_no_fetch, 300), ref, timeout=timeout)


BODY = b'{"type":"job.succeeded","timestamp":"2027-01-15T08:00:00Z","data":{"id":"job_1"}}'


def test_a_delivery_verifies_with_standard_webhooks() -> None:
    with receiving() as rec:
        attempt = asyncio.run(deliverer().attempt(f"{rec.url}/hooks/x?order=1", "job_1", BODY))
        assert attempt.outcome == "delivered" and attempt.status == 200
        (got,) = rec.received
        assert got["path"] == "/hooks/x?order=1" and got["body"] == BODY
        assert got["headers"]["webhook-id"] == "job_1"
        assert abs(int(got["headers"]["webhook-timestamp"]) - time.time()) < 5
        assert got["headers"]["webhook-signature"].startswith("v1,")
        assert got["headers"]["content-type"] == "application/json"
        assert verified(got)["data"] == {"id": "job_1"}
        with pytest.raises(Exception, match="signature"):
            verified(got, "whsec_" + "QUJD" * 8)  # another secret


def test_outcomes_by_status() -> None:
    with receiving([410, 500, 204, ("redirect", "http://169.254.169.254/")]) as rec:
        d = deliverer()

        async def four() -> list[str]:
            return [(await d.attempt(f"{rec.url}/", "job_1", BODY)).outcome for _ in range(4)]

        assert asyncio.run(four()) == ["gone", "retry", "delivered", "retry"]
        assert len(rec.received) == 4, "the redirect was not followed"


def test_no_cookie_is_ever_sent_back() -> None:
    with receiving() as rec:  # it sets a cookie on every answer
        d = deliverer()

        async def twice() -> None:
            await d.attempt(f"{rec.url}/a", "job_1", BODY)
            await d.attempt(f"{rec.url}/b", "job_1", BODY)

        asyncio.run(twice())
        assert all("cookie" not in r["headers"] for r in rec.received)


def test_a_silent_receiver_costs_one_attempt_timeout() -> None:
    with receiving([(2.0, 200)]) as rec:
        started = time.monotonic()
        attempt = asyncio.run(deliverer(timeout=0.3).attempt(f"{rec.url}/slow", "job_1", BODY))
        assert attempt.outcome == "retry" and attempt.status is None and attempt.error == "no answer in time"
        assert time.monotonic() - started < 1.5


def test_nothing_listening_is_a_retry() -> None:
    from tests.support.processes import free_port

    attempt = asyncio.run(deliverer().attempt(f"http://127.0.0.1:{free_port()}/", "job_1", BODY))
    assert attempt.outcome == "retry" and attempt.error == "ConnectError"


def test_without_a_usable_secret_nothing_is_sent() -> None:
    with receiving() as rec:
        for secret in (None, "not-base64-!!"):
            attempt = asyncio.run(deliverer(secret=secret).attempt(f"{rec.url}/", "job_1", BODY))
            assert attempt.outcome == "retry" and attempt.error is not None and "signing" in attempt.error
        assert rec.received == []
