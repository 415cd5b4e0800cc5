"""Where jobs and their deliveries run: in this process after the `202`, or as Cloud Tasks HTTP tasks.

In-process (no JOBS_QUEUE, the local default): an asyncio task per job (at
most 32 running at once) and per delivery attempt, lost if the instance
stops; the start-up warns about it.

Cloud Tasks (JOBS_QUEUE): a job is a task named after its id, calling the
function's own `POST {JOBS_URL}/internal/jobs/{id}` with an OIDC token of
JOBS_SERVICE_ACCOUNT (audience JOBS_URL); delivery attempt N is the task
`{id}-delivery-N`, scheduled after its backoff. A name used before is refused
by Cloud Tasks (`ALREADY_EXISTS`), which is what makes enqueueing twice
harmless. The client (google-cloud-tasks, ~0.3-0.7 s to import) is imported
only by deployments with JOBS_QUEUE, and built in the serving process on the
first enqueue (a gRPC channel must not cross a fork). CLOUD_TASKS_EMULATOR_HOST
points it at an emulator over plain gRPC.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import orjson

from ..errors import Unavailable
from ..logs import log

__all__ = ["CloudTasksExecutor", "Executor", "InProcess", "preload_cloud_tasks"]

_IN_PROCESS_RUNS = 32
_ENQUEUE_TIMEOUT = 10.0
_DELIVERY_DEADLINE = 30.0  # seconds a delivery task may take: one 15 s attempt and the bookkeeping


class Executor(Protocol):
    durable: bool

    async def run(self, job_id: str) -> None:
        """Have the job run (soon, somewhere); 503 when that cannot be arranged."""
        ...

    async def deliver(self, job_id: str, attempt: int, delay: float) -> None:
        """Have delivery attempt `attempt` made after `delay` seconds."""
        ...


class InProcess:
    """Asyncio tasks in this process: what `make run` uses; not durable."""

    durable = False

    def __init__(
        self,
        run_job: Callable[[str], Awaitable[Any]],
        deliver_attempt: Callable[[str, int], Awaitable[Any]],
        concurrency: int = _IN_PROCESS_RUNS,
    ) -> None:
        self._run_job = run_job
        self._deliver_attempt = deliver_attempt
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)  # held: the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def run(self, job_id: str) -> None:
        self._spawn(self._run(job_id), f"job {job_id}")

    async def deliver(self, job_id: str, attempt: int, delay: float) -> None:
        self._spawn(self._deliver(job_id, attempt, delay), f"job {job_id} delivery {attempt}")

    async def _run(self, job_id: str) -> None:
        async with self._slots:
            await _logged(self._run_job(job_id), job_id, "run")

    async def _deliver(self, job_id: str, attempt: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await _logged(self._deliver_attempt(job_id, attempt), job_id, "delivery")

    async def idle(self) -> None:
        """Until every job and delivery started here is over (tests, benchmarks)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _logged(work: Awaitable[Any], job_id: str, what: str) -> None:
    try:
        await work
    except Exception as exc:  # noqa: BLE001 - a background task has nobody else to tell
        log.error(f"job {what} failed unexpectedly", extra={"fields": {"job_id": job_id, "error": type(exc).__name__}})


def preload_cloud_tasks() -> None:
    """Import the Cloud Tasks client at start, before the fork (only with JOBS_QUEUE)."""
    from google.cloud import tasks_v2  # noqa: F401


class CloudTasksExecutor:
    """HTTP tasks on JOBS_QUEUE that call this function back."""

    durable = True

    def __init__(
        self, queue: str, service_account: str, jobs_url: str, emulator_host: str | None, run_deadline: float
    ) -> None:
        self._queue = queue
        self._service_account = service_account
        self._jobs_url = jobs_url
        self._emulator_host = emulator_host
        self._run_deadline = min(1800.0, max(15.0, run_deadline))
        self._client: Any = None

    def _tasks(self) -> Any:
        if self._client is None:
            from google.cloud import tasks_v2

            if self._emulator_host:
                import grpc
                from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcAsyncIOTransport

                channel = grpc.aio.insecure_channel(self._emulator_host)
                self._client = tasks_v2.CloudTasksAsyncClient(transport=CloudTasksGrpcAsyncIOTransport(channel=channel))
            else:
                self._client = tasks_v2.CloudTasksAsyncClient()
        return self._client

    async def run(self, job_id: str) -> None:
        await self._create(job_id, job_id, {"step": "run"}, 0.0, self._run_deadline)

    async def deliver(self, job_id: str, attempt: int, delay: float) -> None:
        body = {"step": "deliver", "attempt": attempt}
        await self._create(f"{job_id}-delivery-{attempt}", job_id, body, delay, _DELIVERY_DEADLINE)

    async def _create(self, task_id: str, job_id: str, body: dict[str, Any], delay: float, deadline: float) -> None:
        from google.api_core.exceptions import AlreadyExists, GoogleAPICallError
        from google.cloud import tasks_v2

        task = tasks_v2.Task(
            name=f"{self._queue}/tasks/{task_id}",
            http_request=tasks_v2.HttpRequest(
                http_method=tasks_v2.HttpMethod.POST,
                url=f"{self._jobs_url}/internal/jobs/{job_id}",
                headers={"Content-Type": "application/json"},
                body=orjson.dumps(body),
                oidc_token=tasks_v2.OidcToken(service_account_email=self._service_account, audience=self._jobs_url),
            ),
            dispatch_deadline=datetime.timedelta(seconds=deadline),
        )
        if delay > 0:
            task.schedule_time = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=delay)
        try:
            await self._tasks().create_task(parent=self._queue, task=task, timeout=_ENQUEUE_TIMEOUT)
        except AlreadyExists:
            return  # enqueued before (a retried submission or step): Cloud Tasks keeps one
        except (GoogleAPICallError, TimeoutError, OSError) as exc:
            log.warning(
                "jobs: Cloud Tasks refused or did not answer",
                extra={"fields": {"task": task_id, "error": type(exc).__name__, "message": str(exc)[:300]}},
            )
            raise Unavailable("the job queue cannot be reached right now; try again shortly") from None
