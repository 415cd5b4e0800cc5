"""Secrets from Secret Manager (or the environment), cached per instance.

A secret is fetched once per SECRET_CACHE_SECONDS, not per request; callers
that arrive together while it is missing share one fetch. When the upstream
rejects a key, `refresh` drops it and fetches again once, so a new secret
version is served without a redeploy. When Secret Manager fails but an
expired value is at hand, the old value keeps serving (and the failure is
logged) rather than turning a Secret Manager blip into an outage.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import Unavailable

__all__ = ["Fetcher", "SecretManagerFetcher", "SecretRef", "SecretSetting", "SecretStore"]

log = logging.getLogger("gemini_gateway")

Fetcher = Callable[[str], Awaitable[str]]
_RETRY_FAILED_FETCH_AFTER = 10.0
_REFRESH_AT_MOST_EVERY = 10.0
_MIN_SCRUB_CHARS = 8  # shorter pieces (key names such as "ios") are not secrets and would garble messages
_ENTRY = re.compile(r"[,\n]")


def _retrieve(future: asyncio.Future[str]) -> None:
    if not future.cancelled():
        future.exception()


@dataclass(frozen=True, slots=True)
class SecretSetting:
    """A secret the function reads: `<NAME>_SECRET` (Secret Manager) or `<NAME>` (local development)."""

    name: str  # settings field of the literal; the Secret Manager name is `<name>_secret`
    label: str  # what it is, for logs and errors; never the value
    scrub: bool = True  # its values are removed from anything passed on (not the policy document)

    def ref(self, settings: object) -> SecretRef | None:
        """Where this secret comes from under `settings`, or None when neither variable is set."""
        secret_name: str | None = getattr(settings, f"{self.name}_secret")
        literal: Any = getattr(settings, self.name)  # a pydantic SecretStr, or None
        if secret_name is None and literal is None:
            return None
        value = literal.get_secret_value() if literal is not None else None
        return SecretRef(self.label, secret_name, value, scrub=self.scrub)

    def required(self, settings: object) -> SecretRef:
        """`ref` for a secret that must be configured (a check built only when its secret is set)."""
        ref = self.ref(settings)
        if ref is None:
            raise ValueError(f"the {self.label} is not configured")
        return ref


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where one secret comes from: a Secret Manager version name, or a literal."""

    label: str  # what it is, for logs and errors ("Gemini API key"); never the value
    name: str | None = None
    literal: str | None = field(default=None, repr=False)
    scrub: bool = True  # removed from anything passed on (see SecretStore.known_values)


@dataclass(slots=True)
class _Entry:
    value: str = field(repr=False)
    expires: float = 0.0
    scrub: bool = True


class SecretStore:
    def __init__(self, fetch: Fetcher, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[str]] = {}
        self._refreshed: dict[str, tuple[float, str]] = {}
        self._literals: set[str] = set()
        self._known: tuple[str, ...] | None = None

    def known_values(self) -> tuple[str, ...]:
        """Every secret value this store has handed out, and the entries inside them, longest first.

        Scrubbing removes all of them from anything passed on: the Gemini key,
        the gateway token, each client key and webhook secret (the values hold
        `name:key` entries, comma- or newline-separated).
        """
        if self._known is None:
            found: set[str] = set()
            for value in (*self._literals, *(e.value for e in self._cache.values() if e.scrub)):
                found.add(value)
                for entry in _ENTRY.split(value):
                    found.add(entry.strip())
                    found.add(entry.partition(":")[2].strip())
            self._known = tuple(sorted((v for v in found if len(v) >= _MIN_SCRUB_CHARS), key=len, reverse=True))
        return self._known

    async def get(self, ref: SecretRef) -> str:
        if ref.name is None:
            if ref.literal is None:
                raise Unavailable(f"the {ref.label} is not configured")
            if ref.scrub and ref.literal not in self._literals:
                self._literals.add(ref.literal)
                self._known = None
            return ref.literal
        entry = self._cache.get(ref.name)
        if entry is not None and entry.expires > self._clock():
            return entry.value
        return await self._load(ref)

    async def refresh(self, ref: SecretRef, rejected: str) -> bool:
        """Drop `rejected` and fetch again once; True when the value changed."""
        if ref.name is None:
            return False
        last = self._refreshed.get(ref.name)
        if last is not None and last[1] == rejected and self._clock() - last[0] < _REFRESH_AT_MOST_EVERY:
            return False  # just refetched and got this same value: do not hammer Secret Manager
        entry = self._cache.get(ref.name)
        if entry is not None and entry.value == rejected:
            entry.expires = 0.0  # expired: the next get refetches, shared with everyone else
        elif entry is not None and entry.expires > self._clock():
            return entry.value != rejected  # someone already refreshed it
        try:
            fresh = await self._load(ref, keep_stale=False)
        except Unavailable:
            return False
        self._refreshed[ref.name] = (self._clock(), fresh)
        return fresh != rejected

    async def _load(self, ref: SecretRef, keep_stale: bool = True) -> str:
        assert ref.name is not None
        pending = self._inflight.get(ref.name)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            pending.add_done_callback(_retrieve)  # no "exception never retrieved" noise if all waiters left
            self._inflight[ref.name] = pending
            asyncio.get_running_loop().create_task(self._fill(ref, pending, keep_stale))
        return await asyncio.shield(pending)

    async def _fill(self, ref: SecretRef, pending: asyncio.Future[str], keep_stale: bool) -> None:
        assert ref.name is not None
        try:
            value = (await self._fetch(ref.name)).strip()
            if not value:
                raise ValueError("the secret version is empty")
        except Exception as exc:  # noqa: BLE001 - every failure becomes Unavailable
            stale = self._cache.get(ref.name)
            log.warning(
                "secret fetch failed",
                extra={
                    "fields": {"secret": ref.name, "error": _describe(exc), "serving_stale": bool(stale and keep_stale)}
                },
            )
            if stale is not None and keep_stale:
                stale.expires = self._clock() + min(self._ttl, _RETRY_FAILED_FETCH_AFTER)
                pending.set_result(stale.value)
            else:
                pending.set_exception(Unavailable(f"the {ref.label} is unavailable right now"))
        else:
            self._cache[ref.name] = _Entry(value, self._clock() + self._ttl, ref.scrub)
            self._known = None
            pending.set_result(value)
        finally:
            self._inflight.pop(ref.name, None)


