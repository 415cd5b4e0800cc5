"""Google Cloud Tasks emulator: real gRPC for the real client, HTTP dispatch with OIDC tokens.

Why: jobs (docs/API.md §12) are HTTP tasks that Cloud Tasks delivers to
the function with a Google-signed ID token, retries on failure and refuses a
task name seen before. Tests need all of that over real sockets without
Google: the real `google-cloud-tasks` client talks gRPC to this server
(messages are the proto-plus types shipped with the client, so nothing
drifts), tasks are POSTed to their URL with an ID token signed by the
emulator's own key (`emulators.oidc`), whose certificates it serves on
`--oidc-port` next to a control API. PyPI's gcloud-tasks-emulator was not
used: it sends no OIDC token, accepts duplicate task names, retries without
backoff and pins protobuf below 5.

Run: ``python -m emulators.cloud_tasks --port 8789 --oidc-port 8790 --queue projects/demo/locations/us-central1/queues/jobs``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import ipaddress
import re
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import grpc
from aiohttp import web
from google.cloud.tasks_v2 import types
from google.protobuf import empty_pb2
from google.rpc import status_pb2

from emulators import oidc
from emulators.serve import cli_parser, start_app, stop_event

__all__ = [
    "SERVICE",
    "EmulatorState",
    "RetryPolicy",
    "main",
    "serve",
]

SERVICE = "google.cloud.tasks.v2.CloudTasks"

_LOCATION = r"projects/[A-Za-z0-9.:-]+/locations/[A-Za-z0-9-]+"
_QUEUE_NAME = re.compile(rf"^({_LOCATION})/queues/([A-Za-z0-9-]{{1,100}})$")
_LOCATION_NAME = re.compile(rf"^{_LOCATION}$")
_TASK_NAME = re.compile(rf"^({_LOCATION}/queues/[A-Za-z0-9-]{{1,100}})/tasks/([A-Za-z0-9_-]{{1,500}})$")

MAX_TASK_BYTES = 1024 * 1024
"""Cloud Tasks' task size limit (1 MB)."""
DEFAULT_DEADLINE = 600.0
"""An HTTP task's default dispatch deadline (10 minutes); Google accepts 15 s to 30 min."""
MAX_SCHEDULE_AHEAD = 30 * 86400
HISTORY = 10_000
"""Finished tasks kept for the control API (oldest dropped)."""
RESERVED_NAMES = 100_000
"""Names kept for de-duplication (oldest released first beyond this)."""
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_DROPPED_HEADERS = ("host", "content-length", "user-agent", "x-google-", "x-appengine-", "x-cloudtasks-")
_RESPONSE_READ = 64 * 1024
_GONE = (
    "The task no longer exists, though a task with this name existed recently. "
    "The task either successfully completed or was deleted."
)

_HTTP_TO_CODE = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


