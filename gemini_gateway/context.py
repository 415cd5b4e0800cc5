"""One request, from the moment it arrives to the moment it is settled.

`RequestContext` is what a request *is* while it is served: its route and
parameters, who is calling (set by the intake), what it may do (its caller
policy), the model it was given, its place in the caller's daily budget, and
its access-log line. Handlers get it and pass it on; nothing about a request
lives anywhere else.

Settling is one method, `settle`: replace the request's budget reservation by
what the answer used, then write the access line, once. `app.handle` settles
a JSON answer before returning it; a stream settles itself when it ends
(`streaming.stream_response` takes that over with `settles_when_streamed`),
however it ended.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from .access_log import AccessLog
from .answer import Answer, Usage
from .callers import Caller
from .callers.budgets import Ticket
from .callers.redis_state import Allowance, start_request_allowance
from .errors import ErrorRenderer, error_body
from .jobs.seams import JobRun
from .policies import Effective
from .runtime import Runtime, get_runtime
from .tool_ids import ToolIds

if TYPE_CHECKING:
    from .tracing import RequestSpan
    from .upstream.client import UpstreamAnswer

__all__ = ["ModelChoice", "RequestContext"]


@dataclass(frozen=True, slots=True)
class ModelChoice:
    model: str  # what is called upstream (after MODEL_ALIASES)
    alias: str | None = None  # the name the caller used, when it was an alias


@dataclass(eq=False)
class RequestContext:
    request: Request
    log: AccessLog
    render_error: ErrorRenderer = error_body  # the route's error shape
    params: Mapping[str, str] = field(default_factory=dict)  # the path's parameters
    caller: Caller | None = None
    policy: Effective | None = None  # what this caller may do
    choice: ModelChoice | None = None
    output_ceiling: int | None = None  # max output tokens sent upstream
    safety_settings: list[dict[str, str]] | None = None  # sent upstream: the caller's and the safety floor
    ticket: Ticket | None = None  # its reservation in the caller's daily token budget, when one applies
    redis_allowance: Allowance = field(default_factory=start_request_allowance)  # its time for Redis, all calls
    body: bytes | None = None  # the raw body, once read (the intake reads it at most once)
    usage: Usage | None = None  # what the answer used so far (a stream's running total)
    job: JobRun | None = None  # set when this request runs a job (jobs/runner.py): its caller was checked at submission
    # Called with the response before the request is settled (an Idempotency-Key keeps the answer).
    on_answer: list[Callable[[Response], Awaitable[None]]] = field(default_factory=list)
    id_keys: tuple[bytes, ...] = ()  # what the ids handed out to this caller are sealed with (tool_ids.py)
    span: RequestSpan | None = None  # its trace span, when TRACES is on (tracing/)
    _deferred: bool = False
    _settled: bool = False

    @property
    def request_id(self) -> str:
        return self.log.request_id

    @property
    def started(self) -> float:
        return self.log.started

    @property
    def runtime(self) -> Runtime:
        """The process-wide parts; 503 while the configuration cannot serve."""
        return get_runtime()

    @property
    def tool_ids(self) -> ToolIds:
        """Tool-call ids for this caller: one handed out to another caller does not open."""
        assert self.caller is not None and self.id_keys, "the intake identifies the caller and fetches the keys first"
        return ToolIds(self.id_keys, self.caller.identity)

    @property
    def model(self) -> str:
        assert self.choice is not None, "the intake chose no model for this route"
        return self.choice.model

    @property
    def body_read(self) -> bool:
        """An error answered before the whole body arrived closes the connection."""
        return self.body is not None

    def elapsed_ms(self) -> float:
        return self.log.elapsed_ms()

    def record_usage(self, usage: Usage | None) -> None:
        """What the answer used (a stream: the running total, charged if it is cut short)."""
        if usage is not None:
            self.usage = usage

    def record_answer(self, answer: Answer, meta: UpstreamAnswer) -> None:
        """A whole answer's facts for the access line and the caller's budget: timing, finish, usage, text."""
        usage = answer.usage or Usage()
        self.log.record_upstream(meta)
        self.log.record_finish(answer.finish_reason or "other")
        self.log.record_response(answer.model_version, answer.response_id)
        self.log.record_usage(usage)
        self.log.record_answer_text(answer.text)
        self.record_usage(usage)

    # --- settling

    def settles_when_streamed(self) -> None:
        """The response is a stream that calls `settle` when it ends (not `app.handle` when it returns)."""
        self._deferred = True

    @property
    def deferred(self) -> bool:
        return self._deferred

    async def settle(self, status: int) -> None:
        """Settle the budget reservation with what the answer used, then write the access line (and end the span); once.

        What the answer used is Gemini's last usage (a stream cut short: the
        last usage it sent); no usage (a call that failed before any answer,
        a refusal, a request that never went upstream) gives the whole
        reservation back. A caller that left (499) keeps its whole reservation:
        Gemini bills what it generated (thinking included) up to the cap sent,
        whether or not its usage arrived, so leaving early must not be free.
        """
        if self._settled:
            return
        self._settled = True
        if self.ticket is not None:
            tokens = self.usage.total_tokens if self.usage is not None else 0
            if status == 499:
                tokens = max(tokens, self.ticket.reserved)
            await self.ticket.settle(tokens)
            self.log.note(budget_reserved=self.ticket.reserved, budget_spent=self.ticket.spent)
        self.log.write(status)
        if self.span is not None:
            self.span.end(status, self.log, self.output_ceiling)
