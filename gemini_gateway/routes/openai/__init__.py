"""`POST /v1/chat/completions`: the OpenAI chat API on the same path as `POST /`.

`models` (the request), `convert` (it, in `POST /` terms), `answers` (what
goes back, in OpenAI's shapes) and `handler` (the route).
"""
