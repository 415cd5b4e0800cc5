"""The server-caller parts that live as long as the process, each built (and imported) on first use.

Idempotency keys and jobs are kept in Redis when REDIS_URL is set (shared by
every instance), else in memory. Jobs run on Cloud Tasks when JOBS_QUEUE is
set, else in this process. Nothing here is imported, built or connected
before a request needs it: a deployment whose callers never send an
`Idempotency-Key` or `Prefer: respond-async` pays nothing at start. The
heavy clients (google-cloud-tasks, PyJWT, standardwebhooks) are imported at
start (`preload`, before the fork) only when the configuration uses them.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..callers.redis_state import RedisState
    from ..secret_store import SecretStore
    from ..settings import Settings
    from .delivery import Deliverer
    from .executors import Executor
    from .idempotency_store import IdempotencyStore
    from .oidc import TaskTokens
    from .store import JobStore

__all__ = ["ServerCallers", "preload", "start_warnings"]


class ServerCallers:
    def __init__(self, settings: Settings, secrets: SecretStore, redis: RedisState | None = None) -> None:
        self.settings = settings
        self._secrets = secrets
        self._redis = redis  # the process's one Redis client and health state (REDIS_URL)

    @property
    def durable(self) -> bool:
        """Jobs run on Cloud Tasks (JOBS_QUEUE), not in this process."""
        s = self.settings
        return bool(s.jobs_queue and s.jobs_url and s.jobs_service_account)

    @functools.cached_property
    def idempotency(self) -> IdempotencyStore:
        from .idempotency_store import MemoryIdempotency, RedisIdempotency

        memory = MemoryIdempotency()
        return RedisIdempotency(self._redis, memory) if self._redis is not None else memory

    @functools.cached_property
    def store(self) -> JobStore:
        from .store import MemoryJobs, RedisJobs

        ttl = float(self.settings.idempotency_ttl_seconds)
        return RedisJobs(self._redis.client, ttl) if self._redis is not None else MemoryJobs(ttl)

    @functools.cached_property
    def deliverer(self) -> Deliverer:
        from .delivery import Deliverer
        from .settings import CALLBACK_SECRET

        return Deliverer(self._secrets, CALLBACK_SECRET.ref(self.settings))

    @functools.cached_property
    def tokens(self) -> TaskTokens | None:
        """What opens the task route: with JOBS_QUEUE only."""
        s = self.settings
        if not (s.jobs_queue and s.jobs_url and s.jobs_service_account):
            return None
        from .oidc import TaskTokens

        return TaskTokens(s.google_oidc_certs_url, s.jobs_url, s.jobs_service_account)

    @functools.cached_property
    def executor(self) -> Executor:
        s = self.settings
        if s.jobs_queue and s.jobs_url and s.jobs_service_account:
            from .executors import CloudTasksExecutor

            return CloudTasksExecutor(
                s.jobs_queue,
                s.jobs_service_account,
                s.jobs_url,
                s.cloud_tasks_emulator_host,
                run_deadline=s.upstream_timeout_seconds + 30,
            )
        from . import runner
        from .executors import InProcess

        return InProcess(
            lambda job_id: runner.run_job(self, job_id),
            lambda job_id, attempt: runner.deliver_attempt(self, job_id, attempt),
        )


def preload(settings: Settings) -> None:
    """At start, before the fork: what this configuration will import on its first job anyway."""
    if settings.jobs_queue:
        from .executors import preload_cloud_tasks

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
