"""One job's state: what the store keeps, what its caller may see, and how it moves on.

The state is a small JSON document (the request body is kept beside it, not
in it, and dropped once the job has ended). Every change is a pure function
of the state read (`claim_run`, `finish`, ...), written back by the store only
if nobody changed it meanwhile (`store.update`), so two instances handed the
same task cannot both run it while its lease holds.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson

__all__ = [
    "DELIVERY_STATES",
    "LEASE_SECONDS",
    "Job",
    "new_job_id",
    "valid_job_id",
]

LEASE_SECONDS = 10.0
"""How long a run holds its job without renewing; the runner renews it every third of that.
A lost instance stops renewing, so another may take the job over this long after."""
DELIVERY_STATES = ("pending", "delivered", "gone", "failed")
_ID_HEX = 32


def new_job_id() -> str:
    """`job_` and 128 random bits in hex: unguessable, and a valid Cloud Tasks task id."""
    return "job_" + os.urandom(_ID_HEX // 2).hex()


def valid_job_id(value: str) -> bool:
    return len(value) == 4 + _ID_HEX and value.startswith("job_") and all(c in "0123456789abcdef" for c in value[4:])


@dataclass(frozen=True)
class Job:
    id: str
    caller: str
    created: int
    path: str  # the route it runs ("/")
    content_type: str
    submitted_by: str  # the submission's request id
    layers: list[dict[str, Any]] = field(default_factory=list)  # the caller's credentials: kind, name, anonymous
    status: str = "queued"  # queued | running | succeeded | failed
    callback: str | None = None
    lease_until: float = 0.0  # while running: when another runner may take it over
    runner: str = ""  # the current run's token
    runs: int = 0  # runs started (more than one: an instance was lost mid-run)
    finished: int | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    delivery: str | None = None  # one of DELIVERY_STATES once there is something to deliver
    delivery_attempts: int = 0

    # --- storage

    def dumps(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: bytes) -> Job:
        fields = orjson.loads(raw)
        known = {k: v for k, v in fields.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    # --- what callers see

    @property
    def ended(self) -> bool:
        return self.status in ("succeeded", "failed")

    def public(self) -> dict[str, Any]:
        """The job object of docs/API.md §12 (`GET /v1/jobs/{id}`, a delivery's `data`)."""
        body: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "created": self.created,
            "status_url": f"/v1/jobs/{self.id}",
        }
        if self.finished is not None:
            body["finished"] = self.finished
        if self.result is not None:
            body["result"] = self.result
        if self.error is not None:
            body["error"] = self.error
        return body

    # --- transitions (None: nothing to change)

    def claim_run(self, token: str, now: float) -> Job | None:
        """Running under `token`, if it is queued or its last run's lease ran out."""
        if self.ended or (self.status == "running" and self.lease_until > now):
            return None
        return replace(self, status="running", runner=token, lease_until=now + LEASE_SECONDS, runs=self.runs + 1)

    def renew(self, token: str, now: float) -> Job | None:
        if self.status != "running" or self.runner != token:
            return None
        return replace(self, lease_until=now + LEASE_SECONDS)

    def release(self, token: str) -> Job | None:
        """Queued again (the run could not finish here; the queue tries again)."""
        if self.status != "running" or self.runner != token:
            return None
        return replace(self, status="queued", runner="", lease_until=0.0)

    def finish(self, token: str, result: dict[str, Any] | None, error: dict[str, Any] | None, now: float) -> Job | None:
        """Ended with its answer, if this run still holds it (a run that lost its lease does not overwrite)."""
        if self.ended or self.runner != token:
            return None
        return replace(
            self,
            status="succeeded" if error is None else "failed",
            result=result,
            error=error,
            finished=int(now),
            lease_until=0.0,
            delivery="pending" if self.callback else None,
        )

    def attempted(self, attempt: int, outcome: str, max_attempts: int) -> Job | None:
        """After delivery attempt `attempt`: delivered, gone (410), failed (the last attempt, or a URL no longer
        allowed: `refused`), or still pending."""
        if self.delivery != "pending":
            return None
        if outcome in ("delivered", "gone"):
            state = outcome
        elif outcome == "refused" or attempt >= max_attempts:
            state = "failed"
        else:
            state = "pending"
        return replace(self, delivery=state, delivery_attempts=max(self.delivery_attempts, attempt))
