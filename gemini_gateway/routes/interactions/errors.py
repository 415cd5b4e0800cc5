"""Errors on the Interactions routes, in the Interactions API's own shape, so the SDKs raise as usual.

Google's Interactions service answers `{"error": {"code": "<string>", "message"}}` with string codes
(ai.google.dev/gemini-api/docs/api-errors: `invalid_request`, `not_found`, `rate_limit_exceeded`, ...);
the SDKs raise by HTTP status. `status` (the google.rpc name, `NOT_FOUND`) is added for clients that
read Google's older shape. No pydantic here: the route table imports it before any request model.
"""

from __future__ import annotations

from typing import Any

from ...errors import ApiError, RateLimited
from ..gemini.errors import google_status

__all__ = ["interactions_error_body"]

_CODES = {
    400: "invalid_request",
    401: "authentication",
    403: "permission_denied",
    404: "not_found",
    405: "invalid_request",
    408: "deadline_exceeded",
    409: "conflict",
    413: "invalid_request",
    415: "invalid_request",
    422: "failed_precondition",
    429: "rate_limit_exceeded",
    500: "api_error",
    502: "api_error",
    503: "service_unavailable",
    504: "deadline_exceeded",
}


def interactions_error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": _CODES.get(error.status, "api_error"),
        "message": error.message,
        "status": google_status(error),
        "request_id": request_id,
    }
    if error.details:
        body["details"] = [{"field": d.field, "problem": d.problem} for d in error.details]
    if isinstance(error, RateLimited):
        body["retry_after_seconds"] = error.retry_after
    return {"error": body}
