"""`Idempotency-Key` parsing and fingerprints, and the stores' claim / keep / release rules.

The Redis store runs its Lua scripts against a real redis-server on loopback
(skipped when none is installed); "Redis down" is a client whose every call
fails, as redis-py's does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.datastructures import Headers

from gemini_gateway.errors import InvalidRequest
from gemini_gateway.jobs.idempotency import fingerprint, key_of
from gemini_gateway.jobs.idempotency_store import MemoryIdempotency, RedisIdempotency, Stored
from tests.support.jobs import RedisServer, start_redis

ANSWER = Stored(200, (("content-type", "application/json"),), b'{"text": "hi"}')


def headers(*pairs: tuple[str, str]) -> Headers:
    return Headers(raw=[(k.lower().encode(), v.encode("latin-1")) for k, v in pairs])


# --------------------------------------------------------------------------- the header


def test_key_forms() -> None:
    assert key_of(headers()) is None
    assert key_of(headers(("Idempotency-Key", "abc-123"))) == "abc-123"
    assert key_of(headers(("Idempotency-Key", '"8e03978e-40d5"'))) == "8e03978e-40d5", "the draft's sf-string form"
    assert key_of(headers(("Idempotency-Key", "  spaced key  "))) == "spaced key"
    assert key_of(headers(("Idempotency-Key", "x" * 255))) == "x" * 255
    assert key_of({"idempotency-key": "plain"}) == "plain"


@pytest.mark.parametrize("value", ["", "   ", '""', "x" * 256, "caf\u00e9", "tab\there", "nul\x00"])
def test_bad_keys_name_the_header(value: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        key_of(headers(("Idempotency-Key", value)))
    assert refused.value.details[0].field == "Idempotency-Key"


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        key_of(headers(("Idempotency-Key", "a"), ("Idempotency-Key", "b")))


def test_fingerprint_tells_requests_apart() -> None:
    base = fingerprint("POST", "/", False, b'{"prompt":"hi"}')
    assert base == fingerprint("POST", "/", False, b'{"prompt":"hi"}')
    assert base != fingerprint("POST", "/", False, b'{"prompt": "hi"}'), "the raw bytes, not the parsed JSON"
    assert base != fingerprint("POST", "/", True, b'{"prompt":"hi"}'), "asynchronous is another request"
    assert base != fingerprint("POST", "/v1/chat/completions", False, b'{"prompt":"hi"}')
    assert len(base) == 64


# --------------------------------------------------------------------------- memory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_claim_keep_replay() -> None:
    store = MemoryIdempotency()

    async def scenario() -> None:
        claim = await store.claim("k", "fp", 60)
        assert claim.state == "claimed"
        running = await store.claim("k", "fp", 60)
        assert running.state == "running" and running.fingerprint == "fp"
        other = await store.claim("k", "other", 60)
        assert other.state == "running" and other.fingerprint == "fp", "the holder's fingerprint, for a 422"
        await store.keep("k", claim, ANSWER, 3600)
        done = await store.claim("k", "fp", 60)
        assert done.state == "done" and done.stored == ANSWER

    asyncio.run(scenario())


def test_memory_release_lets_a_retry_run_and_a_stale_claim_cannot_release_another() -> None:
    clock = Clock()
    store = MemoryIdempotency(clock=clock)

    async def scenario() -> None:
        first = await store.claim("k", "fp", 30)
        await store.release("k", first)
        second = await store.claim("k", "fp", 30)
        assert second.state == "claimed"
        await store.release("k", first)  # the first request's release must not drop the second's claim
        assert (await store.claim("k", "fp", 30)).state == "running"
        clock.now += 31  # the second's instance was lost: its lease runs out
        third = await store.claim("k", "fp", 30)
        assert third.state == "claimed"
        await store.keep("k", second, Stored(200, (), b"late"), 3600)  # a late answer does not overwrite
        await store.keep("k", third, ANSWER, 3600)
        assert (await store.claim("k", "fp", 30)).stored == ANSWER
        clock.now += 3601
        assert (await store.claim("k", "fp", 30)).state == "claimed", "kept for the ttl, then forgotten"

    asyncio.run(scenario())


def test_memory_is_bounded_in_entries_and_bytes() -> None:
    store = MemoryIdempotency(max_entries=10, max_bytes=10_000)

    async def scenario() -> None:
        for i in range(50):
            claim = await store.claim(f"k{i}", "fp", 60)
            await store.keep(f"k{i}", claim, Stored(200, (), b"x" * 2000), 3600)
        assert len(store._entries) <= 10 and store._bytes <= 10_000
        assert (await store.claim("k49", "fp", 60)).state == "done", "the newest are kept"

    asyncio.run(scenario())


# --------------------------------------------------------------------------- Redis


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def redis_store(url: str) -> RedisIdempotency:
    from gemini_gateway.callers.redis_state import redis_state

    return RedisIdempotency(redis_state(url), MemoryIdempotency())


def test_redis_claims_are_atomic_under_concurrency(redis: RedisServer) -> None:
    async def scenario() -> None:
        stores = [redis_store(redis.url) for _ in range(4)]  # four "instances", one Redis
        claims = await asyncio.gather(*(stores[i % 4].claim("race", "fp", 30) for i in range(40)))
        assert [c.state for c in claims].count("claimed") == 1
        winner = next(c for c in claims if c.state == "claimed")
        await stores[1].keep("race", winner, ANSWER, 3600)
        replays = await asyncio.gather(*(s.claim("race", "fp", 30) for s in stores))
        assert {r.state for r in replays} == {"done"} and all(r.stored == ANSWER for r in replays)
        for s in stores:
            await s._redis.client.aclose()

    asyncio.run(scenario())


def test_redis_release_compares_the_claim(redis: RedisServer) -> None:
    async def scenario() -> None:
        store = redis_store(redis.url)
        first = await store.claim("rel", "fp", 0.2)
        await asyncio.sleep(0.3)  # its lease ran out in Redis
        second = await store.claim("rel", "fp", 30)
        assert second.state == "claimed"
        await store.release("rel", first)
        assert (await store.claim("rel", "fp", 30)).state == "running", "the first cannot drop the second's claim"
        await store.keep("rel", first, Stored(500, (), b"stale"), 60)
        assert (await store.claim("rel", "fp", 30)).state == "running", "nor overwrite it"
        await store.release("rel", second)
        assert (await store.claim("rel", "fp", 30)).state == "claimed"
        await store._redis.client.aclose()

    asyncio.run(scenario())


class DownClient:
    """What redis-py's client does when nothing listens: every call raises ConnectionError."""

    def register_script(self, script: str) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

        return call

    async def ping(self) -> bool:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")


def test_redis_down_falls_back_to_memory(caplog: pytest.LogCaptureFixture) -> None:
    from gemini_gateway.callers.redis_state import RedisState

    store = RedisIdempotency(RedisState(DownClient()), MemoryIdempotency())

    async def scenario() -> None:
        claim = await store.claim("k", "fp", 30)
        assert claim.state == "claimed"
        assert (await store.claim("k", "fp", 30)).state == "running", "still one run per key on this instance"
        await store.keep("k", claim, ANSWER, 60)
        assert (await store.claim("k", "fp", 30)).stored == ANSWER

    asyncio.run(scenario())


def test_a_body_with_newlines_is_kept_whole() -> None:
    """The stored entry format survives a body holding newlines (the header is the first line only)."""
    store = MemoryIdempotency()

    async def scenario() -> None:
        claim = await store.claim("nl", "fp", 30)
        body = b'{"text": "line one\\nline two"}\n\n'
        await store.keep("nl", claim, Stored(200, (("location", "/v1/jobs/x"),), body), 60)
        done = await store.claim("nl", "fp", 30)
        assert done.stored == Stored(200, (("location", "/v1/jobs/x"),), body)

    asyncio.run(scenario())
