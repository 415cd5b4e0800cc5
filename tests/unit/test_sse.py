"""gemini_gateway.upstream.sse.SseDecoder: Gemini's stream read incrementally, linear in it
(docs/API.md, "The gateway is untrusted too")."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gemini_gateway.errors import UpstreamError
from gemini_gateway.upstream.sse import SseDecoder

STREAM = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]}\r\n\r\n'
    b": keep-alive\r\n\r\n"
    b'data: {"candidates": [{"content": {"parts": [{"text": "lo \xc3\xa9"}]}, "finishReason": "STOP"}]}\r\n\r\n'
    b'{"error": {"code": 503, "message": "overloaded"}}\r\n\r\n'
)
RECORDS = [
    ("data", '{"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]}'),
    ("data", '{"candidates": [{"content": {"parts": [{"text": "lo é"}]}, "finishReason": "STOP"}]}'),
    ("raw", '{"error": {"code": 503, "message": "overloaded"}}'),
]


def decode(pieces: list[bytes], max_record: int = 1 << 20) -> list[tuple[str, str]]:
    decoder = SseDecoder(max_record)
    records = []
    for piece in pieces:
        records += decoder.feed(piece)
    return records + decoder.close()


@given(cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_the_same_records_whatever_the_reads(cuts: list[int]) -> None:
    points = [0, *sorted(set(cuts)), len(STREAM)]
    assert decode([STREAM[a:b] for a, b in itertools.pairwise(points)]) == RECORDS


@pytest.mark.parametrize("newline", [b"\n", b"\r", b"\r\n"])
def test_every_newline_kind_and_multi_line_data(newline: bytes) -> None:
    stream = b"data: a" + newline + b"data: b" + newline + newline + b"data: c" + newline + newline
    assert decode([stream]) == [("data", "a\nb"), ("data", "c")]
    assert decode([bytes([x]) for x in stream]) == [("data", "a\nb"), ("data", "c")]


def test_a_crlf_split_between_reads_is_one_line_end_not_a_blank_line() -> None:
    assert decode([b"data: a\r", b"\ndata: b\r\n\r\n"]) == [("data", "a\nb")]


def test_the_last_record_without_a_blank_line_is_kept_at_the_end() -> None:
    assert decode([b"data: x\n\ndata: y"]) == [("data", "x"), ("data", "y")]


def test_a_record_over_the_cap_is_an_upstream_error_before_it_is_kept() -> None:
    decoder = SseDecoder(max_record=1000)
    decoder.feed(b"data: " + b"a" * 900)
    with pytest.raises(UpstreamError, match="over 16 MiB") as raised:
        decoder.feed(b"a" * 200)
    assert raised.value.status == 502 and raised.value.type == "upstream_error"
    assert len(decoder._held) <= 1000
    with pytest.raises(UpstreamError):  # a whole oversized record in one read too
        SseDecoder(max_record=1000).feed(b"data: " + b"a" * 2000 + b"\n\n")


@pytest.mark.parametrize("where", ["feed", "close"])
def test_invalid_utf8_is_an_upstream_error(where: str) -> None:
    decoder = SseDecoder()
    with pytest.raises(UpstreamError, match="not UTF-8") as raised:
        if where == "feed":
            decoder.feed(b'data: {"text": "\xff\xfe"}\n\n')
        else:
            decoder.feed(b'data: {"text": "\xc3')
            decoder.close()
    assert raised.value.status == 502


def test_a_15_mib_record_in_4_kib_reads_is_linear() -> None:
    """Before: the whole buffer was copied and searched again on every read (60 s of CPU)."""
    record = b'data: {"text": "' + b"a" * (15 * 1024 * 1024) + b'"}\n\n'
    decoder = SseDecoder()
    started = time.process_time()
    records = []
    for i in range(0, len(record), 4096):
        records += decoder.feed(record[i : i + 4096])
    assert time.process_time() - started < 2.0
    assert len(records) == 1 and len(records[0][1]) == len(record) - 8


def test_many_tiny_records_in_one_read_are_linear() -> None:
    chunk = b"data: 1\n\n" * 100_000
    started = time.process_time()
    assert len(SseDecoder().feed(chunk)) == 100_000
    assert time.process_time() - started < 2.0
