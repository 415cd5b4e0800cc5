"""callers/seen.py against a real redis-server: an id first seen through Redis is still a replay once Redis fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gemini_gateway.callers.redis_state import RedisState, redis_client
from gemini_gateway.callers.seen import MemorySeen, RedisSeen
from tests.support.jobs import start_redis


def test_replay_on_this_instance_is_caught_while_redis_is_failing(tmp_path: Path) -> None:
    server = start_redis(tmp_path)

    async def scenario() -> None:
        state = RedisState(redis_client(server.url), probe_every=60.0)
        seen = RedisSeen(state, MemorySeen())
        try:
            assert await seen.first_time("x-signature:delivery-1", 600.0)
            assert not await seen.first_time("x-signature:delivery-1", 600.0)  # Redis says: seen
            state.failed(ConnectionError("test: Redis is down"))  # from now on, memory
            assert not state.healthy
            assert not await seen.first_time("x-signature:delivery-1", 600.0)  # memory says so too
            assert await seen.first_time("x-signature:delivery-2", 600.0)
        finally:
            await state.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
