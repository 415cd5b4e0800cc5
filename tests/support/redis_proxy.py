"""A TCP proxy in front of a real redis-server that can turn sick on demand: slow, a black hole, or gone.

Runs its own asyncio loop in a thread of the test process. Modes (switch with
`mode = ...` at any time; connections already open follow the new mode):

- "pass": bytes flow both ways as they come;
- "slow": every reply waits `delay` seconds before it is passed on;
- "hole": connections are accepted and read, and nothing ever comes back;
- "refuse": the listening socket is closed (new connections are refused) and
  open connections are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

__all__ = ["RedisProxy"]


class RedisProxy:
    def __init__(self, upstream_port: int, delay: float = 0.45) -> None:
        self.upstream_port = upstream_port
        self.delay = delay
        self._mode = "pass"
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._run(self._listen(0))
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def _run(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)  # type: ignore[arg-type]

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        assert value in ("pass", "slow", "hole", "refuse")
        was, self._mode = self._mode, value
        if value == "refuse" and was != "refuse":
            self._run(self._close())
        elif was == "refuse" and value != "refuse":
            self._run(self._listen(self.port))

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        try:
            await asyncio.gather(self._pipe(reader, up_writer, replies=False), self._pipe(up_reader, writer, True))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, replies: bool) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                writer.transport.abort()
                return
            if self._mode == "hole":
                continue  # swallowed: the command is never answered
            if replies and self._mode == "slow":
                await asyncio.sleep(self.delay)
            writer.write(data)
            await writer.drain()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
