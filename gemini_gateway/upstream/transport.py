"""HTTP/1.1 keep-alive pool for the AI Gateway: httpx's types over asyncio and llhttp.

`httpx.Request` in, `httpx.Response` out, httpx's exceptions, so everything
above it is plain httpx. Underneath: one asyncio protocol per connection
parsing with httptools (the llhttp C parser uvicorn already serves with).
httpx's own pool (httpcore) stalls at hundreds of concurrent calls, and
aiohttp through httpx-aiohttp costs ~170 ms of import on every cold start
and a second request/response object model per call; `bench/client_transports.py`
measures all three. HTTP/1.1 only (the gateway speaks it); no proxies, no
cookies, no redirects: the function talks to one configured origin.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any, cast

import httptools
import httpx

__all__ = ["Pool"]

_Origin = tuple[str, str, int]
_MAX_BUFFER = 1 << 20  # bytes read ahead of the consumer before the socket is paused
_MAX_HEAD = 64 * 1024  # an answer's status line and headers, interim answers included


class Pool(httpx.AsyncBaseTransport):
    """At most `max_connections` calls at once; idle connections reused LIFO for `keepalive_expiry` seconds.

    Must be created and used inside one running event loop.
    """

    def __init__(
        self, max_connections: int = 1000, keepalive_expiry: float = 30.0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._expiry = keepalive_expiry
        self._ssl = ssl_context
        self._idle: dict[_Origin, collections.deque[_Connection]] = {}
        self._closed = False

    def ssl_context(self) -> ssl.SSLContext:
        """httpx's default verification (certifi), made on the first TLS connection, HTTP/1.1 by ALPN."""
        if self._ssl is None:
            context = httpx.create_ssl_context()
            context.set_alpn_protocols(["http/1.1"])
            self._ssl = context
        return self._ssl

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the upstream connection pool is closed", request=request)
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        head, body = _encode(request, await _content(request))
        await self._acquire(timeouts.get("pool"), request)
        expect_body = request.method != "HEAD"
        conn: _Connection | None = None
        try:
            # No silent resend when a reused connection breaks before answering: the gateway may
            # have read the request, so it is a failure the client's retry loop counts and logs.
            conn = self._take_idle(origin) or await self._connect(origin, timeouts.get("connect"), request)
            conn.send(head, body, expect_body)
            await conn.headers_received(timeouts.get("read"), request)
        except BaseException:
            if conn is not None:
                conn.close()
            self._slots.release()
            raise
        stream = _Body(self, origin, conn, timeouts.get("read"), request)
        return httpx.Response(
            conn.status,
            headers=conn.headers,
            stream=stream,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason},
            request=request,
        )

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

    async def _acquire(self, timeout: float | None, request: httpx.Request) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # does not suspend while a slot is free
            return
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no upstream connection became free in time", request=request) from None

    def _take_idle(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            if conn.reusable(now, self._expiry):
                return conn
            conn.close()
        return None

    async def _connect(self, origin: _Origin, timeout: float | None, request: httpx.Request) -> _Connection:
        scheme, host, port = origin
        context = self.ssl_context() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    _Connection, host, port, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out", request=request) from None
        except OSError as exc:  # ssl.SSLError included
            raise httpx.ConnectError(
                f"could not connect to {host}:{port} ({type(exc).__name__})", request=request
            ) from None
        return conn

    def _release(self, origin: _Origin, conn: _Connection, reuse: bool) -> None:
        self._slots.release()
        if not reuse or self._closed:
            conn.close()
            return
        now = conn.loop.time()
        conn.idle_since = now
        idle = self._idle.setdefault(origin, collections.deque())
        while idle and not idle[0].reusable(now, self._expiry):  # the oldest first: prune what expired or closed
            idle.popleft().close()
        idle.append(conn)


async def _content(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:
        return await request.aread()


def _encode(request: httpx.Request, body: bytes) -> tuple[bytes, bytes]:
    """The request head, and the body (one chunk if the headers say chunked)."""
    raw = request.headers.raw
    fields = b"\t".join([b"%b\t%b" % pair for pair in raw])
    if b"\r" in fields or b"\n" in fields or b"\0" in fields:
        raise httpx.LocalProtocolError("a header name or value holds a line break or NUL", request=request)
    parts = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    chunked = False
    for name, value in raw:
        if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
            chunked = True
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    if chunked:
        body = (b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)) if body else b"0\r\n\r\n"
    return b"".join(parts), body


class _Connection(asyncio.Protocol):
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
        self.error: httpx.TransportError | None = None
        self._informational = False
        self._head_bytes = 0
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0

    # -- what the pool and the body stream use ------------------------------------------------

    def reusable(self, now: float, expiry: float) -> bool:
        return not self.closed and not self._busy and now - self.idle_since < expiry

    def send(self, head: bytes, body: bytes, expect_body: bool) -> None:
        assert self._transport is not None
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
                if self._paused and self._buffered < _MAX_BUFFER // 2 and self._transport is not None:
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
        if self.error is None and not self.complete:
            self.error = error
        self._wake()

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if not self._busy:  # bytes nobody asked for: never reuse this connection
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            ours = exc.__context__  # a limit a callback enforced
            error = ours if isinstance(ours, httpx.RemoteProtocolError) else None
            self._fail(error or httpx.RemoteProtocolError(f"the upstream sent a malformed HTTP answer ({exc})"))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._busy and not self.complete:
            if self.headers_done and self._close_delimited():
                self.complete = True
            elif exc is not None:
                self._fail(httpx.ReadError(f"the upstream connection broke ({type(exc).__name__})"))
            else:
                self._fail(httpx.RemoteProtocolError("the upstream closed the connection before the answer ended"))
        self._wake()

    def _close_delimited(self) -> bool:
        """An answer with neither Content-Length nor chunked encoding ends when the connection does."""
        names = {name.lower() for name, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    # -- httptools callbacks -----------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        self._count_head(len(status))
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        self.headers.append((name, value))

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > _MAX_HEAD:
            raise httpx.RemoteProtocolError(f"the upstream's answer headers passed {_MAX_HEAD} bytes")

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue, 103 Early Hints: the answer comes after
            self._informational = True
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
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _MAX_BUFFER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self.complete = True
        self._wake()


class _Body(httpx.AsyncByteStream):
    """The answer's body straight from its connection; closing it returns the connection to the pool."""

    def __init__(
        self, pool: Pool, origin: _Origin, conn: _Connection, timeout: float | None, request: httpx.Request
    ) -> None:
        self._pool = pool
        self._origin = origin
        self._conn: _Connection | None = conn
        self._timeout = timeout
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            raise httpx.StreamClosed()
        try:
            while chunk := await conn.receive(self._timeout, self._request):
                yield chunk
        finally:
            self._done()

    async def aclose(self) -> None:
        self._done()

    def _done(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._release(self._origin, conn, conn.finished())

    def __del__(self) -> None:
        # An answer dropped without aclose() must not hold its pool slot forever.
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # interpreter shutdown: the loop may be gone
                conn.close()
                self._pool._slots.release()
