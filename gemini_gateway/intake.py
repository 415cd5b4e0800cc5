"""The one way into every route: caller, body, content type, strict parse, model.

Every route calls `admit` once with its `Intake` (its own pydantic model and
how to read the requested model and prompt from it) and gets back the
caller, the parsed request and the resolved model. What protects the
instance and the bill — caller checks, body limits, structural limits,
model policy — therefore lives here, once, for all routes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel
from starlette.requests import ClientDisconnect, Request

from .callers import Caller
from .errors import InvalidRequest
from .exchange import Exchange
from .payload import check_content_type, check_declared_length, parse_json, read_limited, validate
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
    body = await _read_body(request, settings)
    caller = await runtime.admit(headers, body)
    exchange.record_caller(caller.identity)
    check_content_type(headers.get("content-type"))
    parsed = validate(intake.schema, parse_json(body))
    model = resolve_model(intake.requested_model(parsed, request.path_params), settings)
    exchange.record_model(model)
    exchange.record_prompt(intake.prompt(parsed))
    return Admitted(runtime, caller, parsed, model)


def resolve_model(requested: str | None, settings: Settings) -> str:
    """The model to call: DEFAULT_MODEL when none is named, else one of ALLOWED_MODELS."""
    if requested is None:
        return settings.default_model
    if requested not in settings.allowed_models:
        raise InvalidRequest.for_field("model", f"must be one of: {', '.join(settings.allowed_models)}")
    return requested


async def _read_body(request: Request, settings: Settings) -> bytes:
    """The raw body, refused past MAX_REQUEST_BYTES before or while it is read."""
    limit = settings.max_request_bytes
    check_declared_length(request.headers.get("content-length"), limit)
    try:
        return await read_limited(request.stream(), limit)
    except ClientDisconnect:
        raise ClientGone() from None
