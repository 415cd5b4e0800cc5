"""The process-wide parts, built once: settings at import, the rest on first use.

Settings are read when `main.py` is imported (problems are logged once,
naming each variable). The upstream client, secret cache and caller checks
are built on the first request, inside the server's event loop, and shared
by every request of the process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .callers import ApiKeyCheck, Caller, CallerCheck, CallerGate
from .errors import Unavailable
from .logs import configure as configure_logs
from .logs import log
from .secret_store import SecretManagerFetcher, SecretRef, SecretStore
from .settings import ConfigError, Settings, load_settings
from .upstream import GatewayClient, make_http_client

__all__ = ["Runtime", "current_settings", "get_runtime", "preload"]


@dataclass
class Runtime:
    settings: Settings
    secrets: SecretStore
    gateway: GatewayClient
    callers: CallerGate

    async def admit(self, headers: Mapping[str, str], body: bytes) -> Caller:
        """The caller checks every route runs once, on the raw body, before parsing it."""
        return await self.callers.identify(headers, body)


_config: Settings | ConfigError | None = None
_runtime: Runtime | None = None


def preload(environ: Mapping[str, str] | None = None) -> None:
    """Read and validate the environment once; log what is wrong, by variable."""
    global _config, _runtime
    configure_logs()
    _runtime = None
    try:
        loaded = load_settings(os.environ if environ is None else environ)
    except ConfigError as exc:
        _config = exc
        for var, why in exc.problems:
            log.error(f"configuration: {var} {why}", extra={"fields": {"variable": var}})
        log.error("the function will answer 503 until its configuration is fixed")
        return
    _config = loaded.settings
    for warning in loaded.warnings:
        log.warning(f"configuration: {warning}")


def current_settings() -> Settings | None:
    """The settings if they are valid (for CORS and logging on any path)."""
    return _config if isinstance(_config, Settings) else None


def get_runtime() -> Runtime:
    """The shared parts; raises Unavailable (503) while the configuration is broken."""
    global _runtime
    if _runtime is not None:
        return _runtime
    if _config is None:
        preload()
    if isinstance(_config, ConfigError):
        raise Unavailable(f"the function is not configured correctly ({', '.join(_config.variables)}); see its logs")
    assert isinstance(_config, Settings)
    configure_logs()  # functions-framework may have reset logging after import
    settings = _config
    secrets = SecretStore(SecretManagerFetcher(settings.secret_manager_emulator_host), settings.secret_cache_seconds)
    checks: list[CallerCheck] = []
    if settings.client_api_keys_secret or settings.client_api_keys:
        literal = settings.client_api_keys.get_secret_value() if settings.client_api_keys else None
        checks.append(ApiKeyCheck(secrets, SecretRef("client API keys", settings.client_api_keys_secret, literal)))
    _runtime = Runtime(
        settings=settings,
        secrets=secrets,
        gateway=GatewayClient(settings, secrets, make_http_client()),
        callers=CallerGate(checks, settings.allow_unauthenticated),
    )
    return _runtime
