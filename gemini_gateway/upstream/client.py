"""The AI Gateway client: URL, credentials, retries, one deadline.

Any Google AI Studio path behind the gateway (`models/{model}:generateContent`,
`interactions/{id}`), any method, read whole as JSON (`request`) or opened as
a stream (`open_stream`). httpx's types over the function's own HTTP/1.1 pool
(`transport.py`): httpx's own pool (httpcore) stalls at hundreds of
concurrent calls (`bench/client_transports.py` measures it). Credentials
(`credentials.py`), the meaning of a failure (`failures.py`) and stream
decoding (`stream.py`) live beside it; this module is the retry loop that
ties them together.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from .. import __version__, tracing
from ..errors import (
    ApiError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from ..secret_store import SecretStore
from ..settings import Settings
from .credentials import Credentials, UpstreamCredentials
from .failures import Failure, Kind, classify
from .metadata import gateway_header
from .stream import UpstreamStream, read_capped, writable
from .transport import Pool

__all__ = ["GatewayClient", "UpstreamAnswer", "backoff_delay", "make_transport", "model_path"]

_MAX_ERROR_BODY = 64 * 1024
_MAX_ANSWER_BODY = 32 * 1024 * 1024  # a JSON answer read whole (docs/API.md, "The gateway is untrusted too")
_BACKOFF_BASE = 0.5
_BACKOFF_CAP = 8.0
_CONNECT_TIMEOUT = 10.0
_POOL_SIZE = 1000
_TIMEOUTS = {"timeout": {"connect": _CONNECT_TIMEOUT, "read": None, "write": None, "pool": None}}
_USER_AGENT = f"gemini-gateway-function/{__version__}"
_MAX_CACHED_URLS = 1024


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    """A 2xx answer (or a gateway guardrail block) with what the gateway said about it."""

    body: Any
    cache_status: str | None
    log_id: str | None
    attempts: int
    upstream_ms: float
    blocked: Failure | None = None


def make_transport() -> httpx.AsyncBaseTransport:
    """The process-wide upstream transport. Must be called inside the running loop.

    Gateway calls go straight to the transport as `httpx.Request`s: `AsyncClient.send` on top (cookies,
    redirects, auth, hooks: unwanted or unused here) adds ~150 µs per call, a quarter of a request's
    CPU (measured 2026-12-06). The rare key-set fetches use an `AsyncClient` over the same transport,
    where its conveniences cost nothing that matters. No cookies are kept: a gateway cookie must never
    travel from one caller's request to another's. `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` /
    `NO_PROXY` are read here, once (docs/API.md, "The gateway is untrusted too").
    """
    import os

    from .proxies import Proxies

    return Pool(max_connections=_POOL_SIZE, keepalive_expiry=30.0, proxies=Proxies(os.environ))


def backoff_delay(attempt: int, asked: float | None, rng: random.Random | None = None) -> float:
    """Jittered exponential backoff after `attempt` (1-based), never shorter than asked."""
    ceiling = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1))
    jittered: float = ceiling / 2 + (rng or random).random() * ceiling / 2
    return max(jittered, asked or 0.0)


def model_path(model: str, action: str) -> str:
    """`models/{model}:{action}` (generateContent, streamGenerateContent, countTokens)."""
    return f"models/{model}:{action}"


class GatewayClient:
    def __init__(
        self,
        settings: Settings,
        secrets: SecretStore,
        transport: httpx.AsyncBaseTransport,
        credentials: UpstreamCredentials | None = None,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._credentials = credentials or UpstreamCredentials(settings, secrets)
        self._urls: dict[str, httpx.URL] = {}

    def url(self, path: str, version: str | None = None) -> httpx.URL:
        """The gateway URL of a Google AI Studio path (after `.../google-ai-studio/{version}/`).

        `version` is GEMINI_API_VERSION unless the route forwards the caller's own (Interactions).

        Parsed once per path: parsing is ~30-45 µs, near a tenth of a request's own CPU, and the paths of
        generating calls are few (one per model and action); interaction ids make many, hence the bound.
        """
        key = f"{version}/{path}" if version else path
        url = self._urls.get(key)
        if url is None:
            if len(self._urls) >= _MAX_CACHED_URLS:
                self._urls.clear()
            base = self._settings.upstream_base
            if version:
                base = base.rsplit("/", 1)[0] + f"/{version}"
            url = self._urls[key] = httpx.URL(f"{base}/{path}")
        return url

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str],
        started: float,
        version: str | None = None,
    ) -> UpstreamAnswer:
        """`method path` with retries, the JSON answer read whole, inside UPSTREAM_TIMEOUT_SECONDS from `started`."""

        async def whole_body(response: httpx.Response, sent: Credentials) -> Any:
            try:
                content = await read_capped(response, _MAX_ANSWER_BODY)
            finally:
                await response.aclose()
            try:
                value = orjson.loads(content)
            except ValueError:
                raise UpstreamError("the upstream answer was not valid JSON") from None
            if not writable(value, content):
                raise UpstreamError("the upstream answer was nested too deeply to pass on")
            return value

        return await self._call(method, self.url(path, version), body, headers, started, whole_body)

    async def open_stream(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str],
        started: float,
        version: str | None = None,
    ) -> tuple[UpstreamAnswer, UpstreamStream | None]:
        """Open a server-sent-events answer and read up to its first record, with retries.

        Everything up to the first record can still fail over to a retry or to a
        plain JSON error; after it, the caller owns the stream (no retries).
        """

        async def first_record(response: httpx.Response, sent: Credentials) -> UpstreamStream:
            stream = UpstreamStream(response, self._settings.upstream_timeout_seconds, sent.values())
            try:
                await stream.prime()
            except BaseException:
                await stream.aclose()
                raise
            return stream

        answer = await self._call(method, self.url(path, version), body, headers, started, first_record)
        stream = answer.body if isinstance(answer.body, UpstreamStream) else None
        return answer, stream

    async def _call(
        self,
        method: str,
        url: httpx.URL,
        body: bytes | None,
        headers: Mapping[str, str],
        started: float,
        consume: Callable[[httpx.Response, Credentials], Awaitable[Any]],
    ) -> UpstreamAnswer:
        """The retry loop: credentials, deadline, backoff, key rotation."""
        settings = self._settings
        calls = 0
        tries = 0  # counted against UPSTREAM_MAX_ATTEMPTS; the key-rotation retry is not
        rotated = False
        upstream_time = 0.0
        loop = asyncio.get_running_loop()
        loop_deadline = loop.time() + (started + settings.upstream_timeout_seconds - time.perf_counter())
        failure: Failure | None = None
        while True:
            calls += 1
            tries += 1
            credentials = await self._credentials.current()
            request_headers = {
                **headers,
                **({"content-type": "application/json"} if body is not None else {}),
                "user-agent": _USER_AGENT,
                "cf-aig-no-wholesale": "true",
                **credentials.headers(),
            }
            span = tracing.upstream_attempt(method, url, calls, failure)  # a no-op unless TRACES is on
            sent = time.perf_counter()
            failure = None
            content = b""
            try:
                async with asyncio.timeout_at(loop_deadline):
                    request = httpx.Request(method, url, content=body, headers=request_headers, extensions=_TIMEOUTS)
                    response = await self._transport.handle_async_request(request)
                    ok = 200 <= response.status_code < 300
                    if ok:
                        outcome = await consume(response, credentials)
                    else:
                        try:
                            content = await read_capped(response, _MAX_ERROR_BODY)
                        finally:
                            await response.aclose()
            except TimeoutError:
                timeout = UpstreamTimeout(settings.upstream_timeout_seconds)
                timeout.log_fields.update(
                    attempts=calls, upstream_ms=(time.perf_counter() - sent + upstream_time) * 1000
                )
                span.settle(timeout)
                raise timeout from None
            except httpx.HTTPError as exc:
                failure = Failure(Kind.RETRYABLE, 0, f"could not reach the AI Gateway ({type(exc).__name__})")
            except BaseException as exc:  # an unusable answer, the caller gone: the attempt's span says so
                span.settle(exc)
                raise
            finally:
                upstream_time += time.perf_counter() - sent
            span.settle(failure or response)
            if failure is None:
                gateway = (gateway_header(response, "cf-aig-cache-status"), gateway_header(response, "cf-aig-log-id"))
                if ok:
                    return UpstreamAnswer(outcome, *gateway, calls, upstream_time * 1000)
                failure = classify(response.status_code, response.headers, content, credentials.values())
                if failure.kind is Kind.BLOCKED:
                    return UpstreamAnswer(None, *gateway, calls, upstream_time * 1000, blocked=failure)
            if failure.kind is Kind.KEY_REJECTED and not rotated:
                rotated = True
                if await self._credentials.rejected(credentials):
                    tries -= 1
                    continue
            if failure.retryable and tries < settings.upstream_max_attempts:
                wait = backoff_delay(tries, failure.retry_after)
                if loop.time() + wait < loop_deadline:
                    await asyncio.sleep(wait)
                    continue
            error = _final_error(failure, calls)
            error.log_fields.update(_facts(failure), attempts=calls, upstream_ms=upstream_time * 1000)
            raise error


# What an operator should do about a key the upstream refused (Google's ErrorInfo reasons).
KEY_FIXES = {
    "API_KEY_INVALID": "the Gemini key is wrong or deleted: add a valid key as a new version of its secret",
    "ACCESS_TOKEN_TYPE_UNSUPPORTED": (
        "Google could not validate the AQ. auth key (mistyped, truncated, deleted, or its service account "
        "disabled): create a new auth key in AI Studio and add it as a new secret version"
    ),
    "API_KEY_SERVICE_BLOCKED": (
        "the key is restricted to other APIs: allow the Generative Language API for it, or create an AI Studio "
        "auth key (AQ.), which is restricted to it"
    ),
}


def _facts(failure: Failure) -> dict[str, Any]:
    """The upstream's own words for the access line: status, reason and, for a refused key, the likely fix."""
    facts: dict[str, Any] = {"upstream_status": failure.status}
    if failure.reason:
        facts["upstream_reason"] = failure.reason
        if failure.reason in KEY_FIXES:
            facts["upstream_fix"] = KEY_FIXES[failure.reason]
    return facts


def _final_error(failure: Failure, calls: int) -> ApiError:
    """The caller-facing error once retries are over."""
    attempts = f" after {calls} attempt{'s' if calls != 1 else ''}"
    if failure.kind is Kind.RATE_LIMITED:
        return RateLimited(f"the upstream is rate limiting: {failure.message}", retry_after=failure.retry_after or 1.0)
    if failure.kind is Kind.INVALID_REQUEST:
        return InvalidRequest(f"the model refused the request: {failure.message}")
    if failure.kind is Kind.NOT_FOUND:
        return NotFound(f"the upstream has no such resource: {failure.message}")
    if failure.kind is Kind.TOO_LARGE:
        return PayloadTooLarge.with_message("the upstream refused the request as too large")
    if failure.kind is Kind.KEY_REJECTED:
        return UpstreamError("the upstream rejected the function's credentials (Gemini API key or gateway token)")
    if failure.kind is Kind.RETRYABLE:
        where = f"HTTP {failure.status}" if failure.status else "connection failed"
        return UpstreamError(f"the upstream failed{attempts} ({where}): {failure.message}", retryable=True)
    return UpstreamError(f"the upstream refused the call (HTTP {failure.status}): {failure.message}")
