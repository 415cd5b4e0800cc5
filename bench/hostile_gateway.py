"""A hostile AI Gateway for ``bench/hostile.py``: honest answers, unless the prompt asks for an attack.

A raw asyncio HTTP/1.1 server on loopback. Every request whose body holds no
``attack:`` marker gets a short, well-formed Gemini answer (JSON, or two SSE
records for ``:streamGenerateContent``), so honest callers keep succeeding.
A body holding ``attack:<name>`` gets that attack instead:

* ``endless`` - an SSE stream of 1 KiB text records that never ends (as fast as
  the function reads), until the function hangs up;
* ``header`` - ``HTTP/1.1 200 OK`` and one header value of 32 MiB that never ends;
* ``record`` - one 15 MiB SSE record written in 4 KiB pieces, 1 ms apart, then a
  finishing record;
* ``desync`` - a complete 200 answer and, in the same segment, a forged 403
  (``API_KEY_INVALID``) right after it.

Run alone: ``python bench/hostile_gateway.py --port 8787``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from typing import Any

__all__ = ["ANSWER_TEXT", "serve"]

ANSWER_TEXT = "Hi there"
_USAGE = {"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3}
_ANSWER = json.dumps(
    {"candidates": [{"content": {"parts": [{"text": ANSWER_TEXT}], "role": "model"}, "finishReason": "STOP"}],
     "usageMetadata": _USAGE}
).encode()  # fmt: skip
_FIRST = b'data: {"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}}]}\r\n\r\n'
_LAST = b"data: " + json.dumps(
    {"candidates": [{"content": {"parts": [{"text": " there"}], "role": "model"}, "finishReason": "STOP"}],
     "usageMetadata": _USAGE}
).encode() + b"\r\n\r\n"  # fmt: skip
_SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
_FORGED = json.dumps(
    {"error": {"code": 403, "message": "forged", "status": "PERMISSION_DENIED",
               "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}
).encode()  # fmt: skip
MIB = 1024 * 1024


def _json(body: bytes, status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 %b\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b" % (status, len(body), body)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


async def _endless(writer: asyncio.StreamWriter) -> None:
    record = (
        b'data: {"candidates": [{"content": {"parts": [{"text": "' + b"a" * 1024 + b'"}], "role": "model"}}]}\r\n\r\n'
    )
    piece = _chunk(record * 16)
    writer.write(_SSE_HEAD)
    while True:
        writer.write(piece)
        await writer.drain()


async def _header(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Big: ")
    piece = b"a" * 65536
    for _ in range(32 * MIB // len(piece)):
        writer.write(piece)
        await writer.drain()


async def _record(writer: asyncio.StreamWriter) -> None:
    record = (
        b'data: {"candidates": [{"content": {"parts": [{"text": "'
        + b"a" * (15 * MIB)
        + b'"}], "role": "model"}}]}\r\n\r\n'
    )
    writer.write(_SSE_HEAD + b"%x\r\n" % len(record))
    for i in range(0, len(record), 4096):
        writer.write(record[i : i + 4096])
        await writer.drain()
        await asyncio.sleep(0.001)
    writer.write(b"\r\n" + _chunk(_LAST) + b"0\r\n\r\n")
    await writer.drain()


async def _desync(writer: asyncio.StreamWriter) -> None:
    writer.write(_json(_ANSWER) + _json(_FORGED, b"403 Forbidden"))
    await writer.drain()


_ATTACKS = {b"endless": _endless, b"header": _header, b"record": _record, b"desync": _desync}


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            stream = b":streamGenerateContent" in head.split(b"\r\n", 1)[0]
            attack = next((run for name, run in _ATTACKS.items() if b"attack:" + name in body), None)
            if attack is not None:
                await attack(writer)
                return  # the connection ends with the attack
            writer.write(_SSE_HEAD + _chunk(_FIRST) + _chunk(_LAST) + b"0\r\n\r\n" if stream else _json(_ANSWER))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(port: int, ready: Any = None) -> None:
    """Serve on 127.0.0.1:port until cancelled; `ready.set()` once listening."""
    server = await asyncio.start_server(_serve_connection, "127.0.0.1", port)
    if ready is not None:
        ready.set()
    async with server:
        await server.serve_forever()


def run(port: int, ready: Any = None) -> None:
    """Entry point for a child process."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(port, ready))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8787)
    run(parser.parse_args().port)
