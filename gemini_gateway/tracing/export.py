"""Where finished spans go, and how the caller's trace context is read.

`cloud_trace`: batched to Cloud Trace by `opentelemetry-exporter-gcp-trace`
from a background thread; the exporter (its gRPC channel, its credentials
lookup) is built by that thread on its first export, so no request waits for
it. `console`: one JSON line per finished span on stdout, written as the span
ends, under a single `otel_span` key so no reader takes it for a log line
(log lines have `severity` and `message`).

The caller's context: W3C `traceparent`, then `X-Cloud-Trace-Context`, the
latter winning when both are sent, as for the access line's trace fields
(logs.py), so a request's log line and its spans share one trace.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import orjson
from opentelemetry.propagators.cloud_trace_propagator import CloudTraceOneWayPropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .. import __version__
from ..logs import adopt

__all__ = ["PROPAGATOR", "SPAN_KEY", "JsonLinesExporter", "make_provider", "preload_cloud_trace"]

SPAN_KEY = "otel_span"
SERVICE_NAME = "gemini-gateway-function"

# Extracts only: the function never sends the caller's context on (the upstream is not ours to trace).
PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), CloudTraceOneWayPropagator()])


def make_provider(mode: str, project: str | None) -> TracerProvider:
    """A private tracer provider (not the global one: client libraries' own tracing stays as configured).

    Sampling is OpenTelemetry's default, parent-based: a caller's sampled flag is followed, and a
    request without a parent is sampled (`OTEL_TRACES_SAMPLER`, read by the SDK, changes that).
    """
    resource = Resource.create({"service.name": SERVICE_NAME, "service.version": __version__})
    provider = TracerProvider(resource=resource)
    if mode == "console":
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter()))
    else:
        # The exporter logs a failed write with its stack trace: one JSON line instead, like every other.
        adopt(logging.getLogger("opentelemetry"))
        provider.add_span_processor(BatchSpanProcessor(_CloudTrace(project)))
    return provider


def preload_cloud_trace() -> None:
    """Import the Cloud Trace client at start (before the fork); it is built on the first export."""
    import opentelemetry.exporter.cloud_trace  # noqa: F401


class JsonLinesExporter(SpanExporter):
    """One JSON line per span on the current stdout (functions-framework may have wrapped it, as for logs)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        out = sys.stdout
        for span in spans:
            out.write(orjson.dumps({SPAN_KEY: as_dict(span)}).decode() + "\n")
        out.flush()
        return SpanExportResult.SUCCESS


def as_dict(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    start, end = span.start_time or 0, span.end_time or 0
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": format_trace_id(context.trace_id) if context else None,
        "span_id": format_span_id(context.span_id) if context else None,
        "parent_span_id": format_span_id(span.parent.span_id) if span.parent else None,
        "sampled": bool(context and context.trace_flags.sampled),
        "start_unix_nano": start,
        "duration_ms": round((end - start) / 1e6, 3),
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "attributes": dict(span.attributes or {}),
    }


class _CloudTrace(SpanExporter):
    """`CloudTraceSpanExporter`, built by the export thread on its first batch (credentials, channel)."""

    def __init__(self, project: str | None) -> None:
        self._project = project
        self._exporter: SpanExporter | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._exporter is None:
            from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter

            self._exporter = CloudTraceSpanExporter(project_id=self._project)  # type: ignore[no-untyped-call]
        return self._exporter.export(spans)

    def shutdown(self) -> None:
        if self._exporter is not None:
            self._exporter.shutdown()
