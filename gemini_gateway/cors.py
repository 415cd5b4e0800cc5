"""CORS by exact-match allow-list (docs/API.md, "Callers").

Never reflects an arbitrary origin: only an origin in ALLOWED_ORIGINS (or `*`)
gets `Access-Control-Allow-Origin`.
"""

from __future__ import annotations

from .callers.registry import CHECKS

__all__ = ["ALLOWED_HEADERS", "cors_headers", "preflight_headers"]

# What a browser may send: ours, and every header a caller check reads (the Gemini JS SDK's too).
ALLOWED_HEADERS = ", ".join(
    dict.fromkeys(("Content-Type", "X-Request-Id", *(header for check in CHECKS for header in check.headers)))
)
_EXPOSED = "X-Request-Id, Server-Timing, Retry-After, X-Budget-Remaining"


def cors_headers(origin: str | None, allowed: tuple[str, ...]) -> dict[str, str]:
    """Headers for an actual (non-preflight) response."""
    if not allowed:
        return {}
    if "*" in allowed:
        return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": _EXPOSED}
    headers = {"Vary": "Origin"}
    if origin is not None and origin in allowed:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = _EXPOSED
    return headers


def preflight_headers(origin: str | None, allowed: tuple[str, ...], methods: str) -> dict[str, str]:
    headers = cors_headers(origin, allowed)
    if "Access-Control-Allow-Origin" in headers:
        headers.pop("Access-Control-Expose-Headers", None)
        headers["Access-Control-Allow-Methods"] = methods
        headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        headers["Access-Control-Max-Age"] = "600"
    return headers
