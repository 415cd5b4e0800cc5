"""The way into every route: who is calling, the body, and, for a generating route, what it may spend.

What protects the instance and the bill lives here, once, in this order:

1. `identify`: every credential presented is checked (caller layers: one bad
   credential refuses the request), header-only ones first, then what the
   caller's policy requires (before any body is read: a caller without
   credentials costs no body read); a signed webhook's body is read, bounded,
   then checked;
2. `read_json`: the body, bounded by MAX_REQUEST_BYTES and
   BODY_READ_TIMEOUT_SECONDS; content type; strict JSON within the
   structural limits; the route's own model;
3. `admit` (generating routes): the model through MODEL_ALIASES and the
   caller's allow-list, built-in tools allowed, the output ceiling kept; a
   free-form request's safety settings, modalities, media types and system
   instruction as the operator allows (`freeform/controls.py`); the
   route's upstream body built (a request refused there spends nothing); then
   the caller's rate limit and daily token budget, spent only by a request
   that got this far.

A route that does not generate (a job's status, the template list) uses the
first steps alone.

Why this order, with a daily budget: the output cap sent upstream
(`maxOutputTokens`) must be the one the budget reserved, and a request its
route refuses while building the upstream call must spend nothing. So the
call is built first with the request's own ceiling (one build, no spend);
then the rate limit and the budget's atomic reservation (one Redis round
trip each, within the request's one Redis allowance) grant the output cap; only
when the budget granted less than the ceiling (the caller is near its
budget) is the call built again with that smaller cap. A read-then-reserve
order would cost a Redis round trip more on every request and could still
race; this costs a second build only near the end of a budget. A route's
`prepare` must therefore only build (it may run twice).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, cast, runtime_checkable

from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from .callers import Caller
from .callers.budgets import reserve
from .callers.gate import Layer
from .callers.rate_limit import Limit
from .context import ModelChoice, RequestContext
from .errors import Forbidden, InvalidRequest, RateLimited, RequestTimeout
from .freeform.controls import Ask, apply_controls
from .jobs.admission import ServerCallerOptions, before_spend, submit
from .jobs.seams import Answered
from .json_body import check_content_type, check_declared_length, parse_json_body, read_limited, validate
from .policies import Effective
from .responses import ClientGone
from .settings import Settings

__all__ = [
    "GenerationIntake",
    "GenerationRequest",
    "Limits",
    "admit",
    "check_limits",
    "identify",
    "read_json",
    "resolve_model",
]


@runtime_checkable
class GenerationRequest(Protocol):
    """What the intake asks of a generating route's parsed request, in the route's own field names."""

    def builtin_tools(self) -> list[tuple[str, str]]:
        """(field, tool) for each built-in tool asked for: ("tools[1]", "google_search")."""
        ...

    def output_tokens(self) -> tuple[str, int | None]:
        """(field, value) of the output-token ceiling the caller asked for, if any."""
        ...

    def input_estimate(self) -> int:
        """The input tokens this request will cost, estimated (`token_estimate`): what a budget reserves."""
        ...


M = TypeVar("M", bound=BaseModel)
G = TypeVar("G", bound=GenerationRequest)  # and a pydantic model: mypy has no "both" for a bound
P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Limits:
    """What this caller may ask for: the global settings, or its caller policy."""

    allowed_models: tuple[str, ...]
    allowed_tools: tuple[str, ...]
    max_output_tokens: int


@dataclass(frozen=True)
class GenerationIntake(Generic[G, P]):
    """What a generating route tells the intake about itself."""

    schema: type[G]  # the strict model its body is parsed into
    requested_model: Callable[[G, Mapping[str, str]], str | None]  # from the body or the path parameters
    prompt: Callable[[G], str]  # the last user text, for LOG_PAYLOADS
    # The route's upstream call, built before any limit is spent: a request it refuses there
    # (a tool-call id handed out elsewhere) costs no rate-limit or budget token. It only builds:
    # it runs again, with a smaller ctx.output_ceiling, when the budget grants less. (Or an awaitable
    # of it: a template's render of large inputs runs off the event loop.)
    prepare: Callable[[RequestContext, G], P | Awaitable[P]]
    # What a free-form request asks (safety, modalities, media, system instruction): the operator's controls
    # apply to it. None for a route whose prompt is the operator's own (a server template).
    freeform: Callable[[G], Ask] | None = None
    # False for a request that names no model of its own to resolve (an Interactions API agent).
    uses_model: Callable[[G], bool] = lambda _: True
    metered: bool = True  # False: the call costs no tokens (countTokens): checked against the budget, nothing reserved
    templates: bool = False  # the template route; a templates-only caller is refused every other one
    # Server callers (docs/API.md §12), for a route that opts in: Idempotency-Key, and Prefer: respond-async (a job).
    server_callers: ServerCallerOptions | None = None


async def identify(ctx: RequestContext) -> Caller:
    """Who is calling (docs/API.md §6); recorded on the context and its access line."""
    if ctx.caller is not None:  # a route that identified the caller before admitting its request
        return ctx.caller
    if ctx.job is not None:  # a job runs as the caller who submitted it, checked then (docs/API.md §12)
        caller = Caller(ctx.job.caller, tuple(Layer(kind, name, anonymous) for kind, name, anonymous in ctx.job.layers))
    else:
        caller = await ctx.runtime.callers.identify(ctx.request.headers, lambda: _read_body(ctx), ctx.log.note)
    ctx.caller = caller
    ctx.log.record_caller(caller.identity)
    ctx.log.note(**caller.log_fields())
    return caller


async def read_json(ctx: RequestContext, schema: type[M]) -> M:
    """The body as the route's strict model: content type, strict JSON within the limits, then the model."""
    check_content_type(ctx.request.headers.get("content-type"))
    return validate(schema, await parse_json_body(await _read_body(ctx)))


