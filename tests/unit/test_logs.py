"""gemini_gateway.logs: trace fields and one JSON line per record on the current stdout."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from gemini_gateway.logs import adopt, configure, log, trace_fields

TRACE = "105445aa7843bc8bf206b12000100000"
TRACE_KEY = "logging.googleapis.com/trace"
SPAN_KEY = "logging.googleapis.com/spanId"
SAMPLED_KEY = "logging.googleapis.com/trace_sampled"


@pytest.mark.parametrize(
    ("header", "span", "sampled"),
    [
        (f"{TRACE}/1;o=1", "0000000000000001", True),
        (f"{TRACE}/1;o=0", "0000000000000001", False),
        (f"{TRACE}/255", "00000000000000ff", False),
        (f"{TRACE}/18446744073709551615;o=1", "ffffffffffffffff", True),
        (f"{TRACE};o=1", None, True),
        (TRACE, None, False),
        (f"  {TRACE.upper()}/1  ", "0000000000000001", False),
    ],
)
def test_cloud_trace_context(header: str, span: str | None, sampled: bool) -> None:
    fields = trace_fields(httpx.Headers({"X-Cloud-Trace-Context": header}), None)
    assert fields[TRACE_KEY] == TRACE
    assert fields[SAMPLED_KEY] is sampled
    assert fields.get(SPAN_KEY) == span


def test_project_prefix() -> None:
    fields = trace_fields(httpx.Headers({"X-Cloud-Trace-Context": f"{TRACE}/1;o=1"}), "test-project")
    assert fields[TRACE_KEY] == f"projects/test-project/traces/{TRACE}"


@pytest.mark.parametrize(
    ("header", "sampled"),
    [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", False),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", True),
    ],
)
def test_traceparent(header: str, sampled: bool) -> None:
    fields = trace_fields(httpx.Headers({"traceparent": header}), "p")
    assert fields == {
        TRACE_KEY: "projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736",
        SAMPLED_KEY: sampled,
        SPAN_KEY: "00f067aa0ba902b7",
    }


def test_cloud_trace_context_wins_over_traceparent() -> None:
    both = httpx.Headers(
        {
            "X-Cloud-Trace-Context": f"{TRACE}/1;o=1",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        }
    )
    assert trace_fields(both, None)[TRACE_KEY] == TRACE


def test_bad_cloud_trace_falls_back_to_traceparent() -> None:
    both = httpx.Headers(
        {"X-Cloud-Trace-Context": "garbage", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    )
    assert trace_fields(both, None)[TRACE_KEY] == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"X-Cloud-Trace-Context": ""},
        {"X-Cloud-Trace-Context": "garbage"},
        {"X-Cloud-Trace-Context": TRACE[:-1]},
        {"X-Cloud-Trace-Context": TRACE + "0"},
        {"X-Cloud-Trace-Context": f"{TRACE}/abc"},
        {"X-Cloud-Trace-Context": f"{TRACE}/1;o=2"},
        {"X-Cloud-Trace-Context": "g" * 32},
        {"traceparent": "garbage"},
        {"traceparent": "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"},
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"},
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01"},
    ],
)
def test_garbage_gives_nothing(given: dict[str, str]) -> None:
    assert trace_fields(httpx.Headers(given), "p") == {}


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_line_on_current_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    configure()
    log.info("request done", extra={"fields": {"status": 200, "latency_ms": 12.5, "route": "/"}})
    out = lines(capsys.readouterr().out)
    assert out == [{"severity": "INFO", "message": "request done", "status": 200, "latency_ms": 12.5, "route": "/"}]


def test_severity_and_formatting(capsys: pytest.CaptureFixture[str]) -> None:
    configure()
    log.warning("secret fetch failed for %s", "Gemini API key")
    log.error("boom")
    out = lines(capsys.readouterr().out)
    assert out == [
        {"severity": "WARNING", "message": "secret fetch failed for Gemini API key"},
        {"severity": "ERROR", "message": "boom"},
    ]


def test_non_json_values_stringified_and_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure()
    log.info("multi\nline", extra={"fields": {"obj": object(), "text": "a\nb"}})
    raw = capsys.readouterr().out
    assert raw.count("\n") == 1
    entry = lines(raw)[0]
    assert entry["message"] == "multi\nline" and entry["text"] == "a\nb"
    assert isinstance(entry["obj"], str)


def test_configure_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    configure()
    configure()
    log.info("once")
    assert len(lines(capsys.readouterr().out)) == 1


def test_configure_survives_reset(capsys: pytest.CaptureFixture[str]) -> None:
    log.disabled = True
    log.setLevel(logging.CRITICAL)
    configure()
    log.info("back")
    assert lines(capsys.readouterr().out) == [{"severity": "INFO", "message": "back"}]


def test_an_adopted_library_logger_writes_one_line_without_a_stack_trace(capsys: pytest.CaptureFixture[str]) -> None:
    """A library that logs with exc_info (the Cloud Trace exporter does) gets one JSON line: class and place only."""
    library = logging.getLogger("opentelemetry.exporter.test")
    adopt(logging.getLogger("opentelemetry"))
    try:
        raise ConnectionError("failed to reach trace.googleapis.com with key AIzaSyTest-fake-key-0000000000000000")
    except ConnectionError:
        library.warning("Error while writing to Cloud Trace", exc_info=True)
    raw = capsys.readouterr()
    assert raw.err == "" and raw.out.count("\n") == 1 and "Traceback" not in raw.out and "AIza" not in raw.out
    entry = lines(raw.out)[0]
    assert entry["severity"] == "WARNING" and entry["message"] == "Error while writing to Cloud Trace"
    assert entry["exception"] == "ConnectionError" and entry["at"].startswith("test_logs.py:")
