"""The floor: a functions-framework ASGI "hello world" with the same entry point shape as main.py.

Served exactly like the function (``python -m functions_framework --target
generate --source bench/hello_asgi/main.py``: gunicorn + uvicorn worker, 1
worker), it reads the JSON body and answers ``{"text": ...}`` without any
upstream call. ``bench/instance.py`` uses it as the baseline for cold start
and for CPU per request: whatever the function costs above this is ours.
"""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import JSONResponse


@functions_framework.aio.http
async def generate(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse({"text": f"Hello, {body.get('prompt', 'world')}!"})
