"""Server-sent events: reading Gemini's stream, writing ours.

Gemini (`:streamGenerateContent?alt=sse`) sends `data: <json>` records
separated by blank lines (CRLF in practice), no `event:` names and no
`[DONE]`; an error after the 200 arrives as a bare `{"error": ...}` block
without a `data:` prefix. The decoder accepts CRLF and LF and reports both
kinds of record.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["SseDecoder", "encode_event"]


class SseDecoder:
    """Feed bytes as they arrive; get back complete records (`data` text or a bare block)."""

    def __init__(self, max_record: int = 16 * 1024 * 1024) -> None:
        self._buffer = b""
        self._max = max_record

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """[(kind, text)] with kind "data" or "raw" (a block with no data: field)."""
        self._buffer += chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in chunk else chunk
        records: list[tuple[str, str]] = []
        while True:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                break
            block, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
            record = _record(block)
            if record is not None:
                records.append(record)
        if len(self._buffer) > self._max:
            raise ValueError("an upstream stream record is too large")
        return records

    def close(self) -> list[tuple[str, str]]:
        """Whatever is left when the upstream closes the stream."""
        block, self._buffer = self._buffer, b""
        record = _record(block)
        return [record] if record is not None else []


def _record(block: bytes) -> tuple[str, str] | None:
    text = block.decode("utf-8").strip("\n")
    if not text.strip():
        return None
    data = [line[5:].removeprefix(" ") for line in text.split("\n") if line.startswith("data:")]
    if data:
        return "data", "\n".join(data)
    if all(line.startswith(":") for line in text.split("\n")):
        return None  # comments / keep-alives
    return "raw", text


def encode_event(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