class _Status(Exception):
    """An RPC failure: turned into a gRPC status by the handler wrapper."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _seconds(value: datetime.timedelta) -> float:
    return value.total_seconds()


def _timestamp(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """A queue's (or task's) RetryConfig in seconds, with Cloud Tasks' backoff rule."""

    max_attempts: int = 5
    max_retry_duration: float = 0.0
    min_backoff: float = 0.1
    max_backoff: float = 1.0
    max_doublings: int = 3

    def backoff(self, retry: int) -> float:
        """Wait before retry number `retry` (1 = first retry): min, doubling `max_doublings` times, then linear, capped."""
        doublings = min(max(self.max_doublings, 0), 60)
        if retry - 1 <= doublings:
            interval = self.min_backoff * 2 ** (retry - 1)
        else:
            interval = self.min_backoff * 2**doublings * (retry - doublings)
        return float(min(interval, self.max_backoff))

    def exhausted(self, attempts: int, elapsed: float) -> bool:
        """Cloud Tasks stops when both max_attempts (-1: never) and max_retry_duration (0: no limit) are met."""
        attempts_met = self.max_attempts != -1 and attempts >= self.max_attempts
        duration_met = self.max_retry_duration <= 0 or elapsed >= self.max_retry_duration
        return attempts_met and duration_met

    def merged(self, config: types.RetryConfig) -> RetryPolicy:
        """This policy with whatever `config` sets (unset fields keep these defaults, as Google fills its own)."""
        return RetryPolicy(
            max_attempts=config.max_attempts or self.max_attempts,
            max_retry_duration=_seconds(config.max_retry_duration)
            if "max_retry_duration" in config
            else self.max_retry_duration,
            min_backoff=_seconds(config.min_backoff) if "min_backoff" in config else self.min_backoff,
            max_backoff=_seconds(config.max_backoff) if "max_backoff" in config else self.max_backoff,
            max_doublings=config.max_doublings or self.max_doublings,
        )

    def to_proto(self) -> types.RetryConfig:
        return types.RetryConfig(
            max_attempts=self.max_attempts,
            max_retry_duration=datetime.timedelta(seconds=self.max_retry_duration),
            min_backoff=datetime.timedelta(seconds=self.min_backoff),
            max_backoff=datetime.timedelta(seconds=self.max_backoff),
            max_doublings=self.max_doublings,
        )


@dataclass
class AttemptRecord:
    number: int
    scheduled: float
    dispatched: float
    finished: float | None = None
    status: int | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        duration = None if self.finished is None else round(self.finished - self.dispatched, 4)
        return {
            "number": self.number,
            "scheduled": self.scheduled,
            "dispatched": self.dispatched,
            "finished": self.finished,
            "duration": duration,
            "status": self.status,
            "error": self.error,
        }


@dataclass
class QueueRecord:
    queue: types.Queue
    policy: RetryPolicy
    slots: asyncio.Semaphore


@dataclass
class TaskRecord:
    name: str
    queue: str
    task: types.Task  # as created (full view), without the output-only fields
    created: float
    schedule: float
    deadline: float
    policy: RetryPolicy
    state: str = "pending"  # pending | dispatching | succeeded | failed | deleted
    attempts: list[AttemptRecord] = field(default_factory=list)
    executions: int = 0  # responses below 500 (X-CloudTasks-TaskExecutionCount)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    runner: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        return self.state in ("succeeded", "failed", "deleted")

    def as_json(self) -> dict[str, Any]:
        request = self.task.http_request
        oidc_token = request.oidc_token if "oidc_token" in request else None
        last = self.attempts[-1] if self.attempts else None
        return {
            "name": self.name,
            "id": self.name.rsplit("/", 1)[1],
            "queue": self.queue,
            "state": self.state,
            "url": request.url,
            "method": request.http_method.name if request.http_method else "POST",
            "service_account": oidc_token.service_account_email if oidc_token else None,
            "audience": (oidc_token.audience or request.url) if oidc_token else None,
            "created": self.created,
            "schedule_time": self.schedule,
            "dispatch_count": len(self.attempts),
            "response_count": sum(1 for a in self.attempts if a.status is not None),
            "last_status": last.status if last else None,
            "last_error": last.error if last else None,
            "attempts": [a.as_json() for a in self.attempts],
        }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _grpc_code_of(status: int) -> int:
    if 200 <= status < 300:
        return int(grpc.StatusCode.OK.value[0])
    code = _HTTP_TO_CODE.get(status)
    if code is None:
        code = grpc.StatusCode.INTERNAL if status >= 500 else grpc.StatusCode.FAILED_PRECONDITION
    return int(code.value[0])


