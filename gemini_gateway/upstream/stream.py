"""Gemini's SSE stream as parsed records, one at a time, as they arrive."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import orjson

from ..errors import ApiError, UpstreamError, UpstreamTimeout
from .failures import scrub
from .sse import SseDecoder

__all__ = ["UpstreamStream", "read_capped", "writable"]

_MAX_WRITABLE_DEPTH = 254  # orjson reads 1024 levels of nesting but writes only 254


class UpstreamStream:
    """Records of `:streamGenerateContent?alt=sse` or of an Interactions stream (ended by `[DONE]`), as they arrive.

    After the first record, each wait for the next one is bounded by
    UPSTREAM_TIMEOUT_SECONDS (a stalled stream ends in upstream_timeout). An
    error record mid-stream becomes an UpstreamError whose message is
    scrubbed of every secret the function knows. Whatever bytes arrive, what
    comes out is a record, an UpstreamError or an UpstreamTimeout.
    """

    def __init__(self, response: httpx.Response, idle_timeout: float, secrets: Iterable[str] = ()) -> None:
        self._response = response
        self._chunks = response.aiter_bytes()
        self._decoder = SseDecoder()
        self._ready: collections.deque[tuple[str, str]] = collections.deque()
        self._idle = idle_timeout
        self._ended = False
        self._secrets = tuple(secrets)

    async def prime(self) -> None:
        """Read until the first record (or the end), so early failures can be retried."""
        while not self._ready and not self._ended:
            await self._pull()

    async def _pull(self) -> None:
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self._ended = True
            self._ready.extend(self._decoder.close())
            return
        self._ready.extend(self._decoder.feed(chunk))
        await asyncio.sleep(0)  # a fast stream's chunks may all be buffered already: let other requests in

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._records()

    async def _records(self) -> AsyncIterator[Any]:
        handled = 0
        while True:
            while self._ready:
                kind, text = self._ready.popleft()
                if kind == "data" and text.strip() == "[DONE]":  # the Interactions API's end of stream
                    self._ended = True
                    self._ready.clear()
                    return
                yield self._parse(kind, text)  # the record's text is not kept while it is handled
                handled += 1
                if handled % 16 == 0:  # a burst of small records: let other requests in between
                    await asyncio.sleep(0)
            if self._ended:
                return
            try:
                async with asyncio.timeout(self._idle):
                    await self._pull()
            except TimeoutError:
                raise UpstreamTimeout(self._idle) from None
            except httpx.HTTPError as exc:
                raise UpstreamError(f"the upstream stream broke off ({type(exc).__name__})", retryable=True) from None

    def _parse(self, kind: str, text: str) -> Any:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:  # too deep included
            raise UpstreamError("the upstream stream sent a record that is not JSON") from None
        if not writable(data, text):
            raise UpstreamError("the upstream stream sent a record nested too deeply to pass on")
        if kind == "raw" or (isinstance(data, dict) and "error" in data and "candidates" not in data):
            raise self._error(data)
        return data

    def _error(self, data: Any) -> ApiError:
        error = data.get("error") if isinstance(data, dict) else None
        status = error.get("code") if isinstance(error, dict) else None
        said = error.get("message") if isinstance(error, dict) else None
        message = scrub(said, self._secrets) if isinstance(said, str) else ""
        retryable = type(status) is int and status in (429, 500, 502, 503, 504)
        return UpstreamError(f"the upstream stream failed: {message or 'error record'}", retryable=retryable)

    async def aclose(self) -> None:
        await self._response.aclose()


def writable(value: Any, raw: bytes | str) -> bool:
    """Whether `value`, parsed from `raw`, can be written back as JSON (answers and records are passed on).

    orjson reads deeper nesting than it writes. Nesting that deep needs as many
    brackets, so counting them (at C speed) spares almost every answer the check.
    """
    brackets = raw.count(b"[") + raw.count(b"{") if isinstance(raw, bytes) else raw.count("[") + raw.count("{")
    if brackets <= _MAX_WRITABLE_DEPTH:
        return True
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The whole body, or UpstreamError as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise UpstreamError("the upstream answer was too large")
        chunks.append(chunk)
    return b"".join(chunks)
