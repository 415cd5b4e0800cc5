"""The AI Gateway client: URL, credentials, retries, one deadline.

httpx's API over aiohttp's connection pool (httpx-aiohttp): httpx's own pool
(httpcore) stalls at hundreds of concurrent calls, aiohttp's does not
(`bench/client_transports.py` measures both). One client per process, made in
the running event loop on first use.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from . import __version__
from .errors import (
    ApiError,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from .secret_store import SecretRef, SecretStore
from .settings import Settings
from .sse import SseDecoder
from .upstream_errors import Failure, Kind, classify, scrub

__all__ = ["GatewayClient", "UpstreamAnswer", "UpstreamStream", "backoff_delay", "make_transport"]

_MAX_ERROR_BODY = 64 * 1024
_MAX_ANSWER_BODY = 64 * 1024 * 1024
_BACKOFF_BASE = 0.5
_BACKOFF_CAP = 8.0
_CONNECT_TIMEOUT = 10.0
_POOL_SIZE = 1000
_TIMEOUTS = {"timeout": {"connect": _CONNECT_TIMEOUT, "read": None, "write": None, "pool": None}}
_USER_AGENT = f"gemini-gateway-function/{__version__}"


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

    Requests go straight to the transport as `httpx.Request`s: the client
    layer on top (cookie persistence, redirects, auth, hooks) is either unwanted
    here or unused, and measured at a fifth of the function's CPU per call.
    """

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=_POOL_SIZE, keepalive_timeout=30)
        # No cookie jar: a gateway cookie must never travel from one caller's request to another's.
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(client=session)


def backoff_delay(attempt: int, asked: float | None, rng: random.Random | None = None) -> float:
    """Jittered exponential backoff after `attempt` (1-based), never shorter than asked."""
    ceiling = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1))
    jittered: float = ceiling / 2 + (rng or random).random() * ceiling / 2
    return max(jittered, asked or 0.0)


class GatewayClient:
    def __init__(self, settings: Settings, secrets: SecretStore, transport: httpx.AsyncBaseTransport) -> None:
        self._settings = settings
        self._secrets = secrets
        self._transport = transport
        self._urls: dict[str, httpx.URL] = {}
        self._key = SecretRef(
            "Gemini API key",
            settings.gemini_api_key_secret,
            settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None,
        )
        self._token: SecretRef | None = None
        if settings.ai_gateway_token_secret or settings.ai_gateway_token:
            self._token = SecretRef(
                "AI Gateway token",
                settings.ai_gateway_token_secret,
                settings.ai_gateway_token.get_secret_value() if settings.ai_gateway_token else None,
            )

    def url(self, model: str, method: str = "generateContent") -> str:
        return f"{self._settings.upstream_base}/models/{model}:{method}"

    def _parsed_url(self, url: str) -> httpx.URL:
        """Parsed once per model and method (the allow-list keeps this small)."""
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    async def _credentials(self) -> tuple[str, str | None]:
        key = await self._secrets.get(self._key)
        token = await self._secrets.get(self._token) if self._token else None
        return key, token

    async def _refresh_credentials(self, key: str, token: str | None) -> bool:
        changed = await self._secrets.refresh(self._key, key)
        if self._token is not None and token is not None:
            changed = await self._secrets.refresh(self._token, token) or changed
        return changed

    async def generate(self, model: str, body: bytes, headers: Mapping[str, str], started: float) -> UpstreamAnswer:
        """POST generateContent with retries, all inside UPSTREAM_TIMEOUT_SECONDS from `started`."""

        async def whole_body(response: httpx.Response) -> Any:
            try:
                content = await _read_capped(response, _MAX_ANSWER_BODY)
            finally:
                await response.aclose()
            try:
                return json.loads(content)
            except ValueError:
                raise UpstreamError("the upstream answer was not valid JSON") from None

        return await self._call(self.url(model), body, headers, started, whole_body)

    async def open_stream(
        self, model: str, body: bytes, headers: Mapping[str, str], started: float
    ) -> tuple[UpstreamAnswer, UpstreamStream | None]:
        """Open `:streamGenerateContent?alt=sse` and read up to its first record, with retries.

        Everything up to the first record can still fail over to a retry or to a
        plain JSON error; after it, the caller owns the stream (no retries).
        """

        async def first_record(response: httpx.Response) -> UpstreamStream:
            stream = UpstreamStream(response, self._settings.upstream_timeout_seconds)
            try:
                await stream.prime()
            except BaseException:
                await stream.aclose()
                raise
            return stream

        answer = await self._call(
            self.url(model, "streamGenerateContent") + "?alt=sse", body, headers, started, first_record
        )
        stream = answer.body if isinstance(answer.body, UpstreamStream) else None
        return answer, stream

    async def _call(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        started: float,
        consume: Callable[[httpx.Response], Awaitable[Any]],
    ) -> UpstreamAnswer:
        """The retry loop: credentials, deadline, backoff, key rotation."""
        settings = self._settings
        calls = 0
        tries = 0  # counted against UPSTREAM_MAX_ATTEMPTS; the key-rotation retry is not
        rotated = False
        upstream_time = 0.0
        loop = asyncio.get_running_loop()
        loop_deadline = loop.time() + (started + settings.upstream_timeout_seconds - time.perf_counter())
        target = self._parsed_url(url)
        while True:
            calls += 1
            tries += 1
            key, token = await self._credentials()
            request_headers = {
                **headers,
                "content-type": "application/json",
                "user-agent": _USER_AGENT,
                "x-goog-api-key": key,
                "cf-aig-no-wholesale": "true",
            }
            if token is not None:
                request_headers["cf-aig-authorization"] = f"Bearer {token}"
            sent = time.perf_counter()
            failure: Failure | None = None
            content = b""
            try:
                async with asyncio.timeout_at(loop_deadline):
                    request = httpx.Request("POST", target, content=body, headers=request_headers, extensions=_TIMEOUTS)
                    response = await self._transport.handle_async_request(request)
                    ok = 200 <= response.status_code < 300
                    if ok:
                        outcome = await consume(response)
                    else:
                        try:
                            content = await _read_capped(response, _MAX_ERROR_BODY)
                        finally:
                            await response.aclose()
            except TimeoutError:
                raise UpstreamTimeout(settings.upstream_timeout_seconds) from None
            except (httpx.HTTPError, aiohttp.ClientError) as exc:
                failure = Failure(Kind.RETRYABLE, 0, f"could not reach the AI Gateway ({type(exc).__name__})")
            finally:
                upstream_time += time.perf_counter() - sent
            if failure is None:
                gateway = (response.headers.get("cf-aig-cache-status"), response.headers.get("cf-aig-log-id"))
                if ok:
                    return UpstreamAnswer(outcome, *gateway, calls, upstream_time * 1000)
                failure = classify(response.status_code, response.headers, content, (key, token or ""))
                if failure.kind is Kind.BLOCKED:
                    return UpstreamAnswer(None, *gateway, calls, upstream_time * 1000, blocked=failure)
            if failure.kind is Kind.KEY_REJECTED and not rotated:
                rotated = True
                if await self._refresh_credentials(key, token):
                    tries -= 1
                    continue
            if failure.retryable and tries < settings.upstream_max_attempts:
                wait = backoff_delay(tries, failure.retry_after)
                if loop.time() + wait < loop_deadline:
                    await asyncio.sleep(wait)
                    continue
            raise _final_error(failure, calls)


