"""The function's HTTP/1.1 keep-alive pool: httpx's types over asyncio and llhttp.

`httpx.Request` in, `httpx.Response` out, httpx's exceptions, so everything
above it is plain httpx. It serves every origin the function calls: the AI
Gateway, and the Firebase Auth and App Check key sets. Underneath: one
asyncio protocol per connection (`connection.py`, strict framing) parsing
with httptools (the llhttp C parser uvicorn already serves with), requests
checked as h11 checks them (`wire.py`), connections opened with a DNS cache
and happy eyeballs, through a proxy if the environment names one
(`connect.py`, `proxies.py`). httpx's own pool (httpcore) stalls at hundreds
of concurrent calls, and aiohttp through httpx-aiohttp costs ~170 ms of
import on every cold start and a second request/response object model per
call; `bench/client_transports.py` measures all three. HTTP/1.1 only (the
gateway speaks it); no cookies, no redirects.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .connect import Resolver, TunnelRefused, open_socket, tunnel
from .connection import Connection
from .proxies import Proxies, Proxy
from .wire import encode_request

__all__ = ["Pool"]

_Origin = tuple[str, str, int]
_NO_PROXIES = Proxies({})


class Pool(httpx.AsyncBaseTransport):
    """At most `max_connections` calls at once; idle connections reused LIFO, closed after `keepalive_expiry` s.

    Must be created and used inside one running event loop. `proxies` (from
    the environment, see `make_transport`) default to none: tests and
    benchmarks connect directly.
    """

    def __init__(
        self,
        max_connections: int = 1000,
        keepalive_expiry: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        proxies: Proxies | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._expiry = keepalive_expiry
        self._ssl = ssl_context
        self._proxies = proxies or _NO_PROXIES
        self._routes: dict[_Origin, Proxy | None] = {}
        self._resolver = resolver or Resolver()
        self._idle: dict[_Origin, collections.deque[Connection]] = {}
        self._sweep: asyncio.TimerHandle | None = None
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
        proxy = self._route(origin)
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        if proxy is not None and scheme == "http":  # absolute form, to the proxy itself
            auth = b"Proxy-Authorization: %b\r\n" % proxy.authorization if proxy.authorization else b""
            head, body, compressed_ok = encode_request(request, await _content(request), _absolute(url), auth)
        else:
            head, body, compressed_ok = encode_request(request, await _content(request))
        await self._acquire(timeouts.get("pool"), request)
        expect_body = request.method != "HEAD"
        conn: Connection | None = None
        try:
            # No silent resend when a reused connection breaks before answering: the gateway may
            # have read the request, so it is a failure the client's retry loop counts and logs.
            conn = self._take_idle(origin) or await self._connect(origin, proxy, timeouts.get("connect"), request)
            conn.send(head, body, expect_body)
            await conn.headers_received(timeouts.get("read"), request)
            if conn.compressed and not compressed_ok:
                raise httpx.RemoteProtocolError(
                    "the upstream compressed an answer asked for as identity", request=request
                )
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
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

    def _route(self, origin: _Origin) -> Proxy | None:
        """The proxy an origin goes through (None: direct), worked out once per origin."""
        try:
            return self._routes[origin]
        except KeyError:
            route = self._routes[origin] = self._proxies.for_origin(*origin)
            return route

    async def _acquire(self, timeout: float | None, request: httpx.Request) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # does not suspend while a slot is free
            return
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no upstream connection became free in time", request=request) from None

    def _take_idle(self, origin: _Origin) -> Connection | None:
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

    async def _connect(
        self, origin: _Origin, proxy: Proxy | None, timeout: float | None, request: httpx.Request
    ) -> Connection:
        scheme, host, port = origin
        context = self.ssl_context() if scheme == "https" else None
        if proxy is not None and proxy.problem is not None:
            raise httpx.ConnectError(f"{proxy.variable} cannot be used: {proxy.problem}", request=request)
        where = f"{host}:{port}" if proxy is None else f"{host}:{port} through {proxy.variable}"
        loop = asyncio.get_running_loop()
        sock = None  # ours to close until the loop's transport takes it
        try:
            async with asyncio.timeout(timeout):
                if proxy is None:
                    sock = await open_socket(await self._resolver.resolve(host, port))
                else:
                    sock = await open_socket(await self._resolver.resolve(proxy.host, proxy.port))
                    if context is not None:
                        await tunnel(sock, host, port, proxy)
                connected, sock = sock, None
                _, conn = await loop.create_connection(
                    Connection, sock=connected, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {where} timed out", request=request) from None
        except TunnelRefused as exc:
            raise httpx.ConnectError(str(exc), request=request) from None
        except (OSError, RuntimeError) as exc:  # ssl.SSLError included; uvloop raises RuntimeError for some
            raise httpx.ConnectError(f"could not connect to {where} ({type(exc).__name__})", request=request) from None
        finally:
            if sock is not None:
                sock.close()
        return conn

    def _release(self, origin: _Origin, conn: Connection, reuse: bool) -> None:
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
        if self._sweep is None:
            self._sweep = conn.loop.call_later(self._expiry, self._sweep_idle)

    def _sweep_idle(self) -> None:
        """Close what expired while no call came to prune it; again later while any stays idle."""
        self._sweep = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for origin, idle in list(self._idle.items()):
            while idle and not idle[0].reusable(now, self._expiry):
                idle.popleft().close()
            if not idle:
                del self._idle[origin]
        if self._idle and not self._closed:
            oldest = min(idle[0].idle_since for idle in self._idle.values())
            self._sweep = loop.call_later(max(0.0, oldest + self._expiry - now) + 0.01, self._sweep_idle)


def _absolute(url: httpx.URL) -> bytes:
    """The request target an HTTP proxy is sent: the whole URL but its fragment."""
    host = url.raw_host
    if b":" in host:
        host = b"[" + host + b"]"
    port = b":%d" % url.port if url.port is not None else b""
    return b"%b://%b%b%b" % (url.raw_scheme, host, port, url.raw_path)


async def _content(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:
        return await request.aread()


class _Body(httpx.AsyncByteStream):
    """The answer's body straight from its connection; closing it returns the connection to the pool."""

    def __init__(
        self, pool: Pool, origin: _Origin, conn: Connection, timeout: float | None, request: httpx.Request
    ) -> None:
        self._pool = pool
        self._origin = origin
        self._conn: Connection | None = conn
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
