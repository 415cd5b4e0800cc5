"""Who is calling: caller checks as layers, and the gate that runs them (docs/API.md §6).

An app's key, even its App Check set-up, can be extracted; what an operator
needs is "my genuine app *and* a signed-in user". So every credential a
request presents is checked, each by its check, and one that is present and
bad refuses the request whatever else is good. The caller's identity is the
most specific layer (`uid:` > the key's name > `app:` > `webhook`); the
others ride along (access line: `layers`, `app_id`, `key`).

Order: header-only layers first; then the caller's policy for that identity
(its `require`, anonymous users, App Check consumption), decided before any
body is read; a signed webhook's body is read, bounded, only when a signature
is presented.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ..errors import Unauthenticated
from ..policies import Effective

__all__ = [
    "Caller",
    "CallerCheck",
    "CallerGate",
    "Consumer",
    "Layer",
    "Note",
    "Policies",
    "bearer_token",
    "ignore_notes",
    "note",
]

_BEARER = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)
RANK = ("user", "api_key", "app_check", "webhook")  # most specific first
HEADER_TO_SEND = {
    "user": "Authorization: Bearer <Firebase ID token of a signed-in user>",
    "api_key": "X-API-Key: <client key>",
    "app_check": "X-Firebase-AppCheck: <App Check token>",
}


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of `Authorization: Bearer <token>`, if any (a client key or a Firebase ID token)."""
    match = _BEARER.match(headers.get("authorization", ""))
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class Layer:
    """One verified credential: its kind and the name it gives the caller."""

    kind: str  # "user", "api_key", "app_check" or "webhook"
    name: str  # "uid:<uid>", the key's name, "app:<app id>", "webhook"
    anonymous: bool = False  # a Firebase anonymous sign-in
    token: str | None = field(default=None, repr=False, compare=False)  # kept for App Check consumption


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, as it goes into `cf-aig-metadata` (`caller`), with every layer that came with it."""

    identity: str
    layers: tuple[Layer, ...] = ()

    def layer(self, kind: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.kind == kind), None)

    def log_fields(self) -> dict[str, Any]:
        """The access line's view: `layers` (kinds), and the key's name and app id when present."""
        fields: dict[str, Any] = {"layers": [layer.kind for layer in self.layers]}
        key, app = self.layer("api_key"), self.layer("app_check")
        if key is not None:
            fields["key"] = key.name
        if app is not None:
            fields["app_id"] = app.name.removeprefix("app:")
        return fields


class Note(Protocol):
    """Facts for the request's access line (why a credential was refused): for the operator, never the caller."""

    def __call__(self, **fields: Any) -> None: ...


def ignore_notes(**fields: Any) -> None:
    return None


_notes: ContextVar[Note] = ContextVar("caller_check_notes", default=ignore_notes)


def note(**fields: Any) -> None:
    """From inside a check: a fact for the access line of the request the gate is checking (and no other)."""
    _notes.get()(**fields)


class CallerCheck(Protocol):
    kind: ClassVar[str]  # the layer it verifies
    needs_body: ClassVar[bool]  # True only for checks that sign the body (webhooks)

    def presented(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries this check's kind of credential at all (headers only)."""
        ...

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Layer:
        """The layer a presented credential stands for; Unauthenticated (or Forbidden, Unavailable) otherwise."""
        ...


class Consumer(Protocol):
    async def consume(self, layer: Layer) -> None:
        """Spend a one-time credential (an App Check token with replay protection); 401 when already spent."""
        ...


class Policies(Protocol):
    async def effective(self, identity: str) -> Effective: ...


BodyReader = Callable[[], Awaitable[bytes]]


class CallerGate:
    """Run every check whose credential is presented; with none configured, serve anonymously only if allowed."""

    def __init__(
        self,
        checks: Sequence[CallerCheck],
        allow_unauthenticated: bool,
        policies: Policies | None = None,
        consumer: Consumer | None = None,
    ) -> None:
        self._header_checks = tuple(c for c in checks if not c.needs_body)
        self._body_checks = tuple(c for c in checks if c.needs_body)
        self._anonymous = allow_unauthenticated and not checks
        self._policies = policies
        self._consumer = consumer

    async def identify(self, headers: Mapping[str, str], body: bytes | BodyReader, note: Note = ignore_notes) -> Caller:
        if self._anonymous:
            return Caller("anonymous")
        scope = _notes.set(note)  # what the checks note goes to this request's line while they run
        try:
            return await self._identify(headers, body)
        finally:
            _notes.reset(scope)

    async def _identify(self, headers: Mapping[str, str], read_body: bytes | BodyReader) -> Caller:
        layers = [await check.verify(headers, b"") for check in self._header_checks if check.presented(headers)]
        signed = [check for check in self._body_checks if check.presented(headers)]
        if not layers and not signed:
            raise Unauthenticated()
        identity = _identity(layers) if layers else "webhook"
        if self._policies is not None:  # what must come with this identity: decided before any body is read
            effective = await self._policies.effective(identity)
            _require(effective, layers, identity)
        if signed:
            body = read_body if isinstance(read_body, bytes) else await read_body()
            layers += [await check.verify(headers, body) for check in signed]
        caller = Caller(identity, tuple(sorted(layers, key=lambda layer: RANK.index(layer.kind))))
        app = caller.layer("app_check")
        if app is not None and self._consumer is not None and await self._consumes(identity):
            await self._consumer.consume(app)
        return caller

    async def _consumes(self, identity: str) -> bool:
        return self._policies is not None and (await self._policies.effective(identity)).app_check_consume


def _identity(layers: Sequence[Layer]) -> str:
    return min(layers, key=lambda layer: RANK.index(layer.kind)).name


def _require(effective: Effective, layers: Sequence[Layer], identity: str) -> None:
    """A layer the caller's policy requires and the request lacks: 401 naming the header to send."""
    kinds = {layer.kind for layer in layers}
    user = next((layer for layer in layers if layer.kind == "user"), None)
    if user is not None and user.anonymous and not effective.allow_anonymous_users:
        note(refused="anonymous sign-in")
        raise Unauthenticated(f"a signed-in user is required: send {HEADER_TO_SEND['user']} (not an anonymous one)")
    missing = [kind for kind in effective.require if kind not in kinds]
    if missing:
        note(refused=f"missing {', '.join(missing)} for {identity}")
        wanted = "; ".join(HEADER_TO_SEND[kind] for kind in missing)
        raise Unauthenticated(f"this caller must also send {wanted}")
