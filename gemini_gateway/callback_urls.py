"""Addresses the function may call on a caller's behalf: only under CALLBACK_URL_PREFIXES (no SSRF).

A caller naming a URL (a job's `callback.url`, an interaction's
`webhook_config.uris`) must not make the function, or Google on its behalf,
call the metadata server (169.254.169.254), the VPC or anything else the
operator did not list. URLs are parsed, never compared as strings: scheme,
host and port must equal a prefix's, and the path must be the prefix's path
or lie below it (segment by segment), so `https://ok.example.com@evil.example`,
`https://ok.example.com.evil.example`, `https://ok.example.com:8443/hooks` and
`https://ok.example.com/hooks-evil` are all refused for the prefix
`https://ok.example.com/hooks`. What a server might read differently from
this parser is refused outright: credentials, a fragment, dot segments
(`/hooks/../admin`, encoded or not), encoded slashes and backslashes, spaces,
control and non-ASCII characters (an IDN is written in punycode). Plain
`http://` only to this machine, for local development. The URL the function
then calls is rebuilt from the parts checked (`canonical`), and redirects are
never followed, so an allowed host cannot send it elsewhere either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import SplitResult, urlsplit

__all__ = ["callback_url_problem", "canonical", "parse_prefix"]

_DEFAULT_PORTS = {"https": 443, "http": 80}
_LOCAL_HOSTS = ("localhost", "127.0.0.1")
_UNSAFE = re.compile(r"[^\x21-\x7e]|[\\#]")  # anything but visible ASCII; a backslash; a fragment
_ENCODED_SEPARATORS = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)
_MAX_URL = 2048


def callback_url_problem(url: str, prefixes: Sequence[str]) -> str | None:
    """None when `url` lies under one of `prefixes`; else why it may not be called."""
    if not prefixes:
        return "callbacks are not enabled on this deployment (CALLBACK_URL_PREFIXES is empty)"
    parsed = _parse(url)
    if parsed is None:
        return "must be an absolute https:// URL without credentials, spaces, dot segments or a fragment"
    for prefix in prefixes:
        allowed = _parse(prefix)
        if allowed is not None and _under(parsed, allowed):
            return None
    return "must start with one of the callback URL prefixes this deployment allows"


def parse_prefix(prefix: str) -> SplitResult | None:
    """A CALLBACK_URL_PREFIXES entry as parts; None when it is not a usable prefix (the settings refuse it)."""
    parsed = _parse(prefix)
    return parsed if parsed is not None and not parsed.query else None


def canonical(url: str) -> str:
    """The URL rebuilt from the parts checked: what is called is exactly what was allowed."""
    parts = _parse(url)
    if parts is None or parts.hostname is None:
        raise ValueError("not a callback URL")
    port = _port(parts)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown = "" if port == _DEFAULT_PORTS[parts.scheme] else f":{port}"
    return f"{parts.scheme}://{host}{shown}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")


def _parse(url: str) -> SplitResult | None:
    if not url or len(url) > _MAX_URL or _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
        return None  # plain http only to this machine, for local development
    if any(segment in (".", "..") for segment in parts.path.split("/")) or _ENCODED_SEPARATORS.search(parts.path):
        return None
    return parts


def _port(parts: SplitResult) -> int:
    return parts.port or _DEFAULT_PORTS[parts.scheme]


def _under(url: SplitResult, prefix: SplitResult) -> bool:
    if (url.scheme, url.hostname, _port(url)) != (prefix.scheme, prefix.hostname, _port(prefix)):
        return False
    base = prefix.path.rstrip("/")
    path = url.path or "/"
    return not base or path == base or path.startswith(base + "/")
