"""What the Gemini-native route answers: Gemini's own response (documented), and Google's error shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ...errors import ApiError, RateLimited

__all__ = ["CountTokensResponse", "GenerateContentResponse", "GoogleErrorBody", "google_error_body", "google_status"]


class _Open(BaseModel):
    """Gemini adds fields often: the document names the ones callers read and allows the rest."""

    model_config = ConfigDict(extra="allow")


class ResponsePart(_Open):
    text: str | None = None
    thought: bool | None = None
    thoughtSignature: str | None = None
    inlineData: dict[str, Any] | None = None
    functionCall: dict[str, Any] | None = None  # {id?, name, args?}; the part's thoughtSignature goes back with it
    executableCode: dict[str, Any] | None = None
    codeExecutionResult: dict[str, Any] | None = None


class ResponseContent(_Open):
    role: str | None = None
    parts: list[ResponsePart] | None = None


class Candidate(_Open):
    content: ResponseContent | None = None
    finishReason: str | None = None
    finishMessage: str | None = None
    index: int | None = None
    safetyRatings: list[dict[str, Any]] | None = None
    groundingMetadata: dict[str, Any] | None = None  # googleSearch
    urlContextMetadata: dict[str, Any] | None = None  # urlContext


class PromptFeedback(_Open):
    blockReason: str | None = None
    safetyRatings: list[dict[str, Any]] | None = None


class UsageMetadata(_Open):
    promptTokenCount: int | None = None
    candidatesTokenCount: int | None = None
    thoughtsTokenCount: int | None = None
    cachedContentTokenCount: int | None = None
    totalTokenCount: int | None = None


class GenerateContentResponse(_Open):
    """Gemini's `GenerateContentResponse`, passed through as the upstream sent it (one per stream record)."""

    candidates: list[Candidate] | None = None
    promptFeedback: PromptFeedback | None = None
    usageMetadata: UsageMetadata | None = None
    modelVersion: str | None = None
    responseId: str | None = None


class GeminiModalityTokenCount(_Open):
    modality: str | None = None
    tokenCount: int | None = None


class CountTokensResponse(_Open):
    """Gemini's `countTokens` answer, passed through as the upstream sent it (proto3 JSON leaves out zeros)."""

    totalTokens: int | None = None
    cachedContentTokenCount: int | None = None
    promptTokensDetails: list[GeminiModalityTokenCount] | None = None
    cacheTokensDetails: list[GeminiModalityTokenCount] | None = None


_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def google_status(error: ApiError) -> str:
    """The google.rpc.Code name for one of our errors (HTTP status as in contract section 8)."""
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


class GoogleError(BaseModel):
    code: int
    message: str
    status: str
    details: list[dict[str, Any]] | None = None


class GoogleErrorBody(BaseModel):
    """Errors on the Gemini-native route, in Google's shape."""

    error: GoogleError
