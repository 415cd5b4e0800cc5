"""What the request path knows about server callers: two small types, cheap to import at start.

`Answered`: the intake answered for the route (a replayed `Idempotency-Key`
answer, a `202` for a job); raised from `intake.admit` and caught by
`app.handle`, which sends its response as the route's own: nothing after
admission runs, nothing is spent.

`JobRun`: set on a request context when the request runs a job rather than
answering a caller (`jobs/runner.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

__all__ = ["Answered", "JobRun"]


class Answered(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True, slots=True)
class JobRun:
    id: str
    caller: str  # the identity that submitted the job: checked then, not again
    layers: tuple[tuple[str, str, bool], ...] = ()  # its credentials' (kind, name, anonymous), for the access line
