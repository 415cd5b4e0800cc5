"""The AI Gateway emulator's state and HTTP plumbing, shared by its model routes and its Interactions routes.

Why: `emulators.ai_gateway` (generateContent and friends) and `emulators.interactions` answer under one
gateway prefix with one control API, so they share one state (config, fault queue, recorded requests,
stats, issued thought signatures), one way of tracking a request, and the gateway's headers and error
bodies. They live here, below both, so neither route module imports the other's internals.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import json
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from aiohttp import web

__all__ = [
    "CORRUPTED_SIGNATURE_MESSAGE",
    "INVALID_ARGUMENT_MESSAGE",
    "JSON_CT",
    "MALFORMED_BODY",
    "OVERLOADED_MESSAGE",
    "POLL_SECONDS",
    "PREPARED",
    "RECORD_LIMIT",
    "SSE_CT",
    "STATE_KEY",
    "VERSIONS",
    "Answerer",
    "EmulatorConfig",
    "EmulatorState",
    "Gone",
    "abort",
    "b64decode",
    "dumps",
    "fault_headers",
    "gateway_error_body",
    "gateway_fault",
    "json_response",
    "model_headers",
    "no_route",
    "raw_response",
    "sleep",
    "state_of",
    "tracked",
    "unauthorized",
]

RECORD_LIMIT = 5000
"""Recorded requests kept (oldest dropped) so long benchmarks stay bounded."""

SIGNATURE_LIMIT = 10000
"""Thought signatures remembered (oldest forgotten) so replayed ones validate without unbounded memory."""

POLL_SECONDS = 0.02
"""How often a sleeping request checks whether its client went away."""

JSON_CT = "application/json; charset=UTF-8"
SSE_CT = "text/event-stream"
VERSIONS = ("v1", "v1beta")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DUMMY_SIGNATURES = frozenset({b"skip_thought_signature_validator", b"context_engineering_is_the_way_to_go"})
"""Values Google documents as accepted in place of a real signature (plain or base64)."""

NO_ROUTE_BODY = b'{"success":false,"errors":[{"code":7000,"message":"No route for that URI"}]}'
INVALID_ARGUMENT_MESSAGE = "Request contains an invalid argument."
OVERLOADED_MESSAGE = "The model is overloaded. Please try again later."
CORRUPTED_SIGNATURE_MESSAGE = "Corrupted thought signature."
MALFORMED_BODY = b'{"candidates": [{"content": {"parts": [{"text": "trunc'

_GATEWAY_ERRORS: dict[int, tuple[int, str]] = {
    2002: (500, "Internal server error"),
    2003: (429, "Rate limited"),
    2009: (401, "Unauthorized"),
    2016: (424, "Prompt blocked due to security configurations"),
    2017: (424, "Response blocked due to security configurations"),
    2021: (402, "Insufficient credits"),
    2041: (429, "Spend limit exceeded"),
    7013: (503, "Guardrails scanner unavailable"),
}


def _alive(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


class _DisconnectWatcher:
    """One poller for all sleeping requests.

    Why: a timer per request waking every 20 ms costs most of a core with
    thousands of requests held open in a benchmark; one loop over a dict of
    waiting requests costs a few percent.
    """

    def __init__(self) -> None:
        self._waiting: dict[asyncio.Future[bool], web.BaseRequest] = {}
        self._task: asyncio.Task[None] | None = None

    async def sleep(self, request: web.BaseRequest, seconds: float) -> bool:
        """Sleep without blocking; False as soon as the client has gone away."""
        if seconds <= 0 or not _alive(request):
            return _alive(request)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        handle = loop.call_later(seconds, _resolve, future, True)
        self._waiting[future] = request
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._watch())
        try:
            return await future
        finally:
            handle.cancel()
            self._waiting.pop(future, None)

    async def _watch(self) -> None:
        while self._waiting:
            await asyncio.sleep(POLL_SECONDS)
            for future, request in list(self._waiting.items()):
                if not _alive(request):
                    _resolve(future, False)


# --------------------------------------------------------------------------- state


@dataclass
class EmulatorConfig:
    """Global behaviour that `/__emulator/config` may change at run time."""

    keys: list[str] = field(default_factory=list)
    gateway_token: str | None = None
    delay: float = 0.0
    stream_delay: float = 0.0
    background_delay: float = 0.3
    """Seconds a background interaction (and every agent) stays `in_progress` before it completes."""
    auth_error: str | None = None
    """ACCESS_TOKEN_TYPE_UNSUPPORTED or API_KEY_SERVICE_BLOCKED: every request with a key fails so."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "keys": list(self.keys),
            "gateway_token": self.gateway_token,
            "delay": self.delay,
            "stream_delay": self.stream_delay,
            "background_delay": self.background_delay,
            "auth_error": self.auth_error,
        }


