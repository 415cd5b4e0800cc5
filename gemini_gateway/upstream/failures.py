"""Classify an upstream (AI Gateway / Google) failure and scrub what it says.

A `Kind` says what the retry loop does next (refetch the key, back off,
give up) and is not an answer: the caller's error (`errors.ApiError`) is
chosen once, when the retries are over (`client._final_error`), from the last
failure. Google echoes the rejected key in `DebugInfo`, and gateway bodies
vary; so only a short, scrubbed `message` is ever passed on, never `details`
(whose ErrorInfo `reason`, for the access line and the trace, is scrubbed and
cut short too).
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

__all__ = ["Failure", "Kind", "classify", "retry_after_seconds", "scrub"]

_WORD = re.compile(r"\S+")
_TOKEN = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*")  # dots inside: a key's fragments stay together
_KEY_PREFIX = re.compile(r"AIza|AQ\.")  # Gemini key formats: flagged whatever follows, digits or not
_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9]")
_BEARER = re.compile(r"(?i:bearer) \S+")
_LOOKAHEAD = 1024  # characters past the cut still scanned, so a key crossing it is seen whole
_MAX_MESSAGE = 300
_MAX_REASON = 64  # Google's ErrorInfo reasons are UPPER_SNAKE_CASE of at most 63 characters
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

    Known secrets are replaced in the whole text first (so none is cut in
    half by the truncation). Then whitespace is collapsed, and what is scanned
    for key-shaped tokens is what would be passed on, after collapsing (so no
    padding can move a key past the scan), plus a little past the cut: runs
    of letters, digits, `-`, `_` and inner dots holding both letters and
    digits, anything holding `AIza` or `AQ.`, and whatever follows `Bearer`.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    words: list[str] = []
    size = -1
    for match in _WORD.finditer(text):
        start, end = match.span()
        words.append(text[start : min(end, start + _MAX_MESSAGE + _LOOKAHEAD - size)])
        size += 1 + end - start
        if size > _MAX_MESSAGE:
            break
    text = _BEARER.sub("[redacted]", " ".join(words))
    text = _TOKEN.sub(_redact_token, text)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _redact_token(match: re.Match[str]) -> str:
    token = match.group()
    if _KEY_PREFIX.search(token) and len(token) >= 8:
        return "[redacted]"
    if len(token) >= 24 and _DIGIT.search(token) and _LETTER.search(token):
        return "[redacted]"
    return token


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
        if _text(detail.get("@type")).endswith("google.rpc.RetryInfo"):
            delay = _duration(detail.get("retryDelay"))
            if delay is not None:
                waits.append(delay)
    return max(waits) if waits else None


def _details(error: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    details = (error or {}).get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _text(value: Any) -> str:
    """A field the upstream meant as text: strings and numbers only (never str() of a nested structure)."""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else ""


def _parse(body: bytes) -> tuple[dict[str, Any] | None, str, str | None]:
    """(google error object, message, reason) from whatever the body is; unparseable is (None, "", None)."""
    try:
        return _read(orjson.loads(body))
    except Exception:  # noqa: BLE001 - whatever the upstream sent, it is only an unparseable body
        return None, "", None


def _read(data: Any) -> tuple[dict[str, Any] | None, str, str | None]:
    if isinstance(data, list) and data and isinstance(data[0], dict):  # non-SSE stream errors come wrapped
        data = data[0]
    if not isinstance(data, dict):
        return None, "", None
    error = data.get("error")
    if isinstance(error, dict):  # Google's shape
        reason = next((_text(d["reason"]) for d in _details(error) if "reason" in d), None)
        return error, _text(error.get("message")), reason
    if data.get("name") == "AiGatewayError" or "internalCode" in data:  # Cloudflare's shape
        code = _text(data.get("internalCode"))
        return None, _text(data.get("message")), code or None
    if isinstance(data.get("errors"), list) and data["errors"] and isinstance(data["errors"][0], dict):
        first = data["errors"][0]
        return None, _text(first.get("message")), _text(first.get("code")) or None
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
    if reason:
        reason = scrub(reason, secrets)[:_MAX_REASON] or None
    try:
        wait = retry_after_seconds(headers, error)
    except Exception:  # noqa: BLE001 - an unreadable wait is no wait
        wait = None
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
