"""Our answer to an admitted chat call: the answer object as JSON, or the same answer as our SSE events.

`POST /` and `POST /v1/templates/{id}` answer alike (docs/API.md, "Response"
and "Streaming"); a route adds its own fields to the answer object (`extra`:
the template's id) and everything else is this one writer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from ..context import RequestContext
from ..errors import ApiError, ErrorBody, error_body
from ..normalize import StreamTotals
from ..responses import json_response
from ..streaming import records_with_deltas, stream_response
from ..upstream.client import UpstreamAnswer
from ..upstream.sse import encode_event
from ..upstream.stream import UpstreamStream
from . import call as upstream_call
from .call import Call
from .models import StreamDelta, ToolCallOut

__all__ = ["STREAM_DESCRIPTION", "respond", "stream_events", "wants_event_stream"]

STREAM_DESCRIPTION = (
    'Sent when the body has `"stream": true` or the request has `Accept: text/event-stream`. '
    "Server-sent events, forwarded as the upstream produces them: `event: delta` (data: StreamDelta) per "
    "text piece, `event: tool_call` (data: ToolCallOut) per function call, then `event: done` (data: {done}, "
    "text = all deltas joined); a failure after the stream started ends it with `event: error` (data: ErrorBody)."
)


def stream_events(done: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The events of our stream, for the OpenAPI document; `done` carries the route's answer object."""
    return {"delta": StreamDelta, "tool_call": ToolCallOut, "done": done, "error": ErrorBody}


def wants_event_stream(accept: str | None) -> bool:
    return accept is not None and any(p.split(";")[0].strip().lower() == "text/event-stream" for p in accept.split(","))


async def respond(ctx: RequestContext, call: Call, extra: Mapping[str, Any] | None = None) -> Response:
    """Run `call` upstream and answer: a stream when asked for (body or Accept), else JSON."""
    if call.req.stream or wants_event_stream(ctx.request.headers.get("accept")):
        meta, stream = await upstream_call.open_upstream_stream(ctx, call)
        return _event_stream(call, meta, stream, ctx, extra or {})
    answer, meta = await upstream_call.complete_upstream(ctx, call)
    ctx.record_answer(answer, meta)
    return json_response(
        {**upstream_call.result_body(call, answer, meta, ctx.request_id, ctx.elapsed_ms()), **(extra or {})}
    )


def _event_stream(
    call: Call, meta: UpstreamAnswer, stream: UpstreamStream | None, ctx: RequestContext, extra: Mapping[str, Any]
) -> Response:
    """`event: delta` per text piece as it arrives, `tool_call` per function call, then `done` (or `error`)."""

    async def events() -> AsyncIterator[bytes]:
        totals = StreamTotals()
        if stream is None:  # a gateway guardrail refused it before any record
            totals.add(upstream_call.guardrail_answer(meta))
        else:
            async for _, chunk in records_with_deltas(stream, totals, ctx):
                if chunk.text:
                    yield encode_event("delta", {"text": chunk.text})
                for tool_call in upstream_call.tool_calls(call, chunk.calls):
                    yield encode_event("tool_call", tool_call)
        answer = totals.result()
        ctx.record_answer(answer, meta)
        done = upstream_call.result_body(call, answer, meta, ctx.request_id, ctx.elapsed_ms())
        yield encode_event("done", {**done, **extra})

    def error_event(err: ApiError) -> bytes:
        return encode_event("error", error_body(err, ctx.request_id))

    return stream_response(events(), ctx, meta, stream, error_event)
