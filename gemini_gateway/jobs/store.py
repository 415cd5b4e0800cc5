"""Where jobs live: this instance's memory, or Redis (REDIS_URL) shared by every instance.

A job is a versioned state document (`records.Job`) plus the request body it
runs. Every change is compare-and-set on the version (`update`): read, apply
a pure transition, write back only if the version is still the one read,
else read again. In Redis the write is one Lua script, so instances racing
on one job (a task delivered twice) see one winner.

Unlike the rate limits, job state does not fall back to memory when Redis is
down: a job written in one instance's memory is invisible to the instance its
task or its caller's poll lands on. Such a moment is `503 unavailable`.
Records expire IDEMPOTENCY_TTL_SECONDS after their last change.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import Unavailable
from ..logs import log
from .records import Job

__all__ = ["JobStore", "MemoryJobs", "RedisJobs", "Transition"]

Transition = Callable[[Job], "Job | None"]

_KEY_PREFIX = "gemini-gateway:job:"
_MAX_JOBS = 10_000  # in memory; the oldest is forgotten past this
_MAX_BODY_BYTES = 64 * 1024 * 1024  # request bodies of jobs not yet ended, in memory
_CAS_TRIES = 8

_CREATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', 1, 'doc', ARGV[1], 'body', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

_REPLACE_LUA = """
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'v', 1)
if ARGV[3] == '1' then redis.call('HDEL', KEYS[1], 'body') end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""


class JobStore(Protocol):
    async def create(self, job: Job, body: bytes) -> None:
        """Keep a new job and the body it runs (503 when it cannot be kept)."""
        ...

    async def get(self, job_id: str) -> Job | None: ...

    async def body(self, job_id: str) -> bytes | None:
        """The request body a job runs; None once it has ended (or expired)."""
        ...

    async def update(self, job_id: str, change: Transition) -> tuple[Job | None, bool]:
        """(the job as it is now, whether `change` was applied); the body goes when the job ends."""
        ...


@dataclass
class _Entry:
    version: int
    job: Job
    body: bytes | None
    expires: float


@dataclass
class MemoryJobs:
    """Jobs in this instance's memory: bounded in count and in bodies kept."""

    ttl: float
    clock: Callable[[], float] = time.monotonic
    max_jobs: int = _MAX_JOBS
    max_body_bytes: int = _MAX_BODY_BYTES
    _jobs: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)
    _body_bytes: int = 0

    def _entry(self, job_id: str) -> _Entry | None:
        entry = self._jobs.get(job_id)
        if entry is not None and entry.expires <= self.clock():
            self._drop(job_id)
            return None
        return entry

    def _drop(self, job_id: str) -> None:
        entry = self._jobs.pop(job_id, None)
        if entry is not None and entry.body is not None:
            self._body_bytes -= len(entry.body)

    async def create(self, job: Job, body: bytes) -> None:
        if self._body_bytes + len(body) > self.max_body_bytes:
            raise Unavailable("too many jobs are waiting on this instance; try again shortly")
        self._jobs[job.id] = _Entry(1, job, body, self.clock() + self.ttl)
        self._body_bytes += len(body)
        while len(self._jobs) > self.max_jobs:
            self._drop(next(iter(self._jobs)))

    async def get(self, job_id: str) -> Job | None:
        entry = self._entry(job_id)
        return entry.job if entry is not None else None

    async def body(self, job_id: str) -> bytes | None:
        entry = self._entry(job_id)
        return entry.body if entry is not None else None

    async def update(self, job_id: str, change: Transition) -> tuple[Job | None, bool]:
        entry = self._entry(job_id)
        if entry is None:
            return None, False
        changed = change(entry.job)
        if changed is None:
            return entry.job, False
        entry.job, entry.version, entry.expires = changed, entry.version + 1, self.clock() + self.ttl
        if changed.ended and entry.body is not None:
            self._body_bytes -= len(entry.body)
            entry.body = None
        return changed, True


class RedisJobs:
    """Jobs in Redis, one hash each (`v`ersion, `doc`, `body`), shared by every instance."""

    def __init__(self, client: Any, ttl: float) -> None:
        self._client = client
        self._ttl_ms = int(ttl * 1000)
        self._create = client.register_script(_CREATE_LUA)
        self._replace = client.register_script(_REPLACE_LUA)

    async def _call(self, what: str, work: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await work
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("jobs: Redis is unreachable", extra={"fields": {"doing": what, "error": type(exc).__name__}})
            raise Unavailable("job state is unreachable right now; try again shortly") from None

    async def create(self, job: Job, body: bytes) -> None:
        created = await self._call(
            "create", self._create(keys=[_KEY_PREFIX + job.id], args=[job.dumps(), body, self._ttl_ms])
        )
        if int(created) != 1:  # 128 random bits: never, unless something else writes these keys
            raise Unavailable("a job with this id exists already; try again")

    async def _read(self, job_id: str) -> tuple[bytes, Job] | None:
        version, doc = await self._call("read", self._client.hmget(_KEY_PREFIX + job_id, "v", "doc"))
        if version is None or doc is None:
            return None
        return bytes(version), Job.loads(doc)

    async def get(self, job_id: str) -> Job | None:
        found = await self._read(job_id)
        return found[1] if found is not None else None

    async def body(self, job_id: str) -> bytes | None:
        raw = await self._call("read body", self._client.hget(_KEY_PREFIX + job_id, "body"))
        return bytes(raw) if raw is not None else None

    async def update(self, job_id: str, change: Transition) -> tuple[Job | None, bool]:
        for _ in range(_CAS_TRIES):
            found = await self._read(job_id)
            if found is None:
                return None, False
            version, job = found
            changed = change(job)
            if changed is None:
                return job, False
            args = [version, changed.dumps(), "1" if changed.ended else "0", self._ttl_ms]
            if int(await self._call("update", self._replace(keys=[_KEY_PREFIX + job_id], args=args))) == 1:
                return changed, True
        raise Unavailable("the job is changing too often to update; try again")

    async def aclose(self) -> None:
        await self._client.aclose()
