"""A template and a caller's inputs (and history) → our chat request, the one `POST /` would send.

The rendered turns become `GenerateRequest` messages: `system` turns its
`system`, `user` and `model` turns user and assistant messages, a
`{{media}}` URL an image part (a base64 `data:` URL of one of the image
types `POST /` takes), `{{history}}` the caller's own messages, unchanged.
The template's fields (sampling, tools, response format) come with it; the
caller chooses none of them. From here the request goes upstream exactly as
`POST /` sends its own (chat/call.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

from pydantic import ValidationError

from ..chat.models import IMAGE_TYPES, ContentPart, GenerateRequest, Message
from ..errors import InvalidRequest, Problem
from ..json_body import problems_from
from ..logs import log
from .dotprompt import MarkerInInputs, Piece, Turn
from .library import Template

__all__ = ["to_request"]

_DATA_URL = re.compile(r"^data:([a-z]+/[a-z0-9.+-]+);base64,(.*)$", re.DOTALL)


def to_request(
    template: Template, inputs: Mapping[str, Any], history: Sequence[Message] | None, stream: bool
) -> GenerateRequest:
    """The request for `inputs`: 400 naming `inputs.<name>` (or `history`) for anything refused."""
    problems = template.inputs.problems(inputs)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidRequest(f"{first.field}: {first.problem}{more}", details=problems)
    turns = _render(template, inputs, len(history or ()))
    try:
        return _request(template, turns, history or (), stream)
    except ValidationError as exc:
        problem = problems_from(exc.errors(include_url=False, include_input=False))[0]
        raise _unusable(f"{problem.field}: {problem.problem}", "history" if history else "inputs") from None


def _request(template: Template, turns: list[Turn], history: Sequence[Message], stream: bool) -> GenerateRequest:
    """The turns as our request (ValidationError for what `POST /` would refuse, from its own models)."""
    system: list[str] = []
    messages: list[Message] = []
    for turn in turns:
        if turn.role == "system":
            system += [_text_only(piece) for piece in turn.pieces]
        elif turn.pieces and turn.pieces[0].index is not None:
            messages.append(history[turn.pieces[0].index])
        elif turn.role in ("user", "model"):
            content = _parts(turn.pieces)
            if content:
                messages.append(Message(role="user" if turn.role == "user" else "assistant", content=content))
        else:
            raise _unusable(f"the template writes a {turn.role} turn")
    body: dict[str, Any] = {**template.fields, "messages": messages, "stream": stream}
    if "".join(system).strip():
        body["system"] = "".join(system).strip()
    return GenerateRequest.model_validate(body)


def _render(template: Template, inputs: Mapping[str, Any], history: int) -> list[Turn]:
    try:
        return template.source.render(inputs, history)
    except MarkerInInputs as exc:
        raise InvalidRequest.for_field("inputs", str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - Handlebars or Dotprompt refused what these inputs made of the template
        log.warning(
            "a template did not render", extra={"fields": {"template": template.id, "error": type(exc).__name__}}
        )
        raise _unusable(f"it did not render ({type(exc).__name__})") from None


def _text_only(piece: Piece) -> str:
    if piece.text is None:
        raise _unusable("the system turn may hold text only")
    return piece.text


def _parts(pieces: Sequence[Piece]) -> list[ContentPart]:
    """A turn's parts, its text trimmed at both ends (the lines around `{{role}}` markers)."""
    texts = [piece.text for piece in pieces]
    for i, strip in ((0, str.lstrip), (-1, str.rstrip)):
        text = texts[i]
        if text is not None:
            texts[i] = strip(text)
    return [_part(piece, text) for piece, text in zip(pieces, texts, strict=True) if text != ""]


def _part(piece: Piece, text: str | None) -> ContentPart:
    if text is not None:
        return ContentPart(type="text", text=text)
    match = _DATA_URL.match(piece.url or "")
    if match is None or match.group(1) not in IMAGE_TYPES:
        raise InvalidRequest(
            "inputs: a {{media}} URL must be a base64 data: URL of an image",
            details=[Problem("inputs", f"a {{{{media}}}} URL must be data:<{'|'.join(IMAGE_TYPES)}>;base64,<data>")],
        )
    try:
        return ContentPart(type="image", mime_type=cast(Any, match.group(1)), data=match.group(2))
    except ValidationError:
        raise InvalidRequest.for_field("inputs", "a {{media}} data: URL is not valid base64") from None


def _unusable(why: str, field: str = "inputs") -> InvalidRequest:
    return InvalidRequest.for_field(field, f"the template cannot be used with these {field}: {why}")
