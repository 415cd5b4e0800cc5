"""Who is calling: the caller checks behind one interface, and the gate that runs them.

A request must pass at least one configured check. Each check looks only at
its own kind of credential and answers with the caller's identity, or None.
Checks that read only headers (client keys, Firebase Auth, App Check) run
before the body is read; a signed webhook needs the body, so the gate asks
for it only when no header check admitted the request and a signature is
there to check.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from ..errors import Forbidden, Unauthenticated, Unavailable

__all__ = ["Caller", "CallerCheck", "CallerGate", "Note", "bearer_token", "ignore_notes", "note"]

_BEARER = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of `Authorization: Bearer <token>`, if any (a client key or a Firebase ID token)."""
    match = _BEARER.match(headers.get("authorization", ""))
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, as it goes into `cf-aig-metadata` (`caller`)."""

    identity: str


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
    needs_body: ClassVar[bool]  # True only for checks that sign the body (webhooks)

    def presented(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries this check's kind of credential at all (headers only)."""
        ...

    async def identify(self, headers: Mapping[str, str], body: bytes) -> Caller | None:
        """The caller, if this check's credential is present and valid; else None (`note` may say why)."""
        ...


BodyReader = Callable[[], Awaitable[bytes]]


class CallerGate:
    """Run the configured checks; with none, serve anonymously only if allowed.

    Header-only checks run first; the body is read (through `read_body`, which
    bounds it in size and time) only when they admit no one and a check that
    needs the body finds its credential in the headers. So a caller without
    credentials never makes the function hold its body.
    """

    def __init__(self, checks: Sequence[CallerCheck], allow_unauthenticated: bool) -> None:
        self._header_checks = tuple(c for c in checks if not getattr(c, "needs_body", False))
        self._body_checks = tuple(c for c in checks if getattr(c, "needs_body", False))
        self._anonymous = allow_unauthenticated and not checks

    async def identify(self, headers: Mapping[str, str], body: bytes | BodyReader, note: Note = ignore_notes) -> Caller:
        if self._anonymous:
            return Caller("anonymous")
        scope = _notes.set(note)  # what the checks note goes to this request's line while they run
        try:
            return await self._identify(headers, body)
        finally:
            _notes.reset(scope)

    async def _identify(self, headers: Mapping[str, str], body: bytes | BodyReader) -> Caller:
        verdicts = _Verdicts()
        for check in self._header_checks:
            caller = await verdicts.ask(check, headers, b"")
            if caller is not None:
                return caller
        signed = [c for c in self._body_checks if c.presented(headers)]
        if signed:
            raw = body if isinstance(body, bytes) else await body()
            for check in signed:
                caller = await verdicts.ask(check, headers, raw)
                if caller is not None:
                    return caller
        raise verdicts.refusal()


class _Verdicts:
    """A check that refuses a genuine credential (403) or cannot judge it right now (503, e.g.
    Google's keys unreachable) does not stop the others: another credential may still admit."""

    def __init__(self) -> None:
        self._refused: Forbidden | None = None
        self._unavailable: Unavailable | None = None

    async def ask(self, check: CallerCheck, headers: Mapping[str, str], body: bytes) -> Caller | None:
        try:
            return await check.identify(headers, body)
        except Forbidden as exc:
            self._refused = self._refused or exc
        except Unavailable as exc:
            self._unavailable = self._unavailable or exc
        return None

    def refusal(self) -> Exception:
        return self._unavailable or self._refused or Unauthenticated()
