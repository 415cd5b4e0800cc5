"""Errors on the OpenAI-compatible route, in OpenAI's shape, with the function's statuses.

`type` is OpenAI's error class, `param` the first refused field, `code` the
function's own error type. No pydantic here (see routes/gemini/errors.py).
"""

from __future__ import annotations

from typing import Any

from ...errors import ApiError

__all__ = ["openai_error_body"]


_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def openai_error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    """OpenAI's error JSON; `code` is our error type (docs/API.md §8), `param` the first field at fault."""
    kind = _ERROR_TYPES.get(error.status, "server_error" if error.status >= 500 else "invalid_request_error")
    return {
        "error": {
            "message": error.message,
            "type": kind,
            "param": error.details[0].field if error.details else None,
            "code": error.type,
        }
    }
