"""The Interactions API through the function (docs/API.md §7d), for `client.interactions` in both SDKs.

`POST /{version}/interactions` creates (JSON, or the SSE stream with
`stream: true`), `GET /{version}/interactions/{id}` reads (or resumes the
stream with `?stream=true&last_event_id=`), `DELETE` deletes, `POST
.../{id}/cancel` cancels a background interaction. Each is forwarded to the
same path under `google-ai-studio/` with the caller's API version; the
caller's `x-goog-api-key` is its client key and the real key is swapped in,
as on the Gemini-native route.

Create is a generating route (the intake: caller, strict body, model through
MODEL_ALIASES and ALLOWED_MODELS or an agent in ALLOWED_AGENTS, built-in tools
per ALLOWED_TOOLS, the output ceiling, the free-form controls, spend). Ids are
sealed for their caller (answers.py). Usage is charged when the interaction
ends (completed, requires_action, incomplete, failed...): at once for a plain
or streamed one. A background one keeps its create's whole reservation (so one
never read back is paid for) and is settled to its usage when a GET first sees
it ended (remembered, so once); its id carries what it prepaid.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response

from ...answer import Usage
from ...callback_urls import callback_url_problem
from ...callers.budgets import utc_day
from ...context import RequestContext
from ...errors import ApiError, InvalidRequest, UpstreamError
from ...intake import GenerationIntake, admit, identify, policy
from ...model_rules import thinking_refusal
from ...responses import cancel_if_gone, json_response
from ...routing import Endpoint, OperationDoc
from ...streaming import stream_response
from ...upstream.client import UpstreamAnswer
from ...upstream.metadata import metadata_header
from ...upstream.stream import UpstreamStream
from .answers import (
    Interaction,
    InteractionIds,
    InteractionsErrorBody,
    Prepaid,
    seal_event,
    seal_interaction,
    usage_of,
)
from .errors import interactions_error_body
from .models import InteractionRequest

__all__ = ["CANCEL", "CREATE", "DELETE", "GET"]

_CHARGED_FOR = 56 * 86400.0  # Google keeps a stored interaction 55 days
_EVENT_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,256}")  # fullmatch: `$` would let a final newline in
_THINKING_FIELD = "generation_config.thinking_level"
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")  # what may follow `event: ` (no CR or LF from upstream)
_RUNNING = ("in_progress", "queued")  # any other status has spent its tokens (a tuple: a status may be any JSON)


def _prepare(ctx: RequestContext, req: InteractionRequest) -> bytes:
    """The body Google gets: the validated request, the resolved model, ids opened, ceiling and floor added."""
    settings = ctx.runtime.settings
    body = req.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if req.agent is not None:
        if req.agent not in settings.allowed_agents:
            allowed = ", ".join(settings.allowed_agents) or "none"
            raise InvalidRequest.for_field("agent", f"this agent is not allowed here (allowed: {allowed})")
    else:
        body["model"] = ctx.model
        config = body.setdefault("generation_config", {})
        asked = config.get("max_output_tokens")
        if asked is None or (ctx.output_ceiling is not None and asked > ctx.output_ceiling):
            config["max_output_tokens"] = ctx.output_ceiling  # a daily budget near its end grants less
    if req.previous_interaction_id is not None:
        body["previous_interaction_id"] = _ids(ctx).open(req.previous_interaction_id)
    for i, uri in enumerate(req.webhook_config.uris if req.webhook_config else ()):
        problem = callback_url_problem(uri, settings.callback_url_prefixes)
        if problem is not None:
            raise InvalidRequest.for_field(f"webhook_config.uris[{i}]", problem)
    if ctx.safety_settings is not None:  # the caller's own, then the operator's floor
        body["safety_settings"] = [
            {"type": s["category"].removeprefix("HARM_CATEGORY_").lower(), "threshold": s["threshold"].lower()}
            for s in ctx.safety_settings
        ]
    return orjson.dumps(body)


CREATE_INTAKE = GenerationIntake(
    InteractionRequest,
    lambda req, _: req.model,
    InteractionRequest.last_user_text,
    _prepare,
    InteractionRequest.freeform,
    uses_model=lambda req: req.agent is None,
)


def _ids(ctx: RequestContext) -> InteractionIds:
    assert ctx.caller is not None and ctx.id_keys
    return InteractionIds(ctx.id_keys, ctx.caller.identity)


def _headers(ctx: RequestContext, stream: bool = False) -> dict[str, str]:
    assert ctx.caller is not None
    headers = metadata_header(ctx.caller.identity)
    if stream:
        headers["accept"] = "text/event-stream"
    return headers


async def create(ctx: RequestContext) -> Response:
    req, body = await admit(ctx, CREATE_INTAKE)
    if req.agent is not None:
        ctx.log.note(agent=req.agent)
    gateway, version = ctx.runtime.gateway, ctx.params["version"]
    if req.stream:
        ctx.log.record_stream()
        opening = gateway.open_stream("POST", "interactions", body, _headers(ctx, True), ctx.started, version)
        meta, stream = await _refusing_thinking(ctx, opening)
        return _relay(ctx, _unblocked(meta), stream)
    call = gateway.request("POST", "interactions", body, _headers(ctx), ctx.started, version)
    meta = await _refusing_thinking(ctx, call)
    return await _answer(ctx, meta, charge_now=True)


async def get(ctx: RequestContext) -> Response:
    """Read an interaction (or stream it again); a background one is settled to its usage when first seen ended."""
    await identify(ctx)
    google_id, prepaid = await _opened(ctx)
    query = ctx.request.query_params
    stream = query.get("stream", "false") == "true"
    path = f"interactions/{google_id}?stream={'true' if stream else 'false'}"
    last_event_id = query.get("last_event_id")
    if last_event_id is not None:
        if not _EVENT_ID.fullmatch(last_event_id):
            raise InvalidRequest.for_field("last_event_id", "is not an event id this API handed out")
        path += f"&last_event_id={last_event_id}"
    if query.get("include_input") == "true":
        path += "&include_input=true"
    gateway, version = ctx.runtime.gateway, ctx.params["version"]
    if stream:
        ctx.log.record_stream()
        opening = gateway.open_stream("GET", path, None, _headers(ctx, True), ctx.started, version)
        meta, upstream = await cancel_if_gone(ctx.request, opening)
        return _relay(ctx, _unblocked(meta), upstream, charge_once=True, prepaid=prepaid)
    meta = await cancel_if_gone(ctx.request, gateway.request("GET", path, None, _headers(ctx), ctx.started, version))
    return await _answer(ctx, meta, charge_now=False, prepaid=prepaid)


async def delete(ctx: RequestContext) -> Response:
    meta, _ = await _on_the_callers_own(ctx, "DELETE", "")
    ctx.log.record_upstream(meta)
    return json_response(meta.body if isinstance(meta.body, dict) else {})


async def cancel(ctx: RequestContext) -> Response:
    meta, prepaid = await _on_the_callers_own(ctx, "POST", "/cancel")
    return await _answer(ctx, meta, charge_now=False, prepaid=prepaid)


async def _on_the_callers_own(ctx: RequestContext, method: str, tail: str) -> tuple[UpstreamAnswer, Prepaid | None]:
    """`method interactions/{id}{tail}` upstream, for an interaction of this caller's (404 for any other),
    and what its create prepaid."""
    await identify(ctx)
    google_id, prepaid = await _opened(ctx)
    call = ctx.runtime.gateway.request(
        method, f"interactions/{google_id}{tail}", None, _headers(ctx), ctx.started, ctx.params["version"]
    )
    return await cancel_if_gone(ctx.request, call), prepaid


async def _opened(ctx: RequestContext) -> tuple[str, Prepaid | None]:
    """Google's id of the interaction the path names, if it is this caller's (404 otherwise), and its prepaid tokens."""
    ctx.id_keys = await ctx.runtime.id_keys.keys()
    return _ids(ctx).opened(ctx.params["id"])


async def _refusing_thinking(ctx: RequestContext, work: Any) -> Any:
    """The upstream call, with a thinking level the model does not take named as the field it came in."""
    try:
        return await cancel_if_gone(ctx.request, work)
    except InvalidRequest as exc:
        raise thinking_refusal(exc, _THINKING_FIELD) from None


async def _answer(
    ctx: RequestContext, meta: UpstreamAnswer, *, charge_now: bool, prepaid: Prepaid | None = None
) -> Response:
    """The interaction as Google answered it, ids sealed; its usage recorded (and charged) once it ended.

    A create answered while the interaction still runs (background) keeps its
    whole reservation: the sealed id carries it, and the first request that
    sees the interaction ended settles the difference to its usage.
    """
    ctx.log.record_upstream(meta)
    interaction = _unblocked(meta).body
    if not isinstance(interaction, dict):
        raise UpstreamError("the upstream answer was not a usable interaction")
    status, google_id = interaction.get("status"), interaction.get("id")
    ctx.log.note(interaction_status=status)
    usage = usage_of(interaction)
    if status in _RUNNING:
        if charge_now and ctx.ticket is not None and ctx.ticket.reserved > 0:
            prepaid = Prepaid(ctx.ticket.reserved, ctx.ticket.day)
            ctx.record_usage(Usage(total_tokens=prepaid.tokens))  # settled to its whole reservation
            ctx.log.note(interaction_prepaid=prepaid.tokens)
    elif usage is not None and isinstance(google_id, str):
        await _charge_once(ctx, google_id, usage, settle=charge_now, prepaid=prepaid)
    return json_response(seal_interaction(interaction, _ids(ctx), prepaid))  # the id handed back keeps it


def _unblocked(meta: UpstreamAnswer) -> UpstreamAnswer:
    """A gateway guardrail's refusal is `400` naming what it blocked (as on countTokens), not an empty answer."""
    if meta.blocked is not None:
        what = "answer" if meta.blocked.reason == "2017" else "prompt"
        raise InvalidRequest(f"the AI Gateway's guardrails blocked the {what}")
    return meta


