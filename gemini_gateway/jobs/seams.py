"""What the request path knows about server callers: two small types, cheap to import at start.

`Answered`: the intake answered for the route (a replayed `Idempotency-Key`
answer, a `202` for a job); raised from `intake.admit` and caught by
`app.handle`, which sends its response as the route's own: nothing after
admission runs, nothing is spent.

`JobRun`: set on a request context when the request runs a job rather than
answering a caller (`jobs/runner.py`).

The front door: a job's run goes through the one request path again
(`app.handle`), which `app` hands over here when it is imported. The jobs
package below it never imports it: the request path stays one-way.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["Answered", "FrontDoor", "JobRun", "front_door", "open_front_door"]


class Answered(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True, slots=True)
class JobRun:
    id: str
    caller: str  # the identity that submitted the job: checked then, not again
    layers: tuple[tuple[str, str, bool], ...] = ()  # its credentials' (kind, name, anonymous), for the access line


class FrontDoor(Protocol):
    def __call__(self, request: Request, *, job: JobRun | None = None) -> Awaitable[Response]: ...


_front_door: list[FrontDoor] = []


def open_front_door(handle: FrontDoor) -> None:
    """`app.handle`, for the runs of jobs (app calls this once, at import)."""
    _front_door[:] = [handle]


def front_door() -> FrontDoor:
    if not _front_door:
        raise RuntimeError("gemini_gateway.app is not imported: no request path to run a job through")
    return _front_door[0]
