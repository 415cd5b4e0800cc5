"""gemini_gateway.upstream_errors: classify upstream failures, scrub what they say (docs/API.md §8, §9)."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx
import pytest

from gemini_gateway.upstream.failures import Kind, classify, retry_after_seconds, scrub

FAKE_KEY = "test-gemini-key-1"


def google_error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}).encode()


def gateway_error(code: int, http: int, message: str) -> bytes:
    return json.dumps(
        {
            "success": False,
            "result": [],
            "messages": [],
            "error": [{"code": code, "message": message}],
            "name": "AiGatewayError",
            "httpCode": http,
            "internalCode": code,
            "message": message,
        }
    ).encode()


RETRY_26 = google_error(
    429,
    "RESOURCE_EXHAUSTED",
    "You exceeded your current quota.",
    [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"},
    ],
)


def test_real_api_key_invalid_body(api_key_invalid_body: bytes) -> None:
    failure = classify(400, {}, api_key_invalid_body, secrets=(FAKE_KEY,))
    assert failure.kind is Kind.KEY_REJECTED
    assert failure.reason == "API_KEY_INVALID"
    assert failure.status == 400
    assert not failure.retryable
    assert "key1234" not in failure.message  # DebugInfo echoes the key: never passed on
    assert "DebugInfo" not in failure.message
    assert failure.message == "API key not valid. Please pass a valid API key."


def test_real_api_key_invalid_body_with_the_key_as_known_secret(api_key_invalid_body: bytes) -> None:
    failure = classify(400, {}, api_key_invalid_body, secrets=("key1234",))
    assert failure.kind is Kind.KEY_REJECTED and "key1234" not in failure.message


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize(
    "body",
    [
        b"",
        google_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."),
        gateway_error(2009, 401, "Unauthorized"),
        b"<html>denied</html>",
    ],
)
def test_401_403_are_key_rejected(status: int, body: bytes) -> None:
    failure = classify(status, {}, body)
    assert failure.kind is Kind.KEY_REJECTED
    assert failure.message


def test_429_with_retry_info() -> None:
    failure = classify(429, {}, RETRY_26)
    assert failure.kind is Kind.RATE_LIMITED
    assert failure.retry_after == 26
    assert failure.retryable
    assert failure.message == "You exceeded your current quota."


@pytest.mark.parametrize(("delay", "seconds"), [("0.5s", 0.5), ("1.250s", 1.25), ("0s", 0.0)])
def test_retry_info_fractions(delay: str, seconds: float) -> None:
    error = {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]}
    assert retry_after_seconds({}, error) == seconds


@pytest.mark.parametrize("delay", ["26", "abc s", "-1s", "999999s", 26, None])
def test_retry_info_unusable_values_ignored(delay: Any) -> None:
    error = {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]}
    assert retry_after_seconds({}, error) is None


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), (" 3 ", 3.0), ("0", 0.0), ("-5", 0.0), ("2.5", 2.5)])
def test_retry_after_header_seconds(header: str, seconds: float) -> None:
    failure = classify(429, httpx.Headers({"Retry-After": header}), b"")
    assert failure.kind is Kind.RATE_LIMITED
    assert failure.retry_after == seconds


def test_retry_after_header_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    failure = classify(503, httpx.Headers({"Retry-After": when}), b"")
    assert failure.kind is Kind.RETRYABLE
    assert failure.retry_after is not None and 27 <= failure.retry_after <= 31


def test_retry_after_header_date_in_past_is_zero() -> None:
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None) == 0.0


def test_retry_after_garbage_ignored() -> None:
    assert retry_after_seconds({"retry-after": "soon"}, None) is None
    assert classify(429, {"retry-after": "soon"}, b"").retry_after is None


def test_longest_wait_wins() -> None:
    assert classify(429, {"retry-after": "40"}, RETRY_26).retry_after == 40
    assert classify(429, {"retry-after": "3"}, RETRY_26).retry_after == 26


@pytest.mark.parametrize("header", ["inf", "1e999", "Infinity"])
def test_retry_after_header_infinite_is_ignored_or_bounded(header: str) -> None:
    wait = retry_after_seconds({"retry-after": header}, None)
    assert wait is None or wait < 86400


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_retryable(status: int) -> None:
    failure = classify(
        status, {}, google_error(status, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    )
    assert failure.kind is Kind.RETRYABLE
    assert failure.retryable
    assert failure.message == "The model is overloaded. Please try again later."


@pytest.mark.parametrize("status", [501, 505, 520])
def test_other_5xx_are_fatal(status: int) -> None:
    assert classify(status, {}, b"").kind is Kind.FATAL


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (424, gateway_error(2016, 424, "Prompt blocked due to security configurations")),
        (424, gateway_error(2017, 424, "Response blocked due to security configurations")),
        (424, b""),
        (400, gateway_error(2016, 400, "Prompt blocked due to security configurations")),
    ],
)
def test_guardrails_blocked(status: int, body: bytes) -> None:
    failure = classify(status, {}, body)
    assert failure.kind is Kind.BLOCKED
    assert not failure.retryable


def test_gateway_error_body_fields() -> None:
    failure = classify(424, {}, gateway_error(2016, 424, "Prompt blocked due to security configurations"))
    assert failure.reason == "2016"
    assert failure.message == "Prompt blocked due to security configurations"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, gateway_error(2003, 429, "Rate limited"), Kind.RATE_LIMITED),
        (429, gateway_error(2041, 429, "Spend limit exceeded"), Kind.RATE_LIMITED),
        (500, gateway_error(2002, 500, "Internal server error"), Kind.RETRYABLE),
        (503, gateway_error(7013, 503, "Guardrails scanner unavailable"), Kind.RETRYABLE),
        (402, gateway_error(2021, 402, "Insufficient credits"), Kind.FATAL),
        (404, b'{"success":false,"errors":[{"code":7000,"message":"No route for that URI"}]}', Kind.FATAL),
        (413, b"", Kind.TOO_LARGE),
    ],
)
def test_gateway_kinds(status: int, body: bytes, kind: Kind) -> None:
    assert classify(status, {}, body).kind is kind


def test_cloudflare_errors_list_shape() -> None:
    failure = classify(404, {}, b'{"success":false,"errors":[{"code":7000,"message":"No route for that URI"}]}')
    assert failure.reason == "7000"
    assert failure.message == "No route for that URI"


def test_invalid_argument_is_invalid_request() -> None:
    body = google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
    failure = classify(400, {}, body)
    assert failure.kind is Kind.INVALID_REQUEST
    assert failure.message == "Request contains an invalid argument."


@pytest.mark.parametrize(
    "body",
    [
        google_error(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
        b"",
        b"Bad Request",
    ],
)
def test_other_400_is_fatal(body: bytes) -> None:
    assert classify(400, {}, body).kind is Kind.FATAL


def test_stream_error_wrapped_in_list() -> None:
    body = b"[" + google_error(400, "INVALID_ARGUMENT", "bad") + b"]"
    failure = classify(400, {}, body)
    assert failure.kind is Kind.INVALID_REQUEST and failure.message == "bad"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>502 Bad Gateway</body></html>",
        b"\xff\xfe\x00",
        b"null",
        b"[]",
        b"42",
        b'"x"',
        b"{",
        b'{"error": "x"}',
    ],
)
def test_non_json_or_odd_bodies(body: bytes) -> None:
    failure = classify(502, {}, body)
    assert failure.kind is Kind.RETRYABLE
    assert failure.message == "upstream answered HTTP 502"
    assert failure.reason is None


def test_message_is_scrubbed_of_known_secrets() -> None:
    body = google_error(400, "INVALID_ARGUMENT", f"bad key {FAKE_KEY} and token test-gateway-token-1")
    failure = classify(400, {}, body, secrets=(FAKE_KEY, "test-gateway-token-1", ""))
    assert FAKE_KEY not in failure.message and "test-gateway-token-1" not in failure.message
    assert "[redacted]" in failure.message


# --- scrub ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("key AIzaSyA-fake_0123456789abcdefghijkl was rejected", "AIzaSyA-fake_0123456789abcdefghijkl"),
        ("Authorization: Bearer test.token-value_1", "test.token-value_1"),
        ("authorization: bearer   xyz", "xyz"),
        ("token abcdefghijklmnopqrstuvw1234 leaked", "abcdefghijklmnopqrstuvw1234"),
        ("id 0123456789-abcdef_0123456789ABCDEF end", "0123456789-abcdef_0123456789ABCDEF"),
    ],
)
def test_scrub_key_shaped(text: str, gone: str) -> None:
    out = scrub(text)
    assert gone not in out
    assert "[redacted]" in out


def test_scrub_known_secret_anywhere() -> None:
    assert scrub("x test-gemini-key-1y", ("test-gemini-key-1",)) == "x [redacted]y"


def test_scrub_ignores_empty_secret() -> None:
    assert scrub("hello world", ("",)) == "hello world"


@pytest.mark.parametrize(
    "text",
    [
        "API key not valid. Please pass a valid API key.",
        "The model is overloaded. Please try again later.",
        "gemini-2.5-flash is not found for API version v1beta",
        "abcdefghijklmnopqrstuvwxyzabcdef",  # long but no digit: a word, not a token
        "12345678901234567890123456789",  # long but no letter
    ],
)
def test_scrub_keeps_ordinary_text(text: str) -> None:
    assert scrub(text) == text


def test_scrub_collapses_whitespace_and_truncates() -> None:
    assert scrub("a \n\t b") == "a b"
    long = "word " * 200
    out = scrub(long)
    assert len(out) == 300
    assert out.endswith("...")
    assert scrub("w" * 300) == "w" * 300


def test_scrub_redacts_before_truncating() -> None:
    secret = "test-secret-value-xyz"
    text = "x" * 290 + " " + secret
    out = scrub(text, (secret,))
    assert "test-secret" not in out


# --- hostile error bodies and what scrubbing must still catch (docs/API.md, "The gateway is untrusted too") -------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 60_000,  # deeper than any parser recurses
        b'{"error": {"message": ' + b"[" * 30_000 + b"]" * 30_000 + b"}}",
        b'{"error": {"code": 400, "message": {"nested": true}, "details": [{"@type": [[[]]], "reason": {}}]}}',
        b'{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": [1]}]}}',
        b'{"name": "AiGatewayError", "internalCode": {"a": [1]}, "message": ["x"]}',
        b'{"errors": [{"message": null, "code": [1]}]}',
        '{"error": {"message": "\ud800"}}'.encode("utf-8", "surrogatepass"),
        b"\xff\xfe{",
    ],
)
def test_no_body_makes_classify_raise(body: bytes) -> None:
    """Before: a deeply nested body raised RecursionError, which became a 500."""
    failure = classify(500, {}, body)
    assert failure.kind is Kind.RETRYABLE and failure.message


def test_a_nested_message_is_not_stringified() -> None:
    failure = classify(400, {}, b'{"error": {"message": {"key": "AIzaSyFAKEtestkeyabcdefghijklmnopqrstu"}}}')
    assert "AIza" not in failure.message and failure.message == "upstream answered HTTP 400"


@pytest.mark.parametrize(
    "key",
    [
        "AQ.AbcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP-_fakeexample",  # the new format, no digit at all
        "AQ.Ab8RN6LVcXyz.fakeexample-abcdefghijk.lmnop",  # fragments split by dots
        "AIzaSyFakeExampleKeyWithoutAnyDigitsAtAll",
        "AIzaSyA.fake_0123456789.abcdefghijkl",
    ],
)
def test_scrub_catches_google_key_formats_without_a_digit_or_split_by_dots(key: str) -> None:
    out = scrub(f"API key {key} is invalid.")
    assert "[redacted]" in out
    for fragment in key.split("."):
        if len(fragment) > 3:
            assert fragment not in out


@pytest.mark.parametrize("pad", [" ", "\n", "\t \r\n"])
def test_scrub_scans_what_it_outputs_whatever_the_padding(pad: str) -> None:
    """Before: padding moved a key across the 4,096-character scan window; collapsing brought it back."""
    key = "AIzaSyA-fake_0123456789abcdefghijklmnop"
    for at in range(4060, 4100):
        out = scrub("x" + pad * (at - 1) + key + " rest")
        assert key[:8] not in out and key[-8:] not in out, at
    out = scrub("x" * 290 + " " + key)
    assert "AIza" not in out and "0123" not in out


def test_scrub_is_linear_in_its_text() -> None:
    for text in (" " * 4_000_000 + "a", "a" * 4_000_000, "a-" * 2_000_000, "AIza." * 800_000, "a " * 2_000_000):
        started = time.process_time()
        assert len(scrub(text, ("test-secret",))) <= 300
        assert time.process_time() - started < 0.5, text[:10]
