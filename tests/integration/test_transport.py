"""The upstream HTTP/1.1 pool (`gemini_gateway.upstream.transport.Pool`) against raw servers on loopback.

Each server here is a few lines of asyncio that answer with exact bytes, so
the cases the AI Gateway emulator never produces (close-delimited bodies,
interim 1xx answers, a connection cut mid-body, garbage, an answer split at
any byte) are tested over a real socket.
"""

from __future__ import annotations

import asyncio
import gc
import ssl

import httpx
import pytest
import trustme
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gemini_gateway.upstream.connection import MAX_BUFFER as _MAX_BUFFER
from gemini_gateway.upstream.connection import Connection as _Connection
from gemini_gateway.upstream.transport import Pool
from tests.support.raw_http import OK, Raw, both_loops, keep_alive, post, raw_server, replies


@both_loops
async def test_a_connection_is_reused_and_the_request_is_sent_as_built() -> None:
    async with raw_server(keep_alive) as raw:
        pool = Pool()
        for _ in range(3):
            response = await post(pool, raw.url("/v1/x:generateContent?alt=sse"))
            assert response.status_code == 200 and response.json() == {}
        assert raw.connections == 1
        first = raw.requests[0]
        assert first.startswith(b"POST /v1/x:generateContent?alt=sse HTTP/1.1\r\n")
        assert b"\r\nhost: 127.0.0.1:" in first.lower() and b"\r\ncontent-length: 7\r\n" in first.lower()
        assert first.endswith(b'\r\n\r\n{"a":1}')
        await pool.aclose()


