"""A hostile AI Gateway (docs/API.md, "The gateway is untrusted too"): raw loopback servers answering exact bytes.

Each case is something a malicious or broken gateway can send. The pool must
keep an answer's framing (bytes after it close the connection, never become
the next answer), refuse cut bodies, cap headers by bytes as they arrive, and
send only well-formed requests. After every case the next request on the same
pool is answered normally. Each runs on asyncio's loop and on uvloop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trustme

from gemini_gateway.upstream.connect import AddrInfo, Resolver
from gemini_gateway.upstream.proxies import Proxies, proxy_problems
from gemini_gateway.upstream.transport import Pool
from tests.support.raw_http import (
    OK,
    Handler,
    Raw,
    ThreadedRaw,
    both_loops,
    endless,
    post,
    raw_server,
    replies,
    reset,
)

from .conftest import GEMINI_SECRET, Function, SecretManager

Writer = asyncio.StreamWriter
Reader = asyncio.StreamReader


def then_ok(first: bytes, hold: float = 0.5) -> object:
    """The first connection answers `first` (kept open `hold` s); every later one answers OK, kept alive."""

    async def handler(raw: Raw, reader: Reader, writer: Writer) -> None:
        if raw.connections == 1:
            await raw.read_request(reader)
            writer.write(first)
            await writer.drain()
            await asyncio.sleep(hold)
            return
        while True:
            await raw.read_request(reader)
            writer.write(OK)
            await writer.drain()

    return handler


async def next_call_is_unaffected(pool: Pool, raw: Raw) -> None:
    """A fresh request on the same pool gets the server's ordinary answer, promptly, on a new connection."""
    before = raw.connections
    response = await asyncio.wait_for(post(pool, raw.url()), 5)
    assert response.status_code == 200 and response.content == b"{}"
    assert "x-smuggled" not in response.headers
    assert raw.connections == before + 1  # the spoiled connection was not reused


# --- framing: a complete answer ends the connection's use if anything follows it ------------------------------


@both_loops
async def test_an_answer_smuggled_after_a_204_is_never_read() -> None:
    smuggled = b"HTTP/1.1 200 OK\r\nX-Smuggled: yes\r\nContent-Length: 5\r\n\r\nhello"
    async with raw_server(then_ok(b"HTTP/1.1 204 No Content\r\n\r\n" + smuggled)) as raw:
        pool = Pool()
        response = await post(pool, raw.url())
        assert response.status_code == 204 and response.content == b""
        assert "x-smuggled" not in response.headers
        await next_call_is_unaffected(pool, raw)


@both_loops
async def test_a_second_answer_in_the_same_segment_is_not_merged_into_the_first() -> None:
    forged = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nsecret"
    async with raw_server(then_ok(OK + forged)) as raw:
        pool = Pool()
        response = await post(pool, raw.url())
        assert response.status_code == 200 and response.content == b"{}"
        assert response.headers.get_list("content-length") == ["2"]
        await next_call_is_unaffected(pool, raw)


@both_loops
async def test_the_start_of_a_second_answer_never_goes_back_to_the_pool() -> None:
    """Before: the connection went back mid-message and the next caller waited for its whole timeout."""
    async with raw_server(then_ok(OK + b"HTTP/1.1 200 OK\r\nContent-Le", hold=10)) as raw:
        pool = Pool()
        assert (await post(pool, raw.url())).content == b"{}"
        await next_call_is_unaffected(pool, raw)


@both_loops
async def test_bytes_arriving_after_the_answer_while_it_is_read_close_the_connection() -> None:
    sent_rest = asyncio.Event()

    async def handler(raw: Raw, reader: Reader, writer: Writer) -> None:
        if raw.connections == 1:
            await raw.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody")
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.write(b"HTTP/1.1 200 OK\r\nX-Smuggled: yes\r\nContent-Length: 2\r\n\r\nno")
            await writer.drain()
            sent_rest.set()
            await asyncio.sleep(5)
            return
        await then_ok(b"")(raw, reader, writer)  # type: ignore[operator]

    async with raw_server(handler) as raw:
        pool = Pool()
        response = await asyncio.wait_for(pool.handle_async_request(httpx.Request("POST", raw.url(), content=b"{}")), 5)
        await sent_rest.wait()
        await asyncio.sleep(0.05)
        assert await response.aread() == b"body"
        assert "x-smuggled" not in response.headers
        await next_call_is_unaffected(pool, raw)


