"""Signed delivery of a job's answer (docs/API.md, "Signed delivery"): one attempt, and the wait before the next.

The body is `{"type": "job.succeeded"|"job.failed", "timestamp", "data": <the
job object>}`, the same bytes on every attempt, signed per Standard Webhooks
(the `standardwebhooks` package) with CALLBACK_SIGNING_SECRET: `webhook-id`
(the job id: the same on every attempt, so a receiver drops repeats),
`webhook-timestamp` and `webhook-signature` (fresh on each attempt, so a
late retry still passes the receiver's 5-minute window).

An attempt has 15 s. A 2xx delivers it, `410 Gone` stops at once, anything
else (a 3xx too: redirects are never followed) or no answer is tried again
after `backoff`, up to CALLBACK_MAX_ATTEMPTS. The POST goes through its own
bare httpx transport: no cookie jar, no `.netrc`, no proxy from the
environment, no redirects, and nothing shared with the gateway calls' pool
or credentials.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx
import orjson

from ..secret_store import SecretRef, SecretStore
from .records import Job

__all__ = ["ATTEMPT_SECONDS", "Attempt", "Deliverer", "backoff", "payload"]

ATTEMPT_SECONDS = 15.0
_FIRST_WAIT = 1.0
_FACTOR = 4.0
_MAX_WAIT = 3600.0
_USER_AGENT = "gemini-gateway-callback/1"
_MAX_ANSWER_BYTES = 64 * 1024  # of a receiver's answer body: only its status matters

Outcome = Literal["delivered", "gone", "retry"]


def backoff(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds before attempt `attempt` (2, 3, ...): 1, 4, 16, 64 s ... up to an hour, each from its upper half.

    Eight attempts span about an hour and a half; the jitter keeps a
    receiver that comes back from getting every retry at the same moment.
    """
    ceiling = min(_MAX_WAIT, _FIRST_WAIT * _FACTOR ** max(0, attempt - 2))
    return ceiling * (0.5 + 0.5 * rng())


def payload(job: Job) -> bytes:
    finished = job.finished if job.finished is not None else job.created
    stamp = datetime.datetime.fromtimestamp(finished, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return orjson.dumps({"type": f"job.{job.status}", "timestamp": stamp, "data": job.public()})


@dataclass(frozen=True, slots=True)
class Attempt:
    outcome: Outcome
    status: int | None = None  # the receiver's answer, if any
    error: str | None = None  # why there was none
    ms: float = 0.0


class Deliverer:
    """Signs and POSTs deliveries, one attempt per call."""

    def __init__(self, secrets: SecretStore, secret: SecretRef | None, timeout: float = ATTEMPT_SECONDS) -> None:
        self._secrets = secrets
        self._secret = secret
        self._timeout = timeout
        self._transport: httpx.AsyncHTTPTransport | None = None

    async def _signature(self, webhook_id: str, now: datetime.datetime, body: bytes) -> str:
        from standardwebhooks import Webhook

        if self._secret is None:
            raise ValueError("CALLBACK_SIGNING_SECRET is not configured")
        return str(Webhook(await self._secrets.get(self._secret)).sign(webhook_id, now, body))

    async def attempt(self, url: str, webhook_id: str, body: bytes) -> Attempt:
        started = time.perf_counter()
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        try:
            signature = await self._signature(webhook_id, now, body)
        except Exception as exc:  # noqa: BLE001 - a secret that cannot be read or used: this attempt fails
            return Attempt("retry", error=f"signing failed ({type(exc).__name__})")
        headers = {
            "content-type": "application/json",
            "user-agent": _USER_AGENT,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        timeout = {"connect": self._timeout, "read": self._timeout, "write": self._timeout, "pool": self._timeout}
        request = httpx.Request("POST", url, headers=headers, content=body, extensions={"timeout": timeout})
        if self._transport is None:
            self._transport = httpx.AsyncHTTPTransport(retries=0, limits=httpx.Limits(max_keepalive_connections=20))
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._transport.handle_async_request(request)
                await _drain(response)
        except TimeoutError:
            return Attempt("retry", error="no answer in time", ms=_ms(started))
        except httpx.HTTPError as exc:
            return Attempt("retry", error=type(exc).__name__, ms=_ms(started))
        status = response.status_code
        outcome: Outcome = "delivered" if 200 <= status < 300 else "gone" if status == 410 else "retry"
        return Attempt(outcome, status=status, ms=_ms(started))

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


async def _drain(response: httpx.Response) -> None:
    """Read (and drop) up to 64 KiB of the receiver's answer, so its connection can be used again; then close."""
    seen = 0
    try:
        async for chunk in response.aiter_raw():
            seen += len(chunk)
            if seen > _MAX_ANSWER_BYTES:
                break
    finally:
        await response.aclose()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
