"""The server-caller parts that live as long as the process: built with the runtime, on the first request.

Idempotency keys and jobs are kept in Redis when REDIS_URL is set (shared by
every instance), else in memory. Jobs run on Cloud Tasks when JOBS_QUEUE is
set, else in this process. Nothing here connects anywhere until it is used,
and the heavy clients (google-cloud-tasks, PyJWT, standardwebhooks) are
imported on first use, or at start (`preload`) when the configuration uses
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..callers.redis_state import redis_client
from ..secret_store import SecretStore
from .delivery import Deliverer
from .executors import CloudTasksExecutor, Executor, InProcess, preload_cloud_tasks
from .idempotency_store import IdempotencyStore, MemoryIdempotency, RedisIdempotency
from .oidc import TaskTokens
from .settings import CALLBACK_SECRET
from .store import JobStore, MemoryJobs, RedisJobs

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["ServerCallers", "build", "preload", "start_warnings"]


@dataclass
class ServerCallers:
    settings: Settings
    idempotency: IdempotencyStore
    store: JobStore
    deliverer: Deliverer
    tokens: TaskTokens | None  # with JOBS_QUEUE: what opens the task route
    executor: Executor = field(init=False)

    @property
    def durable(self) -> bool:
        return self.executor.durable


def build(settings: Settings, secrets: SecretStore) -> ServerCallers:
    from . import runner

    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    ttl = float(settings.idempotency_ttl_seconds)
    memory = MemoryIdempotency()
    idempotency: IdempotencyStore = RedisIdempotency(redis_client(redis_url), memory) if redis_url else memory
    store: JobStore = RedisJobs(redis_client(redis_url), ttl) if redis_url else MemoryJobs(ttl)
    tokens = None
    if settings.jobs_queue and settings.jobs_url and settings.jobs_service_account:
        tokens = TaskTokens(settings.google_oidc_certs_url, settings.jobs_url, settings.jobs_service_account)
    service = ServerCallers(settings, idempotency, store, Deliverer(secrets, CALLBACK_SECRET.ref(settings)), tokens)
    if settings.jobs_queue and settings.jobs_url and settings.jobs_service_account:
        service.executor = CloudTasksExecutor(
            settings.jobs_queue,
            settings.jobs_service_account,
            settings.jobs_url,
            settings.cloud_tasks_emulator_host,
            run_deadline=settings.upstream_timeout_seconds + 30,
        )
    else:
        service.executor = InProcess(
            lambda job_id: runner.run_job(service, job_id),
            lambda job_id, attempt: runner.deliver_attempt(service, job_id, attempt),
        )
    return service


def preload(settings: Settings) -> None:
    """At start, before the fork: what this configuration will import on its first job anyway."""
    if settings.jobs_queue:
        preload_cloud_tasks()
        import jwt  # noqa: F401 - the task route's token check
    if settings.callback_url_prefixes:
        import standardwebhooks  # noqa: F401
    if settings.redis_url:
        import redis.asyncio  # noqa: F401


def start_warnings(settings: Settings) -> list[str]:
    if settings.jobs_queue:
        return []
    return [
        "JOBS_QUEUE is not set: asynchronous answers (Prefer: respond-async) run in this process after the 202 and "
        "are lost if the instance stops; set JOBS_QUEUE (with REDIS_URL) to run them durably on Cloud Tasks"
    ]
