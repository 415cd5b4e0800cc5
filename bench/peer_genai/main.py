"""The peer: a Gemini proxy written the way most people would.

A plain (sync, Flask) functions-framework HTTP function that calls Gemini
with the google-genai SDK, client created once per process. The benchmark
serves it under functions-framework's default production server (gunicorn
gthread, 1 worker, threads = 4 x CPU count) on purpose, untuned.

Only the SDK's ``http_options.base_url`` is pointed at the AI Gateway
emulator: ``<AI_GATEWAY_BASE_URL>/<account>/<gateway>/google-ai-studio``.
The SDK appends ``/v1beta/models/<MODEL>:generateContent`` and sends
the key in ``x-goog-api-key``, which is exactly the path and header the
emulator (and the real Cloudflare AI Gateway) expects.
"""

import os

import flask
import functions_framework
from google import genai
from google.genai import types

BASE_URL = "{}/{}/{}/google-ai-studio".format(
    os.environ["AI_GATEWAY_BASE_URL"].rstrip("/"),
    os.environ.get("CLOUDFLARE_ACCOUNT_ID", "bench-account"),
    os.environ.get("AI_GATEWAY_ID", "bench-gateway"),
)

MODEL = os.environ.get("DEFAULT_MODEL", "gemini-3.8-flash")  # the benchmark passes the function's own

client = genai.Client(
    api_key=os.environ["GEMINI_API_KEY"],
    http_options=types.HttpOptions(base_url=BASE_URL),
)


@functions_framework.http
def generate(request: flask.Request) -> dict[str, str | None]:
    prompt = request.get_json()["prompt"]
    response = client.models.generate_content(model=MODEL, contents=prompt)
    return {"text": response.text}
