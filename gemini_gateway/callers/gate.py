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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

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
    async def identify(self, headers: Mapping[str, str], body: bytes) -> Caller | None:
        """The caller, if this check's credential is present and valid; else None."""
        ...


class CallerGate:
    """Run the configured checks; with none, serve anonymously only if allowed."""

    def __init__(self, checks: Sequence[CallerCheck], allow_unauthenticated: bool) -> None:
        self._checks = tuple(checks)
        self._anonymous = allow_unauthenticated and not self._checks

    async def identify(self, headers: Mapping[str, str], body: bytes) -> Caller:
        if self._anonymous:
            return Caller("anonymous")
        # A check that refuses a genuine credential (403) or cannot judge it right now (503, e.g.
        # Google's keys unreachable) does not stop the others: another credential may still admit.
        refused: Forbidden | None = None
        unavailable: Unavailable | None = None
        for check in self._checks:
            try:
                caller = await check.identify(headers, body)
            except Forbidden as exc:
                refused = refused or exc
                continue
            except Unavailable as exc:
                unavailable = unavailable or exc
                continue
            if caller is not None:
                return caller
        raise unavailable or refused or Unauthenticated()
