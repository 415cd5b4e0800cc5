"""Routes declared as path templates, compiled once to regexes (Starlette's `compile_path`).

A route is a template such as `/{version:gemini_version}/models/{model:gemini_model}:generateContent`,
its handler per method, the error shape its callers expect, and what the
OpenAPI document says about it. The template is the source: matching uses
the compiled regex, the document uses the template, nothing is turned back.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path

from .errors import ERROR_STATUSES, ErrorBody, error_body
from .exchange import ErrorRenderer, Exchange

__all__ = ["Handler", "OperationDoc", "Route", "find"]

Handler = Callable[[Request, Exchange], Awaitable[Response]]


class _Literals(Convertor[str]):
    """A path segment that is one of a few literal values; OpenAPI lists them as an enum."""

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class GeminiVersion(_Literals):
    regex = "v1|v1beta"


class GeminiModel(_Literals):
    regex = "[^/:]+"


register_url_convertor("gemini_version", GeminiVersion())
register_url_convertor("gemini_model", GeminiModel())


@dataclass(frozen=True)
class OperationDoc:
    """What the OpenAPI document says about one method of one route."""

    summary: str
    description: str = ""
    request: type[BaseModel] | None = None  # JSON body, validated by this model
    response: type[BaseModel] | None = None  # 200 application/json
    stream_description: str = ""  # non-empty: the 200 may also be text/event-stream
    # SSE event name ("message" when the stream names none) → model of its JSON data (None: any text).
    stream_events: Mapping[str, type[BaseModel] | None] | None = None
    error: type[BaseModel] = ErrorBody
    public: bool = False  # no caller check (healthz)
    error_statuses: tuple[int, ...] = ERROR_STATUSES
    tags: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # merged into the operation object


@dataclass(frozen=True)
class Route:
    """One path template; its module's handlers by method, their docs, and its error shape.

    The module is imported on the first request to the route (or when the
    OpenAPI document is built): a cold start pays only for the routes it
    serves. `methods` and `docs` name attributes of that module.
    """

    template: str
    module: str
    methods: Mapping[str, str]
    docs: Mapping[str, str]
    render_error: ErrorRenderer = error_body
    regex: re.Pattern[str] = field(init=False, repr=False)
    path: str = field(init=False)  # the OpenAPI template: `/{version}/models/{model}:generateContent`
    parameters: Mapping[str, str] = field(init=False, repr=False)  # name → the regex of its convertor

    def __post_init__(self) -> None:
        regex, path, convertors = compile_path(self.template)
        object.__setattr__(self, "regex", regex)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "parameters", {name: c.regex for name, c in convertors.items()})
        missing = set(self.methods) ^ set(self.docs)
        if missing:
            raise ValueError(f"{self.template}: methods and docs differ ({sorted(missing)})")

    @property
    def allow(self) -> list[str]:
        return [*self.methods, "OPTIONS"]

    def handler(self, method: str) -> Handler | None:
        name = self.methods.get(method)
        return None if name is None else cast(Handler, getattr(importlib.import_module(self.module), name))

    def doc(self, method: str) -> OperationDoc:
        return cast(OperationDoc, getattr(importlib.import_module(self.module), self.docs[method]))


def find(routes: tuple[Route, ...], path: str) -> tuple[Route, dict[str, str]] | None:
    """The first route whose template matches `path`, with the path's parameters."""
    for route in routes:
        if not route.parameters:
            if path == route.path:
                return route, {}
            continue
        match = route.regex.match(path)
        if match:
            return route, match.groupdict()
    return None
