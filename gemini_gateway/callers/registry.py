"""Every caller check the function knows, in the order the gate runs them (header-only checks first).

A new check is one module (its settings mixin, its verification, its `SPEC`)
plus one entry here: its spec in `CHECKS` and its settings among
`CallerSettings`' bases. Settings, the runtime, CORS and the OpenAPI document
read everything else from the spec (docs/ARCHITECTURE.md, "Add a caller check").
"""

from __future__ import annotations

from . import api_keys, app_check, firebase_auth, webhooks
from .spec import CheckSpec

__all__ = ["CHECKS", "CallerSettings"]

CHECKS: tuple[CheckSpec, ...] = (api_keys.SPEC, firebase_auth.SPEC, app_check.SPEC, webhooks.SPEC)


class CallerSettings(
    api_keys.ApiKeySettings,
    firebase_auth.FirebaseAuthSettings,
    app_check.AppCheckSettings,
    webhooks.WebhookSettings,
):
    """The caller checks' own variables, as part of `Settings`."""
