"""Which callback URLs the function may call: only those under CALLBACK_URL_PREFIXES, compared as URLs.

The function never calls an address a caller chose (the metadata server at
169.254.169.254, an address inside the VPC): a callback URL must have the
scheme, host and port of one of the operator's prefixes, and its path (and
query) must start with that prefix's. Comparing parsed parts, not strings,
closes the usual tricks: `https://hooks.example.com@evil.example` (userinfo:
refused), `https://hooks.example.com.evil.example/` (another host),
`https://hooks.example.com:8443/` (another port), `/hooks/../admin` or
`/hooks/%2e%2e/admin` (dot segments, encoded or not: refused), a backslash
(parsed as `/` by some clients), control or non-ASCII characters (IDNs
are written in punycode). Redirects are never followed (`delivery.py`), so
an allowed host cannot send the function elsewhere either.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

__all__ = ["Origin", "canonical", "parse_prefix", "refusal"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ENCODED_SEPARATORS = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)
_MAX_URL = 2048


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int
    rest: str  # path (at least "/") and "?query" if any


def _split(url: str) -> Origin | None:
    """The URL's parts, or None for anything outside plain absolute http(s) URLs."""
    if not url or len(url) > _MAX_URL or not all("!" <= c <= "~" for c in url) or "\\" in url or "#" in url:
        return None
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or "@" in parts.netloc or not parts.hostname:
        return None
    path = parts.path or "/"
    if any(segment in (".", "..") for segment in path.split("/")) or _ENCODED_SEPARATORS.search(path):
        return None
    rest = path + (f"?{parts.query}" if parts.query else "")
    return Origin(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme], rest)


def parse_prefix(prefix: str) -> Origin | None:
    """A CALLBACK_URL_PREFIXES entry as parts (None: not a usable prefix)."""
    return _split(prefix)


def refusal(url: str, prefixes: tuple[str, ...]) -> str | None:
    """Why `url` may not be called back (None: it may)."""
    if not prefixes:
        return "callbacks are not enabled on this deployment (it sets no CALLBACK_URL_PREFIXES)"
    target = _split(url)
    if target is not None:
        for prefix in prefixes:
            allowed = _split(prefix)
            if allowed is not None and target[:3] == allowed[:3] and target.rest.startswith(allowed.rest):
                return None
    return f"must start with one of: {', '.join(prefixes)}"


def canonical(url: str) -> str:
    """The URL rebuilt from the parts `refusal` checked: what is called is exactly what was allowed."""
    parts = _split(url)
    if parts is None:
        raise ValueError("not a callback URL")
    port = "" if parts.port == _DEFAULT_PORTS[parts.scheme] else f":{parts.port}"
    host = f"[{parts.host}]" if ":" in parts.host else parts.host
    return f"{parts.scheme}://{host}{port}{parts.rest}"
