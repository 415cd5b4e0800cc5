"""Request and answer models of the template routes (docs/API.md, "Templates").

`TemplateRequest` is strict like every request model: unknown fields are
refused by name. The route validates each body with a subclass bound to its
template (`for_template`), so a request that cannot suit the template
(`history` where it has no `{{history}}`) is refused with the body's other
problems, and the intake reads the template's tools and output ceiling from
the request as it does from `POST /`'s.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, JsonValue, PrivateAttr, model_validator

from ..chat.models import GenerateResponse, Message
from ..jobs.models import Callback
from ..model_base import MAX_CONTENTS, Doc, Strict, check_parts, field_error
from ..token_estimate import InputEstimate
from .library import Template

__all__ = ["TemplateInfo", "TemplateList", "TemplateRequest", "TemplateResponse", "for_template"]


class TemplateRequest(Strict):
    """The body of `POST /v1/templates/{id}`: the template's inputs, and prior turns where it takes them."""

    template: ClassVar[Template | None] = None

    inputs: dict[str, JsonValue] = Field(
        default_factory=dict, description="the template's inputs, checked against its input schema (GET /v1/templates)"
    )
    history: Annotated[
        list[Message] | None,
        Field(
            min_length=1,
            max_length=MAX_CONTENTS,
            description="prior turns (the messages of POST /), only for a template that uses {{history}}",
        ),
    ] = None
    stream: bool = False
    callback: Callback | None = None  # with Prefer: respond-async (docs/API.md §12)

    @model_validator(mode="after")
    def _history_where_used(self) -> TemplateRequest:
        if self.history is not None:
            if self.template is not None and not self.template.uses_history:
                raise field_error("history", "this template takes no history (it has no {{history}})")
            check_parts("history", [m.content or () for m in self.history])
        return self

    _rendered_estimate: int | None = PrivateAttr(default=None)

    def rendered(self, estimate: int) -> None:
        """The rendered request's own estimate: a template that repeats or loops over an input sends more
        than its inputs and its text, and a budget must reserve what is sent."""
        self._rendered_estimate = estimate

    def input_estimate(self) -> int:
        """Input tokens, estimated (`token_estimate`): the rendered request's once it is built; before, the
        inputs and history by their JSON, and the template's own body (what it adds around the inputs)."""
        if self._rendered_estimate is not None:
            return self._rendered_estimate
        count = InputEstimate()
        count.json(self.inputs)
        for message in self.history or ():
            count.json(message)
        if self.template is not None:
            count.text(self.template.source.template)
        return count.tokens()

    def builtin_tools(self) -> list[tuple[str, str]]:
        tools = self.template.tools if self.template is not None else ()
        return [(f"template.tools[{i}]", tool) for i, tool in enumerate(tools)]

    def output_tokens(self) -> tuple[str, int | None]:
        ceiling = self.template.max_output_tokens if self.template is not None else None
        return "template.config.maxOutputTokens", ceiling


@functools.cache
def for_template(template: Template) -> type[TemplateRequest]:
    """The request model bound to `template` (one class per template, built on its first request)."""
    name = "TemplateRequest_" + re.sub(r"\W", "_", template.id)
    return type(name, (TemplateRequest,), {"template": template, "__module__": __name__})


class TemplateResponse(GenerateResponse):
    """The body of a `200` from `POST /v1/templates/{id}`: the answer of `POST /`, and the template's id."""

    template: str


class TemplateInfo(Doc):
    id: str
    description: str | None = None
    output: Literal["text", "json"] = Field(description="json: the answer carries `json` (when the text parses)")
    history: bool = Field(description="whether the template takes `history`")
    input_schema: dict[str, Any] = Field(description="JSON Schema of `inputs`, as it is enforced")


class TemplateList(Doc):
    """The body of a `200` from `GET /v1/templates`: the templates this caller may use."""

    templates: list[TemplateInfo]
