"""The `cf-aig-metadata` header: what AI Gateway logs and spend limits split by (the caller first of all)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["metadata_header"]


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