@dataclass
class EmulatorState:
    """Everything mutable; one per app so in-process tests stay isolated."""

    initial: EmulatorConfig = field(default_factory=EmulatorConfig)
    config: EmulatorConfig = field(init=False)
    faults: deque[dict[str, Any]] = field(default_factory=deque)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECORD_LIMIT))
    cache: dict[tuple[str, bytes, str], bytes] = field(default_factory=dict)
    signatures: dict[bytes, None] = field(default_factory=dict)
    interactions: dict[str, Any] = field(default_factory=dict)
    """Stored interactions by id (emulators.interactions), oldest first."""
    watcher: _DisconnectWatcher = field(default_factory=_DisconnectWatcher)
    total: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self.config = copy.deepcopy(self.initial)

    def reset(self) -> None:
        self.config = copy.deepcopy(self.initial)
        self.faults.clear()
        self.requests.clear()
        self.cache.clear()
        self.signatures.clear()
        self.interactions.clear()
        self.total = 0
        self.max_in_flight = self.in_flight

    def issue_signature(self) -> str:
        """A fresh opaque thought signature, remembered so a replay of it validates."""
        raw = secrets.token_bytes(random.randint(64, 200))
        self.signatures[raw] = None
        while len(self.signatures) > SIGNATURE_LIMIT:
            del self.signatures[next(iter(self.signatures))]
        return base64.b64encode(raw).decode()

    def knows_signature(self, value: str) -> bool:
        """True for a signature this emulator issued or one of Google's documented dummy values."""
        raw = b64decode(value)
        return value.encode() in DUMMY_SIGNATURES or raw in DUMMY_SIGNATURES or raw in self.signatures


STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("emulator_state", EmulatorState)


def state_of(app: web.Application) -> EmulatorState:
    """The state behind an app made by create_app."""
    return app[STATE_KEY]


async def sleep(request: web.Request, seconds: float) -> bool:
    """Sleep without blocking; False as soon as the client has gone away."""
    return await request.app[STATE_KEY].watcher.sleep(request, seconds)


# --------------------------------------------------------------------------- wire helpers


def _log_id() -> str:
    """A ULID-looking id (26 Crockford base32 chars, time first), like cf-aig-log-id."""
    ms = int(time.time() * 1000)
    head = "".join(_CROCKFORD[(ms >> (5 * i)) & 31] for i in range(9, -1, -1))
    bits = random.getrandbits(80)
    tail = "".join(_CROCKFORD[(bits >> (5 * i)) & 31] for i in range(16))
    return head + tail


def b64decode(value: str) -> bytes | None:
    """Bytes of a proto `bytes` field as JSON carries it: standard or url-safe base64, padding optional."""
    padded = value + "=" * (-len(value) % 4)
    for altchars in (None, b"-_"):
        with contextlib.suppress(binascii.Error, ValueError):
            return base64.b64decode(padded, altchars=altchars, validate=True)
    return None


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def model_headers(content_type: str = JSON_CT, cache_status: str = "MISS") -> dict[str, str]:
    return {"Content-Type": content_type, "cf-aig-log-id": _log_id(), "cf-aig-cache-status": cache_status}


