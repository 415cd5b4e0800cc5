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
5. the model, resolved through MODEL_ALIASES and allowed; built-in tools
   allowed; the output ceiling kept (MAX_OUTPUT_TOKENS_LIMIT);
6. the caller's rate limit and daily token budget (its caller policy, or the
   global settings): spent only by a request that got this far.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast, runtime_checkable

from pydantic import BaseModel
from starlette.requests import ClientDisconnect, Request

from .callers import Caller
from .callers.budgets import admit as admit_budget
from .callers.rate_limit import Limit
from .errors import InvalidRequest, RequestTimeout
from .exchange import Exchange
from .payload import check_content_type, check_declared_length, parse_json_body, read_limited, validate
from .responses import ClientGone
from .runtime import Runtime, get_runtime
from .settings import Settings

__all__ = ["Admitted", "Intake", "Limits", "RouteRequest", "admit", "resolve_model"]


@runtime_checkable
class RouteRequest(Protocol):
    """What the intake asks of every route's parsed request, in the route's own field names."""

    def builtin_tools(self) -> list[tuple[str, str]]:
        """(field, tool) for each built-in tool asked for: ("tools[1]", "google_search")."""
        ...

    def output_tokens(self) -> tuple[str, int | None]:
        """(field, value) of the output-token ceiling the caller asked for, if any."""
        ...


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Limits:
    """What this caller may do: the global settings, or its caller policy."""

    allowed_models: tuple[str, ...]
    allowed_tools: tuple[str, ...]
    max_output_tokens: int


@dataclass(frozen=True)
class Intake(Generic[M]):
    """What a route tells the intake about itself."""

    route: str  # its name in log lines: "generate", "openai", "gemini"
    schema: type[M]  # the strict model its body is parsed into
    requested_model: Callable[[M, Mapping[str, str]], str | None]  # from the body or the path parameters
    prompt: Callable[[M], str]  # the last user text, for LOG_PAYLOADS
    # What the route builds from the admitted request before any limit is spent (its upstream body):
    # a request it refuses there (a tool-call id handed out elsewhere) costs no rate-limit or budget token.
    prepare: Callable[[Admitted[M]], Any] | None = None


@dataclass
class Admitted(Generic[M]):
    """A request that passed the intake: who asked, what, of which model."""

    runtime: Runtime
    caller: Caller
    request: M
    model: str  # resolved: what is called upstream
    alias: str | None  # the name the caller used, when it was an alias
    limits: Limits
    max_output_tokens: int  # what to send upstream: the caller's own value (within the ceiling) or the ceiling
    prepared: Any = None  # what the route's `prepare` built


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
    policy = await runtime.policies.effective(caller.identity)
    limits = Limits(policy.allowed_models, policy.allowed_tools, policy.max_output_tokens)
    requested = intake.requested_model(parsed, request.path_params)
    model = resolve_model(requested, settings, limits.allowed_models)
    alias = requested if requested is not None and requested != model else None
    exchange.record_model(model, alias)
    max_output_tokens = _check_limits(parsed, limits)
    admitted = Admitted(runtime, caller, parsed, model, alias, limits, max_output_tokens)
    if intake.prepare is not None:
        admitted.prepared = intake.prepare(admitted)
    if runtime.limiter is not None and policy.rate_limit_per_minute > 0:
        rate = Limit(policy.rate_limit_per_minute, policy.rate_limit_burst or policy.rate_limit_per_minute)
        await runtime.limiter.check(caller.identity, rate)
    if runtime.budgets is not None and policy.daily_token_budget > 0:
        exchange.ticket = await admit_budget(runtime.budgets, caller.identity, policy.daily_token_budget)
    exchange.record_prompt(intake.prompt(parsed))
    return admitted


def resolve_model(requested: str | None, settings: Settings, allowed: tuple[str, ...] | None = None) -> str:
    """The model to call: the name through MODEL_ALIASES, if allowed; with none, DEFAULT_MODEL.

    (With none, and a caller policy that does not allow DEFAULT_MODEL: the first model the policy allows.)
    """
    allowed = settings.allowed_models if allowed is None else allowed
    if requested is None:
        return settings.default_model if settings.default_model in allowed or not allowed else allowed[0]
    model = settings.model_aliases.get(requested, requested)
    if model not in allowed:
        names = [*allowed, *(a for a, target in settings.model_aliases.items() if target in allowed)]
        raise InvalidRequest.for_field("model", f"must be one of: {', '.join(names)}")
    return model


def _check_limits(request: object, limits: Limits) -> int:
    """Built-in tools outside ALLOWED_TOOLS, or an output ceiling above MAX_OUTPUT_TOKENS_LIMIT: 400 by field.

    Returns the output ceiling to send upstream.
    """
    if not hasattr(request, "builtin_tools"):  # duck-typed: isinstance on a runtime Protocol costs ~25 µs
        return limits.max_output_tokens
    request = cast(RouteRequest, request)
    for field, tool in request.builtin_tools():
        if tool not in limits.allowed_tools:
            allowed = ", ".join(limits.allowed_tools) or "none"
            raise InvalidRequest.for_field(field, f"the built-in tool {tool} is not allowed here (allowed: {allowed})")
    field, asked = request.output_tokens()
    if asked is not None and asked > limits.max_output_tokens:
        raise InvalidRequest.for_field(field, f"must be <= {limits.max_output_tokens}")
    return asked or limits.max_output_tokens


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
