"""Classify an upstream (AI Gateway / Google) failure and scrub what it says.

Google echoes the rejected key in `DebugInfo`, and gateway bodies vary; so
only a short, scrubbed `message` is ever passed on, never `details`.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = ["Failure", "Kind", "classify", "retry_after_seconds", "scrub"]

_TOKEN = re.compile(r"[A-Za-z0-9_\-]{24,}")  # a run of token characters: one pass, no lookaheads
_BEARER = re.compile(r"(?i:bearer)[ \t]+[^\s]+")
_SCAN_LIMIT = 4096  # only the start of a message is ever passed on; scanning more is work for nobody
_MAX_MESSAGE = 300
_MAX_WAIT = 86400.0
_RETRYABLE = {429, 500, 502, 503, 504}


class Kind(Enum):
    KEY_REJECTED = "key_rejected"  # drop the cached key, refetch, retry once
    RETRYABLE = "retryable"  # 5xx: back off and retry
    RATE_LIMITED = "rate_limited"  # 429: retry, then tell the caller when to come back
    INVALID_REQUEST = "invalid_request"  # the content was refused: the caller's to fix
    BLOCKED = "blocked"  # gateway guardrails refused the prompt or the answer
    TOO_LARGE = "too_large"
    NOT_FOUND = "not_found"  # an interaction Google no longer has
    FATAL = "fatal"  # anything else: our configuration or the upstream is broken


@dataclass(frozen=True, slots=True)
class Failure:
    kind: Kind
    status: int
    message: str
    retry_after: float | None = None
    reason: str | None = None  # Google's ErrorInfo.reason or the gateway's internal code

    @property
    def retryable(self) -> bool:
        return self.kind in (Kind.RETRYABLE, Kind.RATE_LIMITED)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove every known secret and anything key-shaped; keep it short. Linear in the text.

    Known secrets are replaced in the whole text first (so none is cut in half
    by the truncation), then only the first few KB are scanned for tokens
    that look like keys: long runs of letters, digits, `-` and `_` holding
    both letters and digits, and whatever follows `Bearer`.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _BEARER.sub("[redacted]", text[:_SCAN_LIMIT])
    text = _TOKEN.sub(_redact_token, text)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _redact_token(match: re.Match[str]) -> str:
    token = match.group()
    has_digit = any(c.isdigit() for c in token)
    has_letter = any(c.isalpha() for c in token)
    return "[redacted]" if has_digit and has_letter else token


def _duration(value: Any) -> float | None:
    """google.protobuf.Duration JSON ("26s", "0.5s") → seconds."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            seconds = float(value[:-1])
        except ValueError:
            return None
        return seconds if math.isfinite(seconds) and 0 <= seconds <= _MAX_WAIT else None
    return None


def retry_after_seconds(headers: Mapping[str, str], error: Mapping[str, Any] | None) -> float | None:
    """The longest wait the upstream asked for, from Retry-After or RetryInfo."""
    waits: list[float] = []
    header = headers.get("retry-after")
    if header:
        header = header.strip()
        try:
            seconds = float(header)
            if math.isfinite(seconds):
                waits.append(min(max(0.0, seconds), _MAX_WAIT))
        except ValueError:
            parsed = email.utils.parsedate_tz(header)
            if parsed is not None:
                waits.append(min(max(0.0, email.utils.mktime_tz(parsed) - time.time()), _MAX_WAIT))
    for detail in _details(error):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = _duration(detail.get("retryDelay"))
            if delay is not None:
                waits.append(delay)
    return max(waits) if waits else None


def _details(error: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    details = (error or {}).get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _parse(body: bytes) -> tuple[dict[str, Any] | None, str, str | None]:
    """(google error object, message, reason) from whatever the body is."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, "", None
    if isinstance(data, list) and data and isinstance(data[0], dict):  # non-SSE stream errors come wrapped
        data = data[0]
    if not isinstance(data, dict):
        return None, "", None
    error = data.get("error")
    if isinstance(error, dict):  # Google's shape
        reason = next((str(d["reason"]) for d in _details(error) if "reason" in d), None)
        return error, str(error.get("message", "")), reason
    if data.get("name") == "AiGatewayError" or "internalCode" in data:  # Cloudflare's shape
        code = data.get("internalCode")
        return None, str(data.get("message", "")), str(code) if code is not None else None
    if isinstance(data.get("errors"), list) and data["errors"] and isinstance(data["errors"][0], dict):
        first = data["errors"][0]
        return None, str(first.get("message", "")), str(first.get("code", "")) or None
    return None, "", None


def _about_the_request(error: Mapping[str, Any]) -> bool:
    """Google's INVALID_ARGUMENT, or the Interactions API's string codes for the same (`invalid_request`, ...)."""
    code = error.get("code")
    return error.get("status") == "INVALID_ARGUMENT" or code in (
        "invalid_request",
        "parameter_unknown",
        "failed_precondition",
    )


def classify(status: int, headers: Mapping[str, str], body: bytes, secrets: Iterable[str] = ()) -> Failure:
    """What a non-2xx upstream answer means for us."""
    error, message, reason = _parse(body)
    message = scrub(message, secrets) or f"upstream answered HTTP {status}"
    wait = retry_after_seconds(headers, error)
    if reason == "API_KEY_INVALID" or status in (401, 403):
        return Failure(Kind.KEY_REJECTED, status, message, reason=reason)
    if status == 429:
        return Failure(Kind.RATE_LIMITED, status, message, wait, reason)
    if status in _RETRYABLE:
        return Failure(Kind.RETRYABLE, status, message, wait, reason)
    if status == 424 or reason in ("2016", "2017"):
        return Failure(Kind.BLOCKED, status, message, reason=reason)
    if status == 413:
        return Failure(Kind.TOO_LARGE, status, message, reason=reason)
    if status == 400 and error is not None and _about_the_request(error):
        return Failure(Kind.INVALID_REQUEST, status, message, reason=reason)
    if status == 404 and error is not None:
        return Failure(Kind.NOT_FOUND, status, message, reason=reason)
    return Failure(Kind.FATAL, status, message, reason=reason)
