"""Opening an upstream connection: a short DNS cache, happy eyeballs, a proxy tunnel.

`getaddrinfo` answers are kept a few seconds (a burst of new connections
costs one lookup, in a thread, not hundreds), and concurrent lookups of one
host share one call. Addresses of both families are tried staggered, 250 ms
apart (RFC 8305), with `aiohappyeyeballs` (what aiohttp uses; unlike the
loop's own `happy_eyeballs_delay` it works on uvloop): a black-holed IPv6
address does not spend the whole connect budget. Through an `http://` proxy
an `https` origin is reached with CONNECT; its answer head is capped like any
other and nothing may follow it before TLS starts.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import socket
from collections.abc import Awaitable, Callable

import aiohappyeyeballs

from .proxies import Proxy

__all__ = ["AddrInfo", "Resolver", "TunnelRefused", "open_socket", "tunnel"]

AddrInfo = tuple[int, int, int, str, tuple[str, int] | tuple[str, int, int, int]]
Lookup = Callable[[str, int], Awaitable[list[AddrInfo]]]

_HAPPY_EYEBALLS_DELAY = 0.25
_MAX_TUNNEL_HEAD = 64 * 1024


class TunnelRefused(OSError):
    """The proxy did not open the tunnel (its answer is in the message)."""


class Resolver:
    """`getaddrinfo` for TCP, each answer kept `ttl` seconds, at most `size` hosts at once."""

    def __init__(self, ttl: float = 10.0, size: int = 64, lookup: Lookup | None = None) -> None:
        self._ttl = ttl
        self._size = size
        self._lookup = lookup or _getaddrinfo
        self._cache: collections.OrderedDict[tuple[str, int], tuple[float, list[AddrInfo]]] = collections.OrderedDict()
        self._pending: dict[tuple[str, int], asyncio.Future[list[AddrInfo]]] = {}

    async def resolve(self, host: str, port: int) -> list[AddrInfo]:
        literal = _literal(host, port)
        if literal is not None:
            return literal
        key = (host, port)
        loop = asyncio.get_running_loop()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > loop.time():
            return cached[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = asyncio.ensure_future(self._fetch(key))
            pending.add_done_callback(_retrieved)
        return await asyncio.shield(pending)  # one caller giving up does not cancel the others' lookup

    async def _fetch(self, key: tuple[str, int]) -> list[AddrInfo]:
        try:
            infos = await self._lookup(*key)
            if not infos:
                raise OSError(f"{key[0]} has no address")
            loop = asyncio.get_running_loop()
            self._cache.pop(key, None)
            while len(self._cache) >= self._size:
                self._cache.popitem(last=False)  # the oldest answer goes first
            self._cache[key] = (loop.time() + self._ttl, infos)
            return infos
        finally:
            del self._pending[key]


async def open_socket(addresses: list[AddrInfo]) -> socket.socket:
    """A connected TCP socket to the first address that answers, both families tried staggered."""
    sock = await aiohappyeyeballs.start_connection(addresses, happy_eyeballs_delay=_HAPPY_EYEBALLS_DELAY)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        sock.close()
        raise
    return sock


async def tunnel(sock: socket.socket, host: str, port: int, proxy: Proxy) -> None:
    """Ask the proxy on `sock` for a tunnel to host:port (CONNECT); returns once it is open."""
    loop = asyncio.get_running_loop()
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n" % (authority.encode("ascii"), authority.encode("ascii"))
    if proxy.authorization is not None:
        head += b"Proxy-Authorization: " + proxy.authorization + b"\r\n"
    await loop.sock_sendall(sock, head + b"\r\n")
    answer = bytearray()
    while True:
        piece = await loop.sock_recv(sock, 4096)
        if not piece:
            raise TunnelRefused(f"the proxy ({proxy.variable}) closed the connection instead of answering CONNECT")
        start = max(0, len(answer) - 3)
        answer += piece
        end = answer.find(b"\r\n\r\n", start)
        if end >= 0:
            break
        if len(answer) > _MAX_TUNNEL_HEAD:
            raise TunnelRefused(f"the proxy's ({proxy.variable}) answer to CONNECT passed {_MAX_TUNNEL_HEAD} bytes")
    status_line = bytes(answer[: answer.find(b"\r\n")])
    parts = status_line.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() and len(parts[1]) == 3 else 0
    if not parts[0].startswith(b"HTTP/1.") or not 200 <= status < 300:
        shown = status_line[:100].decode("ascii", "replace")
        raise TunnelRefused(f"the proxy ({proxy.variable}) refused the tunnel: {shown!r}")
    if end + 4 != len(answer):  # the origin's TLS has not started yet: nothing may follow the answer
        raise TunnelRefused(f"the proxy ({proxy.variable}) sent bytes after its answer to CONNECT")


async def _getaddrinfo(host: str, port: int) -> list[AddrInfo]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [info for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]  # type: ignore[misc]


def _literal(host: str, port: int) -> list[AddrInfo] | None:
    """An address written in the URL needs no lookup."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version == 4:
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]
    return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port, 0, 0))]


def _retrieved(future: asyncio.Future[list[AddrInfo]]) -> None:
    """A failed lookup nobody waits for any more must not be reported as never retrieved."""
    if not future.cancelled():
        future.exception()
