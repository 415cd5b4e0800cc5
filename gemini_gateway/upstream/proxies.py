"""`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`, as curl and httpx read them.

The upstream pool honours them (docs/API.md, "The gateway is untrusted too"): an `https` origin is
reached through a CONNECT tunnel, an `http` one with its absolute URL sent
to the proxy; `NO_PROXY` names the hosts reached directly. Only `http://`
proxies are supported: a value the pool cannot use is reported by
`proxy_problems` (so it can be refused at start, naming the variable) and,
should it still be set, fails every call it applies to with that variable's
name rather than being silently skipped.
"""

from __future__ import annotations

import base64
import ipaddress
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Proxies", "Proxy", "proxy_problems"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Proxy:
    """One proxy: where it is, which variable named it, and what to send it (or why it cannot be used)."""

    variable: str
    host: str = ""
    port: int = 0
    authorization: bytes | None = None  # `Proxy-Authorization` value, from the URL's user:password
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class _Exception:
    """One `NO_PROXY` entry: a host or domain suffix, an address or network, maybe with a port."""

    host: str = ""
    network: _Network | None = None
    port: int | None = None

    def matches(self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return address is not None and address in self.network
        return host == self.host or host.endswith("." + self.host)


class Proxies:
    """Which proxy, if any, a (scheme, host, port) goes through. Read once, from an environment."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        fallback = _value(environ, "all_proxy")
        self._by_scheme = {scheme: _value(environ, f"{scheme}_proxy") or fallback for scheme in ("http", "https")}
        self._every_host = False
        self._exceptions: list[_Exception] = []
        no_proxy = _value(environ, "no_proxy")
        if no_proxy is not None:
            for entry in no_proxy[1].replace(" ", ",").split(","):
                if entry.strip() == "*":
                    self._every_host = True
                elif entry.strip():
                    self._exceptions.append(_exception(entry.strip()))

    @property
    def configured(self) -> bool:
        return any(self._by_scheme.values())

    def for_origin(self, scheme: str, host: str, port: int) -> Proxy | None:
        found = self._by_scheme.get(scheme)
        if found is None or self._bypassed(host.lower().rstrip("."), port):
            return None
        return _proxy(*found)

    def _bypassed(self, host: str, port: int) -> bool:
        if self._every_host:
            return True
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            address = None
        return any(entry.matches(host, address, port) for entry in self._exceptions)


def proxy_problems(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(variable, why) for every proxy variable set to a value the upstream pool cannot use."""
    problems = []
    for name in ("https_proxy", "http_proxy", "all_proxy"):
        found = _value(environ, name)
        if found is not None:
            problem = _proxy(*found).problem
            if problem is not None:
                problems.append((found[0], problem))
    return problems


def _value(environ: Mapping[str, str], lower: str) -> tuple[str, str] | None:
    """(variable, value) of the lower-case name or else the upper-case one; empty means unset."""
    for name in (lower, lower.upper()):
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def _proxy(variable: str, value: str) -> Proxy:
    url = urllib.parse.urlsplit(value if "://" in value else "http://" + value)
    try:
        port = url.port or 80
        host = url.hostname or ""
    except ValueError:
        return Proxy(variable, problem="the proxy URL's port is not a number")
    if url.scheme.lower() != "http":
        return Proxy(variable, problem=f"only http:// proxies are supported, not {url.scheme}://")
    if not host:
        return Proxy(variable, problem="the proxy URL names no host")
    if url.path not in ("", "/") or url.query or url.fragment:
        return Proxy(variable, problem="the proxy URL must be http://[user:password@]host[:port]")
    authorization = None
    if url.username is not None:
        credentials = f"{urllib.parse.unquote(url.username)}:{urllib.parse.unquote(url.password or '')}"
        authorization = b"Basic " + base64.b64encode(credentials.encode())
    return Proxy(variable, host, port, authorization)


def _exception(entry: str) -> _Exception:
    entry = entry.lower()
    port = None
    host = entry
    if entry.startswith("["):  # [v6]:port
        host, _, rest = entry[1:].partition("]")
        port = _port(rest.removeprefix(":"))
    elif entry.count(":") == 1:
        host, _, rest = entry.partition(":")
        port = _port(rest)
    try:
        return _Exception(network=ipaddress.ip_network(host, strict=False), port=port)
    except ValueError:
        return _Exception(host=host.removeprefix("*").strip(".").rstrip("."), port=port)


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() else None
