"""The function's own credentials for the upstream: the Gemini key and, if set, the gateway token.

Shaped like httpx's `DigestAuth.auth_flow`: the client asks for credentials,
sends, and when the upstream rejects them asks once for fresh ones
(`rejected`) before resending. Where they come from (Secret Manager or the
environment, cached and single-flight) is `SecretStore`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..secret_store import SecretStore
from ..settings import Settings

__all__ = ["Credentials", "UpstreamCredentials"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """One set of values to send; never logged (its repr hides them)."""

    key: str = field(repr=False)
    token: str | None = field(repr=False)
    known: tuple[str, ...] = field(default=(), repr=False)  # every secret value the function knows

    def headers(self) -> dict[str, str]:
        headers = {"x-goog-api-key": self.key}
        if self.token is not None:
            headers["cf-aig-authorization"] = f"Bearer {self.token}"
        return headers

    def values(self) -> tuple[str, ...]:
        """Every secret value the function knows, for scrubbing anything passed on."""
        sent = (self.key,) if self.token is None else (self.key, self.token)
        return (*sent, *self.known)


class UpstreamCredentials:
    def __init__(self, settings: Settings, secrets: SecretStore) -> None:
        self._secrets = secrets
        self._key = settings.secret("gemini_api_key")
        self._token = settings.secret("ai_gateway_token")
        assert self._key is not None  # load_settings refuses to start without one

    async def current(self) -> Credentials:
        assert self._key is not None
        key = await self._secrets.get(self._key)
        token = await self._secrets.get(self._token) if self._token else None
        return Credentials(key, token, self._secrets.known_values())

    async def rejected(self, sent: Credentials) -> bool:
        """The upstream refused `sent`: fetch fresh values once; True when something changed."""
        assert self._key is not None
        changed = await self._secrets.refresh(self._key, sent.key)
        if self._token is not None and sent.token is not None:
            changed = await self._secrets.refresh(self._token, sent.token) or changed
        return changed
