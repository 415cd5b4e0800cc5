"""Every route of the function, declared once: path template, module, handlers, error shape, documentation.

`app.handle` dispatches on this table and `openapi.py` documents it; a new
route is added here and nowhere else. A route's module is imported on its
first request, so only the error shapes (no pydantic) are imported here.
"""

from __future__ import annotations

from ..routing import Route
from .gemini.errors import google_error_body
from .openai.errors import openai_error_body

__all__ = ["ROUTES"]

_PACKAGE = __name__
_GEMINI_PATH = "/{version:gemini_version}/models/{model:gemini_model}"
_GEMINI = f"{_PACKAGE}.gemini.handler"

ROUTES: tuple[Route, ...] = (
    Route("/", f"{_PACKAGE}.generate", {"POST": "generate"}, {"POST": "DOC"}),
    Route(
        "/healthz", f"{_PACKAGE}.health", {"GET": "healthz", "HEAD": "healthz"}, {"GET": "GET_DOC", "HEAD": "HEAD_DOC"}
    ),
    Route(
        "/v1/chat/completions",
        f"{_PACKAGE}.openai.handler",
        {"POST": "chat_completions"},
        {"POST": "DOC"},
        render_error=openai_error_body,
    ),
    Route(
        _GEMINI_PATH + ":generateContent",
        _GEMINI,
        {"POST": "generate_content"},
        {"POST": "GENERATE_DOC"},
        render_error=google_error_body,
    ),
    Route(
        _GEMINI_PATH + ":streamGenerateContent",
        _GEMINI,
        {"POST": "stream_generate_content"},
        {"POST": "STREAM_DOC"},
        render_error=google_error_body,
    ),
    Route(
        _GEMINI_PATH + ":countTokens",
        _GEMINI,
        {"POST": "count_tokens"},
        {"POST": "COUNT_DOC"},
        render_error=google_error_body,
    ),
)
