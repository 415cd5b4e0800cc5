"""The process-wide parts, built once: settings at import, the rest on first use.

Settings are read when `main.py` is imported (problems are logged once,
naming each variable). The upstream client, secret cache and caller checks
are built on the first request, inside the server's event loop, and shared
by every request of the process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

import httpx

from . import tracing
from .callers import CallerGate
from .callers.budgets import Budgets, make_budgets
from .callers.rate_limit import RateLimiter, make_limiter
from .callers.redis_state import redis_state
from .callers.registry import CHECKS
from .callers.seen import Seen, make_seen
from .callers.spec import CheckDeps
from .errors import Unavailable
from .jobs import service as server_callers
from .logs import configure as configure_logs
from .logs import log
from .policies import PolicySource
from .secret_store import SecretManagerFetcher, SecretStore
from .settings import ConfigError, Settings, load_settings
from .shutdown import draining
from .templates.library import EMPTY, Library, load_templates
from .tool_ids import IdKeys
from .upstream.client import GatewayClient, make_transport

__all__ = ["Runtime", "configuration_problems", "current_settings", "get_runtime", "preload", "refuse_to_start"]


@dataclass
class Runtime:
    settings: Settings
    secrets: SecretStore
    gateway: GatewayClient
    callers: CallerGate
    id_keys: IdKeys
    policies: PolicySource
    jobs: server_callers.ServerCallers  # Idempotency-Key answers, jobs, their runs and deliveries (docs/API.md §12)
    once: Seen  # things done once across instances (an interaction's usage charged)
    limiter: RateLimiter | None = None
    budgets: Budgets | None = None
    templates: Library = EMPTY


_config: Settings | ConfigError | None = None
_runtime: Runtime | None = None
_templates: Library = EMPTY
_fetcher: SecretManagerFetcher | None = None
_fork_hook = False


def preload(environ: Mapping[str, str] | None = None) -> None:
    """Read and validate the environment at start; refuse to start on a static problem (docs/API.md §2).

    A variable missing or invalid will not fix itself: one log line names every
    problem and the process exits non-zero before it serves, so Cloud Run keeps
    the last good revision. Problems that can clear by themselves (Secret
    Manager unreachable, a secret version missing) are found per request and
    answered `503 unavailable` until they clear.
    """
    _load(os.environ if environ is None else environ)
    if isinstance(_config, ConfigError):
        refuse_to_start(_config.problems)


def refuse_to_start(problems: list[tuple[str, str]]) -> NoReturn:
    """Log one line naming every configuration problem, then exit with status 1."""
    summary = "; ".join(f"{var}: {why}" for var, why in problems)
    log.critical(
        f"the function cannot start: {len(problems)} configuration problem{'s' if len(problems) != 1 else ''}: "
        f"{summary}",
        extra={
            "fields": {
                "variables": list(dict.fromkeys(var for var, _ in problems)),  # each named once
                "problems": [{"variable": var, "problem": why} for var, why in problems],
            }
        },
    )
    raise SystemExit(1)


def configuration_problems(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(variable, problem) for every static problem of `environ`, as the start would find them."""
    try:
        loaded = load_settings(environ)
    except ConfigError as exc:
        return exc.problems
    return load_templates(loaded.settings, explicit="PROMPTS_DIR" in environ)[1]


def _load(environ: Mapping[str, str]) -> None:
    global _config, _runtime, _fetcher, _templates
    configure_logs()
    _runtime = None
    _fetcher = None
    _templates = EMPTY
    try:
        loaded = load_settings(environ)
    except ConfigError as exc:
        _config = exc
        return
    _config = loaded.settings
    for warning in [*loaded.warnings, *server_callers.start_warnings(loaded.settings)]:
        log.warning(f"configuration: {warning}")
    started = time.perf_counter()
    library, problems = load_templates(loaded.settings, explicit="PROMPTS_DIR" in environ)
    if problems:  # every template is checked at start: a broken one names its file (docs/API.md §7e)
        _config = ConfigError(problems)
        return
    if library:
        ms = (time.perf_counter() - started) * 1000
        log.info(f"{len(library)} prompt templates loaded from {loaded.settings.prompts_dir} in {ms:.0f} ms")
    _templates = library
    _import_configured_checks(loaded.settings)
    _fetch_key_when_a_worker_starts()


