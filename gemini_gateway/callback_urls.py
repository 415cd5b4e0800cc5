"""Addresses the function may call on a caller's behalf: only under CALLBACK_URL_PREFIXES (no SSRF).

A caller naming a URL (a job's `callback.url`, an interaction's
`webhook_config.uris`) must not make the function, or Google on its behalf,
call the metadata server, the VPC or anything else the operator did not
list. URLs are parsed, never compared as strings: scheme, host and port must
equal a prefix's, and the path must be the prefix's path or lie below it
(segment by segment), so `https://ok.example.com@evil.example`,
`https://ok.example.com.evil.example` and `https://ok.example.com/hooks-evil`
are all refused for the prefix `https://ok.example.com/hooks`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import SplitResult, urlsplit

__all__ = ["callback_url_problem"]

_DEFAULT_PORTS = {"https": 443, "http": 80}
_LOCAL_HOSTS = ("localhost", "127.0.0.1")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def callback_url_problem(url: str, prefixes: Sequence[str]) -> str | None:
    """None when `url` lies under one of `prefixes`; else why it may not be called."""
    if not prefixes:
        return "callbacks are not enabled on this deployment (CALLBACK_URL_PREFIXES is empty)"
    parsed = _parse(url)
    if parsed is None:
        return "must be an absolute https:// URL without credentials, spaces or a fragment"
    for prefix in prefixes:
        allowed = _parse(prefix)
        if allowed is not None and _under(parsed, allowed):
            return None
    return "must start with one of the callback URL prefixes this deployment allows"


def _parse(url: str) -> SplitResult | None:
    if len(url) > 2048 or _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.fragment:
        return None
    if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
        return None  # plain http only to this machine, for local development
    del port
    return parts


def _under(url: SplitResult, prefix: SplitResult) -> bool:
    if (url.scheme, url.hostname) != (prefix.scheme, prefix.hostname):
        return False
    if (url.port or _DEFAULT_PORTS[url.scheme]) != (prefix.port or _DEFAULT_PORTS[prefix.scheme]):
        return False
    base = prefix.path.rstrip("/")
    path = url.path or "/"
    return not base or path == base or path.startswith(base + "/")
