"""One request's access-log line: the fields gathered as the request goes, written once.

Everything an operator reads about a request (route, caller, model, tokens,
upstream latency, refusals) is a field of this one line; the log-based
metrics and alerts in infra/ are built from these names, so they are
recorded here and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .answer import Usage
from .errors import ApiError
from .logs import log, trace_fields, write

__all__ = ["AccessLog", "Outcome"]

_PAYLOAD_CHARS = 2000


class Outcome(Protocol):
    """What the upstream said about one call, beside its body (`upstream.UpstreamAnswer` is one)."""

    @property
    def attempts(self) -> int: ...
    @property
    def cache_status(self) -> str | None: ...
    @property
    def upstream_ms(self) -> float: ...


@dataclass
class AccessLog:
    """The fields of one request's access line, and the line itself (`write`, once)."""

    request_id: str
    started: float
    method: str = "POST"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    project: str | None = None
    log_payloads: bool = False
    upstream_ms: float | None = None
    _fields: dict[str, Any] = field(default_factory=dict)
    _written: bool = False

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

    def record_usage(self, usage: Usage) -> None:
        self._fields.update(usage.as_dict())

    def record_finish(self, reason: str) -> None:
        self._fields["finish_reason"] = reason

    def record_response(self, model_version: str | None, response_id: str | None) -> None:
        """Which model version answered and the answer's id, as Gemini gave them (traces use them too)."""
        if model_version:
            self._fields["model_version"] = model_version[:128]
        if response_id:
            self._fields["response_id"] = response_id[:128]

    def record_answer_text(self, text: str) -> None:
        if self.log_payloads:
            self._fields["answer"] = text[:_PAYLOAD_CHARS]

    def record_error(self, error: ApiError, *, mid_stream: bool = False) -> None:
        self._fields["error_type"] = error.type
        if mid_stream:
            self._fields["stream_error"] = True
        if error.log_fields:
            upstream_ms = error.log_fields.get("upstream_ms")
            if isinstance(upstream_ms, float | int) and self.upstream_ms is None:
                self.upstream_ms = float(upstream_ms)
            self._fields.update((k, v) for k, v in error.log_fields.items() if k != "upstream_ms")

    def record_gone(self) -> None:
        self._fields["error_type"] = "client_disconnected"

    def note(self, **fields: Any) -> None:
        """Anything else worth a field (a refused webhook's reason, a bug's exception class and place)."""
        self._fields.update(fields)

    @property
    def fields(self) -> Mapping[str, Any]:
        """Read-only view, for tests and the answer builders."""
        return self._fields

    # --- the line

    def write(self, status: int) -> None:
        """Write the access line; once, whatever calls it again."""
        if self._written:
            return
        self._written = True
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
