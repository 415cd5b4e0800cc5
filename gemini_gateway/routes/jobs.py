"""`GET /v1/jobs/{id}`: a job the caller submitted (docs/API.md §12); anyone else's is `404`."""

from __future__ import annotations

from starlette.responses import Response

from ..context import RequestContext
from ..errors import NotFound
from ..intake import identify
from ..jobs.models import JobObject
from ..jobs.records import valid_job_id
from ..responses import json_response
from ..routing import Endpoint, OperationDoc

__all__ = ["ENDPOINT", "get_job"]


async def get_job(ctx: RequestContext) -> Response:
    caller = await identify(ctx)
    job_id = ctx.params["id"]
    job = None
    if valid_job_id(job_id):
        ctx.log.note(job_id=job_id)
        job = await ctx.runtime.jobs.store.get(job_id)
    if job is None or job.caller != caller.identity:  # another caller's job is not there for this one
        raise NotFound("no such job for this caller")
    return json_response(job.public())


ENDPOINT = Endpoint(
    get_job,
    OperationDoc(
        summary="A job: queued, running, or ended with its answer or its error",
        description="Only the caller who submitted the job (`Prefer: respond-async`) sees it (docs/API.md, Jobs).",
        response=JobObject,
        tags=("jobs",),
    ),
)
