"""Caller checks (client keys, Firebase Auth, App Check, signed webhooks) and per-caller limits.

The light parts are re-exported here; Firebase, App Check, webhooks and Redis
are imported only by deployments that configure them (cold start).
"""

from .api_keys import ApiKeyCheck, parse_client_keys, presented_keys
from .gate import Caller, CallerCheck, CallerGate

__all__ = ["ApiKeyCheck", "Caller", "CallerCheck", "CallerGate", "parse_client_keys", "presented_keys"]
