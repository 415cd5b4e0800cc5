"""The responses every route builds the same way, and cancelling work for a caller who left."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response

from .context import RequestContext
from .errors import ApiError

__all__ = ["ClientGone", "cancel_if_gone", "error_response", "json_response"]

T = TypeVar("T")
_WATCH_AFTER = 0.05


class ClientGone(Exception):
    """The caller disconnected; whatever we were doing for it was cancelled."""


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=dict(headers or {}), media_type="application/json")


def error_response(error: ApiError, ctx: RequestContext) -> Response:
    ctx.log.record_error(error)
    headers = error.headers
    if not ctx.body_read and ctx.request.method in ("POST", "PUT", "PATCH"):
        # The body was never read (refused by its headers): do not keep reading it for nobody.
        headers = {**headers, "Connection": "close"}
    return json_response(ctx.render_error(error, ctx.request_id), error.status, headers)


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