async def policy(ctx: RequestContext) -> Effective:
    """What this caller may do: its caller policy over the global settings."""
    assert ctx.caller is not None, "identify first"
    if ctx.policy is None:
        ctx.policy = await ctx.runtime.policies.effective(ctx.caller.identity)
    return ctx.policy


async def admit(ctx: RequestContext, intake: GenerationIntake[G, P]) -> tuple[G, P]:
    """A generating route's request, admitted: caller, body, model, limits, its upstream call, then spend."""
    runtime = ctx.runtime
    await identify(ctx)
    if not intake.templates and (await policy(ctx)).templates_only:
        raise Forbidden("this caller may only use server prompt templates (POST /v1/templates/{id})")
    parsed = cast(G, await read_json(ctx, cast("type[BaseModel]", intake.schema)))
    # A replayed Idempotency-Key answer, a 409 or a 422 ends the request here, before anything is spent.
    submission = await before_spend(ctx, intake.server_callers, parsed) if intake.server_callers else None
    effective = await policy(ctx)
    limits = Limits(effective.allowed_models, effective.allowed_tools, effective.max_output_tokens)
    if intake.uses_model(parsed):
        requested = intake.requested_model(parsed, ctx.params)
        model = resolve_model(requested, runtime.settings, limits.allowed_models)
        ctx.choice = ModelChoice(model, requested if requested is not None and requested != model else None)
        ctx.log.record_model(model, ctx.choice.alias)
    ctx.output_ceiling = ceiling = check_limits(parsed, limits)
    if intake.freeform is not None:  # a caller's own prompt: what the operator allows of it (freeform/controls.py)
        ctx.safety_settings = apply_controls(intake.freeform(parsed), effective, runtime.settings)
    ctx.id_keys = await runtime.id_keys.keys()
    prepared = await _prepared(intake, ctx, parsed)
    await _spend(ctx, effective, parsed, intake.metered)
    if ctx.ticket is not None and intake.metered and ctx.ticket.output_cap < ceiling:
        ctx.output_ceiling = ctx.ticket.output_cap  # what is left of the budget: that is what goes upstream
        prepared = await _prepared(intake, ctx, parsed)
    ctx.log.record_prompt(intake.prompt(parsed))
    if submission is not None:  # Prefer: respond-async: the answer is a job, run after the 202
        raise Answered(await submit(ctx, submission))
    return parsed, prepared