def _fetch_key_when_a_worker_starts() -> None:
    """In each worker gunicorn forks, start fetching the Gemini key at once, beside the server's own start.

    The first request then finds it fetched (or in flight: it waits for that
    fetch, never starts a second one). Nothing happens without a fork (debug
    server, tests) or without GEMINI_API_KEY_SECRET.
    """
    global _fork_hook
    if not _fork_hook:
        _fork_hook = True
        os.register_at_fork(after_in_child=_start_fetch)


def _start_fetch() -> None:
    settings = current_settings()
    if settings is not None and settings.gemini_api_key_secret:
        _secret_fetcher(settings).start_early(settings.gemini_api_key_secret)


def _secret_fetcher(settings: Settings) -> SecretManagerFetcher:
    global _fetcher
    if _fetcher is None:
        _fetcher = SecretManagerFetcher(settings.secret_manager_emulator_host)
    return _fetcher


def _import_configured_checks(settings: Settings) -> None:
    """Import what the configuration uses now, at start, not on the first request.

    PyJWT and the Secret Manager client (~200 ms) are imported before gunicorn
    forks, so every worker shares them. Only modules are loaded here (no
    client or channel: a gRPC channel must not cross a fork).
    """
    if settings.gemini_api_key_secret:
        import google.cloud.secretmanager  # noqa: F401
    for check in CHECKS:
        if check.preload is not None and check.enabled(settings):
            check.preload()
    if settings.redis_url and (
        settings.rate_limit_per_minute or settings.daily_token_budget or settings.secret("caller_policies")
    ):
        import redis.asyncio  # noqa: F401
    server_callers.preload(settings)
    tracing.preload(settings.traces)  # OpenTelemetry only when TRACES is on


def current_settings() -> Settings | None:
    """The settings if they are valid (for CORS and logging on any path)."""
    return _config if isinstance(_config, Settings) else None


def get_runtime() -> Runtime:
    """The shared parts; raises Unavailable (503) while the configuration is broken."""
    global _runtime
    if _runtime is not None:
        return _runtime
    if _config is None:  # used without main.py (a test, a script): no exit, 503 while it is broken
        _load(os.environ)
    if isinstance(_config, ConfigError):
        raise Unavailable(f"the function is not configured correctly ({', '.join(_config.variables)}); see its logs")
    assert isinstance(_config, Settings)
    configure_logs()  # functions-framework may have reset logging after import
    draining.install()
    settings = _config
    secrets = SecretStore(_secret_fetcher(settings), settings.secret_cache_seconds)
    transport = make_transport()
    # Key-set fetches (Firebase, App Check) share the upstream connection pool.
    http = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(10.0), follow_redirects=False)
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    redis = redis_state(redis_url) if redis_url else None  # one client and health state: limits, budgets, replays
    deps = CheckDeps(secrets, http, redis_url, redis)
    enabled = [check for check in CHECKS if check.enabled(settings)]
    policies = PolicySource(settings.secret("caller_policies"), secrets, settings)
    consumers = [check.consumer(settings, deps) for check in enabled if check.consumer is not None]
    _runtime = Runtime(
        settings=settings,
        secrets=secrets,
        gateway=GatewayClient(settings, secrets, transport),
        callers=CallerGate(
            [check.build(settings, deps) for check in enabled],
            settings.allow_unauthenticated,
            policies,
            consumers[0] if consumers else None,
        ),
        id_keys=IdKeys(secrets, settings.secret("tool_id_key"), settings.required_secret("gemini_api_key")),
        policies=policies,
        jobs=server_callers.ServerCallers(settings, secrets, redis),
        once=make_seen(None, redis),  # the process's one Redis client and health state, like the rest
        limiter=make_limiter(
            settings.rate_limit_per_minute, settings.rate_limit_burst, None, always=policies.configured, redis=redis
        ),
        budgets=make_budgets(None, redis) if settings.daily_token_budget or policies.configured else None,
        templates=_templates,
    )
    return _runtime
