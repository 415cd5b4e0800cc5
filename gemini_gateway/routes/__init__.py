"""Every route of the function, declared once: path template, handlers, error shape, documentation.

`app.handle` dispatches on this table and `openapi.py` documents it; a new
route is added here and nowhere else.
"""

from __future__ import annotations

from ..routing import Route
from . import generate, health
from .gemini import handler as gemini
from .openai import handler as openai

__all__ = ["ROUTES"]

_GEMINI_PATH = "/{version:gemini_version}/models/{model:gemini_model}"

ROUTES: tuple[Route, ...] = (
    Route("/", {"POST": generate.generate}, {"POST": generate.DOC}),
    Route("/healthz", {"GET": health.healthz, "HEAD": health.healthz}, health.DOCS),
    Route(
        "/v1/chat/completions",
        {"POST": openai.chat_completions},
        {"POST": openai.DOC},
        render_error=openai.openai_error_body,
    ),
    Route(
        _GEMINI_PATH + ":generateContent",
        {"POST": gemini.generate_content},
        {"POST": gemini.GENERATE_DOC},
        render_error=gemini.google_error_body,
    ),
    Route(
        _GEMINI_PATH + ":streamGenerateContent",
        {"POST": gemini.stream_generate_content},
        {"POST": gemini.STREAM_DOC},
        render_error=gemini.google_error_body,
    ),
    Route(
        _GEMINI_PATH + ":countTokens",
        {"POST": gemini.count_tokens},
        {"POST": gemini.COUNT_DOC},
        render_error=gemini.google_error_body,
    ),
)