async def _charge_once(
    ctx: RequestContext, google_id: str, usage: Usage, *, settle: bool, prepaid: Prepaid | None = None
) -> None:
    """Charge an ended interaction's usage to its caller, once, whichever request sees it first.

    `settle`: against this request's reservation. Otherwise (a background
    interaction read back) the usage less what its create prepaid; on a later
    day than the prepayment, nothing is given back to the new day.
    """
    ctx.log.record_usage(usage)
    if not await ctx.runtime.once.first_time(f"interaction-charged:{google_id}", _CHARGED_FOR):
        return
    if settle:
        ctx.record_usage(usage)  # charged as this request settles, against its reservation
        return
    runtime, effective = ctx.runtime, await policy(ctx)
    if runtime.budgets is not None and effective.daily_token_budget > 0 and ctx.caller is not None:
        today = utc_day(time.time())
        change = usage.total_tokens - (prepaid.tokens if prepaid is not None else 0)
        if prepaid is not None and prepaid.day != today:
            change = max(change, 0)
        spent = await runtime.budgets.adjust(ctx.caller.identity, today, change, ctx.redis_allowance)
        ctx.log.note(budget_spent=spent)


def _relay(
    ctx: RequestContext,
    meta: UpstreamAnswer,
    stream: UpstreamStream | None,
    *,
    charge_once: bool = False,
    prepaid: Prepaid | None = None,
) -> Response:
    """Each event as it arrives, ids sealed, then `[DONE]`; the completed interaction's usage is charged."""
    ids = _ids(ctx)

    async def events() -> AsyncIterator[bytes]:
        if stream is not None:
            async for event in stream:
                kind = event.get("event_type") if isinstance(event, dict) else None
                if not isinstance(kind, str) or not _EVENT_TYPE.fullmatch(kind):
                    kind = "message"
                if kind in ("interaction.completed", "interaction.status_update"):
                    interaction = event.get("interaction")
                    interaction = interaction if isinstance(interaction, dict) else event
                    usage, google_id = usage_of(interaction), interaction.get("id") or event.get("interaction_id")
                    if kind == "interaction.completed" and usage is not None and isinstance(google_id, str):
                        await _charge_once(ctx, google_id, usage, settle=not charge_once, prepaid=prepaid)
                yield _frame(kind, seal_event(event, ids, prepaid))
        ctx.log.record_upstream(meta)
        yield b"event: done\r\ndata: [DONE]\r\n\r\n"

    def error_event(err: ApiError) -> bytes:
        body = interactions_error_body(err, ctx.request_id)
        return _frame("error", {"event_type": "error", **body})

    return stream_response(events(), ctx, meta, stream, error_event)