async def _prepared(intake: GenerationIntake[G, P], ctx: RequestContext, parsed: G) -> P:
    prepared = intake.prepare(ctx, parsed)
    return cast(P, await prepared) if inspect.isawaitable(prepared) else prepared


async def _spend(ctx: RequestContext, effective: Effective, parsed: GenerationRequest, metered: bool) -> None:
    """The caller's rate limit, then its budget's reservation (a 429 from either spends nothing more).

    Both draw from the request's one Redis allowance (`redis_state`); the
    access line's `limit` says which one refused.
    """
    runtime, identity = ctx.runtime, ctx.caller.identity if ctx.caller else ""
    allowance = ctx.redis_allowance
    # A job's rate-limit token was spent at its submission; its run reserves and settles its tokens like any request.
    if runtime.limiter is not None and effective.rate_limit_per_minute > 0 and ctx.job is None:
        rate = Limit(effective.rate_limit_per_minute, effective.rate_limit_burst or effective.rate_limit_per_minute)
        try:
            await runtime.limiter.check(identity, rate, allowance)
        except RateLimited:
            ctx.log.note(limit="rate")
            raise
    if runtime.budgets is not None and effective.daily_token_budget > 0:
        estimate, ceiling = (parsed.input_estimate(), ctx.output_ceiling or 0) if metered else (0, 0)
        try:
            ctx.ticket = await reserve(
                runtime.budgets, identity, effective.daily_token_budget, estimate, ceiling, allowance
            )
        except RateLimited:
            ctx.log.note(limit="daily_tokens")
            raise


def resolve_model(
    requested: str | None, settings: Settings, allowed: tuple[str, ...] | None = None, *, default: bool = True
) -> str:
    """The model to call: the name through MODEL_ALIASES, if allowed.

    With none and `default`: DEFAULT_MODEL (or, when the caller's policy does
    not allow it, the first model the policy allows). Without `default` a
    model must be named (a route whose work has no sensible default model).
    """
    allowed = settings.allowed_models if allowed is None else allowed
    if requested is None:
        if not default:
            raise InvalidRequest.for_field("model", "required")
        return settings.default_model if settings.default_model in allowed or not allowed else allowed[0]
    model = settings.model_aliases.get(requested, requested)
    if model not in allowed:
        # What this caller may use, and nothing else: alias names are the operator's, not listed.
        raise InvalidRequest.for_field("model", f"must be one of: {', '.join(allowed)}")
    return model


def check_limits(request: GenerationRequest, limits: Limits) -> int:
    """Built-in tools outside ALLOWED_TOOLS, or an output ceiling above MAX_OUTPUT_TOKENS_LIMIT: 400 by field.

    Returns the output ceiling to send upstream.
    """
    for field, tool in request.builtin_tools():
        if tool not in limits.allowed_tools:
            allowed = ", ".join(limits.allowed_tools) or "none"
            raise InvalidRequest.for_field(field, f"the built-in tool {tool} is not allowed here (allowed: {allowed})")
    field, asked = request.output_tokens()
    if asked is not None and asked > limits.max_output_tokens:
        raise InvalidRequest.for_field(field, f"must be <= {limits.max_output_tokens}")
    return asked or limits.max_output_tokens


async def _read_body(ctx: RequestContext) -> bytes:
    """The raw body, read once, refused past MAX_REQUEST_BYTES or BODY_READ_TIMEOUT_SECONDS."""
    if ctx.body is not None:
        return ctx.body
    request, settings = ctx.request, ctx.runtime.settings
    check_declared_length(request.headers.get("content-length"), settings.max_request_bytes)
    try:
        async with asyncio.timeout(settings.body_read_timeout_seconds):
            body = await read_limited(request.stream(), settings.max_request_bytes)
    except TimeoutError:
        raise RequestTimeout(settings.body_read_timeout_seconds) from None
    except ClientDisconnect:
        raise ClientGone() from None
    ctx.body = body
    return body
