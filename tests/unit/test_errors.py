"""gemini_gateway.errors: the error taxonomy and its JSON (docs/API.md §8)."""

from __future__ import annotations

import json

import pytest

from gemini_gateway.errors import (
    ApiError,
    Forbidden,
    Internal,
    InvalidJson,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Problem,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamTimeout,
    error_body,
)

TABLE: list[tuple[ApiError, int, str, bool]] = [
    (InvalidJson("not json"), 400, "invalid_json", False),
    (InvalidRequest("x: bad"), 400, "invalid_request", False),
    (Unauthenticated(), 401, "unauthenticated", False),
    (Forbidden("no"), 403, "forbidden", False),
    (NotFound("no such path"), 404, "not_found", False),
    (MethodNotAllowed("GET", ["POST", "OPTIONS"]), 405, "method_not_allowed", False),
    (PayloadTooLarge(1024), 413, "payload_too_large", False),
    (UnsupportedMediaType("text/plain"), 415, "unsupported_media_type", False),
    (RateLimited("slow down", 3), 429, "rate_limited", True),
    (UpstreamError("bad gateway"), 502, "upstream_error", False),
    (Unavailable("secret unavailable"), 503, "unavailable", True),
    (UpstreamTimeout(60), 504, "upstream_timeout", True),
    (Internal("bug"), 500, "internal_error", True),
]


@pytest.mark.parametrize(("error", "status", "kind", "retryable"), TABLE, ids=[t[2] for t in TABLE])
def test_status_type_retryable(error: ApiError, status: int, kind: str, retryable: bool) -> None:
    assert error.status == status
    assert error.type == kind
    assert error.retryable is retryable
    body = error_body(error, "req-1")
    assert body == {"error": {"type": kind, "message": error.message, "retryable": retryable, "request_id": "req-1"}}
    assert json.loads(json.dumps(body)) == body


def test_error_body_with_details() -> None:
    error = InvalidRequest("temperature: must be <= 2", details=[Problem("temperature", "must be <= 2")])
    assert error_body(error, "b1f0c2") == {
        "error": {
            "type": "invalid_request",
            "message": "temperature: must be <= 2",
            "retryable": False,
            "request_id": "b1f0c2",
            "details": [{"field": "temperature", "problem": "must be <= 2"}],
        }
    }


def test_for_field() -> None:
    error = InvalidRequest.for_field("model", "not allowed")
    assert error.message == "model: not allowed"
    assert error.details == (Problem("model", "not allowed"),)


def test_retryable_override() -> None:
    assert UpstreamError("x", retryable=True).retryable is True
    assert Unavailable("x", retryable=False).retryable is False
    assert error_body(UpstreamError("x", retryable=True), "r")["error"]["retryable"] is True


@pytest.mark.parametrize(
    ("asked", "header"), [(0, "1"), (0.2, "1"), (-5, "1"), (1, "1"), (1.5, "2"), (26, "26"), (26.01, "27")]
)
def test_rate_limited_retry_after(asked: float, header: str) -> None:
    error = RateLimited("slow down", asked)
    assert error.headers["Retry-After"] == header
    assert error.retry_after == int(header) >= 1
    assert isinstance(error.retry_after, int)
    assert error.retryable


def test_rate_limited_keeps_other_headers() -> None:
    error = RateLimited("slow down", 5, headers={"X-Extra": "1"})
    assert error.headers == {"X-Extra": "1", "Retry-After": "5"}


def test_rate_limited_infinite_wait_still_a_429() -> None:
    error = RateLimited("slow down", float("inf"))
    assert int(error.headers["Retry-After"]) >= 1


def test_method_not_allowed_sets_allow() -> None:
    error = MethodNotAllowed("DELETE", ["POST", "OPTIONS"])
    assert error.headers == {"Allow": "POST, OPTIONS"}
    assert "DELETE" in error.message


def test_unauthenticated_www_authenticate() -> None:
    assert Unauthenticated().headers == {"WWW-Authenticate": "Bearer"}
    assert Unauthenticated("nope").message == "nope"


def test_payload_too_large_messages() -> None:
    assert PayloadTooLarge(8388608).message == "request body is larger than 8388608 bytes"
    error = PayloadTooLarge.with_message("the upstream refused the request as too large")
    assert error.message == str(error) == "the upstream refused the request as too large"
    assert error.status == 413


def test_unsupported_media_type_message() -> None:
    assert "text/plain" in UnsupportedMediaType("text/plain").message
    assert "nothing" in UnsupportedMediaType(None).message


def test_upstream_timeout_message() -> None:
    assert UpstreamTimeout(60).message == "the upstream call did not finish within 60 s"
    assert "2.5 s" in UpstreamTimeout(2.5).message


def test_details_and_headers_are_copies() -> None:
    details = [Problem("a", "b")]
    headers = {"X": "1"}
    error = ApiError("m", details=details, headers=headers)
    details.append(Problem("c", "d"))
    headers["Y"] = "2"
    assert error.details == (Problem("a", "b"),)
    assert error.headers == {"X": "1"}
