"""`GET /healthz`: touches no secret and no upstream."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from .. import __version__
from ..exchange import Exchange
from ..responses import json_response
from ..routing import OperationDoc
from ..strict import Doc

__all__ = ["GET_DOC", "HEAD_DOC", "Health", "healthz"]


class Health(Doc):
    status: str = Field(json_schema_extra={"enum": ["ok"]})
    version: str


async def healthz(request: Request, exchange: Exchange) -> Response:
    return json_response({"status": "ok", "version": __version__})


GET_DOC = OperationDoc(
    summary="Liveness: touches no secret and no upstream",
    response=Health,
    public=True,
    error_statuses=(),
    tags=("health",),
)
HEAD_DOC = OperationDoc(summary="Liveness, headers only", public=True, error_statuses=(), tags=("health",))
