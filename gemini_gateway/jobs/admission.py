"""docs/API.md §12 at the intake: `Idempotency-Key` and `Prefer: respond-async`, for the routes that opt in.

`before_spend` runs in `intake.admit` once the caller is known and the body
read, before the caller policy, the model and the spending: it refuses what
can never work (a key on a stream, a callback outside CALLBACK_URL_PREFIXES
or without `Prefer: respond-async`), decides the `Idempotency-Key` (a replay
or a refusal ends the request here, having spent nothing), and tells whether
the answer is to be a job. If so, `submit` (after the rate limit and budget
admitted the request: the submission spends the rate-limit token) keeps the
job, has it run, and answers `202`.

`Prefer: respond-async` is a preference (RFC 7240): on a streamed request,
or a route that does not opt in, it is ignored and the answer comes at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response

from ..callback_urls import callback_url_problem
from ..context import RequestContext
from ..errors import InvalidRequest
from ..responses import json_response
from . import idempotency
from .models import Callback
from .records import Job, new_job_id

__all__ = ["ServerCallerOptions", "Submission", "before_spend", "submit", "wants_async"]

PREFERENCE = "respond-async"


@dataclass(frozen=True)
class ServerCallerOptions:
    """What a generating route takes part in (its `GenerationIntake.server_callers`)."""

    idempotent: bool = False  # honours Idempotency-Key
    respond_async: bool = False  # honours Prefer: respond-async (and a body's `callback`)
    streamed: Callable[[Any, Mapping[str, str]], bool] = lambda parsed, headers: False  # the answer would stream


@dataclass(frozen=True, slots=True)
class Submission:
    """An admitted request whose answer is to be a job."""

    callback: str | None


def wants_async(headers: Headers | Mapping[str, str]) -> bool:
    """`Prefer: respond-async`, among other preferences, in any `Prefer` header, in any case."""
    values = headers.getlist("prefer") if isinstance(headers, Headers) else [headers.get("prefer", "")]
    for value in values:
        for preference in value.split(","):
            if preference.split(";")[0].split("=")[0].strip().lower() == PREFERENCE:
                return True
    return False


def _callback_url(parsed: Any) -> str | None:
    callback = getattr(parsed, "callback", None)
    return callback.url if isinstance(callback, Callback) else None


async def before_spend(ctx: RequestContext, options: ServerCallerOptions, parsed: Any) -> Submission | None:
    """Refusals, replays and conflicts before anything is spent; a `Submission` when the answer is to be a job."""
    if ctx.job is not None:  # a job being run: decided when it was submitted
        return None
    headers = ctx.request.headers
    streamed = options.streamed(parsed, headers)
    asked = options.respond_async and not streamed and wants_async(headers)
    callback = _callback_url(parsed)
    if callback is not None:
        if not asked:
            problem = "needs `Prefer: respond-async`" + (" and a JSON answer, not a stream" if streamed else "")
            raise InvalidRequest.for_field("callback", problem)
        refused = callback_url_problem(callback, ctx.runtime.settings.callback_url_prefixes)
        if refused is not None:
            raise InvalidRequest.for_field("callback.url", refused)
    if options.idempotent:
        await idempotency.enter(ctx, streamed=streamed, asynchronous=asked)
    return Submission(callback) if asked else None


async def submit(ctx: RequestContext, submission: Submission) -> Response:
    """Keep the job, have it run, and answer `202` with where to find it."""
    assert ctx.caller is not None and ctx.body is not None
    jobs = ctx.runtime.jobs
    job = Job(
        id=new_job_id(),
        caller=ctx.caller.identity,
        created=int(time.time()),
        path=ctx.request.scope["path"],
        content_type=ctx.request.headers.get("content-type", "application/json"),
        submitted_by=ctx.request_id,
        layers=[{"kind": layer.kind, "name": layer.name, "anonymous": layer.anonymous} for layer in ctx.caller.layers],
        callback=submission.callback,
    )
    ctx.log.note(job_id=job.id, job="submitted")
    await jobs.store.create(job, ctx.body)
    await jobs.executor.run(job.id)
    headers = {"Location": f"/v1/jobs/{job.id}", "Preference-Applied": PREFERENCE}
    return json_response({"job": job.public()}, 202, headers)
