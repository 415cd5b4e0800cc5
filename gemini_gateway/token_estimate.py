"""A request's input tokens, estimated before Gemini counts them: what a daily budget reserves for the input.

The rule (docs/API.md, "Daily token budgets"):

- text: its UTF-8 bytes / 4 (Google's rule of thumb is about 4 characters
  a token for English; counting bytes rather than characters makes a
  character of a non-Latin script, which often is a token of its own,
  weigh more);
- function declarations, response schemas, function calls and results: the
  bytes of their JSON / 4;
- each inline media part (image, audio, video, PDF): a fixed 1,120 tokens,
  what Gemini 3 charges for one image at its default (high) media
  resolution; audio, video and PDF are charged by length, so for them this
  is an underestimate;
- plus 1 for the whole request.

No tokenizer runs: the estimate must cost microseconds whatever the body
(a 4 MB prompt is one `len`). It is settled against Gemini's own count
(`usageMetadata`) when the answer arrives, so its error only matters for
the one reservation it was made for.
"""

from __future__ import annotations

from typing import Any

import pydantic_core

__all__ = ["BYTES_PER_TOKEN", "MEDIA_PART_TOKENS", "InputEstimate"]

BYTES_PER_TOKEN = 4
MEDIA_PART_TOKENS = 1120


class InputEstimate:
    """Adds up what a request sends as input; `tokens()` is the estimate."""

    __slots__ = ("_bytes", "_media")

    def __init__(self) -> None:
        self._bytes = 0
        self._media = 0

    def text(self, value: str | None) -> None:
        if value:
            self._bytes += len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))

    def json(self, value: Any) -> None:
        """A JSON value or a model (a schema, a declaration, a call's arguments), by its serialised size."""
        if value is not None:
            self._bytes += len(pydantic_core.to_json(value, exclude_none=True))

    def media(self, parts: int = 1) -> None:
        self._media += parts

    def tokens(self) -> int:
        return self._bytes // BYTES_PER_TOKEN + 1 + self._media * MEDIA_PART_TOKENS