class EmulatorState:
    """Queues, tasks and the dispatcher; everything runs on one event loop, so no locks."""

    def __init__(
        self,
        signer: oidc.OidcSigner | None = None,
        defaults: RetryPolicy | None = None,
        deadline_cap: float | None = None,
        dedup_window: float = 86400.0,
        allow_any_host: bool = False,
        initial_queues: Iterable[str] = (),
    ) -> None:
        self.signer = signer if signer is not None else oidc.OidcSigner()
        self.defaults = defaults if defaults is not None else RetryPolicy()
        self.deadline_cap = deadline_cap
        self.dedup_window = dedup_window
        self.allow_any_host = allow_any_host
        self.initial_queues = list(initial_queues)
        self.queues: dict[str, QueueRecord] = {}
        self.tasks: dict[str, TaskRecord] = {}  # active: pending or dispatching
        self.history: OrderedDict[str, TaskRecord] = OrderedDict()
        self.reserved: OrderedDict[str, float] = OrderedDict()  # task name → time it may be reused
        self.counters: Counter[str] = Counter()
        self.session: aiohttp.ClientSession | None = None
        self._changed = asyncio.Event()
        for name in self.initial_queues:
            self.create_queue(types.Queue(name=name))

    # -- lifecycle

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256), auto_decompress=False, trust_env=False
        )

    async def close(self) -> None:
        for record in list(self.tasks.values()):
            if record.runner is not None:
                record.runner.cancel()
        if self.session is not None:
            await self.session.close()

    def reset(self) -> None:
        """Back to the command line's state: no tasks, no reserved names, only the initial queues."""
        for record in list(self.tasks.values()):
            if record.runner is not None:
                record.runner.cancel()
        self.tasks.clear()
        self.history.clear()
        self.reserved.clear()
        self.counters.clear()
        self.queues.clear()
        for name in self.initial_queues:
            self.create_queue(types.Queue(name=name))
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    # -- queues

    def _queue(self, name: str) -> QueueRecord:
        if not _QUEUE_NAME.match(name or ""):
            raise _Status(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource field value in the request: {name!r}")
        record = self.queues.get(name)
        if record is None:
            raise _Status(grpc.StatusCode.NOT_FOUND, "Requested entity was not found.")
        return record

    def create_queue(self, queue: types.Queue, parent: str | None = None) -> types.Queue:
        match = _QUEUE_NAME.match(queue.name or "")
        if not match or (parent is not None and match.group(1) != parent):
            raise _Status(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid queue name {queue.name!r} for parent {parent!r}")
        if queue.name in self.queues:
            raise _Status(grpc.StatusCode.ALREADY_EXISTS, "Requested entity already exists")
        stored = types.Queue(queue)
        policy = self.defaults.merged(queue.retry_config)
        stored.retry_config = policy.to_proto()
        limits = stored.rate_limits
        limits.max_dispatches_per_second = limits.max_dispatches_per_second or 500.0
        limits.max_burst_size = limits.max_burst_size or 100
        limits.max_concurrent_dispatches = limits.max_concurrent_dispatches or 1000
        stored.state = types.Queue.State.RUNNING  # type: ignore[assignment]  # proto-plus enums are typed as int
        self.queues[queue.name] = QueueRecord(stored, policy, asyncio.Semaphore(limits.max_concurrent_dispatches))
        return types.Queue(stored)

    def get_queue(self, name: str) -> types.Queue:
        return types.Queue(self._queue(name).queue)

    def list_queues(self, parent: str, page_size: int, page_token: str) -> types.ListQueuesResponse:
        if not _LOCATION_NAME.match(parent or ""):
            raise _Status(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource field value in the request: {parent!r}")
        names = sorted(n for n in self.queues if n.startswith(parent + "/queues/"))
        page, token = _page(names, page_size, page_token)
        return types.ListQueuesResponse(queues=[types.Queue(self.queues[n].queue) for n in page], next_page_token=token)

    def delete_queue(self, name: str) -> None:
        self._queue(name)
        self.purge_queue(name)
        del self.queues[name]

    def purge_queue(self, name: str) -> types.Queue:
        record = self._queue(name)
        for task in [t for t in self.tasks.values() if t.queue == name]:
            self._finish(task, "deleted")
        record.queue.purge_time = _timestamp(time.time())
        return types.Queue(record.queue)

    # -- tasks

    def _task(self, name: str) -> TaskRecord:
        match = _TASK_NAME.match(name or "")
        if not match:
            raise _Status(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource field value in the request: {name!r}")
        self._queue(match.group(1))
        record = self.tasks.get(name)
        if record is None:
            raise _Status(
                grpc.StatusCode.NOT_FOUND, _GONE if name in self.reserved else "Requested entity was not found."
            )
        return record

    def _validate(self, task: types.Task) -> tuple[float, float]:
        """Check an HTTP task as Google does; returns (schedule time, dispatch deadline)."""
        if "app_engine_http_request" in task:
            raise _Status(grpc.StatusCode.UNIMPLEMENTED, "The emulator runs HTTP tasks only, not App Engine tasks.")
        if "http_request" not in task or not task.http_request.url:
            raise _Status(grpc.StatusCode.INVALID_ARGUMENT, "Task.http_request.url is required.")
        request = task.http_request
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(request.url) > 2083:
            raise _Status(grpc.StatusCode.INVALID_ARGUMENT, "HttpRequest.url must be an absolute http(s) URL.")
        if not self.allow_any_host and not _is_loopback(parts.hostname):
            raise _Status(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"The emulator dispatches to loopback hosts only, not {parts.hostname!r} (start it with --allow-any-host).",
            )
        for name, value in request.headers.items():
            if not _HEADER_NAME.match(name) or "\r" in value or "\n" in value:
                raise _Status(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid HTTP header {name!r}.")
        method = request.http_method.name if request.http_method else "POST"
        if request.body and method not in _BODY_METHODS:
            raise _Status(grpc.StatusCode.INVALID_ARGUMENT, f"A body is not allowed with HTTP method {method}.")
        if "oauth_token" in request:
            raise _Status(grpc.StatusCode.UNIMPLEMENTED, "The emulator signs OIDC tokens only, not OAuth tokens.")
        if "oidc_token" in request and not request.oidc_token.service_account_email:
            raise _Status(grpc.StatusCode.INVALID_ARGUMENT, "OidcToken.service_account_email is required.")
        if len(types.Task.serialize(task)) > MAX_TASK_BYTES:
            raise _Status(grpc.StatusCode.INVALID_ARGUMENT, "Task size too large: the limit is 1 MB.")
        deadline = DEFAULT_DEADLINE
        if "dispatch_deadline" in task:
            deadline = _seconds(task.dispatch_deadline)
            if not 15 <= deadline <= 1800:
                raise _Status(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "Task.dispatch_deadline must be between 15 seconds and 30 minutes.",
                )
        now = time.time()
        schedule = task.schedule_time.timestamp() if "schedule_time" in task else now
        if schedule > now + MAX_SCHEDULE_AHEAD:
            raise _Status(grpc.StatusCode.INVALID_ARGUMENT, "Task.schedule_time is more than 30 days in the future.")
        return max(schedule, now), deadline

    def _release_names(self, now: float) -> None:
        while self.reserved:
            name, until = next(iter(self.reserved.items()))
            if until > now and len(self.reserved) <= RESERVED_NAMES:
                break
            del self.reserved[name]

    def create_task(self, parent: str, task: types.Task, view: int) -> types.Task:
        queue = self._queue(parent)
        now = time.time()
        self._release_names(now)
        if task.name:
            match = _TASK_NAME.match(task.name)
            if not match or match.group(1) != parent:
                raise _Status(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid task name {task.name!r} for queue {parent!r}")
            if task.name in self.tasks or task.name in self.reserved:
                self.counters["already_exists"] += 1
                raise _Status(grpc.StatusCode.ALREADY_EXISTS, "Requested entity already exists")
            name = task.name
        else:
            name = f"{parent}/tasks/{secrets.randbelow(9 * 10**18) + 10**18}"
        schedule, deadline = self._validate(task)
        stored = types.Task(task)
        stored.name = name
        for output_only in ("create_time", "dispatch_count", "response_count", "first_attempt", "last_attempt", "view"):
            delattr(stored, output_only)
        policy = queue.policy.merged(task.retry_config) if "retry_config" in task else queue.policy
        record = TaskRecord(name, parent, stored, now, schedule, deadline, policy)
        self.tasks[name] = record
        self.counters["created"] += 1
        record.runner = asyncio.get_running_loop().create_task(self._run(record), name=f"task {name}")
        return self._task_message(record, view)

    def get_task(self, name: str, view: int) -> types.Task:
        return self._task_message(self._task(name), view)

    def list_tasks(self, parent: str, view: int, page_size: int, page_token: str) -> types.ListTasksResponse:
        self._queue(parent)
        names = sorted(n for n, t in self.tasks.items() if t.queue == parent)
        page, token = _page(names, page_size, page_token)
        return types.ListTasksResponse(
            tasks=[self._task_message(self.tasks[n], view) for n in page], next_page_token=token
        )

    def delete_task(self, name: str) -> None:
        self._finish(self._task(name), "deleted")

    def run_task(self, name: str, view: int) -> types.Task:
        record = self._task(name)
        record.schedule = time.time()
        record.wake.set()
        return self._task_message(record, view)

    def _task_message(self, record: TaskRecord, view: int) -> types.Task:
        task = types.Task(record.task)
        full = view == types.Task.View.FULL
        if not full and "http_request" in task:
            task.http_request.body = b""
        task.view = types.Task.View.FULL if full else types.Task.View.BASIC  # type: ignore[assignment]  # as above
        task.schedule_time = _timestamp(record.schedule)
        task.create_time = _timestamp(int(record.created))
        task.dispatch_deadline = datetime.timedelta(seconds=record.deadline)
        task.dispatch_count = len(record.attempts)
        task.response_count = sum(1 for a in record.attempts if a.status is not None)
        if record.attempts:
            task.first_attempt = types.Attempt(dispatch_time=_timestamp(record.attempts[0].dispatched))
            last = record.attempts[-1]
            attempt = types.Attempt(schedule_time=_timestamp(last.scheduled), dispatch_time=_timestamp(last.dispatched))
            if last.finished is not None:
                attempt.response_time = _timestamp(last.finished)
                if last.status is not None:
                    attempt.response_status = status_pb2.Status(
                        code=_grpc_code_of(last.status), message=f"HTTP status code {last.status}"
                    )
                else:
                    attempt.response_status = status_pb2.Status(
                        code=grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
                        if last.error == "DEADLINE_EXCEEDED"
                        else grpc.StatusCode.UNAVAILABLE.value[0],
                        message=last.error or "",
                    )
            task.last_attempt = attempt
        return task

    def _finish(self, record: TaskRecord, state: str) -> None:
        """A task leaves the queue (done, given up or deleted); its name stays taken for the dedup window."""
        if record.done:
            return
        record.state = state
        self.counters[state] += 1
        self.tasks.pop(record.name, None)
        if record.runner is not None and record.runner is not asyncio.current_task():
            record.runner.cancel()
        self.history[record.name] = record
        while len(self.history) > HISTORY:
            self.history.popitem(last=False)
        self.reserved[record.name] = time.time() + self.dedup_window
        self.reserved.move_to_end(record.name)
        self._notify()

    # -- dispatch

    async def _run(self, record: TaskRecord) -> None:
        while not record.done:
            delay = record.schedule - time.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(record.wake.wait(), delay)
                record.wake.clear()
                continue
            async with self.queues[record.queue].slots:
                status, retry_after = await self._attempt(record)
            if status is not None and 200 <= status < 300:
                self._finish(record, "succeeded")
                return
            attempts = len(record.attempts)
            if record.policy.exhausted(attempts, time.time() - record.attempts[0].dispatched):
                self._finish(record, "failed")
                return
            wait = record.policy.backoff(attempts)
            if retry_after is not None:
                wait = max(wait, min(retry_after, 3600.0))
            record.schedule = time.time() + wait
            record.state = "pending"
            self._notify()

    def _headers(self, record: TaskRecord) -> dict[str, str]:
        request = record.task.http_request
        headers = {k: v for k, v in request.headers.items() if not k.lower().startswith(_DROPPED_HEADERS)}
        queue_id = record.queue.rsplit("/", 1)[1]
        headers.update(
            {
                "User-Agent": "Google-Cloud-Tasks",
                "X-CloudTasks-QueueName": queue_id,
                "X-CloudTasks-TaskName": record.name.rsplit("/", 1)[1],
                "X-CloudTasks-TaskRetryCount": str(len(record.attempts)),
                "X-CloudTasks-TaskExecutionCount": str(record.executions),
                "X-CloudTasks-TaskETA": f"{record.schedule:.6f}",
            }
        )
        if record.attempts and record.attempts[-1].status is not None:
            headers["X-CloudTasks-TaskPreviousResponse"] = str(record.attempts[-1].status)
        if "oidc_token" in request:
            token = request.oidc_token
            signed = self.signer.id_token(token.audience or request.url, token.service_account_email)
            headers["Authorization"] = f"Bearer {signed}"
        return headers

    def _deadline(self, record: TaskRecord) -> float:
        """The task's deadline, shortened by --dispatch-deadline (tests); GetTask still shows the task's own."""
        return record.deadline if self.deadline_cap is None else min(record.deadline, self.deadline_cap)

    async def _attempt(self, record: TaskRecord) -> tuple[int | None, float | None]:
        """One delivery: (HTTP status or None when no answer in time, Retry-After seconds)."""
        assert self.session is not None, "start() first"
        request = record.task.http_request
        method = request.http_method.name if request.http_method else "POST"
        headers = self._headers(record)
        now = time.time()
        attempt = AttemptRecord(len(record.attempts) + 1, record.schedule, now)
        record.attempts.append(attempt)
        record.state = "dispatching"
        self.counters["attempts"] += 1
        self._notify()
        retry_after: float | None = None
        try:
            async with self.session.request(
                method,
                request.url,
                headers=headers,
                data=bytes(request.body) if method in _BODY_METHODS else None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._deadline(record)),
            ) as response:
                await response.content.read(_RESPONSE_READ)
                attempt.status = response.status
                with contextlib.suppress(ValueError):
                    retry_after = float(response.headers.get("Retry-After", ""))
        except TimeoutError:
            attempt.error = "DEADLINE_EXCEEDED"
        except (aiohttp.ClientError, OSError) as exc:
            attempt.error = f"UNAVAILABLE: {type(exc).__name__}: {exc}"
        except Exception as exc:  # never leave a task stuck in "dispatching"
            attempt.error = f"INTERNAL: {type(exc).__name__}: {exc}"
        attempt.finished = time.time()
        if attempt.status is not None and attempt.status < 500:
            record.executions += 1
        return attempt.status, retry_after

    # -- control API

    def snapshot(self, queue: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        records = [*self.history.values(), *sorted(self.tasks.values(), key=lambda r: r.created)]
        return [
            r.as_json() for r in records if (queue is None or r.queue == queue) and (state is None or r.state == state)
        ]

    def find(self, name: str) -> TaskRecord | None:
        """A task by full name or by id (the last path segment)."""
        found = self.tasks.get(name) or self.history.get(name)
        if found is not None or "/" in name:
            return found
        for record in [*self.tasks.values(), *reversed(self.history.values())]:
            if record.name.rsplit("/", 1)[1] == name:
                return record
        return None

    def stats(self) -> dict[str, int]:
        return {
            "created": self.counters["created"],
            "already_exists": self.counters["already_exists"],
            "attempts": self.counters["attempts"],
            "succeeded": self.counters["succeeded"],
            "failed": self.counters["failed"],
            "deleted": self.counters["deleted"],
            "active": len(self.tasks),
        }


def _page(names: list[str], page_size: int, page_token: str) -> tuple[list[str], str]:
    try:
        start = int(page_token) if page_token else 0
    except ValueError:
        raise _Status(grpc.StatusCode.INVALID_ARGUMENT, "Invalid page_token.") from None
    size = min(page_size or 1000, 1000)
    end = start + size
    return names[start:end], (str(end) if end < len(names) else "")


# --------------------------------------------------------------------------- gRPC


def _handler(
    method: Callable[[Any], Any], request_type: Any, serialize: Callable[[Any], bytes]
) -> grpc.RpcMethodHandler:
    async def behaviour(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return method(request)
        except _Status as status:
            await context.abort(status.code, status.message)

    return grpc.unary_unary_rpc_method_handler(
        behaviour, request_deserializer=request_type.deserialize, response_serializer=serialize
    )


def _generic_handler(state: EmulatorState) -> grpc.GenericRpcHandler:
    def empty(_: Any) -> bytes:
        return b""

    def delete_queue(r: types.DeleteQueueRequest) -> empty_pb2.Empty:
        state.delete_queue(r.name)
        return empty_pb2.Empty()

    def delete_task(r: types.DeleteTaskRequest) -> empty_pb2.Empty:
        state.delete_task(r.name)
        return empty_pb2.Empty()

    queue, task = types.Queue.serialize, types.Task.serialize
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "CreateQueue": _handler(lambda r: state.create_queue(r.queue, r.parent), types.CreateQueueRequest, queue),
            "GetQueue": _handler(lambda r: state.get_queue(r.name), types.GetQueueRequest, queue),
            "ListQueues": _handler(
                lambda r: state.list_queues(r.parent, r.page_size, r.page_token),
                types.ListQueuesRequest,
                types.ListQueuesResponse.serialize,
            ),
            "DeleteQueue": _handler(delete_queue, types.DeleteQueueRequest, empty),
            "PurgeQueue": _handler(lambda r: state.purge_queue(r.name), types.PurgeQueueRequest, queue),
            "CreateTask": _handler(
                lambda r: state.create_task(r.parent, r.task, r.response_view), types.CreateTaskRequest, task
            ),
            "GetTask": _handler(lambda r: state.get_task(r.name, r.response_view), types.GetTaskRequest, task),
            "ListTasks": _handler(
                lambda r: state.list_tasks(r.parent, r.response_view, r.page_size, r.page_token),
                types.ListTasksRequest,
                types.ListTasksResponse.serialize,
            ),
            "DeleteTask": _handler(delete_task, types.DeleteTaskRequest, empty),
            "RunTask": _handler(lambda r: state.run_task(r.name, r.response_view), types.RunTaskRequest, task),
        },
    )


# --------------------------------------------------------------------------- control HTTP

_STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("cloud_tasks_state")


def _query_timeout(request: web.Request) -> float:
    try:
        return min(max(float(request.query.get("timeout", "10")), 0.0), 120.0)
    except ValueError:
        return 10.0


async def _tasks(request: web.Request) -> web.Response:
    state = request.app[_STATE_KEY]
    name = request.query.get("name")
    if name is not None:
        record = state.find(name)
        if record is None:
            return web.json_response({"error": f"no task {name!r}"}, status=404)
        return web.json_response(record.as_json())
    return web.json_response({"tasks": state.snapshot(request.query.get("queue"), request.query.get("state"))})


async def _wait(request: web.Request) -> web.Response:
    """Until the named task (or every task) is done, or `timeout` seconds: `{"done": bool, "tasks": [...]}`."""
    state = request.app[_STATE_KEY]
    name = request.query.get("name")

    def done() -> bool:
        if name is None:
            return not state.tasks
        record = state.find(name)
        return record is not None and record.done

    finished = await state.wait_until(done, _query_timeout(request))
    if name is not None:
        record = state.find(name)
        tasks = [record.as_json()] if record is not None else []
    else:
        tasks = state.snapshot()
    return web.json_response({"done": finished, "tasks": tasks})


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATE_KEY].stats())


async def _reset(request: web.Request) -> web.Response:
    request.app[_STATE_KEY].reset()
    return web.json_response({"ok": True})


def create_control_app(state: EmulatorState, certs_max_age: int = 3600) -> web.Application:
    """Certificates (`/oauth2/v1/certs`), token minting and the task control API on one HTTP port."""
    app = web.Application(client_max_size=64 * 1024)
    app[_STATE_KEY] = state
    oidc.add_routes(app, state.signer, certs_max_age)
    app.router.add_get("/__emulator/tasks", _tasks)
    app.router.add_get("/__emulator/wait", _wait)
    app.router.add_get("/__emulator/stats", _stats)
    app.router.add_post("/__emulator/reset", _reset)
    return app


# --------------------------------------------------------------------------- run


async def serve(
    host: str, port: int, oidc_port: int, state: EmulatorState, certs_max_age: int = 3600
) -> tuple[grpc.aio.Server, web.AppRunner]:
    """Start the control/certs HTTP server, then the gRPC server (so a ready gRPC port means all is up)."""
    await state.start()
    runner = await start_app(create_control_app(state, certs_max_age), host, oidc_port)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_generic_handler(state),))
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise OSError(f"could not bind {host}:{port}")
    await server.start()
    return server, runner


def _queue_name(text: str) -> str:
    if not _QUEUE_NAME.match(text):
        raise argparse.ArgumentTypeError(f"expected projects/P/locations/L/queues/Q, got {text!r}")
    return text


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli_parser("emulators.cloud_tasks", __doc__, port_help="gRPC port (CLOUD_TASKS_EMULATOR_HOST)")
    parser.add_argument("--oidc-port", type=int, required=True, help="HTTP port: OIDC certs and the control API")
    parser.add_argument("--queue", type=_queue_name, action="append", default=[], help="create this queue at start")
    defaults = RetryPolicy()
    parser.add_argument("--max-attempts", type=int, default=defaults.max_attempts, help="-1: unlimited")
    parser.add_argument("--min-backoff", type=float, default=defaults.min_backoff, help="seconds")
    parser.add_argument("--max-backoff", type=float, default=defaults.max_backoff, help="seconds")
    parser.add_argument("--max-doublings", type=int, default=defaults.max_doublings)
    parser.add_argument("--max-retry-duration", type=float, default=0.0, help="seconds, 0: no limit")
    parser.add_argument("--dispatch-deadline", type=float, default=None, help="cap every task's deadline (seconds)")
    parser.add_argument("--dedup-window", type=float, default=86400.0, help="seconds a used task name stays taken")
    parser.add_argument("--allow-any-host", action="store_true", help="dispatch to non-loopback URLs too")
    parser.add_argument("--certs-max-age", type=int, default=3600, help="Cache-Control max-age of the certs")
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> None:
    policy = RetryPolicy(
        max_attempts=args.max_attempts,
        max_retry_duration=args.max_retry_duration,
        min_backoff=args.min_backoff,
        max_backoff=args.max_backoff,
        max_doublings=args.max_doublings,
    )
    state = EmulatorState(
        defaults=policy,
        deadline_cap=args.dispatch_deadline,
        dedup_window=args.dedup_window,
        allow_any_host=args.allow_any_host,
        initial_queues=args.queue,
    )
    server, runner = await serve(args.host, args.port, args.oidc_port, state, args.certs_max_age)
    stop = stop_event()
    print(
        f"Cloud Tasks emulator listening on {args.host}:{args.port} "
        f"(OIDC certs: http://{args.host}:{args.oidc_port}{oidc.CERTS_PATH})",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await server.stop(0.5)
        await state.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_main(_parse_args(argv)))


if __name__ == "__main__":
    main()
