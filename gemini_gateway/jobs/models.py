"""The request field and the answers of asynchronous jobs (docs/API.md §12), for validation and the OpenAPI document.

`Callback` is part of a request body (`POST /`'s `callback`); its URL is
checked against CALLBACK_URL_PREFIXES at admission (`callback_urls.py`),
where the settings are. The job answers are built as plain dicts
(`records.Job.public`); `JobObject` describes them, `openapi_extra` the
headers and the `202` of a route that opts in.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ..model_base import Doc, Strict

__all__ = ["Callback", "JobObject", "JobStatus", "openapi_extra"]

JobStatus = Literal["queued", "running", "succeeded", "failed"]


class Callback(Strict):
    """Where the job's answer is delivered, signed per Standard Webhooks, when it ends."""

    url: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2048,
            description="must start with one of the deployment's CALLBACK_URL_PREFIXES; needs `Prefer: respond-async`",
        ),
    ]


class JobObject(Doc):
    """A job (`GET /v1/jobs/{id}`, and the `data` of a delivery)."""

    id: str = Field(description="`job_` and 32 hex characters")
    status: JobStatus
    created: int = Field(description="Unix seconds when it was submitted")
    status_url: str = Field(description="`/v1/jobs/{id}`, relative to the function's URL")
    finished: int | None = Field(default=None, description="Unix seconds when it ended (succeeded or failed)")
    result: dict[str, Any] | None = Field(default=None, description="succeeded: the answer a synchronous request gets")
    error: dict[str, Any] | None = Field(
        default=None, description="failed: the error object a synchronous request gets"
    )


def openapi_extra(*, respond_async: bool) -> dict[str, Any]:
    """A route's `OperationDoc.extra` for docs/API.md §12: its headers, and its `202` when it answers one."""
    parameters: list[dict[str, Any]] = [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": (
                "1 to 255 printable ASCII characters. The same key with the same request replays the first answer "
                "(`Idempotent-Replayed: true`) without calling Gemini or spending; with another request: 422; while "
                "the first still runs: 409. Not on a streamed request (400)."
            ),
            "schema": {"type": "string", "maxLength": 255},
        }
    ]
    extra: dict[str, Any] = {"parameters": parameters}
    if respond_async:
        parameters.append(
            {
                "name": "Prefer",
                "in": "header",
                "required": False,
                "description": "`respond-async` (RFC 7240): answer `202` at once with a job (ignored on a stream).",
                "schema": {"type": "string"},
            }
        )
        job = {"type": "object", "required": ["job"], "properties": {"job": {"$ref": "#/components/schemas/JobObject"}}}
        extra["responses"] = {
            "202": {
                "description": "Accepted (`Prefer: respond-async`): the job; poll `Location` or wait for the callback.",
                "headers": {
                    "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"},
                    "Location": {"description": "`/v1/jobs/{id}`", "schema": {"type": "string"}},
                    "Preference-Applied": {"description": "`respond-async`", "schema": {"type": "string"}},
                },
                "content": {"application/json": {"schema": job}},
            }
        }
    return extra
