"""`POST /v1/templates/{id}` and `GET /v1/templates`: server prompt templates (docs/API.md §7e).

The caller names a template and sends its inputs; the template fixes the
prompt, model, tools and settings. A template is a generating route like
`POST /`: its request is admitted by the same intake (limits, aliases for
its model, MAX_OUTPUT_TOKENS_LIMIT, rate limit and budget), rendered into
the chat request `POST /` would send, and answered by the same writer, with
`template` added to the answer and to the access line.

Order: the caller is identified first (an unknown template is 404 only to
a caller who may ask), then the template is found (404) and allowed by the
caller's policy (`allowed_templates`, else 403), then the body is read.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping

import orjson
from starlette.responses import Response

from ..chat.call import Call
from ..chat.respond import STREAM_DESCRIPTION, respond, stream_events, wants_event_stream
from ..context import RequestContext
from ..errors import Forbidden, NotFound
from ..intake import GenerationIntake, admit, identify, policy
from ..jobs.admission import ServerCallerOptions
from ..jobs.models import openapi_extra
from ..responses import json_response
from ..routing import Endpoint, OperationDoc
from ..templates.inputs import count_values
from ..templates.library import Template
from ..templates.models import TemplateList, TemplateRequest, TemplateResponse, for_template
from ..templates.render import to_request

__all__ = ["LIST", "RUN", "list_templates", "run_template", "template_call"]

_INLINE_VALUES = 64  # inputs up to this many values (~5 ms of work at most) are rendered on the event loop


async def _prepare(ctx: RequestContext, req: TemplateRequest) -> Call:
    """The template rendered with the caller's inputs into `POST /` terms, and its upstream body.

    Checking and rendering are pure Python, ~0.1 ms an input value: larger
    inputs (or a long history) are rendered in a worker thread, so the event
    loop keeps serving meanwhile.
    """
    assert req.template is not None
    work = (req.template, req.inputs, req.history, req.stream)
    heavy = count_values(req.inputs, _INLINE_VALUES) > _INLINE_VALUES or len(req.history or ()) > _INLINE_VALUES
    request = await asyncio.to_thread(to_request, *work) if heavy else to_request(*work)
    req.rendered(request.input_estimate())  # what the budget reserves: the prompt as sent (prepared before spend)
    return Call.of(ctx, request)


def _inputs_text(req: TemplateRequest) -> str:
    """What LOG_PAYLOADS logs as the prompt: the inputs the caller sent."""
    return orjson.dumps(req.inputs).decode()


def _streamed(req: TemplateRequest, headers: Mapping[str, str]) -> bool:
    return req.stream or wants_event_stream(headers.get("accept"))


_SERVER_CALLERS = ServerCallerOptions(idempotent=True, respond_async=True, streamed=_streamed)  # docs/API.md §12


@functools.cache
def _intake(template: Template) -> GenerationIntake[TemplateRequest, Call]:
    return GenerationIntake(
        for_template(template),
        lambda req, _: template.model,
        _inputs_text,
        _prepare,
        templates=True,
        server_callers=_SERVER_CALLERS,
    )


async def template_call(ctx: RequestContext, template_id: str) -> tuple[TemplateRequest, Call]:
    """The caller's request for `template_id`, admitted: caller, template (404/403), body, limits, spend."""
    ctx.log.note(template=template_id)
    await identify(ctx)
    template = ctx.runtime.templates.get(template_id)
    if template is None:
        raise NotFound(f"no template {template_id} (GET /v1/templates lists them)")
    allowed = (await policy(ctx)).allowed_templates
    if allowed is not None and template_id not in allowed:
        raise Forbidden(f"this caller may not use the template {template_id}")
    return await admit(ctx, _intake(template))


async def run_template(ctx: RequestContext) -> Response:
    template_id = ctx.params["id"]
    _, call = await template_call(ctx, template_id)
    return await respond(ctx, call, {"template": template_id})


async def list_templates(ctx: RequestContext) -> Response:
    await identify(ctx)
    allowed = (await policy(ctx)).allowed_templates
    return json_response({"templates": [t.info() for t in ctx.runtime.templates.visible(allowed)]})


# --------------------------------------------------------------------------- documentation

RUN = Endpoint(
    run_template,
    OperationDoc(
        summary="Run a server prompt template (JSON, or a stream of server-sent events)",
        description=(
            "The template fixes prompt, model, tools and settings; the caller sends `inputs` (checked against the "
            "template's input schema: unknown inputs refused, strings capped) and, where the template uses "
            "`{{history}}`, `history`. Each template is also listed as its own operation with its inputs "
            '(docs/API.md, "Templates").'
        ),
        request=TemplateRequest,
        response=TemplateResponse,
        stream_events=stream_events(TemplateResponse),
        stream_description=STREAM_DESCRIPTION.format(done="TemplateResponse"),
        tags=("templates",),
        extra=openapi_extra(respond_async=True),
    ),
)
LIST = Endpoint(
    list_templates,
    OperationDoc(
        summary="The templates this caller may use, each with its input JSON Schema",
        response=TemplateList,
        tags=("templates",),
    ),
)
