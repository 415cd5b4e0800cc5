"""What callers of free-form routes may ask (docs/API.md §7c): the operator's safety floor, output
modalities, inline media types and system instructions, on every route that takes a caller's own prompt."""
