"""Who is calling: the caller checks (client keys, Firebase Auth, App Check, signed webhooks) and per-caller limits.

The light parts are re-exported here; what a check needs beyond them (PyJWT,
Redis) is imported only by deployments that configure it (cold start).
"""

from .api_keys import ApiKeyCheck, parse_client_keys, presented_keys
from .gate import Caller, CallerCheck, CallerGate

__all__ = ["ApiKeyCheck", "Caller", "CallerCheck", "CallerGate", "parse_client_keys", "presented_keys"]
