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
from dataclasses import dataclass
from typing import ClassVar, Protocol

from ..errors import Forbidden, Unauthenticated, Unavailable

__all__ = ["Caller", "CallerCheck", "CallerGate", "bearer_token"]

_BEARER = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of `Authorization: Bearer <token>`, if any (a client key or a Firebase ID token)."""
    match = _BEARER.match(headers.get("authorization", ""))
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, as it goes into `cf-aig-metadata` (`caller`)."""

    identity: str


class CallerCheck(Protocol):
    needs_body: ClassVar[bool]  # True only for checks that sign the body (webhooks)

    def presented(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries this check's kind of credential at all (headers only)."""
        ...

    async def identify(self, headers: Mapping[str, str], body: bytes) -> Caller | None:
        """The caller, if this check's credential is present and valid; else None."""
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

    async def identify(self, headers: Mapping[str, str], body: bytes | BodyReader) -> Caller:
        if self._anonymous:
            return Caller("anonymous")
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
