"""What every streamed answer shares, whatever shape it is written in.

`POST /` (our events), `/v1/chat/completions` (OpenAI chunks) and the
Gemini-native route (Gemini records) read the upstream stream the same way
and end it the same way; only the bytes they write differ.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from .errors import ApiError, UpstreamError
from .exchange import EventStream, Exchange
from .normalize import MalformedAnswer, StreamTotals, read_answer
from .upstream import UpstreamStream

__all__ = ["records_with_deltas", "stream_response"]


async def records_with_deltas(stream: UpstreamStream, totals: StreamTotals) -> AsyncIterator[tuple[Any, str]]:
    """(record, its new text) per upstream record, added up in `totals`.

    An unusable record, or a stream that ends without a finish reason (cut off
    cleanly), is an UpstreamError: the caller must not take a torn answer for
    a whole one.
    """
    async for record in stream:
        try:
            delta = totals.add(read_answer(record, require_candidate=False))
        except MalformedAnswer as exc:
            raise UpstreamError(f"the upstream stream sent an unusable record: {exc}") from None
        yield record, delta
    if totals.answer.finish_reason is None:
        raise UpstreamError("the upstream stream ended without a finish reason", retryable=True)


def stream_response(
    body: AsyncIterator[bytes],
    exchange: Exchange,
    stream: UpstreamStream | None,
    on_error: Callable[[ApiError], bytes],
    media_type: str = "text/event-stream",
) -> EventStream:
    """Send `body` as it is produced; a failure after the first byte ends it with `on_error`'s bytes.

    Whatever happens, the upstream stream is closed and the access line is
    written once, with 499 when the caller went away.
    """

    async def guarded() -> AsyncIterator[bytes]:
        status = 200
        try:
            async for chunk in body:
                yield chunk
        except ApiError as err:
            exchange.fields.update(error_type=err.type, stream_error=True)
            yield on_error(err)
        except BaseException:
            exchange.fields["error_type"] = "client_disconnected"
            status = 499
            raise
        finally:
            if stream is not None:
                await stream.aclose()
            if exchange.log_when_done is not None:
                exchange.log_when_done(status)

    return EventStream(guarded(), media_type=media_type, headers={"X-Accel-Buffering": "no"})
