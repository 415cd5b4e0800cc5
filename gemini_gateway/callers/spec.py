"""What a caller check declares about itself, so that one registry entry wires it everywhere.

Settings (which variables turn it on, its secrets, its rules across
variables), the runtime (how it is built, what it imports at start), CORS
(the request headers it reads) and the OpenAPI document (its security
schemes) all read the same `CheckSpec`. A check module holds its own settings
(a pydantic mixin of `Settings`), its verification and its spec; the
registry (`callers/registry.py`) lists it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..secret_store import SecretSetting, SecretStore
from .gate import CallerCheck, Consumer
from .redis_state import RedisState

__all__ = ["CheckDeps", "CheckSpec", "no_rules"]


@dataclass(frozen=True, slots=True)
class CheckDeps:
    """What a check may use at run time: the secret cache, an HTTP client (key-set fetches) and Redis, if any."""

    secrets: SecretStore
    http: httpx.AsyncClient
    redis_url: str | None = None
    redis: RedisState | None = None  # the process's one Redis client and health state, when REDIS_URL is set


def no_rules(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    return []


@dataclass(frozen=True)
class CheckSpec:
    name: str  # in `Settings.caller_checks`
    enabled_by: tuple[str, ...]  # variables any one of which turns it on (the first is the one to advise)
    enabled: Callable[[Any], bool]  # from the validated settings
    build: Callable[[Any, CheckDeps], CallerCheck]  # imports what it needs (cold start: only when configured)
    headers: tuple[str, ...] = ()  # request headers it reads (CORS allows them)
    security: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # OpenAPI security schemes
    secrets: tuple[SecretSetting, ...] = ()
    preload: Callable[[], None] | None = None  # imports worth paying at start, before the fork, when it is on
    # Spends a one-time credential after the caller's policy is known (App Check replay protection).
    consumer: Callable[[Any, CheckDeps], Consumer] | None = None
    rules: Callable[[Mapping[str, str]], list[tuple[str, str]]] = no_rules  # (variable, problem) across variables
