"""Running a job: the route it was submitted to, run again as its caller; then its delivery, attempt by attempt.

A job runs exactly what a synchronous request would: the stored body goes
through `app.handle` on the stored path, with a context that carries the job
(`JobRun`): the intake takes the stored caller instead of checking
credentials and spends no second rate-limit token (decided at submission);
the run reserves its tokens in the daily budget like any request (a budget
spent meanwhile is the job's `429`) and the answer's tokens are charged.
The run's access line has the job's id as its request id and as `job_id`,
like the submission's and the deliveries'.

A run holds its job with a lease it renews every few seconds
(`records.LEASE_SECONDS`): a task delivered twice while the job runs is told
to come back later (`503`, `Retry-After`); a job whose instance was lost is
taken over once the lease runs out; a job that has ended is never run again.
On Cloud Tasks a run that ends in `503` (a secret unreachable, the instance
shutting down) puts the job back in the queue, whose retries run it again;
anything else is the job's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from ..callback_urls import callback_url_problem, canonical
from ..errors import Unavailable
from ..logs import write
from .delivery import Attempt, backoff, payload
from .records import LEASE_SECONDS, Job
from .seams import JobRun, front_door

if TYPE_CHECKING:
    from ..settings import Settings
    from .delivery import Deliverer
    from .executors import Executor
    from .store import JobStore

__all__ = ["Step", "deliver_attempt", "run_job"]


class ServerCallers(Protocol):
    """What a run needs of the process's server-caller parts (jobs/service.py builds them)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> JobStore: ...
    @property
    def executor(self) -> Executor: ...
    @property
    def deliverer(self) -> Deliverer: ...
    @property
    def durable(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Step:
    """What a task's call did: `done` (200: the task is over) or not yet (503: the queue tries again)."""

    state: str
    done: bool = True
    retry_after: float | None = None


async def run_job(jobs: ServerCallers, job_id: str) -> Step:
    store = jobs.store
    job = await store.get(job_id)
    if job is None:
        return Step("unknown")  # expired, or never submitted: nothing to run
    if job.ended:
        await _deliver_soon(jobs, job)
        return Step(job.status)
    token = os.urandom(8).hex()
    claimed, ok = await store.update(job_id, lambda j: j.claim_run(token, time.time()))
    if claimed is None:
        return Step("unknown")
    if not ok:
        if claimed.ended:
            await _deliver_soon(jobs, claimed)
            return Step(claimed.status)
        wait = max(1.0, claimed.lease_until - time.time())
        return Step("running", done=False, retry_after=wait)
    body = await store.body(job_id)
    renewing = asyncio.get_running_loop().create_task(_renew(jobs, job_id, token))
    try:
        response = await _through_the_route(claimed, body) if body is not None else None
    finally:
        renewing.cancel()
    if response is not None and response.status_code == 503 and jobs.durable:
        await store.update(job_id, lambda j: j.release(token))
        return Step("queued", done=False, retry_after=1.0)
    result, error = _outcome(job_id, response)
    ended, _ = await store.update(job_id, lambda j: j.finish(token, result, error, time.time()))
    if ended is None:
        return Step("unknown")
    if ended.ended:
        await _deliver_soon(jobs, ended)
    return Step(ended.status)


async def _renew(jobs: ServerCallers, job_id: str, token: str) -> None:
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        with contextlib.suppress(Unavailable):  # a missed renewal is retried; the lease has slack for two
            await jobs.store.update(job_id, lambda j: j.renew(token, time.time()))


async def _deliver_soon(jobs: ServerCallers, job: Job) -> None:
    """Arrange the next delivery attempt of an ended job (again is harmless: Cloud Tasks keeps one per name)."""
    if job.delivery == "pending":
        await jobs.executor.deliver(job.id, job.delivery_attempts + 1, 0.0)


async def _through_the_route(job: Job, body: bytes) -> Response:
    layers = tuple((str(x.get("kind")), str(x.get("name")), bool(x.get("anonymous"))) for x in job.layers)
    return await front_door()(_request(job, body), job=JobRun(job.id, job.caller, layers))


def _request(job: Job, body: bytes) -> Request:
    """The submitted request again: its path, body and content type, as the job's own request id."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        never: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        return await never  # a job has no caller to leave: it never disconnects

    headers = [
        (b"content-type", job.content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", job.id.encode()),
        (b"user-agent", b"gemini-gateway-job"),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": job.path,
        "raw_path": job.path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": None,
        "server": None,
    }
    return Request(scope, receive)


def _outcome(job_id: str, response: Response | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(result, error): the answer object of a 200, else the error object of the answer."""
    parsed: Any = None
    if response is not None:
        with contextlib.suppress(ValueError):
            parsed = orjson.loads(getattr(response, "body", b"") or b"null")
        if response.status_code == 200 and isinstance(parsed, dict):
            return parsed, None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        error = {
            "type": "internal_error",
            "message": "the job ended without a usable answer; it has been logged",
            "retryable": True,
            "request_id": job_id,
        }
    return None, error


async def deliver_attempt(jobs: ServerCallers, job_id: str, attempt: int) -> Step:
    """Delivery attempt `attempt` of an ended job's answer; the next one arranged if it did not get through."""
    job = await jobs.store.get(job_id)
    if job is None:
        return Step("unknown")
    if job.delivery != "pending" or job.callback is None:
        return Step(job.delivery or "none")
    if attempt <= job.delivery_attempts:  # made already (a task delivered twice): the next one is arranged
        await jobs.executor.deliver(job_id, job.delivery_attempts + 1, backoff(job.delivery_attempts + 1))
        return Step("pending")
    settings = jobs.settings
    refused = callback_url_problem(job.callback, settings.callback_url_prefixes)
    if refused is not None:  # the operator has withdrawn the prefix since the job was submitted
        outcome = Attempt("retry", error=f"callback.url {refused}")
        kind = "refused"
    else:
        outcome = await jobs.deliverer.attempt(canonical(job.callback), job.id, payload(job))
        kind = outcome.outcome
    _log_attempt(job, attempt, outcome, kind)
    updated, _ = await jobs.store.update(job_id, lambda j: j.attempted(attempt, kind, settings.callback_max_attempts))
    if updated is not None and updated.delivery == "pending":
        await jobs.executor.deliver(job_id, attempt + 1, backoff(attempt + 1))
    return Step("unknown" if updated is None else updated.delivery or "none")


def _log_attempt(job: Job, attempt: int, outcome: Attempt, kind: str) -> None:
    """The delivery's line: with the job id, like the submission's and the run's access lines."""
    fields: dict[str, Any] = {
        "job_id": job.id,
        "job": "delivery",
        "attempt": attempt,
        "outcome": kind,
        "callback_status": outcome.status,
        "delivery_ms": outcome.ms,  # not latency_ms: that field marks an access line (infra/monitoring.tf)
    }
    if outcome.error:
        fields["error"] = outcome.error
    severity = "INFO" if kind == "delivered" else "WARNING"
    write(severity, f"job callback attempt {attempt}: {kind}", fields)