def gateway_error_body(code: int, status: int | None, message: str | None) -> tuple[int, dict[str, Any]]:
    default_status, default_message = _GATEWAY_ERRORS.get(code, (500, "Gateway error"))
    http = status if status is not None else default_status
    msg = message or default_message
    return http, {
        "success": False,
        "result": [],
        "messages": [],
        "error": [{"code": code, "message": msg}],
        "name": "AiGatewayError",
        "httpCode": http,
        "internalCode": code,
        "message": msg,
    }


def unauthorized() -> web.Response:
    _, body = gateway_error_body(2009, 401, None)
    return web.Response(status=401, body=dumps(body), content_type="application/json")


def json_response(status: int, body: Any, extra: dict[str, str] | None = None) -> web.Response:
    headers = model_headers()
    if extra:
        headers.update(extra)
    return web.Response(status=status, body=dumps(body), headers=headers)


def raw_response(status: int, body: Any, extra: dict[str, str], content_type: str) -> web.Response:
    headers = model_headers(content_type)
    headers.update(extra)
    if isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = dumps(body)
    return web.Response(status=status, body=data, headers=headers)


async def no_route(request: web.Request) -> web.Response:
    return web.Response(status=400, body=NO_ROUTE_BODY, content_type="application/json")


# --------------------------------------------------------------------------- request tracking


PREPARED = "emulator_prepared_response"
"""Request key of a stream already sent, returned as is when the client goes away mid-stream."""


class Gone(Exception):
    """The client went away; stop working on this request."""


def abort(request: web.Request, record: dict[str, Any]) -> NoReturn:
    """Cut the connection, note it as dropped (the `drop` faults), and stop work on the request."""
    if request.transport is not None:
        request.transport.abort()
    record["dropped"] = True
    raise Gone


Answerer = Callable[[EmulatorState, dict[str, Any], bytes, Any], Awaitable[web.StreamResponse]]


async def tracked(request: web.Request, answer: Answerer) -> web.StreamResponse:
    """Record the request, count it in flight, run `answer`, and note how it ended (status, disconnect, drop)."""
    state = request.app[STATE_KEY]
    raw = await request.read()
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    record: dict[str, Any] = {
        "path": request.path,
        "query": dict(request.query),
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "body": body,
        "status": None,
        "disconnected": False,
        "started": time.time(),
        "ended": None,
        "fault": None,
    }
    state.requests.append(record)
    state.total += 1
    state.in_flight += 1
    state.max_in_flight = max(state.max_in_flight, state.in_flight)
    try:
        response = await answer(state, record, raw, body)
        if record["status"] is None and not record["disconnected"]:
            record["status"] = response.status
        return response
    except asyncio.CancelledError:
        record["disconnected"] = True
        raise
    except (Gone, ConnectionResetError):
        if not record.get("dropped"):
            record["disconnected"] = True
        prepared: web.StreamResponse | None = request.get(PREPARED)
        return prepared if prepared is not None else web.Response(status=499)
    finally:
        state.in_flight -= 1
        record["ended"] = time.time()


def fault_headers(fault: dict[str, Any]) -> dict[str, str]:
    """The extra response headers a fault asks for."""
    return {str(k): str(v) for k, v in (fault.get("headers") or {}).items()}


async def gateway_fault(request: web.Request, record: dict[str, Any], fault: dict[str, Any]) -> web.Response | None:
    """The fault parts both APIs apply alike: its delay, a dropped connection, a Cloudflare gateway error."""
    delay = float(fault.get("delay") or 0)
    if delay > 0 and not await sleep(request, delay):
        raise Gone
    if fault.get("drop"):
        abort(request, record)
    if "gateway_error" in fault:
        status, body = gateway_error_body(int(fault["gateway_error"]), fault.get("status"), fault.get("message"))
        return raw_response(status, fault.get("body", body), fault_headers(fault), "application/json")
    return None
