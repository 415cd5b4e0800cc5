"""What an answer says, in the function's own terms: text, function calls, finish reason, token usage.

Every route's answer is read into these (`normalize.read_answer` for Gemini's
`GenerateContentResponse`) before anything is built from it or charged for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Answer", "FunctionCall", "Usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    cached_tokens: int = 0
    total_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "thinking_tokens": self.thinking_tokens,
            "cached_tokens": self.cached_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A `functionCall` part: what the model wants run, and what must go back with it next turn."""

    name: str
    args: dict[str, Any]
    call_id: str | None = None
    signature: str | None = field(default=None, repr=False)


@dataclass(slots=True)
class Answer:
    """What one response (or one stream chunk) says, in our terms."""

    text: str = ""
    finish_reason: str | None = None
    blocked_reason: str | None = None
    usage: Usage | None = None
    response_id: str | None = None
    model_version: str | None = None
    texts: list[str] = field(default_factory=list)
    calls: list[FunctionCall] = field(default_factory=list)
