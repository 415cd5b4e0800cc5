"""The upstream: Cloudflare AI Gateway in front of Google AI Studio, as untrusted as any caller.

`client` holds the retry loop and one deadline, `credentials` the Gemini key
and gateway token, `failures` what a refusal means (and its scrubbing),
`stream` and `sse` a streamed answer, `metadata` the `cf-aig-metadata`
header. Beneath them, the function's own HTTP/1.1 pool: `transport` (the
pool), `connection` (one connection's strict framing and byte-counted head),
`wire` (well-formed requests), `connect` (happy eyeballs and a short DNS
cache), `proxies` (HTTPS_PROXY / HTTP_PROXY / NO_PROXY). Nothing is imported
here: each module is imported where it is used.
"""
