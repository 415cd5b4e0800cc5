"""What every streamed answer shares, whatever shape it is written in.

`POST /` (our events), `/v1/chat/completions` (OpenAI chunks), the
Gemini-native route (Gemini records) and the Interactions routes (Google's
events) read the upstream stream the same way
and end it the same way; only the bytes they write differ. A stream settles
its request (charge, then the access line) when it ends, however it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import anyio
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from .access_log import Outcome
from .answer import Answer
from .context import RequestContext
from .errors import ApiError, Internal, Unavailable, UpstreamError
from .logs import exception_place, log
from .normalize import MalformedAnswer, StreamTotals, read_answer
from .shutdown import draining
from .upstream.stream import UpstreamStream

__all__ = ["EventStream", "records_with_deltas", "stream_response"]


class EventStream(StreamingResponse):
    """A streamed response that always stops (and closes its source) when the caller leaves.

    Starlette only watches for the disconnect on ASGI servers older than spec
    2.4; this does it on every server, so a silent upstream cannot keep a
    stream alive for nobody. Its `background` task (settling the request)
    runs once the stream is over, however it ended.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream_then_stop() -> None:
                    with contextlib.suppress(OSError):  # the caller is gone mid-write
                        await self.stream_response(send)
                    group.cancel_scope.cancel()

                group.start_soon(stream_then_stop)
                await partial(self.listen_for_disconnect, receive)()
                group.cancel_scope.cancel()
        finally:
            closing = getattr(self.body_iterator, "aclose", None)
            if closing is not None:  # a body left mid-stream learns it now, before the end hook runs
                await closing()
            if self.background is not None:
                await self.background()


async def records_with_deltas(
    stream: UpstreamStream, totals: StreamTotals, ctx: RequestContext
) -> AsyncIterator[tuple[Any, Answer]]:
    """(record, what it adds: its text and function calls) per upstream record, added up in `totals`.

    An unusable record, a stream larger than what `totals` may keep, or a
    stream that ends without a finish reason (cut off cleanly), is an
    UpstreamError: the caller must not take a torn answer for a whole one.
    """
    async for record in stream:
        try:
            chunk = read_answer(record, require_candidate=False)
            totals.add(chunk)
        except MalformedAnswer as exc:
            raise UpstreamError(f"the upstream stream sent an unusable record: {exc}") from None
        ctx.record_usage(chunk.usage)
        yield record, chunk
    if totals.answer.finish_reason is None:
        raise UpstreamError("the upstream stream ended without a finish reason", retryable=True)


def stream_response(
    body: AsyncIterator[bytes],
    ctx: RequestContext,
    meta: Outcome,
    stream: UpstreamStream | None,
    on_error: Callable[[ApiError], bytes],
    media_type: str = "text/event-stream",
) -> EventStream:
    """Send `body` as it is produced; a failure after the first byte ends it with `on_error`'s bytes.

    Any failure, an unexpected one included, ends the stream with the route's
    error record (an unexpected one is logged by class and place, like
    `app.handle` does, never with its text). Whatever happens, the upstream
    stream is closed and the request is settled once (the response's
    background task), with 499 when the caller went away.
    """
    outcome = {"status": 200}
    ctx.settles_when_streamed()

    async def guarded() -> AsyncIterator[bytes]:
        failure: ApiError | None = None
        try:
            with draining.tracked():
                try:
                    async for chunk in body:
                        yield chunk
                except asyncio.CancelledError as exc:
                    if not draining.ended(exc):
                        raise
                    failure = Unavailable(draining.reason)
                except ApiError as err:
                    failure = err
                except Exception as exc:  # noqa: BLE001 - a bug or a byte nobody foresaw: still an error record
                    failure = _unexpected(exc, ctx)
            if failure is not None:
                ctx.log.record_upstream(meta)
                ctx.log.record_error(failure, mid_stream=True)
                yield on_error(failure)
        except BaseException:
            ctx.log.record_gone()
            outcome["status"] = 499
            raise
        finally:
            if stream is not None:
                await stream.aclose()

    async def finish() -> None:
        await ctx.settle(outcome["status"])

    return EventStream(
        guarded(), media_type=media_type, headers={"X-Accel-Buffering": "no"}, background=BackgroundTask(finish)
    )


def _unexpected(exc: Exception, ctx: RequestContext) -> ApiError:
    fields = exception_place(exc)
    ctx.log.note(**fields)
    log.error("unexpected failure mid-stream", extra={"fields": {"request_id": ctx.request_id, **fields}})
    return Internal("the function failed unexpectedly; it has been logged")
