"""Cloud Run functions entry point: `generate` (functions-framework, ASGI mode).

Everything lives in the `gemini_gateway` package; this file only registers
the function so that `functions-framework --target generate` finds it.
"""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from gemini_gateway.app import handle, preload

preload()


@functions_framework.aio.http
async def generate(request: Request) -> Response:
    return await handle(request)
