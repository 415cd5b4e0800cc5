"""Every route of the function, declared once: path template, endpoints by method, log name, error shape.

`app.handle` dispatches on this table and `openapi.py` documents it; a new
route is one module (its handler and `Endpoint`) plus one entry here
(docs/ARCHITECTURE.md, "Add a route"). Each loader below imports its route's
module on the route's first request, so only the error shapes (no pydantic
models) are imported with this table.
"""

from __future__ import annotations

from ..routing import Endpoint, Route
from ..templates.library import TEMPLATE_ID_PATTERN
from .gemini.errors import google_error_body
from .interactions.errors import interactions_error_body
from .openai.errors import openai_error_body

__all__ = ["ROUTES"]


def _generate() -> Endpoint:
    from .generate import ENDPOINT

    return ENDPOINT


def _healthz() -> Endpoint:
    from .health import GET

    return GET


def _healthz_head() -> Endpoint:
    from .health import HEAD

    return HEAD


def _chat_completions() -> Endpoint:
    from .openai.handler import ENDPOINT

    return ENDPOINT


def _generate_content() -> Endpoint:
    from .gemini.handler import GENERATE_CONTENT

    return GENERATE_CONTENT


def _stream_generate_content() -> Endpoint:
    from .gemini.handler import STREAM_GENERATE_CONTENT

    return STREAM_GENERATE_CONTENT


def _count_tokens() -> Endpoint:
    from .gemini.handler import COUNT_TOKENS

    return COUNT_TOKENS


def _get_job() -> Endpoint:
    from .jobs import ENDPOINT

    return ENDPOINT


def _job_task() -> Endpoint:
    from .internal_jobs import ENDPOINT

    return ENDPOINT


def _create_interaction() -> Endpoint:
    from .interactions.handler import CREATE

    return CREATE


def _get_interaction() -> Endpoint:
    from .interactions.handler import GET

    return GET


def _delete_interaction() -> Endpoint:
    from .interactions.handler import DELETE

    return DELETE


def _cancel_interaction() -> Endpoint:
    from .interactions.handler import CANCEL

    return CANCEL


def _run_template() -> Endpoint:
    from .templates import RUN

    return RUN


def _list_templates() -> Endpoint:
    from .templates import LIST

    return LIST


_GEMINI_MODEL = "/{version}/models/{model}"
_GEMINI_PATTERNS = {"version": "v1|v1beta", "model": "[^/:]+"}
_INTERACTION = {"version": "v1|v1beta", "id": "[A-Za-z0-9_-]{1,16384}"}

ROUTES: tuple[Route, ...] = (
    Route("/", {"POST": _generate}, name="generate"),
    Route("/healthz", {"GET": _healthz, "HEAD": _healthz_head}, name="health"),
    Route("/v1/chat/completions", {"POST": _chat_completions}, name="openai", render_error=openai_error_body),
    Route("/v1/jobs/{id}", {"GET": _get_job}, name="jobs"),
    Route("/internal/jobs/{id}", {"POST": _job_task}, name="internal_jobs"),
    Route(
        _GEMINI_MODEL + ":generateContent",
        {"POST": _generate_content},
        name="gemini",
        render_error=google_error_body,
        patterns=_GEMINI_PATTERNS,
    ),
    Route(
        _GEMINI_MODEL + ":streamGenerateContent",
        {"POST": _stream_generate_content},
        name="gemini",
        render_error=google_error_body,
        patterns=_GEMINI_PATTERNS,
    ),
    Route(
        _GEMINI_MODEL + ":countTokens",
        {"POST": _count_tokens},
        name="gemini",
        render_error=google_error_body,
        patterns=_GEMINI_PATTERNS,
    ),
    Route(
        "/{version}/interactions",
        {"POST": _create_interaction},
        name="interactions",
        render_error=interactions_error_body,
        patterns={"version": "v1|v1beta"},
    ),
    Route(
        "/{version}/interactions/{id}",
        {"GET": _get_interaction, "DELETE": _delete_interaction},
        name="interactions",
        render_error=interactions_error_body,
        patterns=_INTERACTION,
    ),
    Route(
        "/{version}/interactions/{id}/cancel",
        {"POST": _cancel_interaction},
        name="interactions",
        render_error=interactions_error_body,
        patterns=_INTERACTION,
    ),
    Route("/v1/templates", {"GET": _list_templates}, name="templates"),
    Route("/v1/templates/{id}", {"POST": _run_template}, name="template", patterns={"id": TEMPLATE_ID_PATTERN}),
)
