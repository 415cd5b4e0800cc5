"""Errors on the Gemini-native route, in Google's shape, so the Gemini SDKs raise their usual exceptions.

No pydantic here: a route's error shape is needed even for a 404 or 405 on its
path, before (or without) its request models being loaded.
"""

from __future__ import annotations

from typing import Any

from ...errors import ApiError, RateLimited

__all__ = ["google_error_body", "google_status"]


_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    422: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def google_status(error: ApiError) -> str:
    """The google.rpc.Code name for one of our errors (HTTP status as in docs/API.md §8)."""
    if error.status == 502:
        return "UNAVAILABLE" if error.retryable else "INTERNAL"
    return _STATUS_NAMES.get(error.status, "UNKNOWN")


def google_error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    """`{"error": {"code", "message", "status", "details"}}`, details as google.rpc types.

    Field problems become `google.rpc.BadRequest` field violations, a retry
    hint `google.rpc.RetryInfo`, and the request id `google.rpc.RequestInfo`.
    Nothing from an upstream error body is here but its scrubbed message.
    """
    details: list[dict[str, Any]] = []
    if error.details:
        violations = [{"field": d.field, "description": d.problem} for d in error.details]
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations})
    for fact in error.facts:
        if fact.get("limit") == "daily_tokens":
            violation = {
                "subject": "daily_tokens",
                "description": f"{fact['spent']} of {fact['budget']} tokens spent today",
            }
            details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]})
    if isinstance(error, RateLimited):
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{error.retry_after}s"})
    details.append({"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": request_id})
    return {
        "error": {"code": error.status, "message": error.message, "status": google_status(error), "details": details}
    }
