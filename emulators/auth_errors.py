"""Google's answers to a missing, wrong or refused API key, for both key formats.

Why: AI Studio now issues *auth keys* (`AQ.` + base64url characters, bound to a service account) next to
the older standard keys (`AIza...`). Both travel in `x-goog-api-key`. Google answers a key it cannot
validate with `401 ACCESS_TOKEN_TYPE_UNSUPPORTED` for an `AQ.` key and `400 API_KEY_INVALID` for anything
else, and a key restricted away from the Gemini API with `API_KEY_SERVICE_BLOCKED` (403; 401 when an `AQ.`
key arrives as `Authorization: Bearer`). The function must name these to its operator, so the emulator
sends Google's real bodies (captured in public bug reports, see emulators/README.md).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ACCESS_TOKEN_TYPE_UNSUPPORTED",
    "API_KEY_SERVICE_BLOCKED",
    "AUTH_ERRORS",
    "MISSING_KEY_MESSAGE",
    "key_error",
]

ACCESS_TOKEN_TYPE_UNSUPPORTED = "ACCESS_TOKEN_TYPE_UNSUPPORTED"
API_KEY_SERVICE_BLOCKED = "API_KEY_SERVICE_BLOCKED"
AUTH_ERRORS = (ACCESS_TOKEN_TYPE_UNSUPPORTED, API_KEY_SERVICE_BLOCKED)

MISSING_KEY_MESSAGE = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_SERVICE = "generativelanguage.googleapis.com"
_CONSUMER = "projects/123456789012"  # a made-up project number, as Google puts the key's project here


def _invalid_key(key: str) -> tuple[int, dict[str, Any]]:
    message = "API key not valid. Please pass a valid API key."
    return 400, {
        "error": {
            "code": 400,
            "message": message,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": _SERVICE},
                },
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message},
                {"@type": "type.googleapis.com/google.rpc.DebugInfo", "detail": f"Invalid API key: {key}"},
            ],
        }
    }


def _token_type_unsupported(method: str) -> tuple[int, dict[str, Any]]:
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": ACCESS_TOKEN_TYPE_UNSUPPORTED,
        "metadata": {"service": _SERVICE, "method": method},
    }
    error = {"code": 401, "message": _UNAUTHENTICATED_MESSAGE, "status": "UNAUTHENTICATED", "details": [info]}
    return 401, {"error": error}


def _service_blocked(method: str, status: int) -> tuple[int, dict[str, Any]]:
    message = f"Requests to this API {_SERVICE} method {method} are blocked."
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": API_KEY_SERVICE_BLOCKED,
        "domain": "googleapis.com",
        "metadata": {"consumer": _CONSUMER, "service": _SERVICE, "apiName": _SERVICE, "methodName": method},
    }
    localized = {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message}
    name = "UNAUTHENTICATED" if status == 401 else "PERMISSION_DENIED"
    return status, {"error": {"code": status, "message": message, "status": name, "details": [info, localized]}}


def key_error(
    headers: Any, keys: list[str], forced: str | None, method: str, fault: dict[str, Any]
) -> tuple[int, dict[str, Any]] | None:
    """Google's (status, body) for the caller's credentials, or None when they pass.

    `forced` (config) and `fault["auth_error"]` (one request) make a present key fail with that reason.
    `method` is the RPC name Google puts in ErrorInfo metadata.
    """
    key = str(headers.get("x-goog-api-key", ""))
    if not key:
        bearer = str(headers.get("authorization", ""))
        if bearer[:7].lower() == "bearer " and bearer[7:].strip().startswith("AQ."):
            return _service_blocked(method, 401)
        return 403, {"error": {"code": 403, "message": MISSING_KEY_MESSAGE, "status": "PERMISSION_DENIED"}}
    reason = fault.get("auth_error") or forced
    if reason == ACCESS_TOKEN_TYPE_UNSUPPORTED:
        return _token_type_unsupported(method)
    if reason == API_KEY_SERVICE_BLOCKED:
        return _service_blocked(method, int(fault.get("status") or 403))
    if keys and key not in keys:
        return _token_type_unsupported(method) if key.startswith("AQ.") else _invalid_key(key)
    return None