@both_loops
async def test_chunks_arrive_as_they_are_sent() -> None:
    release = asyncio.Event()

    async def handler(raw: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()

    async with raw_server(handler) as raw:
        pool = Pool()
        response = await pool.handle_async_request(httpx.Request("POST", raw.url(), content=b"x"))
        chunks = response.aiter_raw()
        assert await anext(chunks) == b"first"  # before the server sends the rest
        release.set()
        assert [c async for c in chunks] == [b"second"]
        await response.aclose()


@both_loops
async def test_a_close_delimited_body_ends_with_the_connection() -> None:
    async with raw_server(replies(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")) as raw:
        pool = Pool()
        response = await post(pool, raw.url())
        assert response.content == b"all of it"
        assert (await post(pool, raw.url())).content == b"all of it"
        assert raw.connections == 2


@both_loops
async def test_an_interim_answer_is_skipped() -> None:
    async def handler(raw: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw.read_request(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK)
        await writer.drain()
        await raw.read_request(reader)
        writer.write(OK)

    async with raw_server(handler) as raw:
        pool = Pool()
        response = await post(pool, raw.url())
        assert response.status_code == 200 and "link" not in response.headers
        assert (await post(pool, raw.url())).status_code == 200
        assert raw.connections == 1


@both_loops
async def test_a_body_cut_short_is_an_error_and_frees_its_slot() -> None:
    async with raw_server(replies(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!")) as raw:
        pool = Pool(max_connections=1)
        for _ in range(3):  # the one slot comes back each time
            with pytest.raises(httpx.RemoteProtocolError):
                await asyncio.wait_for(post(pool, raw.url()), 5)


@both_loops
async def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    async with raw_server(replies(OK)) as raw:  # one answer, then the server closes the idle connection
        pool = Pool()
        assert (await post(pool, raw.url())).status_code == 200
        await asyncio.sleep(0.05)
        assert (await post(pool, raw.url())).status_code == 200
        assert raw.connections == 2


@both_loops
async def test_garbage_is_a_protocol_error() -> None:
    async with raw_server(replies(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", hold=1.0)) as raw:
        with pytest.raises(httpx.RemoteProtocolError):
            await asyncio.wait_for(post(Pool(), raw.url()), 5)


@both_loops
async def test_connection_refused_and_read_timeout_are_httpx_errors() -> None:
    async with raw_server(replies(b"", hold=5.0)) as raw:
        port = raw.port
        with pytest.raises(httpx.ReadTimeout):
            await post(Pool(), raw.url(), timeout={"read": 0.2})
    with pytest.raises(httpx.ConnectError):
        await post(Pool(), f"http://127.0.0.1:{port}/")


@both_loops
async def test_a_header_with_a_line_break_is_refused_before_sending() -> None:
    async with raw_server(keep_alive) as raw:
        request = httpx.Request("POST", raw.url(), content=b"{}", headers={"x-trace": "a\r\nx-evil: 1"})
        with pytest.raises(httpx.LocalProtocolError):
            await Pool().handle_async_request(request)
        assert raw.requests == []


@both_loops
async def test_the_pool_never_opens_more_than_its_limit() -> None:
    open_now = 0
    most = 0

    async def handler(raw: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        try:
            while True:
                await raw.read_request(reader)
                await asyncio.sleep(0.05)
                writer.write(OK)
                await writer.drain()
        finally:
            open_now -= 1

    async with raw_server(handler) as raw:
        pool = Pool(max_connections=3)
        answers = await asyncio.gather(*(post(pool, raw.url()) for _ in range(12)))
        assert [a.status_code for a in answers] == [200] * 12
        assert most <= 3 and raw.connections == 3


@both_loops
async def test_an_answer_dropped_without_closing_gives_its_slot_back() -> None:
    async with raw_server(keep_alive) as raw:
        pool = Pool(max_connections=1)
        response = await pool.handle_async_request(httpx.Request("POST", raw.url(), content=b"{}"))
        del response
        gc.collect()
        assert (await asyncio.wait_for(post(pool, raw.url()), 5)).status_code == 200


@both_loops
async def test_a_slow_reader_pauses_the_socket() -> None:
    size = 8 * 1024 * 1024

    async def handler(raw: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            writer.write(b"x" * 65536)
            await writer.drain()

    async with raw_server(handler) as raw:
        pool = Pool()
        response = await pool.handle_async_request(httpx.Request("POST", raw.url(), content=b"{}"))
        chunks = response.aiter_raw()
        received = len(await anext(chunks))
        await asyncio.sleep(0.3)  # the server keeps writing; the pool must stop reading
        buffered = response.stream._conn._buffered  # type: ignore[attr-defined]
        assert buffered <= 2 * 1024 * 1024
        async for chunk in chunks:
            received += len(chunk)
        assert received == size


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=3000), cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=8))
def test_an_answer_split_at_any_byte_reads_the_same(body: bytes, cuts: list[int]) -> None:
    answer = b"HTTP/1.1 201 Created\r\nX-A: b\r\nTransfer-Encoding: chunked\r\n\r\n"
    for i in range(0, len(body), 700):
        piece = body[i : i + 700]
        answer += b"%x\r\n%b\r\n" % (len(piece), piece)
    answer += b"0\r\n\r\n"
    points = sorted({c for c in cuts if c < len(answer)})

    async def handler(raw: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw.read_request(reader)
        start = 0
        for point in [*points, len(answer)]:
            writer.write(answer[start:point])
            await writer.drain()
            await asyncio.sleep(0)
            start = point

    async def scenario() -> None:
        async with raw_server(handler) as raw:
            response = await post(Pool(), raw.url())
            assert response.status_code == 201 and response.headers["x-a"] == "b"
            assert response.content == body

    uvloop.run(scenario())


@both_loops
async def test_tls_is_verified_against_the_trusted_authorities() -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    raw = Raw(lambda r, w: keep_alive(raw, r, w))
    server = await asyncio.start_server(raw._serve, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        trusting = ssl.create_default_context()
        authority.configure_trust(trusting)
        pool = Pool(ssl_context=trusting)
        assert (await post(pool, f"https://localhost:{port}/")).status_code == 200
        with pytest.raises(httpx.ConnectError):  # the default authorities (certifi) do not know this one
            await post(Pool(), f"https://localhost:{port}/")
        assert Pool().ssl_context().verify_mode is ssl.CERT_REQUIRED
    finally:
        server.close()


@both_loops
async def test_a_reused_connection_closed_before_any_answer_is_an_error_not_a_silent_resend() -> None:
    """The gateway may have read the request: the client's retry loop decides, counts and logs the resend."""

    async def handler(raw: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw.read_request(reader)
        writer.write(OK)  # keep-alive answer...
        await writer.drain()
        if raw.connections == 1:
            await raw.read_request(reader)  # ...then the next request on it is read and dropped

    async with raw_server(handler) as raw:
        pool = Pool()
        assert (await post(pool, raw.url())).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            await post(pool, raw.url())
        assert raw.connections == 1 and len(raw.requests) == 2
        assert (await post(pool, raw.url())).status_code == 200  # the broken one was not kept


@both_loops
async def test_a_fresh_connection_closed_before_any_answer_is_an_error() -> None:
    async with raw_server(replies(b"")) as raw:
        with pytest.raises(httpx.RemoteProtocolError):
            await post(Pool(), raw.url())
        assert raw.connections == 1


@both_loops
async def test_an_answer_closed_before_it_was_read_is_not_reused() -> None:
    """A capped error body: all of it arrived (reading paused by then), little was read.

    Reusing that connection would leave the next request waiting on a paused socket;
    when the whole answer arrives in the read that crosses the read-ahead limit is up to
    the network, so the state is set up directly.
    """
    conn = _Connection()
    conn.connection_made(NullTransport())
    conn.send(b"POST / HTTP/1.1\r\n\r\n", b"", expect_body=True)
    conn.data_received(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n" % (2 * _MAX_BUFFER))
    conn.data_received(b"x" * _MAX_BUFFER)
    conn.data_received(b"x" * _MAX_BUFFER)
    assert conn.complete and conn.keep_alive and conn._paused
    assert await conn.receive(None, httpx.Request("POST", "http://x/"))
    assert not conn.finished()

    drained = _Connection()
    drained.connection_made(NullTransport())
    drained.send(b"POST / HTTP/1.1\r\n\r\n", b"", expect_body=True)
    drained.data_received(OK)
    while await drained.receive(None, httpx.Request("POST", "http://x/")):
        pass
    assert drained.finished()


class NullTransport(asyncio.Transport):
    """Takes writes and pauses, sends nothing anywhere."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


@both_loops
async def test_endless_answer_headers_are_cut_at_64_kib() -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 1000 + b"\r\n"

    async def handler(raw: Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw.read_request(reader)
        writer.write(head)
        for _ in range(1000):  # ~1 MB of headers, never ending
            writer.write(b"X-Pad: " + b"a" * 1000 + b"\r\n")
            await writer.drain()

    async with raw_server(handler) as raw:
        with pytest.raises(httpx.RemoteProtocolError, match="headers passed 65536 bytes"):
            await asyncio.wait_for(post(Pool(), raw.url()), 5)