@both_loops
async def test_garbage_after_a_complete_answer_closes_the_connection() -> None:
    async with raw_server(then_ok(OK + b"\x00\x01 not http at all")) as raw:
        pool = Pool()
        assert (await post(pool, raw.url())).content == b"{}"
        await next_call_is_unaffected(pool, raw)


@both_loops
async def test_a_chunked_answer_followed_by_more_bytes_is_not_reused() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    async with raw_server(then_ok(chunked + b"HTTP/1.1 500 Oops\r\n\r\n")) as raw:
        pool = Pool()
        assert (await post(pool, raw.url())).content == b"{}"
        await next_call_is_unaffected(pool, raw)


@both_loops
async def test_an_early_answer_with_a_body_longer_than_declared_is_not_reused() -> None:
    async with raw_server(then_ok(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}trailing")) as raw:
        pool = Pool()
        assert (await post(pool, raw.url())).content == b"{}"
        await next_call_is_unaffected(pool, raw)


# --- truncated bodies are errors, never a 200 with part of a body ----------------------------------------------


def cut(head_and_part: bytes, how: str) -> object:
    async def handler(raw: Raw, reader: Reader, writer: Writer) -> None:
        if raw.connections > 1:
            await then_ok(b"")(raw, reader, writer)  # type: ignore[operator]
            return
        await raw.read_request(reader)
        writer.write(head_and_part)
        await writer.drain()
        await asyncio.sleep(0.05)
        if how == "reset":
            reset(writer)
        else:
            writer.close()

    return handler


@pytest.mark.parametrize("how", ["reset", "close"])
@both_loops
async def test_a_cut_body_is_a_protocol_error(how: str) -> None:
    cases = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly ten!!",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
    ]
    for answer in cases:
        async with raw_server(cut(answer, how)) as raw:
            pool = Pool()
            with pytest.raises(httpx.RemoteProtocolError):
                await asyncio.wait_for(post(pool, raw.url()), 5)
            await next_call_is_unaffected(pool, raw)


