"""AI Gateway headers: `cf-aig-metadata` (what its logs and spend limits split by, the caller first of all),
and the gateway's own answer headers as the function passes them on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

__all__ = ["gateway_header", "metadata_header"]

_GATEWAY_HEADER_CHARS = 128  # Cloudflare's values are a word or an id; a hostile gateway's could be 64 KiB


def metadata_header(caller: str, metadata: Mapping[str, Any] | None = None) -> dict[str, str]:
    """`{"cf-aig-metadata": <compact ASCII JSON>}` with the caller's own entries and `caller` last.

    A header value must be ASCII: non-ASCII text is escaped.
    """
    values = {**(metadata or {}), "caller": caller}
    try:
        raw: bytes | None = orjson.dumps(values)  # compact, and a few times faster than json.dumps
    except TypeError:  # an integer past 64 bits: json.dumps writes it
        raw = None
    if raw is not None and raw.isascii():
        return {"cf-aig-metadata": raw.decode()}
    return {"cf-aig-metadata": json.dumps(values, separators=(",", ":"), ensure_ascii=True)}


def gateway_header(response: httpx.Response, name: str) -> str | None:
    """An AI Gateway answer header (`cf-aig-cache-status`, `cf-aig-log-id`) for the access line, the answer
    and a span: capped, since the gateway's bytes are not trusted either."""
    value = response.headers.get(name)
    return value[:_GATEWAY_HEADER_CHARS] if value is not None else None
