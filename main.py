"""Cloud Run functions entry point: `generate` (functions-framework, ASGI mode).

Everything lives in the `gemini_gateway` package; this file only registers
the function so that `functions-framework --target generate` finds it.
"""

import gc

# Start-up only builds what lives as long as the process, so the cycle collector has
# nothing to find while it runs (it spent ~30 ms of every cold start looking).
gc.disable()

import functions_framework.aio  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402

from gemini_gateway.app import handle, preload  # noqa: E402

preload()
# Everything built so far stays: keep it out of every later collection (and out of the
# pages a forked worker would otherwise copy when the collector touches them).
gc.freeze()
gc.enable()


@functions_framework.aio.http
async def generate(request: Request) -> Response:
    return await handle(request)
