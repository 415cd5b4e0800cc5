"""What the Interactions routes send back: Google's interaction (and its stream events) with ids sealed.

Interaction ids belong to their caller (docs/API.md §7d): Google stores
interactions and continues them by id, so an id forwarded as it is would let
any caller read, continue, cancel or delete another caller's conversation.
Every id Google hands out is sealed for the caller it was given to
(`tool_ids.Sealer`, purpose "interaction"); every id a caller names is opened
with that caller's seal, and one that does not open is `404 not_found`. The
rest of each answer, thought signatures included, travels unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict

from ...answer import Usage
from ...errors import NotFound
from ...model_base import Doc
from ...tool_ids import Sealer

__all__ = [
    "Interaction",
    "InteractionIds",
    "InteractionsErrorBody",
    "Prepaid",
    "seal_event",
    "seal_interaction",
    "usage_of",
]


class Interaction(Doc):
    """Google's Interaction, passed through as the upstream sent it (ids sealed for the caller)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    id: str | None = None
    status: str | None = None
    model: str | None = None
    agent: str | None = None
    steps: list[dict[str, Any]] | None = None
    usage: dict[str, Any] | None = None
    previous_interaction_id: str | None = None


class InteractionsError(Doc):
    code: str
    message: str
    status: str
    request_id: str
    details: list[dict[str, Any]] | None = None
    retry_after_seconds: int | None = None


class InteractionsErrorBody(Doc):
    """Errors on the Interactions routes, in the Interactions API's shape (string codes)."""

    error: InteractionsError


_PREFIX = "ix_"


@dataclass(frozen=True)
class Prepaid:
    """What a background create kept of its reservation (tokens), on which UTC day's budget."""

    tokens: int
    day: str


class InteractionIds:
    def __init__(self, keys: Sequence[bytes], caller: str) -> None:
        self._sealer = Sealer(keys, "interaction", caller)

    def seal(self, google_id: str, prepaid: Prepaid | None = None) -> str:
        """The caller's id for `google_id`; a background create's id also carries what it prepaid, and when."""
        payload: dict[str, Any] = {"g": google_id}
        if prepaid is not None and prepaid.tokens > 0:
            payload.update(p=prepaid.tokens, d=prepaid.day)
        return self._sealer.seal(_PREFIX, payload)

    def open(self, sealed: str) -> str:
        """Google's id of an interaction this caller was handed; 404 for any other id."""
        return self.opened(sealed)[0]

    def opened(self, sealed: str) -> tuple[str, Prepaid | None]:
        """Google's id and what its create prepaid (a background create's id only); 404 for any other id."""
        try:
            payload = self._sealer.open(_PREFIX, sealed)
        except ValueError:
            payload = {}
        google_id, tokens, day = payload.get("g"), payload.get("p"), payload.get("d")
        if not isinstance(google_id, str) or not google_id:
            raise NotFound("no such interaction")
        if isinstance(tokens, int) and tokens > 0 and isinstance(day, str):
            return google_id, Prepaid(tokens, day)
        return google_id, None


def seal_interaction(interaction: Any, ids: InteractionIds, prepaid: Prepaid | None = None) -> Any:
    """An Interaction object with its own id (carrying `prepaid`) and its previous interaction's id sealed."""
    if isinstance(interaction, dict):
        for key in ("id", "previous_interaction_id"):
            value = interaction.get(key)
            if isinstance(value, str) and value:
                interaction[key] = ids.seal(value, prepaid if key == "id" else None)
    return interaction


def seal_event(event: Any, ids: InteractionIds, prepaid: Prepaid | None = None) -> Any:
    """A stream event with the interaction ids it carries sealed (`interaction.*`, `interaction_id`)."""
    if isinstance(event, dict):
        if isinstance(event.get("interaction"), dict):
            seal_interaction(event["interaction"], ids, prepaid)
        value = event.get("interaction_id")
        if isinstance(value, str) and value:
            event["interaction_id"] = ids.seal(value, prepaid)
    return event


def usage_of(interaction: Any) -> Usage | None:
    """The interaction's `usage` in our terms, when it carries one (counts that are not counts read as 0)."""
    usage = interaction.get("usage") if isinstance(interaction, dict) else None
    if not isinstance(usage, dict):
        return None

    def count(name: str) -> int:
        value = usage.get(name, 0)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    return Usage(
        input_tokens=count("total_input_tokens"),
        output_tokens=count("total_output_tokens"),
        thinking_tokens=count("total_thought_tokens"),
        cached_tokens=count("total_cached_tokens"),
        total_tokens=count("total_tokens"),
    )
