"""Redis shared by every instance (rate limits, daily token budgets), and what happens when it is slow or down.

Decision: fail open to this instance's memory. A Redis outage must not
become an outage of the function, and the in-memory state still bounds every
caller (per instance) instead of dropping the limit altogether. What keeps
a sick Redis from stalling requests:

- One `RedisState` per process: one client, one health state, one probe,
  shared by the rate limiter and the budgets (not one tracker per purpose).
- One `Allowance` per request (`RequestContext` starts it): its replay
  check, rate limit, budget reservation and settlement together wait on
  Redis for at most `REQUEST_ALLOWANCE` (0.5 s). A call that would take longer is cut and the request counts in
  memory; no request waits on Redis longer than that, whatever Redis does
  (slow replies, a black hole that accepts and never answers, refusals).
- A call that fails, is cut, or answers slower than `SLOW_REPLY` marks Redis
  unhealthy: one warning line says the function is failing open, and from
  then on no request touches Redis (no request probes).
- One background probe (`PING` each second) asks while it is unhealthy.
  When Redis answers quickly again, the recovery hooks run first (the
  budgets write back what was spent in memory meanwhile), then requests use
  Redis again and an info line says for how long it was down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from ..logs import log

__all__ = [
    "REQUEST_ALLOWANCE",
    "SLOW_REPLY",
    "Allowance",
    "FailOpen",
    "RedisState",
    "redis_client",
    "redis_state",
    "request_allowance",
    "start_request_allowance",
]

REQUEST_ALLOWANCE = 0.5  # seconds one request may wait on Redis, all its calls together
SLOW_REPLY = REQUEST_ALLOWANCE / 2  # a reply slower than this marks Redis unhealthy (it would eat the allowance)
_PROBE_EVERY = 1.0
_RECOVERY_TIMEOUT = 5.0  # for the write-back that runs before Redis is used again
_REMIND_EVERY = 60.0

T = TypeVar("T")
Clock = Callable[[], float]


class Allowance:
    """What is left of one request's time for Redis (admission and settlement draw from it)."""

    __slots__ = ("left",)

    def __init__(self, seconds: float = REQUEST_ALLOWANCE) -> None:
        self.left = seconds


_CURRENT: ContextVar[Allowance | None] = ContextVar("redis_allowance", default=None)


def start_request_allowance() -> Allowance:
    """A new request's allowance, also current for every Redis call made while serving it (its task's context)."""
    allowance = Allowance()
    _CURRENT.set(allowance)
    return allowance


def request_allowance() -> Allowance:
    """The current request's allowance (a caller check's Redis call draws from it too); fresh outside a request."""
    return _CURRENT.get() or Allowance()


class FailOpen(Exception):
    """This call does not use Redis: count in memory.

    `sent` says whether the command may have reached Redis (it failed or was
    cut after it was written): its effect there is then unknown.
    """

    def __init__(self, sent: bool) -> None:
        super().__init__("counting in memory")
        self.sent = sent


class _SlowReply(Exception):
    pass


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError, TimeoutError)


def redis_client(url: str) -> Any:
    """An asyncio Redis client; imported only by deployments with REDIS_URL.

    The per-request allowance bounds every call; the client's own timeouts
    are a second line. A connection a restarted Redis closed is retried
    once, on a fresh connection (inside the same allowance); a timeout is
    never retried.
    """
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=REQUEST_ALLOWANCE,
        socket_connect_timeout=REQUEST_ALLOWANCE,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )


def redis_state(url: str) -> RedisState:
    return RedisState(redis_client(url))


