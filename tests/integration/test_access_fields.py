"""The monitoring Terraform names only what the function writes (docs/OPERATING.md, "The metrics").

infra/monitoring.tf builds log-based metrics from the access line: its filters
and label/value extractors name `jsonPayload.<field>`. Here the function runs
(functions-framework, emulators on loopback), every route and outcome is
driven once (200 JSON and stream on each route, 400, 401, 404, 405, 413, 429
from a rate limit and from a daily budget, 502 from a refused Gemini key, 504),
the access lines are collected, and:

- every jsonPayload field the Terraform names appears in at least one line;
- every metric's filter, evaluated on those lines, counts what it is meant to
  (tokens on answers, refusals by limit, key rejections by reason), with the
  labels the dashboard groups by.

Fields the function is to add (`upstream_reason`) are expected failures,
naming the field, until it writes them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.infra.log_metrics import LogMetric, log_metrics, named_payload_fields

from .conftest import CLIENT_KEYS, Function, Gateway

KEY = CLIENT_KEYS["ios-app"]
MODEL = "gemini-2.5-flash"
NAMED_FIELDS = sorted(named_payload_fields())
METRICS = log_metrics()
KEY_REJECTIONS = {
    # Google's answers when it refuses the key itself (reason in google.rpc.ErrorInfo).
    "API_KEY_INVALID": (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
    "API_KEY_SERVICE_BLOCKED": (403, "PERMISSION_DENIED", "Requests to this API are blocked."),
    "ACCESS_TOKEN_TYPE_UNSUPPORTED": (401, "UNAUTHENTICATED", "API keys are not supported by this API."),
}


def _google_refusal(reason: str) -> dict[str, Any]:
    status, name, message = KEY_REJECTIONS[reason]
    return {
        "status": status,
        "body": {
            "error": {
                "code": status,
                "message": message,
                "status": name,
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": reason,
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            }
        },
    }


class Driver:
    """Sends one request per outcome, each with its own X-Request-Id, and keeps its access line."""

    def __init__(self) -> None:
        self.lines: dict[str, dict[str, Any]] = {}
        self._run = uuid.uuid4().hex[:8]

    def send(
        self,
        outcome: str,
        fn: Function,
        expected: int,
        method: str = "POST",
        path: str = "/",
        body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        request_id = f"access-fields-{self._run}-{outcome}"
        sent = {"X-Request-Id": request_id, **(headers or {})}
        if body is not None:
            content = json.dumps(body).encode()
        if content is not None:
            sent.setdefault("Content-Type", "application/json")
        response = fn.http.request(method, path, headers=sent, content=content)
        assert response.status_code == expected, (outcome, response.status_code, response.text[:500])
        line = fn.access_line(request_id)
        assert line is not None, f"{outcome}: no access line"
        assert line["status"] == expected
        self.lines[outcome] = line
        return response


def _bearer(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _gemini_path(action: str) -> str:
    return f"/v1beta/models/{MODEL}:{action}"


GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "What is Cloudflare?"}]}]}
OPENAI_BODY = {"model": MODEL, "messages": [{"role": "user", "content": "What is Cloudflare?"}]}


@pytest.fixture(scope="module")
def access_lines(fn: Function, start_function: Any, gateway: Gateway) -> Iterator[dict[str, dict[str, Any]]]:
    """Every route and outcome once: outcome name -> the access line (the jsonPayload Cloud Logging would store)."""
    gateway.reset()
    d = Driver()
    # 200: JSON and stream on every route.
    d.send("generate_json", fn, 200, body={"prompt": "What is Cloudflare?"}, headers=_bearer())
    d.send("generate_stream", fn, 200, body={"prompt": "What is Cloudflare?", "stream": True}, headers=_bearer())
    d.send("openai_json", fn, 200, path="/v1/chat/completions", body=OPENAI_BODY, headers=_bearer())
    d.send(
        "openai_stream",
        fn,
        200,
        path="/v1/chat/completions",
        body={**OPENAI_BODY, "stream": True},
        headers=_bearer(),
    )
    gemini_key = {"x-goog-api-key": KEY}
    d.send("gemini_json", fn, 200, path=_gemini_path("generateContent"), body=GEMINI_BODY, headers=gemini_key)
    d.send(
        "gemini_stream",
        fn,
        200,
        path=_gemini_path("streamGenerateContent") + "?alt=sse",
        body=GEMINI_BODY,
        headers=gemini_key,
    )
    d.send("gemini_count", fn, 200, path=_gemini_path("countTokens"), body=GEMINI_BODY, headers=gemini_key)
    # Refused by the function itself.
    d.send("invalid_request", fn, 400, body={"prompt": 42}, headers=_bearer())
    d.send("unauthenticated", fn, 401, body={"prompt": "hi"})
    d.send("not_found", fn, 404, path="/no/such/route", body={"prompt": "hi"}, headers=_bearer())
    d.send("method_not_allowed", fn, 405, method="GET", headers=_bearer())
    small = start_function(MAX_REQUEST_BYTES="2048")
    d.send("too_large", small, 413, body={"prompt": "x" * 5000}, headers=_bearer())
    limited = start_function(RATE_LIMIT_PER_MINUTE="1", RATE_LIMIT_BURST="1", GOOGLE_CLOUD_PROJECT="access-fields")
    d.send("rate_allowed", limited, 200, body={"prompt": "hi"}, headers=_bearer())
    d.send("rate_limited", limited, 429, body={"prompt": "hi"}, headers=_bearer())
    budgeted = start_function(DAILY_TOKEN_BUDGET="3", GOOGLE_CLOUD_PROJECT="access-fields")  # one short answer
    d.send("budget_spent", budgeted, 200, body={"prompt": "hi"}, headers=_bearer())
    d.send("budget_refused", budgeted, 429, body={"prompt": "hi"}, headers=_bearer())
    # The upstream refuses the function's key: 502.
    for reason in KEY_REJECTIONS:
        gateway.reset()
        gateway.faults(_google_refusal(reason))
        d.send(f"key_rejected_{reason}", fn, 502, body={"prompt": "hi"}, headers=_bearer())
    gateway.reset()
    # The upstream does not answer in time: 504.
    fast = start_function(UPSTREAM_TIMEOUT_SECONDS="1")
    gateway.faults({"delay": 5})
    d.send("upstream_timeout", fast, 504, body={"prompt": "hi"}, headers=_bearer())
    gateway.reset()
    yield d.lines


def test_the_terraform_names_fields():
    assert {"status", "route", "caller", "model", "total_tokens", "upstream_ms", "error_type"} <= set(NAMED_FIELDS)


@pytest.mark.parametrize("field", NAMED_FIELDS)
def test_every_named_field_is_written(access_lines: dict[str, dict[str, Any]], field: str) -> None:
    seen = [outcome for outcome, line in access_lines.items() if line.get(field) is not None]
    assert seen, f"no access line has `{field}`, which infra/*.tf names as jsonPayload.{field}"


def test_every_line_is_counted_as_a_request(access_lines: dict[str, dict[str, Any]]) -> None:
    requests = METRICS["requests"]
    for outcome, line in access_lines.items():
        assert requests.matches(line), outcome
    labels = requests.labels(access_lines["generate_json"])
    assert labels == {"route": "generate", "status": "200", "caller_kind": "ios-app", "error_type": None}
    assert requests.labels(access_lines["openai_stream"])["route"] == "openai"
    assert requests.labels(access_lines["gemini_json"])["route"] == "gemini"
    assert requests.labels(access_lines["upstream_timeout"])["error_type"] == "upstream_timeout"
    assert requests.labels(access_lines["not_found"])["route"] is None


def test_tokens_are_counted_on_answers_with_their_model(access_lines: dict[str, dict[str, Any]]) -> None:
    tokens = METRICS["tokens"]
    for outcome in ("generate_json", "generate_stream", "openai_json", "openai_stream", "gemini_json", "gemini_stream"):
        line = access_lines[outcome]
        assert tokens.matches(line), outcome
        assert tokens.labels(line) == {"caller_kind": "ios-app", "model": MODEL, "route": line["route"]}, outcome
        assert int(line["total_tokens"]) > 0
    for outcome in ("invalid_request", "unauthenticated", "rate_limited", "key_rejected_API_KEY_INVALID"):
        assert not tokens.matches(access_lines[outcome]), outcome


def test_upstream_latency_is_measured_on_upstream_calls_only(access_lines: dict[str, dict[str, Any]]) -> None:
    latency = METRICS["upstream_latency"]
    for outcome in ("generate_json", "generate_stream", "openai_json", "gemini_json", "gemini_count"):
        assert latency.matches(access_lines[outcome]), outcome
    for outcome in ("invalid_request", "unauthenticated", "not_found", "rate_limited", "budget_refused"):
        assert not latency.matches(access_lines[outcome]), outcome
    assert latency.labels(access_lines["generate_stream"])["stream"] == "true"
    assert latency.labels(access_lines["generate_json"])["stream"] is None


@pytest.mark.parametrize("outcome", ["upstream_timeout", "key_rejected_API_KEY_INVALID"])
def test_failed_upstream_calls_count_in_upstream_latency(access_lines: dict[str, dict[str, Any]], outcome: str) -> None:
    """A 504 waited the whole upstream timeout: left out, it would pull the p95 the alert watches down."""
    line = access_lines[outcome]
    assert "upstream_ms" in line and "attempts" in line, line
    assert METRICS["upstream_latency"].matches(line)


@pytest.mark.parametrize(("outcome", "limit"), [("budget_refused", "daily_tokens"), ("rate_limited", "rate")])
def test_refusals_are_split_by_limit(access_lines: dict[str, dict[str, Any]], outcome: str, limit: str) -> None:
    refusals: LogMetric = METRICS["refusals"]
    line = access_lines[outcome]
    assert refusals.matches(line), outcome
    assert refusals.labels(line)["caller_kind"] == "ios-app"
    assert refusals.labels(line)["limit"] == limit
    for other in ("generate_json", "invalid_request", "key_rejected_API_KEY_INVALID"):
        assert not refusals.matches(access_lines[other]), other


@pytest.mark.parametrize("reason", KEY_REJECTIONS)
def test_key_rejections_are_counted_by_reason(access_lines: dict[str, dict[str, Any]], reason: str) -> None:
    rejections = METRICS["key_rejections"]
    line = access_lines[f"key_rejected_{reason}"]
    assert line["error_type"] == "upstream_error"
    assert "upstream_reason" in line, line
    assert rejections.matches(line), line
    assert rejections.labels(line) == {"reason": reason}
    for other in ("generate_json", "upstream_timeout", "invalid_request"):
        assert not rejections.matches(access_lines[other]), other
