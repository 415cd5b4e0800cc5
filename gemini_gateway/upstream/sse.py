"""Server-sent events: reading Gemini's stream, writing ours.

Gemini (`:streamGenerateContent?alt=sse`) sends `data: <json>` records
separated by blank lines (CRLF in practice), no `event:` names and no
`[DONE]`; an error after the 200 arrives as a bare `{"error": ...}` block
without a `data:` prefix. The decoder accepts CRLF, CR and LF (a CRLF split
between two reads included) and reports both kinds of record.

The stream comes from outside the function, so decoding is linear in it:
each byte is appended once, searched once and copied out once, whatever the
read sizes; a record's size is checked before it is kept; a record that is
not UTF-8 or is too large is an `UpstreamError`, never another exception.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import UpstreamError

__all__ = ["MAX_RECORD", "SseDecoder", "encode_event"]

MAX_RECORD = 16 * 1024 * 1024


class SseDecoder:
    """Feed bytes as they arrive; get back complete records (`data` text or a bare block)."""

    def __init__(self, max_record: int = MAX_RECORD) -> None:
        self._held = bytearray()  # the start of a record whose end has not arrived
        self._max = max_record
        self._cr = False  # the last read ended with CR: a LF starting the next one belongs to it

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """[(kind, text)] with kind "data" or "raw" (a block with no data: field)."""
        data = self._newlines(chunk)
        if not data:
            return []
        held = self._held
        view = memoryview(data)
        records: list[tuple[str, str]] = []
        start = 0
        if held.endswith(b"\n") and data.startswith(b"\n"):  # the blank line spans the two reads
            _emit(held, 0, len(held) - 1, records)
            held.clear()
            start = 1
        end = data.find(b"\n\n", start)
        while end >= 0:
            if len(held) + end - start > self._max:
                raise _too_large()
            if held:
                held += view[start:end]
                _emit(held, 0, len(held), records)
                held.clear()
            else:
                _emit(data, start, end, records)
            start = end + 2
            end = data.find(b"\n\n", start)
        if len(held) + len(data) - start > self._max:
            raise _too_large()
        held += view[start:]
        return records

    def close(self) -> list[tuple[str, str]]:
        """Whatever is left when the upstream closes the stream."""
        records: list[tuple[str, str]] = []
        _emit(self._held, 0, len(self._held), records)
        self._held.clear()
        return records

    def _newlines(self, chunk: bytes) -> bytes:
        """CRLF and CR as LF, a CRLF split across reads included."""
        if self._cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._cr = chunk.endswith(b"\r")
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return chunk


def _emit(buffer: bytes | bytearray, start: int, end: int, records: list[tuple[str, str]]) -> None:
    """Decode buffer[start:end]; a lone `data:` line (Gemini's every record) is decoded without a copy first."""
    try:
        if buffer.startswith(b"data:", start, end) and buffer.find(b"\n", start, end) < 0:
            skip = start + (6 if buffer.startswith(b" ", start + 5, end) else 5)
            records.append(("data", str(memoryview(buffer)[skip:end], "utf-8")))
            return
        text = str(memoryview(buffer)[start:end], "utf-8")
    except UnicodeDecodeError:
        raise UpstreamError("the upstream stream sent a record that is not UTF-8") from None
    record = _record(text)
    if record is not None:
        records.append(record)


def _too_large() -> UpstreamError:
    return UpstreamError("the upstream stream sent a record over 16 MiB")


def _record(text: str) -> tuple[str, str] | None:
    text = text.strip("\n")
    if not text.strip():
        return None
    lines = text.split("\n")
    data = [line[5:].removeprefix(" ") for line in lines if line.startswith("data:")]
    if data:
        return "data", "\n".join(data)
    if all(line.startswith(":") for line in lines):
        return None  # comments / keep-alives
    return "raw", text


def encode_event(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
