"""The upstream: Cloudflare AI Gateway in front of Google's Gemini API.

`client` holds the retry loop, `credentials` the Gemini key and gateway
token flow, `failures` what a refusal means (and its scrubbing), `stream` and
`sse` the streamed answer, `gemini_body` our request in Gemini's terms.
"""

from .client import GatewayClient, UpstreamAnswer, make_transport
from .stream import UpstreamStream

__all__ = ["GatewayClient", "UpstreamAnswer", "UpstreamStream", "make_transport"]
