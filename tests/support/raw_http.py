"""Raw HTTP/1.1 servers on loopback that answer with exact bytes.

The upstream pool's tests (`tests/integration/test_transport.py`,
`tests/integration/test_hostile_gateway.py`) need answers no real server
sends on purpose: cut bodies, bytes after an answer, headers that never end.
Each server here is a few lines of asyncio. `raw_server` runs in the test's
own event loop; `ThreadedRaw` runs in a thread of its own, for a function
process to use as its AI Gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import socket
import struct
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
import pytest
import uvloop

__all__ = [
    "OK",
    "Handler",
    "Raw",
    "ThreadedRaw",
    "both_loops",
    "endless",
    "keep_alive",
    "post",
    "raw_server",
    "replies",
    "reset",
]

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


def both_loops(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on asyncio's loop and on uvloop's (what uvicorn serves the function with)."""

    @pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
    @functools.wraps(test)
    def run(loop: str, **params: Any) -> None:
        (uvloop.run if loop == "uvloop" else asyncio.run)(test(**params))

    del run.__wrapped__
    signature = inspect.signature(test)  # pytest must see `loop` and the test's own parameters
    loop_param = inspect.Parameter("loop", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    run.__signature__ = signature.replace(  # type: ignore[attr-defined,unused-ignore]
        parameters=[loop_param, *signature.parameters.values()], return_annotation=None
    )
    return cast(Callable[..., None], run)  # parametrize's decorator is typed as returning Any


class Raw:
    """One listening server: counts connections, keeps every request it read."""

    def __init__(self, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client left, or the test's loop is ending
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


Handler = Callable[[Raw, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler, host: str = "127.0.0.1") -> AsyncIterator[Raw]:
    raw = Raw(lambda r, w: handler(raw, r, w))
    server = await asyncio.start_server(raw._serve, host, 0)
    raw.port = server.sockets[0].getsockname()[1]
    try:
        yield raw
    finally:
        server.close()


async def keep_alive(raw: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer OK to every request, on one connection, for as long as the client keeps it."""
    while True:
        await raw.read_request(reader)
        writer.write(OK)
        await writer.drain()


def endless(head: bytes, piece: bytes, total: int) -> Handler:
    """Send `head`, then `piece` until `total` bytes (or the client hangs up), then hold the connection.

    Only the first connection gets it; later ones are answered OK (keep-alive), so a next call can be checked.
    """

    async def handler(raw: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if raw.connections > 1:
            await keep_alive(raw, reader, writer)
            return
        await raw.read_request(reader)
        writer.write(head)
        sent = 0
        while sent < total:
            writer.write(piece)
            sent += len(piece)
            await writer.drain()
        await asyncio.sleep(10)

    return handler


def replies(*answers: bytes, hold: float = 0.0) -> Handler:
    """A handler that reads one request per answer and writes it back, then keeps the connection `hold` s and closes."""

    async def handler(raw: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            await raw.read_request(reader)
            writer.write(answer)
            await writer.drain()
        await asyncio.sleep(hold)

    return handler


def reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP reset (RST) instead of a clean FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def post(
    pool: httpx.AsyncBaseTransport, url: str, body: bytes = b'{"a":1}', **extensions: object
) -> httpx.Response:
    """One POST read whole; never longer than 10 s (a test of a broken pool fails, it does not hang)."""

    async def call() -> httpx.Response:
        request = httpx.Request("POST", url, content=body, extensions=extensions)
        response = await pool.handle_async_request(request)
        await response.aread()
        return response

    return await asyncio.wait_for(call(), 10)


class ThreadedRaw:
    """A keep-alive raw server in a thread of its own, for a function process to use as its AI Gateway.

    Each request is answered with `answer(request)`, unless a script is
    queued: then the next request read, on whatever connection, is handed to
    it (the request is in `raw.requests`), and the connection closes when the
    script returns.
    """

    def __init__(self, answer: Callable[[bytes], bytes]) -> None:
        self.answer = answer
        self.scripts: list[Handler] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.raw = Raw(self._dispatch)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the raw server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.raw.port}"

    def script(self, *handlers: Handler) -> None:
        """The next requests get these handlers, in order; later ones get `answer`."""
        with self._lock:
            self.scripts = list(handlers)

    async def _dispatch(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await self.raw.read_request(reader)
            with self._lock:
                script = self.scripts.pop(0) if self.scripts else None
            if script is not None:
                await script(self.raw, reader, writer)
                return
            writer.write(self.answer(request))
            await writer.drain()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            server = await asyncio.start_server(self.raw._serve, "127.0.0.1", 0)
            self.raw.port = server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
