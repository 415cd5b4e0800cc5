"""Where `Idempotency-Key` answers are kept: this instance's memory, or Redis (REDIS_URL) shared by every instance.

One entry per (caller, key): first a claim (`running`, with the request's
fingerprint and a random token, for a lease), then the stored answer (`done`,
for IDEMPOTENCY_TTL_SECONDS). Claiming is atomic: in Redis, `SET NX PX` and,
when it finds an entry, reading that entry, in one Lua script, so two
instances racing on one key see one winner. Storing and releasing compare
the token first, so a request whose lease ran out cannot overwrite or drop
the entry of the request that claimed the key after it.

Redis slow or down: the same fail-open-to-memory rule as the rate limits
(`callers/redis_state.py`: the process's one health state, and the request's
one Redis allowance): per instance, the key still protects retries that land
on the same instance, also those of a claim or answer Redis took before the
outage (memory holds a copy of what this instance claimed and kept there).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from ..callers.redis_state import FailOpen, RedisState

__all__ = ["Claim", "IdempotencyStore", "MemoryIdempotency", "RedisIdempotency", "Stored"]

_KEY_PREFIX = "gemini-gateway:idempotency:"
_MAX_ENTRIES = 100_000
_MAX_BYTES = 64 * 1024 * 1024  # stored answers, in memory; the oldest are forgotten past this

# KEYS[1] the entry; ARGV[1] the claim, ARGV[2] its lease in ms. nil: claimed; else the entry found.
_CLAIM_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
"""
# KEYS[1] the entry; ARGV[1] our claim, ARGV[2] the answer, ARGV[3] its ttl in ms.
_KEEP_LUA = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


@dataclass(frozen=True, slots=True)
class Stored:
    """An answer as it is replayed: status, the headers worth keeping, the body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class Claim:
    state: Literal["claimed", "running", "done"]
    fingerprint: str  # the request's that holds the key (ours when claimed)
    token: bytes = b""  # ours, when claimed
    stored: Stored | None = None  # when done


def _running(fingerprint: str) -> bytes:
    return orjson.dumps({"state": "running", "fp": fingerprint, "token": os.urandom(12).hex()})


def _done(fingerprint: str, stored: Stored) -> bytes:
    head = orjson.dumps({"state": "done", "fp": fingerprint, "status": stored.status, "headers": stored.headers})
    return head + b"\n" + stored.body


def _parse(raw: bytes) -> Claim:
    head, _, body = raw.partition(b"\n")
    entry = orjson.loads(head)
    if entry.get("state") == "done":
        headers = tuple((str(k), str(v)) for k, v in entry.get("headers") or ())
        return Claim("done", str(entry["fp"]), stored=Stored(int(entry["status"]), headers, body))
    return Claim("running", str(entry["fp"]))


class IdempotencyStore(Protocol):
    async def claim(self, key: str, fingerprint: str, lease: float) -> Claim:
        """The key for this request (`claimed`), or what holds it: a request still `running`, or its answer."""
        ...

    async def keep(self, key: str, claim: Claim, stored: Stored, ttl: float) -> None: ...

    async def release(self, key: str, claim: Claim) -> None: ...


@dataclass
class MemoryIdempotency:
    """Entries in this instance's memory, bounded in count and bytes (the oldest forgotten first)."""

    clock: Callable[[], float] = time.monotonic
    max_entries: int = _MAX_ENTRIES
    max_bytes: int = _MAX_BYTES
    _entries: OrderedDict[str, tuple[bytes, float]] = field(default_factory=OrderedDict)  # key → (entry, expires)
    _bytes: int = 0

    def _get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found[1] <= self.clock():
            self._pop(key)
            return None
        return found[0]

    def _pop(self, key: str) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self._bytes -= len(found[0])

    def _set(self, key: str, entry: bytes, seconds: float) -> None:
        self._pop(key)
        self._entries[key] = (entry, self.clock() + seconds)
        self._bytes += len(entry)
        while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
            self._pop(next(iter(self._entries)))

    def claim_now(self, key: str, fingerprint: str, lease: float) -> Claim:
        found = self._get(key)
        if found is not None:
            return _parse(found)
        entry = _running(fingerprint)
        self._set(key, entry, lease)
        return Claim("claimed", fingerprint, entry)

    def keep_now(self, key: str, claim: Claim, stored: Stored, ttl: float) -> None:
        found = self._get(key)
        if found is None or found == claim.token:
            self._set(key, _done(claim.fingerprint, stored), ttl)

    def release_now(self, key: str, claim: Claim) -> None:
        if self._get(key) == claim.token:
            self._pop(key)

    def hold(self, key: str, claim: Claim, lease: float) -> None:
        """A claim made in Redis, held here too: a retry on this instance while Redis is down still sees it."""
        self._set(key, claim.token, lease)

    async def claim(self, key: str, fingerprint: str, lease: float) -> Claim:
        return self.claim_now(key, fingerprint, lease)

    async def keep(self, key: str, claim: Claim, stored: Stored, ttl: float) -> None:
        self.keep_now(key, claim, stored, ttl)

    async def release(self, key: str, claim: Claim) -> None:
        self.release_now(key, claim)


class RedisIdempotency:
    """Entries in Redis, shared by every instance; memory while Redis is slow or down."""

    def __init__(self, redis: RedisState, fallback: MemoryIdempotency) -> None:
        self._redis = redis
        client = redis.client
        self._claim = client.register_script(_CLAIM_LUA)
        self._keep = client.register_script(_KEEP_LUA)
        self._release = client.register_script(_RELEASE_LUA)
        self._fallback = fallback

    async def _run(self, script: Any, key: str, args: list[Any]) -> tuple[bool, Any]:
        """(True, reply) from Redis, or (False, None) when it is not to be used now (the caller uses memory)."""
        try:
            return True, await self._redis.call(lambda: script(keys=[_KEY_PREFIX + key], args=args))
        except FailOpen:
            return False, None

    async def claim(self, key: str, fingerprint: str, lease: float) -> Claim:
        entry = _running(fingerprint)
        ok, reply = await self._run(self._claim, key, [entry, max(1, int(lease * 1000))])
        if not ok:
            return self._fallback.claim_now(key, fingerprint, lease)
        if reply is not None:
            return _parse(bytes(reply))
        claim = Claim("claimed", fingerprint, entry)
        self._fallback.hold(key, claim, lease)  # memory follows what Redis holds, for an outage that may come
        return claim

    async def keep(self, key: str, claim: Claim, stored: Stored, ttl: float) -> None:
        ok, kept = await self._run(self._keep, key, [claim.token, _done(claim.fingerprint, stored), int(ttl * 1000)])
        if not ok or int(kept) == 1:
            self._fallback.keep_now(key, claim, stored, ttl)

    async def release(self, key: str, claim: Claim) -> None:
        await self._run(self._release, key, [claim.token])
        self._fallback.release_now(key, claim)  # what memory holds for this claim goes too, whatever Redis said
