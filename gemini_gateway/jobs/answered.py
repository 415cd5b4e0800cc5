"""`Answered`: the intake answered for the route (a replayed `Idempotency-Key` answer, a `202` for a job).

Raised from `intake.admit` and caught by `app.handle`, which sends its
response as the route's own: nothing after admission runs, nothing is spent.
"""

from __future__ import annotations

from starlette.responses import Response

__all__ = ["Answered"]


class Answered(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response