class UpstreamStream:
    """Gemini's SSE records as parsed JSON, one at a time, as they arrive.

    After the first record, each wait for the next one is bounded by
    UPSTREAM_TIMEOUT_SECONDS (a stalled stream ends in upstream_timeout).
    """

    def __init__(self, response: httpx.Response, idle_timeout: float) -> None:
        self._response = response
        self._chunks = response.aiter_bytes()
        self._decoder = SseDecoder()
        self._ready: list[tuple[str, str]] = []
        self._idle = idle_timeout
        self._ended = False

    async def prime(self) -> None:
        """Read until the first record (or the end), so early failures can be retried."""
        while not self._ready and not self._ended:
            await self._pull()

    async def _pull(self) -> None:
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self._ended = True
            self._ready.extend(self._decoder.close())
            return
        self._ready.extend(self._decoder.feed(chunk))

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._records()

    async def _records(self) -> AsyncIterator[Any]:
        while True:
            while self._ready:
                kind, text = self._ready.pop(0)
                try:
                    data = json.loads(text)
                except ValueError:
                    raise UpstreamError("the upstream stream sent a record that is not JSON") from None
                if kind == "raw" or (isinstance(data, dict) and "error" in data and "candidates" not in data):
                    raise _stream_error(data)
                yield data
            if self._ended:
                return
            try:
                async with asyncio.timeout(self._idle):
                    await self._pull()
            except TimeoutError:
                raise UpstreamTimeout(self._idle) from None
            except (httpx.HTTPError, aiohttp.ClientError) as exc:
                raise UpstreamError(f"the upstream stream broke off ({type(exc).__name__})", retryable=True) from None

    async def aclose(self) -> None:
        await self._response.aclose()


def _stream_error(data: Any) -> ApiError:
    error = data.get("error") if isinstance(data, dict) else None
    status = error.get("code") if isinstance(error, dict) else None
    message = scrub(str(error.get("message", ""))) if isinstance(error, dict) else ""
    retryable = status in (429, 500, 502, 503, 504)
    return UpstreamError(f"the upstream stream failed: {message or 'error record'}", retryable=retryable)


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise UpstreamError("the upstream answer was too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _final_error(failure: Failure, calls: int) -> ApiError:
    """The caller-facing error once retries are over."""
    attempts = f" after {calls} attempt{'s' if calls != 1 else ''}"
    if failure.kind is Kind.RATE_LIMITED:
        return RateLimited(f"the upstream is rate limiting: {failure.message}", retry_after=failure.retry_after or 1.0)
    if failure.kind is Kind.INVALID_REQUEST:
        return InvalidRequest(f"the model refused the request: {failure.message}")
    if failure.kind is Kind.TOO_LARGE:
        return PayloadTooLarge.with_message("the upstream refused the request as too large")
    if failure.kind is Kind.KEY_REJECTED:
        return UpstreamError("the upstream rejected the function's credentials (Gemini API key or gateway token)")
    if failure.kind is Kind.RETRYABLE:
        where = f"HTTP {failure.status}" if failure.status else "connection failed"
        return UpstreamError(f"the upstream failed{attempts} ({where}): {failure.message}", retryable=True)
    return UpstreamError(f"the upstream refused the call (HTTP {failure.status}): {failure.message}")
