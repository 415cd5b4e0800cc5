"""The `cf-aig-metadata` header: what AI Gateway logs and spend limits split by (the caller first of all)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["metadata_header"]


def metadata_header(caller: str, metadata: Mapping[str, Any] | None = None) -> dict[str, str]:
    """`{"cf-aig-metadata": <compact ASCII JSON>}` with the caller's own entries and `caller` last.

    A header value must be ASCII: non-ASCII text is escaped.
    """
    values = {**(metadata or {}), "caller": caller}
    return {"cf-aig-metadata": json.dumps(values, separators=(",", ":"), ensure_ascii=True)}
