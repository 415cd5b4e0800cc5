"""An `Idempotency-Key` claimed or answered through Redis still protects a retry on this instance once Redis fails.

Against a real redis-server on loopback; the outage is the health state's own
(`RedisState.failed`, as a slow or failing call marks it), so every later call
counts in memory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from gemini_gateway.callers.redis_state import RedisState, redis_client
from gemini_gateway.jobs.idempotency_store import MemoryIdempotency, RedisIdempotency, Stored
from tests.support.jobs import start_redis

ANSWER = Stored(200, (("content-type", "application/json"),), b'{"text": "hi"}')


def test_claims_and_answers_taken_by_redis_hold_through_an_outage(tmp_path: Path) -> None:
    server = start_redis(tmp_path)

    async def scenario() -> None:
        state = RedisState(redis_client(server.url), probe_every=60.0)
        store = RedisIdempotency(state, MemoryIdempotency())
        try:
            running = await store.claim("still-running", "fp", 30)
            answered = await store.claim("answered", "fp", 30)
            assert running.state == answered.state == "claimed"
            await store.keep("answered", answered, ANSWER, 3600)
            released = await store.claim("released", "fp", 30)
            await store.release("released", released)

            state.failed(ConnectionError("test: Redis is down"))  # from now on, memory
            assert (await store.claim("still-running", "fp", 30)).state == "running", "not a second run"
            replay = await store.claim("answered", "fp", 30)
            assert replay.state == "done" and replay.stored == ANSWER
            assert (await store.claim("released", "fp", 30)).state == "claimed", "a released key runs again"
            assert (await store.claim("answered", "other", 30)).fingerprint == "fp", "a mismatch is still one"
        finally:
            await state.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