@both_loops
async def test_a_close_delimited_body_ended_by_a_reset_is_a_protocol_error() -> None:
    """Before: the reset marked the body complete, and the caller got a 200 with part of it."""
    async with raw_server(cut(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"partial":', "reset")) as raw:
        pool = Pool()
        with pytest.raises(httpx.RemoteProtocolError):
            await asyncio.wait_for(post(pool, raw.url()), 5)
        await next_call_is_unaffected(pool, raw)


@both_loops
async def test_a_close_delimited_body_ended_cleanly_is_whole() -> None:
    async with raw_server(cut(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nall of it", "close")) as raw:
        pool = Pool()
        assert (await asyncio.wait_for(post(pool, raw.url()), 5)).content == b"all of it"
        await next_call_is_unaffected(pool, raw)


# --- answer headers: 64 KiB counted in bytes as they arrive ------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nX-Endless: ",  # one header value that never ends
        b"HTTP/1.1 200 O",  # a reason phrase that never ends
        b"HTTP/1.1 200 OK\r\nX-Endless-Name",  # a header name that never ends
    ],
)
@both_loops
async def test_a_header_that_never_ends_is_cut_at_64_kib(head: bytes) -> None:
    async with raw_server(endless(head, b"a" * 4096, 8 * 1024 * 1024)) as raw:
        pool = Pool()
        started = time.process_time()
        with pytest.raises(httpx.RemoteProtocolError, match="headers passed 65536 bytes"):
            await asyncio.wait_for(post(pool, raw.url()), 5)
        assert time.process_time() - started < 1.0
        await next_call_is_unaffected(pool, raw)


@both_loops
async def test_a_head_just_under_the_limit_is_read() -> None:
    pad = b"X-Pad: " + b"p" * (60 * 1024) + b"\r\n"
    async with raw_server(replies(b"HTTP/1.1 200 OK\r\n" + pad + b"Content-Length: 2\r\n\r\n{}", OK)) as raw:
        pool = Pool()
        response = await post(pool, raw.url())
        assert response.status_code == 200 and len(response.headers["x-pad"]) == 60 * 1024
        assert (await post(pool, raw.url())).content == b"{}"
        assert raw.connections == 1  # a sound answer keeps its connection


@both_loops
async def test_interim_answers_count_against_the_same_limit() -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </" + b"a" * 1000 + b">\r\n\r\n"
    async with raw_server(endless(b"", interim, 1024 * 1024)) as raw:
        pool = Pool()
        with pytest.raises(httpx.RemoteProtocolError, match="headers passed 65536 bytes"):
            await asyncio.wait_for(post(pool, raw.url()), 5)
        await next_call_is_unaffected(pool, raw)


# --- what the pool sends is well formed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET\r\nX-Evil: 1\r\nY", {}),  # a method that would put a header line on the wire
        ("GET /x HTTP/1.1\r\n", {}),
        ("POST", {"bad name": "v"}),  # header names are tokens
        ("POST", {"x:y": "z"}),
        ("POST", {"": "v"}),
        ("POST", {"x-ok": "a\rb"}),
        ("POST", {"x-ok": "a\x00b"}),
        ("POST", {"x-ok": "a\nb"}),
        ("POST", {"transfer-encoding": "chunked, gzip"}),  # chunked must be the last coding
        ("POST", {"transfer-encoding": "chunked", "content-length": "2"}),
    ],
)
@both_loops
async def test_a_malformed_request_is_refused_before_anything_is_sent(method: str, headers: dict[str, str]) -> None:
    async with raw_server(then_ok(OK)) as raw:
        pool = Pool()
        request = httpx.Request(method, raw.url(), content=b"{}", headers=headers)
        if "content-length" in headers:
            request.headers["content-length"] = headers["content-length"]
        with pytest.raises(httpx.LocalProtocolError):
            await asyncio.wait_for(pool.handle_async_request(request), 5)
        assert raw.requests == [] and raw.connections == 0


