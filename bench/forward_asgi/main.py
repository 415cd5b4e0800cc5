"""The floor for a function that calls Gemini: read JSON, one upstream POST, answer.

A functions-framework ASGI function served exactly like the function, with
the same upstream stack (httpx over `gemini_gateway.upstream.transport.Pool`,
orjson) and nothing else: no caller check, no validation, no limits, no
retries, no access log. ``bench/instance.py`` measures it beside the
function: the function's added latency and CPU over this is what its checks
cost; this one's over the hello world is what any Gemini proxy in Python on
this stack pays.
"""

import os

import functions_framework.aio
import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response

from gemini_gateway.upstream.transport import Pool

URL = "{}/{}/{}/google-ai-studio/v1beta/models/{}:generateContent".format(
    os.environ["AI_GATEWAY_BASE_URL"].rstrip("/"),
    os.environ["CLOUDFLARE_ACCOUNT_ID"],
    os.environ["AI_GATEWAY_ID"],
    os.environ.get("DEFAULT_MODEL", "gemini-3.8-flash"),
)
HEADERS = {"x-goog-api-key": os.environ["GEMINI_API_KEY"], "content-type": "application/json"}
_pool: Pool | None = None


@functions_framework.aio.http
async def generate(request: Request) -> Response:
    global _pool
    if _pool is None:
        _pool = Pool()  # inside the running loop, on first use
    prompt = orjson.loads(await request.body())["prompt"]
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": prompt}]}]})
    upstream = await _pool.handle_async_request(httpx.Request("POST", URL, content=body, headers=HEADERS))
    answer = orjson.loads(await upstream.aread())
    text = answer["candidates"][0]["content"]["parts"][0]["text"]
    return Response(orjson.dumps({"text": text}), media_type="application/json")