def _frame(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\r\ndata: " + orjson.dumps(data) + b"\r\n\r\n"


_DESCRIPTION = (
    "The Interactions API (Google's own body and answer) for `client.interactions` in the official SDKs; the "
    "caller's client key in `x-goog-api-key` (docs/API.md, Interactions API). Interaction ids are sealed for the "
    "caller they were handed to."
)
CREATE = Endpoint(
    create,
    OperationDoc(
        summary="Create an interaction (JSON, or server-sent events with `stream: true`)",
        description=_DESCRIPTION,
        request=InteractionRequest,
        response=Interaction,
        stream_description="`event: <event_type>` / `data: <event JSON>` as the upstream sends them, then `[DONE]`.",
        error=InteractionsErrorBody,
        tags=("interactions",),
    ),
)
GET = Endpoint(
    get,
    OperationDoc(
        summary="Read an interaction (or stream it again with `?stream=true`)",
        description=_DESCRIPTION,
        response=Interaction,
        stream_description="With `?stream=true` (and `last_event_id`): the interaction's events again.",
        error=InteractionsErrorBody,
        tags=("interactions",),
    ),
)
DELETE = Endpoint(
    delete,
    OperationDoc(
        summary="Delete an interaction", description=_DESCRIPTION, error=InteractionsErrorBody, tags=("interactions",)
    ),
)
CANCEL = Endpoint(
    cancel,
    OperationDoc(
        summary="Cancel a background interaction",
        description=_DESCRIPTION,
        response=Interaction,
        error=InteractionsErrorBody,
        tags=("interactions",),
    ),
)
