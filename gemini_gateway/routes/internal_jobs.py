"""`POST /internal/jobs/{id}`: Cloud Tasks runs a job, or makes one delivery attempt (docs/API.md, "Where jobs run").

Only a Google-signed OIDC token of JOBS_SERVICE_ACCOUNT with audience
JOBS_URL opens it (`jobs/oidc.py`); no caller check applies. Without
JOBS_QUEUE it does not exist (`404`). The task's body says the step:
`{"step": "run"}` or `{"step": "deliver", "attempt": N}`. `200` ends the task;
`503` with `Retry-After` has Cloud Tasks try it again (the job is running
elsewhere, or could not run here now).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from starlette.responses import Response

from ..context import RequestContext
from ..errors import NotFound
from ..intake import read_json
from ..jobs.records import valid_job_id
from ..jobs.runner import deliver_attempt, run_job
from ..model_base import Doc, Strict
from ..responses import json_response
from ..routing import Endpoint, OperationDoc

__all__ = ["ENDPOINT", "TaskStep", "run_task"]


class TaskStep(Strict):
    """The body of a job's task."""

    step: Literal["run", "deliver"]
    attempt: Annotated[int, Field(ge=1, le=1000)] = 1


class TaskDone(Doc):
    job: str
    state: str


async def run_task(ctx: RequestContext) -> Response:
    jobs = ctx.runtime.jobs
    job_id = ctx.params["id"]
    if jobs.tokens is None or not valid_job_id(job_id):
        raise NotFound("no route for this path")
    ctx.log.note(job_id=job_id)  # well-formed: a refused token's line still names its job
    claims = await jobs.tokens.verify(ctx.request.headers)
    ctx.log.record_caller(f"tasks:{claims.get('email')}")
    task = await read_json(ctx, TaskStep)
    ctx.log.note(job=task.step)
    if task.step == "deliver":
        ctx.log.note(attempt=task.attempt)
    step = await (run_job(jobs, job_id) if task.step == "run" else deliver_attempt(jobs, job_id, task.attempt))
    if step.done:
        return json_response({"job": job_id, "state": step.state})
    retry = str(max(1, round(step.retry_after or 1)))
    return json_response({"job": job_id, "state": step.state}, 503, {"Retry-After": retry})


ENDPOINT = Endpoint(
    run_task,
    OperationDoc(
        summary="Cloud Tasks only: run a job, or make one delivery attempt",
        description=(
            "Accepts nothing but a Google-signed OIDC token of JOBS_SERVICE_ACCOUNT (audience JOBS_URL), as Cloud "
            "Tasks sends it; `404` on deployments without JOBS_QUEUE. Not for callers."
        ),
        request=TaskStep,
        response=TaskDone,
        tags=("internal",),
        extra={"security": [{"bearer": []}], "x-internal": True},
    ),
)
