"""SIGTERM, as Cloud Run sends it before stopping an instance: finish what is in flight, briefly.

uvicorn (under gunicorn) already stops accepting connections and waits for
the requests in flight. What it cannot know is that Cloud Run kills the
instance 10 s after SIGTERM: so requests and streams still running
`GRACE_SECONDS` after the signal are ended here, cleanly — a JSON request
with `503 unavailable` (retryable), a stream with a last `event: error`
saying the same — instead of being cut off mid-byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

from .logs import log

__all__ = ["GRACE_SECONDS", "Draining", "draining"]

GRACE_SECONDS = 8.0
_REASON = "the instance is shutting down"


class Draining:
    def __init__(self, grace: float = GRACE_SECONDS) -> None:
        self._grace = grace
        self._tasks: set[asyncio.Task[Any]] = set()
        self._installed_in: int | None = None
        self.started = False
        self.expired = False

    def install(self) -> None:
        """Listen for SIGTERM in this worker (after the server installed its own handler, which still runs)."""
        if self._installed_in == os.getpid():
            return
        self._installed_in = os.getpid()
        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(self._start, loop)
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, on_term)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self.started:
            self.started = True
            log.warning("SIGTERM: finishing requests in flight", extra={"fields": {"in_flight": len(self._tasks)}})
            loop.call_later(self._grace, self._expire)

    def _expire(self) -> None:
        self.expired = True
        for task in list(self._tasks):
            task.cancel(_REASON)

    @contextlib.contextmanager
    def tracked(self) -> Iterator[None]:
        """Count the current task as work in flight; it is cancelled if still running at the deadline."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    def ended(self, exc: BaseException) -> bool:
        """Whether `exc` (a CancelledError) is this deadline ending the work; if so, the task goes on."""
        if not (self.expired and isinstance(exc, asyncio.CancelledError) and exc.args[:1] == (_REASON,)):
            return False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True

    @property
    def reason(self) -> str:
        return _REASON


draining = Draining()
