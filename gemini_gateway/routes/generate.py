"""`POST /`: our request in, Gemini through the gateway, our answer out (JSON or SSE)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from ..chat.call import Call
from ..chat.models import GenerateRequest, GenerateResponse
from ..chat.respond import STREAM_DESCRIPTION, respond, stream_events, wants_event_stream
from ..context import RequestContext
from ..intake import GenerationIntake, admit
from ..jobs.admission import ServerCallerOptions
from ..jobs.models import openapi_extra
from ..routing import Endpoint, OperationDoc

__all__ = ["ENDPOINT", "generate", "wants_event_stream"]


def _last_user_text(req: GenerateRequest) -> str:
    if req.prompt is not None:
        return req.prompt
    for message in reversed(req.messages or []):
        if message.role == "user":
            return " ".join(p.text for p in message.content or () if p.text)
    return ""


def streamed(req: GenerateRequest, headers: Mapping[str, str]) -> bool:
    """Whether the answer is a stream (`"stream": true` or `Accept: text/event-stream`)."""
    return req.stream or wants_event_stream(headers.get("accept"))


INTAKE = GenerationIntake(
    GenerateRequest,
    lambda req, _: req.model,
    _last_user_text,
    prepare=Call.of,
    freeform=GenerateRequest.freeform,
    server_callers=ServerCallerOptions(idempotent=True, respond_async=True, streamed=streamed),
)


async def generate(ctx: RequestContext) -> Response:
    _, call = await admit(ctx, INTAKE)
    return await respond(ctx, call)


# --------------------------------------------------------------------------- documentation

ENDPOINT = Endpoint(
    generate,
    OperationDoc(
        summary="Generate an answer (JSON, or a stream of server-sent events)",
        description="Exactly one of `prompt` or `messages`; unknown fields are refused (docs/API.md).",
        request=GenerateRequest,
        response=GenerateResponse,
        stream_events=stream_events(GenerateResponse),
        stream_description=STREAM_DESCRIPTION.format(done="GenerateResponse"),
        tags=("generate",),
        extra=openapi_extra(respond_async=True),
    ),
)
