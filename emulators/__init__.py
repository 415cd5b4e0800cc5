"""Local stand-ins for the two services the function depends on.

`emulators.ai_gateway` plays Cloudflare AI Gateway in front of Google AI
Studio (HTTP, aiohttp); `emulators.secret_manager` plays Google Secret
Manager (real gRPC). Both are development, test and benchmark tools and are
never deployed.
"""

from __future__ import annotations

__all__: list[str] = []
