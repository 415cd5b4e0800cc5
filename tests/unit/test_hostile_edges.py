"""The pure edges hostile input meets: structural limits, scrubbing, trace headers, secret reprs."""

from __future__ import annotations

import asyncio
import time

import pytest

from gemini_gateway.errors import InvalidJson, InvalidRequest
from gemini_gateway.json_body import MAX_JSON_VALUES, parse_json, parse_json_body
from gemini_gateway.logs import trace_fields
from gemini_gateway.secret_store import SecretRef, SecretStore
from gemini_gateway.upstream.credentials import Credentials
from gemini_gateway.upstream.failures import scrub


@pytest.mark.parametrize(
    "body",
    [
        b"[" + b",".join([b"{}"] * (MAX_JSON_VALUES + 1)) + b"]",
        b"[" + b",".join([b'""'] * (MAX_JSON_VALUES + 1)) + b"]",
        b'{"a": [' + b"0," * MAX_JSON_VALUES + b"0]}",
    ],
)
def test_too_many_values_refused_before_parsing(body: bytes) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_json(body)
    assert info.value.details[0].field == "body"


def test_commas_inside_strings_do_not_count() -> None:
    text = "a," * (MAX_JSON_VALUES + 10)
    assert parse_json(b'{"prompt": "' + text.encode() + b'"}') == {"prompt": text}


def test_unterminated_string_in_a_long_body_is_invalid_json_quickly() -> None:
    body = b'{"prompt": "' + b'\\",' * 200_000
    started = time.perf_counter()
    with pytest.raises(InvalidJson):
        parse_json(body)
    assert time.perf_counter() - started < 1.0


def test_async_parse_yields_and_agrees() -> None:
    body = b'{"prompt": "' + b"a," * (MAX_JSON_VALUES + 10) + b'"}'
    assert asyncio.run(parse_json_body(body)) == parse_json(body)


def test_depth_over_64_names_the_field() -> None:
    value = "1"
    for _ in range(70):
        value = '{"k": ' + value + "}"
    with pytest.raises(InvalidRequest) as info:
        parse_json(('{"metadata": ' + value + "}").encode())
    assert info.value.details[0].field.startswith("metadata.k")
    assert "64 levels" in info.value.details[0].problem


def test_depth_64_is_fine() -> None:
    value = "1"
    for _ in range(63):
        value = "[" + value + "]"
    parse_json(('{"a": ' + value + "}").encode())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"prompt": "\\ud800"}', "prompt"),
        (b'{"m": {"\\udc01": 1}}', "m.<key>"),
        (b'{"a": ["ok", "x\\uDBFFy"]}', "a[1]"),
    ],
)
def test_lone_surrogates_named(body: bytes, field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_json(body)
    assert info.value.details[0].field == field


def test_scrub_is_linear() -> None:
    for text in ("a-" * 50_000, "a" * 200_000, "bearer " * 30_000, "-a1" * 60_000):
        started = time.perf_counter()
        scrub(text, ["some-known-secret-value"])
        assert time.perf_counter() - started < 0.05, text[:10]


def test_scrub_removes_known_secrets_anywhere_even_past_the_scan_window() -> None:
    secret = "plainwordsecret"
    text = "x" * 10_000 + secret
    assert secret not in scrub(text, [secret])
    assert scrub(f"the token {secret} was bad", [secret]) == "the token [redacted] was bad"


def test_trace_header_with_a_huge_span_is_ignored_not_fatal() -> None:
    fields = trace_fields({"x-cloud-trace-context": "0" * 32 + "/" + "9" * 5000 + ";o=1"}, "p")
    assert fields == {}
    fields = trace_fields({"x-cloud-trace-context": "a" * 32 + "/" + "9" * 20 + ";o=1"}, "p")
    assert fields["logging.googleapis.com/spanId"] == f"{99999999999999999999 & 0xFFFFFFFFFFFFFFFF:016x}"


def test_no_secret_value_in_any_repr() -> None:
    assert "s3cret-literal" not in repr(SecretRef("x", None, "s3cret-literal"))
    assert "s3cret-key" not in repr(Credentials("s3cret-key", "s3cret-token"))

    async def fetch(name: str) -> str:
        return "s3cret-fetched"

    store = SecretStore(fetch, ttl=60)
    asyncio.run(store.get(SecretRef("x", "projects/p/secrets/s/versions/1")))
    assert "s3cret-fetched" not in repr(store._cache)


def test_known_values_cover_entries_of_client_keys() -> None:
    async def fetch(name: str) -> str:
        return "ios:client-key-one,web:client-key-two"

    store = SecretStore(fetch, ttl=60)
    asyncio.run(store.get(SecretRef("client keys", "projects/p/secrets/k/versions/1")))
    known = store.known_values()
    assert {"client-key-one", "client-key-two"} <= set(known)
    assert "ios" not in known
