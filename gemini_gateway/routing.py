"""Routes: a path template, an endpoint per method, and the error shape its callers expect.

A template such as `/{version}/models/{model}:generateContent` names its
parameters; each parameter matches `[^/]+` unless the route gives its own
pattern. The template is the source: matching uses the regex compiled from
it once, the OpenAPI document uses the template itself.

An endpoint is loaded on the first request to it (`Loader`: a function that
imports the route's module and returns its `Endpoint`): a cold start pays only
for the routes it serves (importing every route module and its pydantic
models at start cost ~30% of a cold start when it was measured).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from .context import RequestContext
from .errors import ERROR_STATUSES, ErrorBody, ErrorRenderer, error_body

__all__ = ["Endpoint", "ErrorRenderer", "Handler", "Loader", "OperationDoc", "Route", "find"]

Handler = Callable[[RequestContext], Awaitable[Response]]
_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DEFAULT_PATTERN = "[^/]+"


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
class Endpoint:
    """One method of one route: what answers it and what the document says about it."""

    handler: Handler
    doc: OperationDoc


Loader = Callable[[], Endpoint]


@dataclass(frozen=True)
class Route:
    """One path template and its endpoints by method (each loaded on first use)."""

    template: str
    methods: Mapping[str, Loader]
    name: str  # the access line's `route`
    render_error: ErrorRenderer = error_body
    patterns: Mapping[str, str] = field(default_factory=dict)  # parameter → regex, where not `[^/]+`
    regex: re.Pattern[str] = field(init=False, repr=False)
    parameters: Mapping[str, str] = field(init=False, repr=False)  # parameter → its regex, in order

    def __post_init__(self) -> None:
        names = _PARAMETER.findall(self.template)
        unknown = set(self.patterns) - set(names)
        if unknown:
            raise ValueError(f"{self.template}: patterns for no parameter ({sorted(unknown)})")
        parameters = {name: self.patterns.get(name, _DEFAULT_PATTERN) for name in names}
        pieces = _PARAMETER.split(self.template)  # literal, name, literal, name, ..., literal
        regex = "".join(
            re.escape(piece) if i % 2 == 0 else f"(?P<{piece}>{parameters[piece]})" for i, piece in enumerate(pieces)
        )
        object.__setattr__(self, "regex", re.compile(f"^{regex}$"))
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "methods", {m: functools.cache(load) for m, load in self.methods.items()})

    @property
    def path(self) -> str:
        """The OpenAPI path: the template itself."""
        return self.template

    @property
    def allow(self) -> list[str]:
        return [*self.methods, "OPTIONS"]

    def endpoint(self, method: str) -> Endpoint | None:
        load = self.methods.get(method)
        return None if load is None else load()

    def doc(self, method: str) -> OperationDoc:
        return self.methods[method]().doc


def find(routes: tuple[Route, ...], path: str) -> tuple[Route, dict[str, str]] | None:
    """The first route whose template matches `path`, with the path's parameters."""
    for route in routes:
        if not route.parameters:
            if path == route.template:
                return route, {}
            continue
        match = route.regex.match(path)
        if match:
            return route, match.groupdict()
    return None
