"""An access token for Google APIs from the function's own identity (Application Default Credentials).

On Cloud Run that is the runtime service account, through the metadata
server; locally, `gcloud auth application-default login`. google-auth does
the work (imported on first use: only deployments that call a Google API
from a request pay for it); its refresh is blocking, so it runs in a thread,
once for everyone waiting, and the token is reused until shortly before it
expires.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Any

from ..errors import Unavailable
from ..logs import log

__all__ = ["GoogleAccessToken"]

_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_EARLY = 300.0  # refresh this long before expiry


class GoogleAccessToken:
    def __init__(self, scopes: tuple[str, ...] = _SCOPES) -> None:
        self._scopes = scopes
        self._credentials: Any = None
        self._token: tuple[str, float] | None = None  # (value, monotonic expiry)
        self._lock: asyncio.Lock | None = None

    async def token(self) -> str:
        cached = self._token
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            cached = self._token
            if cached is not None and time.monotonic() < cached[1]:
                return cached[0]
            try:
                self._token = await asyncio.to_thread(self._refresh)
            except Exception as exc:  # noqa: BLE001 - no credentials is a 503, retryable, never a pass
                log.warning("Google credentials unavailable", extra={"fields": {"error": type(exc).__name__}})
                raise Unavailable("the function's Google credentials are unavailable right now") from None
            return self._token[0]

    def _refresh(self) -> tuple[str, float]:
        import google.auth
        import google.auth.transport.requests

        if self._credentials is None:
            self._credentials, _ = google.auth.default(scopes=list(self._scopes))
        self._credentials.refresh(google.auth.transport.requests.Request())
        expiry = self._credentials.expiry
        if expiry is not None and expiry.tzinfo is None:  # google-auth keeps naive UTC: not this machine's zone
            expiry = expiry.replace(tzinfo=datetime.UTC)
        lifetime = (expiry.timestamp() - time.time()) if expiry is not None else 3600.0
        return str(self._credentials.token), time.monotonic() + max(0.0, lifetime - _EARLY)
