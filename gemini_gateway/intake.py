"""The one way into every route: caller, body, content type, strict parse, model, limits.

Every route calls `admit` once with its `Intake` (its own pydantic model and
how to read the requested model and prompt from it) and gets back the
caller, the parsed request and the resolved model. What protects the
instance and the bill lives here, once, for all routes, in this order:

1. caller checks that need only headers (a caller without credentials costs
   no body read); a signed webhook's body is read, bounded, then checked;
2. the body, bounded by MAX_REQUEST_BYTES and BODY_READ_TIMEOUT_SECONDS;
3. content type, then strict JSON within the structural limits (values,
   nesting, lone surrogates) decided before it becomes Python objects;
4. the route's model (field rules and per-field limits);
5. the model, resolved and allowed;
6. the caller's rate limit: spent only by a request that got this far.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel
from starlette.requests import ClientDisconnect, Request

from .callers import Caller
from .errors import InvalidRequest, RequestTimeout
from .exchange import Exchange
from .payload import check_content_type, check_declared_length, parse_json_body, read_limited, validate
from .responses import ClientGone
from .runtime import Runtime, get_runtime
from .settings import Settings

__all__ = ["Admitted", "Intake", "admit", "resolve_model"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Intake(Generic[M]):
    """What a route tells the intake about itself."""

    route: str  # its name in log lines: "generate", "openai", "gemini"
    schema: type[M]  # the strict model its body is parsed into
    requested_model: Callable[[M, Mapping[str, str]], str | None]  # from the body or the path parameters
    prompt: Callable[[M], str]  # the last user text, for LOG_PAYLOADS


@dataclass(frozen=True)
class Admitted(Generic[M]):
    """A request that passed the intake: who asked, what, of which model."""

    runtime: Runtime
    caller: Caller
    request: M
    model: str


async def admit(intake: Intake[M], request: Request, exchange: Exchange) -> Admitted[M]:
    runtime = get_runtime()
    settings = runtime.settings
    headers = request.headers
    exchange.record_route(intake.route)
    body = _Body(request, settings, exchange)
    caller = await runtime.callers.identify(headers, body.read)
    exchange.record_caller(caller.identity)
    check_content_type(headers.get("content-type"))
    parsed = validate(intake.schema, await parse_json_body(await body.read()))
    model = resolve_model(intake.requested_model(parsed, request.path_params), settings)
    exchange.record_model(model)
    if runtime.limiter is not None:
        await runtime.limiter.check(caller.identity)
    exchange.record_prompt(intake.prompt(parsed))
    return Admitted(runtime, caller, parsed, model)


def resolve_model(requested: str | None, settings: Settings) -> str:
    """The model to call: DEFAULT_MODEL when none is named, else one of ALLOWED_MODELS."""
    if requested is None:
        return settings.default_model
    if requested not in settings.allowed_models:
        raise InvalidRequest.for_field("model", f"must be one of: {', '.join(settings.allowed_models)}")
    return requested


class _Body:
    """The raw body, read once, refused past MAX_REQUEST_BYTES or BODY_READ_TIMEOUT_SECONDS."""

    def __init__(self, request: Request, settings: Settings, exchange: Exchange) -> None:
        self._request = request
        self._settings = settings
        self._exchange = exchange
        self._body: bytes | None = None

    async def read(self) -> bytes:
        if self._body is None:
            settings = self._settings
            check_declared_length(self._request.headers.get("content-length"), settings.max_request_bytes)
            try:
                async with asyncio.timeout(settings.body_read_timeout_seconds):
                    self._body = await read_limited(self._request.stream(), settings.max_request_bytes)
            except TimeoutError:
                raise RequestTimeout(settings.body_read_timeout_seconds) from None
            except ClientDisconnect:
                raise ClientGone() from None
            self._exchange.body_read = True
        return self._body
