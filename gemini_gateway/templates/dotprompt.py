"""The one module that imports `dotpromptz` (Google's Dotprompt): a `.prompt` file parsed, compiled, rendered.

Imported only when PROMPTS_DIR holds templates: the library and what it
brings (PyYAML, structlog, jsonschema's neighbours) cost ~0.2 s of import, paid
once at start, before the fork, by deployments that use templates.

Parsing (frontmatter, Picoschema → JSON Schema) and the Handlebars body are
Dotprompt's. Per request, the compiled Handlebars function and Dotprompt's
own message splitter run directly: the library's public `render` resolves
the frontmatter again on every call (~0.7 ms against ~0.1 ms here);
tests/unit/test_templates_render.py checks that both give the same messages,
so an upgrade that changes either fails there first.

Dotprompt turns `{{role}}`, `{{history}}` and `{{media}}` into text markers
(`<<<dotprompt:role:system>>>`) and splits the rendered text on them, so an
input holding such a marker could open a system turn of its own. The marker
helpers here count what they write; a rendered text with more markers than
that is refused (`MarkerInInputs`).
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from dotpromptz import (
    DataArgument,
    Dotprompt,
    FrontmatterError,
    MediaPart,
    Message,
    ParsedPrompt,
    PromptFunction,
    Role,
    TextPart,
    picoschema_to_json_schema,
)
from dotpromptz._helpers import BUILTIN_HELPERS
from dotpromptz._parse import MEDIA_AND_SECTION_MARKER_REGEX, ROLE_AND_HISTORY_MARKER_REGEX, to_messages
from dotpromptz_handlebars import HelperOptions

__all__ = ["MarkerInInputs", "Parsed", "Piece", "Turn", "parse"]

T = TypeVar("T")
_COUNTER = "gateway_markers"  # the render's data frame: how many markers the helpers wrote
_HISTORY = "gateway_history"  # a history placeholder's metadata: its index in the caller's history


class MarkerInInputs(ValueError):
    """The rendered text holds a Dotprompt marker that no helper wrote: it came from an input."""


@dataclass(frozen=True, slots=True)
class Piece:
    """One part of a rendered turn: text, a `{{media}}` URL, or the caller's history message `index`."""

    text: str | None = None
    url: str | None = None
    content_type: str | None = None
    index: int | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # system, user, model (tool only if a template wrote it: refused by the caller of `render`)
    pieces: tuple[Piece, ...]


@dataclass(frozen=True)
class Parsed:
    """What a template file says, resolved: JSON Schemas (Picoschema converted), and its compiled body."""

    frontmatter: Mapping[str, Any]  # as written, for the checks that name unknown keys
    template: str
    description: str | None
    model: str | None
    config: Mapping[str, Any]
    tools: tuple[str, ...]
    input_schema: dict[str, Any] | None
    input_default: Mapping[str, Any]
    output_format: str | None
    output_schema: dict[str, Any] | None
    _render: Any  # the compiled Handlebars function

    def render(self, inputs: Mapping[str, Any], history: int = 0) -> list[Turn]:
        """The turns for `inputs`; `history` placeholders go where `{{history}}` stands (Piece.index)."""
        counter = [0]
        text = self._render({**self.input_default, **inputs}, {"data": {_COUNTER: counter}})
        found = len(ROLE_AND_HISTORY_MARKER_REGEX.findall(text)) + len(MEDIA_AND_SECTION_MARKER_REGEX.findall(text))
        if found > counter[0]:
            raise MarkerInInputs("an input holds a Dotprompt marker (<<<dotprompt:...>>>)")
        placeholders = [
            Message(role=Role.USER, content=[TextPart(text="")], metadata={_HISTORY: i}) for i in range(history)
        ]
        messages = to_messages(text, DataArgument(input=dict(inputs), messages=placeholders or None))
        return [Turn(str(m.role.value), _pieces(m)) for m in messages]


def _pieces(message: Message) -> tuple[Piece, ...]:
    index = (message.metadata or {}).get(_HISTORY)
    if isinstance(index, int):
        return (Piece(index=index),)
    pieces: list[Piece] = []
    for part in message.content:
        if isinstance(part, TextPart):
            pieces.append(Piece(text=part.text))
        elif isinstance(part, MediaPart):
            pieces.append(Piece(url=part.media.url, content_type=part.media.content_type))
        else:
            raise ValueError(f"a {type(part).__name__} in a rendered turn ({{{{section}}}} is not supported)")
    return tuple(pieces)


def _counted(name: str) -> Any:
    """A marker helper that counts the markers it writes in the render's data frame."""
    helper = BUILTIN_HELPERS[name]

    def counted(params: list[Any], options: HelperOptions) -> Any:
        out = helper(params, options)
        counter = options.data.get(_COUNTER)
        if out and isinstance(counter, list):
            counter[0] += 1
        return out

    return counted


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits (Dotprompt's async API, with no resolver to wait for) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a Dotprompt call waited on something; templates resolve nothing from outside")


def parse(source: str, name: str, partials: Mapping[str, str]) -> Parsed:
    """The template in `source`; ValueError (the reason, for the start's one log line) when it is not usable."""
    dotprompt = Dotprompt(
        helpers={marker: _counted(marker) for marker in ("role", "history", "media", "section")},
        partials=dict(partials),
    )
    try:
        prompt: ParsedPrompt[Any] = dotprompt.parse(source, source_name=name)
        # `compile` takes the parsed prompt too (typed `str` only): the frontmatter is parsed once, not twice.
        compiled: PromptFunction[Any] = _run(dotprompt.compile(cast(Any, prompt)))
        input_schema = _run(picoschema_to_json_schema(prompt.input.schema)) if prompt.input else None
        output_schema = _run(picoschema_to_json_schema(prompt.output.schema)) if prompt.output else None
    except FrontmatterError as exc:
        raise ValueError(f"frontmatter: {exc.reason} (line {exc.line})") from None
    except Exception as exc:  # noqa: BLE001 - Handlebars, Picoschema and pydantic each raise their own kinds
        raise ValueError(f"{type(exc).__name__}: {str(exc)[:300]}") from None
    return Parsed(
        frontmatter=dict(prompt.raw or {}),
        template=prompt.template,
        description=prompt.description,
        model=prompt.model,
        config=dict(prompt.config or {}),
        tools=tuple(prompt.tools or ()) + tuple(t.name for t in prompt.tool_defs or ()),
        input_schema=dict(input_schema) if input_schema is not None else None,
        input_default=dict(prompt.input.default or {}) if prompt.input else {},
        output_format=prompt.output.format if prompt.output else None,
        output_schema=dict(output_schema) if output_schema is not None else None,
        _render=compiled._render_string,  # type: ignore[attr-defined]  # see the module docstring
    )