def _describe(exc: BaseException) -> str:
    """Exception class and gRPC code, never its text (it may quote a payload)."""
    code = getattr(exc, "code", None)
    code_name = getattr(code, "name", None) if code is not None and not callable(code) else None
    if code_name is None and callable(code):
        try:
            code_name = getattr(code(), "name", None)
        except Exception:  # noqa: BLE001
            code_name = None
    return f"{type(exc).__name__}{f' ({code_name})' if code_name else ''}"


class SecretManagerFetcher:
    """The real google-cloud-secret-manager client, built on first use.

    The sync client runs in a worker thread: fetches are rare (once per cache
    period), and this keeps gRPC's own event machinery out of our loop.
    """

    def __init__(self, emulator_host: str | None = None, timeout: float = 10.0) -> None:
        self._emulator_host = emulator_host
        self._timeout = timeout
        self._client: Any = None
        self._early: dict[str, concurrent.futures.Future[str]] = {}
        self._lock = threading.Lock()  # the client is built once, by whichever thread needs it first

    def start_early(self, name: str) -> None:
        """Fetch `name` now in a thread of its own (a worker starting up); the first request takes the result.

        If that fetch fails, the first request fetches again, as it would have
        without this: a start-up failure means 503 only until a fetch works.
        """
        if name in self._early:
            return
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._early[name] = future

        def run() -> None:
            try:
                future.set_result(self._access(name))
            except Exception as exc:  # noqa: BLE001 - handed to the first request, which fetches again
                future.set_exception(exc)

        threading.Thread(target=run, name="secret-prefetch", daemon=True).start()

    def _build(self) -> Any:
        from google.cloud import (
            secretmanager,  # heavy import: only when a secret is configured
        )

        if self._emulator_host:
            import grpc
            from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
                SecretManagerServiceGrpcTransport,
            )

            channel = grpc.insecure_channel(self._emulator_host)
            return secretmanager.SecretManagerServiceClient(
                transport=SecretManagerServiceGrpcTransport(channel=channel)
            )
        return secretmanager.SecretManagerServiceClient()

    def _access(self, name: str) -> str:
        with self._lock:
            if self._client is None:
                self._client = self._build()
        response = self._client.access_secret_version(name=name, timeout=self._timeout)
        return bytes(response.payload.data).decode("utf-8")

    async def __call__(self, name: str) -> str:
        early = self._early.pop(name, None)
        if early is not None:
            try:
                return await asyncio.wrap_future(early)
            except Exception as exc:  # noqa: BLE001 - the start-up fetch failed: fetch again, now
                log.warning(
                    "secret fetch at start-up failed; fetching again",
                    extra={"fields": {"secret": name, "error": _describe(exc)}},
                )
        return await asyncio.to_thread(self._access, name)