@pytest.mark.parametrize("coding", ["chunked", "Chunked", "gzip, chunked", "gzip ,  CHUNKED"])
@both_loops
async def test_transfer_encoding_is_read_as_a_list_of_codings(coding: str) -> None:
    async def handler(raw: Raw, reader: Reader, writer: Writer) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        raw.requests.append(head + await reader.readuntil(b"0\r\n\r\n"))
        writer.write(OK)
        await writer.drain()

    async with raw_server(handler) as raw:
        pool = Pool()
        request = httpx.Request("POST", raw.url(), content=b"hello", headers={"transfer-encoding": coding})
        del request.headers["content-length"]
        response = await asyncio.wait_for(pool.handle_async_request(request), 5)
        await response.aread()
        assert raw.requests[0].endswith(b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")


# --- connecting: both address families, a short DNS cache, idle connections bounded --------------------------


@both_loops
async def test_an_idle_connection_the_server_half_closed_is_never_reused() -> None:
    async def handler(raw: Raw, reader: Reader, writer: Writer) -> None:
        await raw.read_request(reader)
        writer.write(OK)
        await writer.drain()
        if raw.connections == 1:
            writer.write_eof()  # FIN, but the socket stays open for reading
            await asyncio.sleep(1)

    async with raw_server(handler) as raw:
        pool = Pool()
        assert (await post(pool, raw.url())).status_code == 200
        await asyncio.sleep(0.05)
        assert (await asyncio.wait_for(post(pool, raw.url()), 5)).status_code == 200
        assert raw.connections == 2


@both_loops
async def test_idle_connections_are_closed_once_they_expire_even_without_traffic() -> None:
    closed = asyncio.Event()

    async def handler(raw: Raw, reader: Reader, writer: Writer) -> None:
        await raw.read_request(reader)
        writer.write(OK)
        await writer.drain()
        await reader.read()  # until the client closes
        closed.set()

    async with raw_server(handler) as raw:
        pool = Pool(keepalive_expiry=0.2)
        assert (await post(pool, raw.url())).status_code == 200
        await asyncio.wait_for(closed.wait(), 3)


def _listening(family: socket.AddressFamily, host: str) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(0)
    return sock


@both_loops
async def test_both_address_families_are_tried_staggered() -> None:
    """A black-holed address first (SYNs dropped: its accept queue is full) does not spend the connect budget."""
    hole = _listening(socket.AF_INET6, "::1")
    fillers = []
    for _ in range(4):  # fill the accept queue; later SYNs to it get no answer
        filler = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(hole.getsockname()[:2])
        fillers.append(filler)
    await asyncio.sleep(0.05)
    try:
        async with raw_server(then_ok(OK)) as raw:

            async def lookup(host: str, port: int) -> list[AddrInfo]:
                return [
                    (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", hole.getsockname()),
                    (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", raw.port)),
                ]

            pool = Pool(resolver=Resolver(lookup=lookup))
            started = time.monotonic()
            response = await post(pool, f"http://gateway.test:{raw.port}/", timeout={"connect": 5.0})
            assert response.status_code == 200
            assert time.monotonic() - started < 2.0
    finally:
        for s in (*fillers, hole):
            s.close()


@both_loops
async def test_dns_answers_are_cached_briefly_and_shared() -> None:
    lookups = []

    async def lookup(host: str, port: int) -> list[AddrInfo]:
        lookups.append(host)
        await asyncio.sleep(0.05)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]

    async def close_after_each(raw: Raw, reader: Reader, writer: Writer) -> None:
        await raw.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        await writer.drain()

    async with raw_server(close_after_each) as raw:
        pool = Pool(resolver=Resolver(ttl=0.5, lookup=lookup))
        url = f"http://gateway.test:{raw.port}/"
        answers = await asyncio.gather(*(post(pool, url) for _ in range(20)))
        assert [a.status_code for a in answers] == [200] * 20
        assert (await post(pool, url)).status_code == 200
        assert lookups == ["gateway.test"] and raw.connections == 21
        await asyncio.sleep(0.6)
        assert (await post(pool, url)).status_code == 200
        assert lookups == ["gateway.test"] * 2


@both_loops
async def test_a_failed_lookup_is_a_connect_error_and_not_cached() -> None:
    calls = 0

    async def lookup(host: str, port: int) -> list[AddrInfo]:
        nonlocal calls
        calls += 1
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    pool = Pool(resolver=Resolver(lookup=lookup))
    for _ in range(2):
        with pytest.raises(httpx.ConnectError):
            await post(pool, "http://nowhere.test/")
    assert calls == 2


# --- proxies: honoured (CONNECT for https, absolute form for http), NO_PROXY respected -------------------------


def proxy(answer_connect: bytes = b"HTTP/1.1 200 Connection established\r\n\r\n") -> object:
    """A forward proxy: CONNECT opens a tunnel (after `answer_connect`); other requests are answered OK by itself."""

    async def handler(raw: Raw, reader: Reader, writer: Writer) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        raw.requests.append(head)
        method, target, _ = head.split(b"\r\n", 1)[0].split(b" ")
        if method != b"CONNECT":
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            writer.write(OK)
            await writer.drain()
            return
        writer.write(answer_connect)
        await writer.drain()
        if not answer_connect.startswith(b"HTTP/1.1 200"):
            return
        host, port = target.rsplit(b":", 1)
        up_reader, up_writer = await asyncio.open_connection(host.decode(), int(port))

        async def pipe(source: Reader, sink: Writer) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return handler


@asynccontextmanager
async def tls_server() -> AsyncIterator[tuple[int, ssl.SSLContext]]:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    raw = Raw(lambda r, w: then_ok(OK)(raw, r, w))  # type: ignore[operator]
    server = await asyncio.start_server(raw._serve, "127.0.0.1", 0, ssl=server_context)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    try:
        yield server.sockets[0].getsockname()[1], trusting
    finally:
        server.close()


def _to_loopback() -> Resolver:
    async def lookup(host: str, port: int) -> list[AddrInfo]:
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]

    return Resolver(lookup=lookup)


@both_loops
async def test_https_goes_through_a_connect_tunnel_unless_no_proxy_names_the_host() -> None:
    async with tls_server() as (port, trusting), raw_server(proxy()) as via:
        environ = {"HTTPS_PROXY": f"http://127.0.0.1:{via.port}", "HTTP_PROXY": "http://127.0.0.1:9"}
        pool = Pool(ssl_context=trusting, proxies=Proxies(environ), resolver=_to_loopback())
        assert (await post(pool, f"https://localhost:{port}/v1/x")).status_code == 200
        assert via.requests == [b"CONNECT localhost:%d HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % (port, port)]

        direct = Pool(ssl_context=trusting, proxies=Proxies({**environ, "NO_PROXY": "example.com, .localhost"}))
        assert (await post(direct, f"https://localhost:{port}/")).status_code == 200
        assert len(via.requests) == 1


@both_loops
async def test_http_goes_to_the_proxy_in_absolute_form_with_its_credentials() -> None:
    async with raw_server(proxy()) as via:
        environ = {"http_proxy": f"http://user:p%40ss@127.0.0.1:{via.port}"}
        pool = Pool(proxies=Proxies(environ))
        assert (await post(pool, "http://gateway.test:8080/v1/x:generate?alt=sse#frag")).status_code == 200
        head = via.requests[0]
        assert head.startswith(b"POST http://gateway.test:8080/v1/x:generate?alt=sse HTTP/1.1\r\n")
        assert b"\r\nProxy-Authorization: Basic dXNlcjpwQHNz\r\n" in head  # user:p@ss


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n", "407"),
        (b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n", "bytes after"),
        (b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 70000, "passed 65536"),
    ],
)
@both_loops
async def test_a_proxy_that_refuses_the_tunnel_is_a_connect_error_naming_the_variable(answer: bytes, says: str) -> None:
    async with raw_server(proxy(answer)) as via:
        pool = Pool(proxies=Proxies({"HTTPS_PROXY": f"127.0.0.1:{via.port}"}), resolver=_to_loopback())
        with pytest.raises(httpx.ConnectError, match=f"HTTPS_PROXY.*{says}"):
            await asyncio.wait_for(post(pool, "https://gateway.test/"), 5)


@both_loops
async def test_a_proxy_value_the_pool_cannot_use_fails_the_call_naming_it() -> None:
    environ = {"HTTPS_PROXY": "socks5://127.0.0.1:1080"}
    assert proxy_problems(environ) == [("HTTPS_PROXY", "only http:// proxies are supported, not socks5://")]
    with pytest.raises(httpx.ConnectError, match="HTTPS_PROXY cannot be used"):
        await post(Pool(proxies=Proxies(environ)), "https://gateway.test/")


# --- a compressed answer nobody asked for (a decompression bomb) --------------------------------------------------


@both_loops
async def test_an_answer_compressed_unasked_is_refused() -> None:
    bomb = gzip.compress(b"\0" * 8 * 1024 * 1024)  # 8 MiB from ~8 KiB
    answer = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%b" % (len(bomb), bomb)
    async with raw_server(then_ok(answer)) as raw:
        pool = Pool()
        with pytest.raises(httpx.RemoteProtocolError, match="compressed"):
            await post(pool, raw.url())
        assert b"\r\nAccept-Encoding: identity\r\n" in raw.requests[0]
        await next_call_is_unaffected(pool, raw)


@both_loops
async def test_an_answer_compressed_as_asked_is_decoded() -> None:
    body = gzip.compress(b'{"keys": []}')
    answer = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
    async with raw_server(replies(answer)) as raw:
        request = httpx.Request("GET", raw.url(), headers={"accept-encoding": "gzip"})
        response = await asyncio.wait_for(Pool().handle_async_request(request), 5)
        assert await response.aread() == b'{"keys": []}'
        assert b"identity" not in raw.requests[0]


@both_loops
async def test_empty_lines_between_answers_leave_nothing_behind() -> None:
    """llhttp skips CRLFs before a message (RFC 9112 section 2.2); nothing is buffered, the next answer is whole."""
    async with raw_server(replies(OK + b"\r\n\r\n", OK)) as raw:
        pool = Pool()
        assert (await post(pool, raw.url())).content == b"{}"
        await asyncio.sleep(0.05)
        response = await asyncio.wait_for(post(pool, raw.url()), 5)
        assert response.status_code == 200 and response.content == b"{}"


# --- the whole function in front of a hostile gateway: its own errors, never a 500 or a traceback -----------------

ANSWER = json.dumps(
    {
        "candidates": [{"content": {"parts": [{"text": "Hi there"}], "role": "model"}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3},
    }
).encode()
RECORD_1 = b'data: {"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}}]}\r\n\r\n'
RECORD_2 = (
    b'data: {"candidates": [{"content": {"parts": [{"text": " there"}], "role": "model"}, "finishReason": "STOP"}],'
    b' "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3}}\r\n\r\n'
)


def json_answer(body: bytes, status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 %b\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b" % (status, len(body), body)


def sse_head() -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def honest_gateway(request: bytes) -> bytes:
    """What the AI Gateway answers when it behaves: JSON, or the two records as SSE."""
    if b":streamGenerateContent" in request.split(b"\r\n", 1)[0]:
        return sse_head() + chunk(RECORD_1) + chunk(RECORD_2) + b"0\r\n\r\n"
    return json_answer(ANSWER)


def once(*pieces: bytes, pause: float = 0.0) -> Handler:
    """Answer one request with the pieces (`pause` s apart), then close the connection."""

    async def handler(raw: Raw, reader: Reader, writer: Writer) -> None:
        for i, piece in enumerate(pieces):
            if i:
                await asyncio.sleep(pause)
            writer.write(piece)
            await writer.drain()

    return handler


@pytest.fixture(scope="module")
def hostile() -> Iterator[ThreadedRaw]:
    server = ThreadedRaw(honest_gateway)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def behind_hostile(start_function: Any, hostile: ThreadedRaw) -> Function:
    function: Function = start_function(AI_GATEWAY_BASE_URL=hostile.url, UPSTREAM_MAX_ATTEMPTS="1")
    assert function.post({"prompt": "hi"}).status_code == 200  # the key is fetched, a connection is open
    return function


def events_of(response: httpx.Response) -> list[tuple[str, Any]]:
    events = []
    name = ""
    for line in response.text.splitlines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def unaffected_and_quiet(fn: Function, hostile: ThreadedRaw, since: int) -> None:
    """The next callers are served as usual (JSON and stream), and nothing went to the logs as a traceback."""
    hostile.script()
    answer = fn.post({"prompt": "hi"})
    if answer.status_code == 502 and "connection failed" in answer.text:
        # The scripted server closes right after its answer; the pool may hand this call that connection
        # before the close arrives, and it never resends by itself (one attempt here): a keep-alive race,
        # not a leftover of the attack, which would be a wrong answer or a hang.
        answer = fn.post({"prompt": "hi"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["text"] == "Hi there"
    streamed = fn.post({"prompt": "hi", "stream": True})
    assert events_of(streamed)[-1][1]["text"] == "Hi there"
    output = fn.server.output()[since:]
    assert "Traceback" not in output and "internal_error" not in output


def test_a_forged_403_after_a_complete_answer_is_not_taken_for_a_rejected_key(
    behind_hostile: Function, hostile: ThreadedRaw, secret_manager: SecretManager
) -> None:
    """Before: the 403 was read as the answer, the key counted as rejected and fetched again: a 502."""
    since = len(behind_hostile.server.output())
    forged = json_answer(b'{"error": {"code": 403, "message": "forged", "status": "PERMISSION_DENIED"}}', b"403 No")
    fetched = secret_manager.access_count(GEMINI_SECRET)
    hostile.script(once(json_answer(ANSWER) + forged))
    response = behind_hostile.post({"prompt": "hi"})
    assert response.status_code == 200 and response.json()["text"] == "Hi there"
    assert secret_manager.access_count(GEMINI_SECRET) == fetched
    unaffected_and_quiet(behind_hostile, hostile, since)


@pytest.mark.parametrize(
    "body",
    [b"[" * 60_000, b'{"error": {"code": 400, "message": ' + b"[" * 30_000 + b"]" * 30_000 + b"}}"],  # < 64 KiB
    ids=["deep-list", "deep-message"],
)
def test_a_deeply_nested_error_body_is_a_502(behind_hostile: Function, hostile: ThreadedRaw, body: bytes) -> None:
    """Before: RecursionError while classifying it, a 500 internal_error."""
    since = len(behind_hostile.server.output())
    hostile.script(once(json_answer(body, b"400 Bad Request")))
    response = behind_hostile.post({"prompt": "hi"})
    assert response.status_code == 502 and response.json()["error"]["type"] == "upstream_error"
    unaffected_and_quiet(behind_hostile, hostile, since)


def test_invalid_utf8_in_the_first_record_is_a_502(behind_hostile: Function, hostile: ThreadedRaw) -> None:
    """Before: UnicodeDecodeError, a 500 internal_error."""
    since = len(behind_hostile.server.output())
    hostile.script(once(sse_head() + chunk(b'data: {"candidates": "\xff\xfe"}\r\n\r\n') + b"0\r\n\r\n"))
    response = behind_hostile.post({"prompt": "hi", "stream": True})
    assert response.status_code == 502 and response.json()["error"]["type"] == "upstream_error"
    unaffected_and_quiet(behind_hostile, hostile, since)


def test_invalid_utf8_mid_stream_ends_with_an_error_event(behind_hostile: Function, hostile: ThreadedRaw) -> None:
    """Before: the connection dropped with no event: error, and a traceback went to the logs."""
    since = len(behind_hostile.server.output())
    bad = b'data: {"candidates": [{"content": {"parts": [{"text": "\xc3\x28"}]}}]}\r\n\r\n'
    hostile.script(once(sse_head() + chunk(RECORD_1), chunk(bad) + b"0\r\n\r\n", pause=0.3))
    response = behind_hostile.post({"prompt": "hi", "stream": True})
    assert response.status_code == 200
    events = events_of(response)
    assert [name for name, _ in events] == ["delta", "error"]
    assert events[-1][1]["error"]["type"] == "upstream_error"
    unaffected_and_quiet(behind_hostile, hostile, since)


def test_an_answer_cut_by_a_reset_is_a_502_not_a_200(behind_hostile: Function, hostile: ThreadedRaw) -> None:
    """A close-delimited answer whose first part is valid JSON: before, the reset made it a whole 200."""
    since = len(behind_hostile.server.output())

    async def cut_by_reset(raw: Raw, reader: Reader, writer: Writer) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + ANSWER + b"  ")
        await writer.drain()
        await asyncio.sleep(0.2)
        reset(writer)

    hostile.script(cut_by_reset)
    response = behind_hostile.post({"prompt": "hi"})
    assert response.status_code == 502 and response.json()["error"]["type"] == "upstream_error"
    unaffected_and_quiet(behind_hostile, hostile, since)


def test_the_gateways_own_headers_are_capped_wherever_they_go(behind_hostile: Function, hostile: ThreadedRaw) -> None:
    """Before: a 30 KB cf-aig-log-id went whole into the answer, the access line and the span."""
    since = len(behind_hostile.server.output())
    long = b"x" * 30_000  # two of them stay under the 64 KiB head limit
    head = b"HTTP/1.1 200 OK\r\ncf-aig-cache-status: %b\r\ncf-aig-log-id: %b\r\n" % (long, long)
    answer = json_answer(ANSWER).replace(b"HTTP/1.1 200 OK\r\n", head, 1)
    hostile.script(once(answer))
    response = behind_hostile.post({"prompt": "hi"})
    assert response.status_code == 200, response.text
    gateway = response.json()["gateway"]
    assert gateway["log_id"] == "x" * 128 and gateway["cache_status"] == "x" * 128
    line = behind_hostile.access_line(response.headers["x-request-id"])
    assert line is not None and len(line["cache_status"]) == 128
    unaffected_and_quiet(behind_hostile, hostile, since)
