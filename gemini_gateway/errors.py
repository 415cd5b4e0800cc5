"""The error taxonomy (docs/API.md, "Errors"), and its JSON.

    type                    status  retryable  when
    invalid_json            400     no         body is not JSON
    invalid_request         400     no         schema/range violation, model not allowed,
                                               upstream INVALID_ARGUMENT about the content
    unauthenticated         401     no         no or bad caller credentials
    forbidden               403     no         credentials fine, access not allowed
    not_found               404     no         unknown path
    method_not_allowed      405     no         wrong method (with `Allow`)
    request_timeout         408     yes        body not received within BODY_READ_TIMEOUT_SECONDS
                                               (the connection is closed)
    conflict                409     varies     an Idempotency-Key whose first request is still running (yes);
                                               a Standard Webhooks webhook-id seen again (no)
    payload_too_large       413     no         body over MAX_REQUEST_BYTES
    unsupported_media_type  415     no         not application/json
    idempotency_mismatch    422     no         an Idempotency-Key reused with a different body
    rate_limited            429     yes        caller limit, gateway limit, upstream quota (`Retry-After`)
    upstream_error          502     varies     upstream 5xx after retries, broken answer, key rejected
    unavailable             503     yes        secret or configuration unavailable
    upstream_timeout        504     yes        UPSTREAM_TIMEOUT_SECONDS spent
    internal_error          500     yes        a bug in this function (never for bad input; logged
                                               without a stack trace, answered without details)

Every error the function answers with is one of these classes; `error_body`
is the only place that turns one into JSON, and `ErrorBody` its schema (for
the OpenAPI document). Messages never carry secrets: they are written by this
package, or scrubbed upstream text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, JsonValue

from .model_base import Doc

__all__ = [
    "ERROR_STATUSES",
    "ApiError",
    "Conflict",
    "ErrorBody",
    "ErrorRenderer",
    "Forbidden",
    "IdempotencyMismatch",
    "Internal",
    "InvalidJson",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "Problem",
    "RateLimited",
    "RequestTimeout",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedMediaType",
    "UpstreamError",
    "UpstreamTimeout",
    "error_body",
    "error_types",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One field-level reason a request was refused."""

    field: str
    problem: str


class ApiError(Exception):
    """Base of every error answered to a caller."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal"
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        details: Iterable[Problem] = (),
        headers: Mapping[str, str] | None = None,
        retryable: bool | None = None,
        facts: Iterable[Mapping[str, Any]] = (),
        log_fields: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = tuple(details)
        self.facts = tuple(dict(f) for f in facts)  # details that are not about a field: {"limit": ..., ...}
        self.headers = dict(headers or {})
        self.retryable = self.default_retryable if retryable is None else retryable
        # For the operator's access line only, never the caller (the upstream's reason, attempts, timing).
        self.log_fields = dict(log_fields or {})


class InvalidJson(ApiError):
    status, type = 400, "invalid_json"


class InvalidRequest(ApiError):
    status, type = 400, "invalid_request"

    @classmethod
    def for_field(cls, field: str, problem: str) -> InvalidRequest:
        return cls(f"{field}: {problem}", details=[Problem(field, problem)])


class Unauthenticated(ApiError):
    status, type = 401, "unauthenticated"

    def __init__(self, message: str = "missing or invalid caller credentials", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class Forbidden(ApiError):
    status, type = 403, "forbidden"


class NotFound(ApiError):
    status, type = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, type = 405, "method_not_allowed"

    def __init__(self, method: str, allowed: Iterable[str], hint: str = "") -> None:
        allow = ", ".join(allowed)
        message = f"method {method} not allowed here; allowed: {allow}" + (f"; {hint}" if hint else "")
        super().__init__(message, headers={"Allow": allow})


class RequestTimeout(ApiError):
    status, type, default_retryable = 408, "request_timeout", True

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g} s", headers={"Connection": "close"})


class Conflict(ApiError):
    status, type = 409, "conflict"


class IdempotencyMismatch(ApiError):
    status, type = 422, "idempotency_mismatch"


class PayloadTooLarge(ApiError):
    status, type = 413, "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes", headers={"Connection": "close"})

    @classmethod
    def with_message(cls, message: str) -> PayloadTooLarge:
        error = cls(0)
        error.message = message
        error.args = (message,)
        return error


class UnsupportedMediaType(ApiError):
    status, type = 415, "unsupported_media_type"

    def __init__(self, got: str | None) -> None:
        super().__init__(f"Content-Type must be application/json, got {got or 'nothing'}")


class RateLimited(ApiError):
    status, type, default_retryable = 429, "rate_limited", True

    def __init__(self, message: str, retry_after: float, **kw: Any) -> None:
        bounded = retry_after if math.isfinite(retry_after) else 86400.0
        seconds = max(1, min(86400, math.ceil(bounded)))
        kw["headers"] = {**kw.get("headers", {}), "Retry-After": str(seconds)}
        super().__init__(message, **kw)
        self.retry_after = seconds


class UpstreamError(ApiError):
    status, type = 502, "upstream_error"


class Unavailable(ApiError):
    status, type, default_retryable = 503, "unavailable", True


class UpstreamTimeout(ApiError):
    status, type, default_retryable = 504, "upstream_timeout", True

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the upstream call did not finish within {seconds:g} s")


class Internal(ApiError):
    status, type, default_retryable = 500, "internal_error", True


ErrorRenderer = Callable[[ApiError, str], dict[str, Any]]
"""A route's error shape: ours (`error_body`), OpenAI's or Google's."""


def error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    """The error JSON for `error`."""
    body: dict[str, Any] = {
        "type": error.type,
        "message": error.message,
        "retryable": error.retryable,
        "request_id": request_id,
    }
    if error.details or error.facts:
        body["details"] = [{"field": d.field, "problem": d.problem} for d in error.details] + list(error.facts)
    return {"error": body}


def error_types() -> list[tuple[int, str]]:
    """(status, type) of every concrete error class above, by status."""
    found: set[tuple[int, str]] = set()
    todo = list(ApiError.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        found.add((cls.status, cls.type))
    return sorted(found)


# Every status an authenticated route may answer with (the table above).
ERROR_STATUSES: tuple[int, ...] = tuple(sorted({status for status, _ in error_types()}))


class ErrorDetail(Doc):
    """A refused field; or, for a spent budget, `{"limit": "daily_tokens", "budget": N, "spent": M}`."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    field: str | None = None
    problem: str | None = None


class ErrorInfo(Doc):
    type: str = Field(json_schema_extra={"enum": list[JsonValue](sorted({t for _, t in error_types()}))})
    message: str
    retryable: bool
    request_id: str
    details: list[ErrorDetail] | None = Field(
        default=None, description="invalid_request: one entry per refused field; rate_limited: the limit that applied"
    )


class ErrorBody(Doc):
    """Every error the function answers on the routes that use its own error shape."""

    error: ErrorInfo
