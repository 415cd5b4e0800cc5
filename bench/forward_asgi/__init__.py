"""The upstream-calling floor: read JSON, one httpx POST through the function's pool, answer."""
