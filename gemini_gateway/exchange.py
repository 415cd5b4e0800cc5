"""One request's bookkeeping and the responses every route builds the same way."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from .errors import ApiError, error_body

__all__ = [
    "ClientGone",
    "ErrorRenderer",
    "EventStream",
    "Exchange",
    "cancel_if_gone",
    "error_response",
    "json_response",
]

T = TypeVar("T")
ErrorRenderer = Callable[[ApiError, str], dict[str, Any]]
_WATCH_AFTER = 0.05


class ClientGone(Exception):
    """The caller disconnected; whatever we were doing for it was cancelled."""


@dataclass
class Exchange:
    """One request's facts, gathered for its access log line and headers."""

    request_id: str
    started: float
    fields: dict[str, Any] = field(default_factory=dict)
    upstream_ms: float | None = None
    render_error: ErrorRenderer = error_body
    # A streamed answer logs its own access line when the stream ends.
    log_when_done: Callable[[int], None] | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, status_code=status, headers=dict(headers or {}), media_type="application/json")


def error_response(error: ApiError, exchange: Exchange) -> Response:
    exchange.fields["error_type"] = error.type
    return json_response(exchange.render_error(error, exchange.request_id), error.status, error.headers)


async def cancel_if_gone(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Run `work`, cancelling it if the caller disconnects: nothing runs for nobody.

    The disconnect watcher starts only if the work is still running after
    `_WATCH_AFTER` seconds: a quick answer (a gateway cache hit) then costs a
    timer, not a task, and a caller who left earlier is still noticed then,
    since the server remembers the disconnect.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    gone = False
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        nonlocal gone
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                gone = True
                task.cancel()
                return

    def start_watching() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())

    timer = loop.call_later(_WATCH_AFTER, start_watching)
    try:
        return await work
    except asyncio.CancelledError:
        if gone:
            task.uncancel()
            raise ClientGone() from None
        raise
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()


class EventStream(StreamingResponse):
    """A streamed response that always stops (and closes its source) when the caller leaves.

    Starlette only watches for the disconnect on ASGI servers older than spec
    2.4; this does it on every server, so a silent upstream cannot keep a
    stream alive for nobody.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def stream_then_stop() -> None:
                with contextlib.suppress(OSError):  # the caller is gone mid-write
                    await self.stream_response(send)
                group.cancel_scope.cancel()

            group.start_soon(stream_then_stop)
            await partial(self.listen_for_disconnect, receive)()
            group.cancel_scope.cancel()
