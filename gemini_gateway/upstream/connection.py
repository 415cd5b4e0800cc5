"""One HTTP/1.1 connection of the upstream pool: an asyncio protocol parsing with llhttp.

The gateway's bytes are trusted no more than a caller's (docs/API.md,
"The gateway is untrusted too"), so the framing is strict:

- An answer's head (status line, headers, interim 1xx answers) is capped at
  64 KiB counted in bytes as they arrive, before the parser sees them: one
  header that never ends is cut there too.
- A final answer ends the connection's use unless the parser is exactly
  between messages: any byte after it (in the same read or a later one)
  stops the parser and closes the connection; it is never parsed as the next
  answer nor added to this one. (Empty lines between messages are skipped by
  llhttp, as RFC 9112 section 2.2 allows; they leave nothing buffered.)
- A body cut before its declared end, or a close-delimited body ended by a
  reset rather than a clean close, is `httpx.RemoteProtocolError`.
- A connection goes back to the pool only when its answer was complete, read
  to the end, kept alive and nothing else happened on it.
"""

from __future__ import annotations

import asyncio
import collections
from typing import cast

import httptools
import httpx

__all__ = ["MAX_BUFFER", "MAX_HEAD", "Connection"]

MAX_BUFFER = 1 << 20  # bytes read ahead of the consumer before the socket is paused
MAX_HEAD = 64 * 1024  # an answer's status line and headers, interim answers included


class _AfterAnswer(Exception):
    """Raised from a parser callback to stop llhttp at bytes that follow a complete answer."""


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; one request at a time. Parser callbacks fill it, `receive` drains it."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._busy = False
        self._paused = False
        self._expect_body = True
        self._waiter: asyncio.Future[None] | None = None
        self._begin()

    def _begin(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.compressed = False  # a Content-Encoding other than identity
        self.error: httpx.TransportError | None = None
        self._informational = False
        self._head_bytes = 0
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0

    # -- what the pool and the body stream use ------------------------------------------------

    def reusable(self, now: float, expiry: float) -> bool:
        return not self.closed and not self._busy and now - self.idle_since < expiry

    def send(self, head: bytes, body: bytes, expect_body: bool) -> None:
        if self.closed or self._transport is None or self._transport.is_closing():
            raise httpx.RemoteProtocolError("the upstream connection closed before the request was sent")
        self._begin()
        self._busy = True
        self._expect_body = expect_body
        self._transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self._transport.write(body)

    def finished(self) -> bool:
        """Whether the answer was read to its end and the connection can carry another request.

        An answer that arrived whole but was not consumed (a capped error body) leaves
        its bytes buffered and reading possibly paused: that connection is closed.
        """
        self._busy = False
        drained = not self._chunks and not self._paused
        return self.complete and drained and self.keep_alive and self.error is None and not self.closed

    async def headers_received(self, timeout: float | None, request: httpx.Request) -> None:
        while not self.headers_done:
            if self.error is not None:
                raise self._with(request)
            await self._wait(timeout, request)

    async def receive(self, timeout: float | None, request: httpx.Request) -> bytes:
        """The next body chunk; b"" at the end of the answer."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < MAX_BUFFER // 2 and self._transport is not None:
                    self._paused = False
                    self._transport.resume_reading()
                return chunk
            if self.error is not None:
                raise self._with(request)
            if self.complete:
                return b""
            await self._wait(timeout, request)

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _with(self, request: httpx.Request) -> httpx.TransportError:
        assert self.error is not None
        self.error.request = request
        return self.error

    async def _wait(self, timeout: float | None, request: httpx.Request) -> None:
        waiter = self._waiter = self.loop.create_future()
        try:
            if timeout is None:  # the caller's own deadline bounds it (the client's retry loop)
                await waiter
                return
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            raise httpx.ReadTimeout("the upstream stopped sending", request=request) from None
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: httpx.TransportError) -> None:
        """The answer is broken: the error is what its reader gets, and the connection closes.

        After a complete answer there is nothing left to fail: its reader gets it whole,
        and the connection still closes.
        """
        if self.error is None and not self.complete:
            self.error = error
        self.close()
        self._wake()

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if not self._busy or self.complete:  # bytes nobody asked for, or after the answer: never reuse this
            self.close()
            return
        try:
            if self.headers_done:
                self._parser.feed_data(data)
            elif len(data) <= MAX_HEAD - self._head_bytes:
                self._head_bytes += len(data)
                self._parser.feed_data(data)
            else:
                self._feed_to_head_limit(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            ours = exc.__context__  # a limit a callback enforced, or bytes after the answer
            if isinstance(ours, httpx.RemoteProtocolError):
                self._fail(ours)
            else:
                self._fail(httpx.RemoteProtocolError(f"the upstream sent a malformed HTTP answer ({exc})"))

    def _feed_to_head_limit(self, data: bytes) -> None:
        """Feed up to the head limit; what follows is fed only if the head ended within it."""
        view = memoryview(data)
        room = MAX_HEAD - self._head_bytes
        self._head_bytes = MAX_HEAD
        self._parser.feed_data(view[:room])
        if not self.headers_done:
            self._fail(httpx.RemoteProtocolError(f"the upstream's answer headers passed {MAX_HEAD} bytes"))
            return
        if not self.closed:
            self._parser.feed_data(view[room:])

    def eof_received(self) -> bool | None:
        self.closed = True  # never handed out again; connection_lost follows and ends the answer
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._busy and not self.complete and self.error is None:
            if self.headers_done and exc is None and self._close_delimited():
                self.complete = True  # a clean close is this answer's end
            elif self.headers_done:
                self.error = httpx.RemoteProtocolError("the upstream's answer was cut before its end")
            elif exc is not None:
                self.error = httpx.ReadError(f"the upstream connection broke ({type(exc).__name__})")
            else:
                self.error = httpx.RemoteProtocolError("the upstream closed the connection before the answer ended")
        self._wake()

    def _close_delimited(self) -> bool:
        """Whether the answer's body ends with the connection (RFC 9112 section 6.3).

        Neither Content-Length nor Transfer-Encoding, or a Transfer-Encoding whose
        last coding is not chunked (llhttp reads those to the end of the connection).
        """
        codings = b",".join(value for name, value in self.headers if name.lower() == b"transfer-encoding")
        if codings:
            return codings.rsplit(b",", 1)[-1].strip().lower() != b"chunked"
        return not any(name.lower() == b"content-length" for name, _ in self.headers)

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            raise _AfterAnswer()  # stops llhttp here: see data_received and `_fail`

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        if len(name) == 16 and name.lower() == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
            self.compressed = True

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue, 103 Early Hints: the answer comes after
            self._informational = True
            self.compressed = False
            self.headers = []
            self.reason = b""
            return
        self.status = status
        self.keep_alive = self._parser.should_keep_alive()
        self.headers_done = True
        if not self._expect_body:  # the answer to HEAD: llhttp cannot know it has no body
            self.complete = True
            self.keep_alive = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:  # a body after the answer to HEAD
            raise _AfterAnswer()
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > MAX_BUFFER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self.complete = True
        self._wake()
