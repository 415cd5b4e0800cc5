"""One request's record: who called, what for, how it went, and its one access-log line.

`Exchange` is the only owner of a request's log fields. Routes tell it facts
through its `record_*` methods; `log_access` writes the line exactly once,
whether the answer was JSON (when `app.handle` returns it) or a stream (when
the stream ends, handed to the stream response as its end hook).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from .callers.budgets import Ticket
from .errors import ApiError, error_body
from .logs import log, trace_fields, write
from .normalize import Answer, Usage

__all__ = ["ErrorRenderer", "Exchange", "Outcome", "note_current"]

ErrorRenderer = Callable[[ApiError, str], dict[str, Any]]
_PAYLOAD_CHARS = 2000
_current: ContextVar[Exchange | None] = ContextVar("gemini_gateway_exchange", default=None)


def note_current(**fields: Any) -> None:
    """A fact for the access line of the request being served, from code that has no exchange at hand.

    For the operator only (a webhook refused for its timestamp, not its signature): never said to the caller.
    """
    exchange = _current.get()
    if exchange is not None:
        exchange.note(**fields)


class Outcome(Protocol):
    """What the upstream said about one call, beside its body (`upstream.UpstreamAnswer` is one)."""

    @property
    def attempts(self) -> int: ...
    @property
    def cache_status(self) -> str | None: ...
    @property
    def upstream_ms(self) -> float: ...


@dataclass
class Exchange:
    """One request's facts, gathered for its headers and its access-log line."""

    request_id: str
    started: float
    method: str = "POST"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    project: str | None = None
    log_payloads: bool = False
    render_error: ErrorRenderer = error_body
    upstream_ms: float | None = None
    body_read: bool = False  # an error answered before the whole body arrived closes the connection
    ticket: Ticket | None = None  # the caller's daily token budget, when one applies
    _tokens: int = 0  # usage total_tokens of the answer so far (the last stream chunk's, for a stream)
    _fields: dict[str, Any] = field(default_factory=dict)
    _logged: bool = False

    def __post_init__(self) -> None:
        _current.set(self)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    # --- facts, in the order a request meets them

    def record_route(self, route: str) -> None:
        self._fields["route"] = route

    def record_caller(self, identity: str) -> None:
        self._fields["caller"] = identity

    def record_model(self, model: str, alias: str | None = None) -> None:
        self._fields["model"] = model
        if alias is not None:
            self._fields["model_alias"] = alias

    def record_prompt(self, text: str) -> None:
        if self.log_payloads:
            self._fields["prompt"] = text[:_PAYLOAD_CHARS]

    def record_stream(self) -> None:
        self._fields["stream"] = True

    def record_upstream(self, outcome: Outcome) -> None:
        self.upstream_ms = outcome.upstream_ms
        self._fields.update(attempts=outcome.attempts, cache_status=outcome.cache_status)

    def record_answer(self, answer: Answer, outcome: Outcome) -> None:
        """The answer's usage, finish reason and timing (and its text when payloads are logged)."""
        self.record_upstream(outcome)
        self._fields["finish_reason"] = answer.finish_reason or "other"
        usage = answer.usage or Usage()
        self._fields.update(usage.as_dict())
        self._tokens = usage.total_tokens
        if self.log_payloads:
            self._fields["answer"] = answer.text[:_PAYLOAD_CHARS]

    def record_usage(self, usage: Usage | None) -> None:
        """A stream chunk's running usage: what is charged if the stream is cut short."""
        if usage is not None:
            self._tokens = usage.total_tokens

    async def settle(self) -> None:
        """Charge the answer's tokens to the caller's daily budget, once (nothing when no budget applies)."""
        if self.ticket is not None and not self.ticket.charged:
            await self.ticket.charge(self._tokens)
            self._fields["budget_spent"] = self.ticket.spent

    async def finish_stream(self, status: int) -> None:
        """The end of a streamed answer: charge what it used, then write its access line."""
        await self.settle()
        self.log_access(status)

    def record_error(self, error: ApiError, *, mid_stream: bool = False) -> None:
        self._fields["error_type"] = error.type
        if mid_stream:
            self._fields["stream_error"] = True

    def record_gone(self) -> None:
        self._fields["error_type"] = "client_disconnected"

    def note(self, **fields: Any) -> None:
        """Anything else worth a log field (exception class and place of a bug, say)."""
        self._fields.update(fields)

    @property
    def fields(self) -> Mapping[str, Any]:
        """Read-only view, for tests and the answer builders."""
        return self._fields

    # --- the line

    def log_access(self, status: int) -> None:
        """Write this request's access-log line; once, whatever calls it again."""
        if self._logged:
            return
        self._logged = True
        total_ms = self.elapsed_ms()
        entry: dict[str, Any] = {
            "httpRequest": {
                "requestMethod": self.method,
                "requestUrl": self.path[:2048],
                "status": status,
                "latency": f"{total_ms / 1000:.4f}s",
                "userAgent": self.headers.get("user-agent", "")[:200],
            },
            "request_id": self.request_id,
            "status": status,
            "latency_ms": round(total_ms, 2),
        }
        if self.upstream_ms is not None:
            entry["upstream_ms"] = round(self.upstream_ms, 2)
        entry.update(self._fields)
        entry.update(trace_fields(self.headers, self.project))
        severity = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
        try:
            write(severity, f"{self.method} {self.path[:256]} {status}", entry)
        except Exception:  # noqa: BLE001 - a log line must never break a request
            log.error("the access line could not be written", extra={"fields": {"request_id": self.request_id}})
