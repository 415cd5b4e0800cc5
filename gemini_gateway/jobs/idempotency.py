"""`Idempotency-Key` (docs/API.md, "Idempotency-Key"): a retried request runs once and is billed once.

Decided in `intake.admit` once the caller is known and the body is read, and
before anything is spent. The key is scoped to the caller; the request's
fingerprint (method, path, whether it asked to respond asynchronously, and
the SHA-256 of the raw body) tells a retry from a different request:

- first time: the request runs; its answer (a 2xx, or a 4xx that is not
  retryable) is kept for IDEMPOTENCY_TTL_SECONDS; a retryable failure (429,
  5xx, a caller who left) releases the key, so a retry runs again;
- the same request again: the kept status and body, `Idempotent-Replayed:
  true`, without an upstream call, a rate-limit token or budget;
- while the first still runs: `409 conflict`, retryable, `Retry-After`;
- a different request under the same key: `422 idempotency_mismatch`;
- a key on a streamed request: `400` naming `Idempotency-Key` (a stream
  cannot be replayed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.responses import Response

from ..context import RequestContext
from ..errors import Conflict, IdempotencyMismatch, InvalidRequest, Problem
from ..logs import log
from .idempotency_store import Claim, IdempotencyStore, Stored
from .seams import Answered

__all__ = ["HEADER", "REPLAYED", "enter", "fingerprint", "key_of"]

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
RETRY_AFTER_SECONDS = 2
_LEASE_MARGIN = 30.0  # beyond UPSTREAM_TIMEOUT_SECONDS: how long a claim outlives an instance lost mid-request
_KEPT_HEADERS = ("content-type", "location", "preference-applied")
_RETRYABLE_4XX = frozenset({408, 409, 425, 429, 499})
_MAX_KEY = 255


def key_of(headers: Headers | Mapping[str, str]) -> str | None:
    """The request's key, or None; 400 naming the header when it is malformed.

    The IETF draft writes the key as a structured-field string (`"abc"`),
    Stripe and most senders bare (`abc`): both are the key `abc`.
    """
    values = headers.getlist(HEADER.lower()) if isinstance(headers, Headers) else [headers.get(HEADER.lower())]
    present = [v for v in values if v is not None]
    if not present:
        return None
    if len(present) > 1:
        raise InvalidRequest.for_field(HEADER, "send it once")
    key = present[0].strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not 1 <= len(key) <= _MAX_KEY or not all(" " <= c <= "~" for c in key):
        raise InvalidRequest.for_field(HEADER, f"must be 1 to {_MAX_KEY} printable ASCII characters")
    return key


def fingerprint(method: str, path: str, asynchronous: bool, body: bytes) -> str:
    """What makes two requests under one key the same request."""
    digest = hashlib.sha256(f"{method} {path} {'async' if asynchronous else 'sync'}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _scope(identity: str, key: str) -> str:
    return hashlib.sha256(f"{identity}\n{key}".encode()).hexdigest()


async def enter(ctx: RequestContext, *, streamed: bool, asynchronous: bool) -> None:
    """Decide what a request with a key does: run (and keep its answer), replay, 409 or 422."""
    key = key_of(ctx.request.headers)
    if key is None:
        return
    if streamed:
        raise InvalidRequest.for_field(
            HEADER, "not allowed on a streamed request (a stream cannot be replayed): ask for JSON, or send no key"
        )
    assert ctx.caller is not None and ctx.body is not None, "identify and read the body first"
    runtime = ctx.runtime
    store = runtime.jobs.idempotency
    scope = _scope(ctx.caller.identity, key)
    mine = fingerprint(ctx.request.method, ctx.request.scope["path"], asynchronous, ctx.body)
    claim = await store.claim(scope, mine, runtime.settings.upstream_timeout_seconds + _LEASE_MARGIN)
    if claim.fingerprint != mine:
        ctx.log.note(idempotency="mismatch")
        raise IdempotencyMismatch(
            f"this {HEADER} was used with a different request; use a new key for a new request",
            details=[Problem(HEADER, "the key belongs to a request with another body, route or Prefer")],
        )
    if claim.state == "running":
        ctx.log.note(idempotency="conflict")
        raise Conflict(
            f"the first request with this {HEADER} is still running; retry after it ends",
            retryable=True,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if claim.state == "done":
        assert claim.stored is not None
        ctx.log.note(idempotency="replayed")
        raise Answered(_replay(claim.stored))
    ctx.log.note(idempotency="first")
    ttl = float(runtime.settings.idempotency_ttl_seconds)

    async def settled(response: Response) -> None:
        await _keep_or_release(store, scope, claim, ttl, response)

    ctx.on_answer.append(settled)


def _replay(stored: Stored) -> Response:
    headers = dict(stored.headers)
    headers[REPLAYED] = "true"
    return Response(stored.body, status_code=stored.status, headers=headers)


async def _keep_or_release(store: IdempotencyStore, scope: str, claim: Claim, ttl: float, response: Response) -> None:
    """The answer kept for replays (2xx, a 4xx that is final), or the key released for a retry to run again."""
    status = response.status_code
    body = getattr(response, "body", None)  # a stream has none to keep
    final = 200 <= status < 300 or (400 <= status < 500 and status not in _RETRYABLE_4XX)
    try:
        if final and isinstance(body, bytes):
            headers = tuple((name, value) for name, value in response.headers.items() if name in _KEPT_HEADERS)
            await store.keep(scope, claim, Stored(status, headers, body), ttl)
        else:
            await store.release(scope, claim)
    except Exception as exc:  # noqa: BLE001 - the answer goes out whatever happens to its copy
        log.error("idempotency: the answer could not be kept", extra={"fields": {"error": type(exc).__name__}})
