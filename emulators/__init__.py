"""Local stand-ins for the services the function depends on.

`emulators.ai_gateway` plays Cloudflare AI Gateway in front of Google AI
Studio (HTTP, aiohttp); `emulators.secret_manager` plays Google Secret
Manager (real gRPC); `emulators.cloud_tasks` plays Cloud Tasks (real gRPC,
dispatching HTTP tasks with ID tokens signed by `emulators.oidc`, which also
serves the certificates); `emulators.app_check` plays Firebase App Check's
verifyAppCheckToken and JWKS. All are development, test and benchmark tools
and are never deployed.
"""

from __future__ import annotations

__all__: list[str] = []
