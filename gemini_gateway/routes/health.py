"""`GET /healthz`: touches no secret and no upstream."""

from __future__ import annotations

from pydantic import Field
from starlette.responses import Response

from .. import __version__
from ..context import RequestContext
from ..model_base import Doc
from ..responses import json_response
from ..routing import Endpoint, OperationDoc

__all__ = ["GET", "HEAD", "Health", "healthz"]


class Health(Doc):
    status: str = Field(json_schema_extra={"enum": ["ok"]})
    version: str


async def healthz(ctx: RequestContext) -> Response:
    return json_response({"status": "ok", "version": __version__})


GET = Endpoint(
    healthz,
    OperationDoc(
        summary="Liveness: touches no secret and no upstream",
        response=Health,
        public=True,
        error_statuses=(),
        tags=("health",),
    ),
)
HEAD = Endpoint(
    healthz, OperationDoc(summary="Liveness, headers only", public=True, error_statuses=(), tags=("health",))
)