async def _within(work: Awaitable[T], seconds: float) -> T:
    """`work`'s result, or TimeoutError after `seconds` without waiting for it to wind down.

    Not `asyncio.timeout`: redis-py's connection set-up can take the
    cancellation and carry on with its handshake (seen at 1.4 s against a
    Redis answering in 0.45 s), so the cut call is left to finish its
    clean-up in the background while the request moves on.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait((task,), timeout=seconds)
    except BaseException:  # the request itself was cancelled (its caller left)
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise TimeoutError(f"no reply within {seconds:.2f} s")
    return task.result()


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a cut call's late failure is not logged as never retrieved


class RedisState:
    """One Redis client and whether to use it now, for every purpose; logs the outage and the recovery."""

    def __init__(self, client: Any, clock: Clock = time.monotonic, probe_every: float = _PROBE_EVERY) -> None:
        self.client = client
        self._clock = clock
        self._probe_every = probe_every
        self._errors = _redis_errors()
        self._healthy = True
        self._down_since = 0.0
        self._probe: asyncio.Task[None] | None = None
        self._hooks: list[Callable[[], Awaitable[None]]] = []
        self.in_memory = 0  # calls counted in memory during the current outage

    @property
    def healthy(self) -> bool:
        return self._healthy

    def on_recovery(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` when Redis answers again, before any request uses it (raise to stay in memory)."""
        self._hooks.append(hook)

    async def call(self, op: Callable[[], Awaitable[T]], allowance: Allowance | None = None) -> T:
        """`op`'s reply, within what is left of the request's allowance; FailOpen when it cannot be had."""
        allowance = allowance or request_allowance()
        if not self._healthy or allowance.left <= 0:
            self.in_memory += 1
            raise FailOpen(sent=False)
        started = self._clock()
        try:
            reply = await _within(op(), allowance.left)
        except self._errors as exc:
            allowance.left -= self._clock() - started
            self.failed(exc)
            self.in_memory += 1
            raise FailOpen(sent=True) from None
        took = self._clock() - started
        allowance.left -= took
        if took > SLOW_REPLY:
            self.failed(_SlowReply(f"{took:.2f} s"))  # this reply counts; the next requests go to memory
        return reply

    def failed(self, exc: BaseException) -> None:
        """Redis failed or is too slow: fail open (once per outage, logged) and start the one probe."""
        if not self._healthy:
            return
        self._healthy = False
        self._down_since = self._clock()
        self.in_memory = 0
        log.warning(
            "Redis is unreachable or too slow: failing open, rate limits and daily token budgets count per "
            "instance in memory until it answers again",
            extra={"fields": {"error": type(exc).__name__, "redis_failing_open": True}},
        )
        self._probe = asyncio.get_running_loop().create_task(self._probe_until_back())

    async def _probe_until_back(self) -> None:
        reminded = self._clock()
        while True:
            await asyncio.sleep(self._probe_every)
            if await self._answers_quickly() and await self._recovered():
                break
            if self._clock() - reminded >= _REMIND_EVERY:
                reminded = self._clock()
                log.warning(
                    "Redis is still unreachable or too slow: still counting in memory",
                    extra={"fields": {"down_seconds": round(reminded - self._down_since), "in_memory": self.in_memory}},
                )
        self._healthy = True  # no await between the last write-back and this: nothing counted in memory is lost
        self._probe = None
        log.info(
            "Redis answers again: rate limits and daily token budgets are shared again",
            extra={"fields": {"down_seconds": round(self._clock() - self._down_since, 1), "in_memory": self.in_memory}},
        )

    async def _answers_quickly(self) -> bool:
        started = self._clock()
        try:
            await _within(self.client.ping(), REQUEST_ALLOWANCE)
        except self._errors:
            return False
        return self._clock() - started <= SLOW_REPLY

    async def _recovered(self) -> bool:
        try:
            for hook in self._hooks:
                async with asyncio.timeout(_RECOVERY_TIMEOUT):
                    await hook()
        except self._errors:
            return False
        except Exception as exc:  # noqa: BLE001 - a bug in a hook must not end the probe
            log.error("Redis recovery step failed", extra={"fields": {"error": type(exc).__name__}})
            return False
        return True

    async def aclose(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        await self.client.aclose()
