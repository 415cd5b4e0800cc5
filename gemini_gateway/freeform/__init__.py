"""What callers of free-form routes may ask (contract section 12): the operator's safety floor, output
modalities, inline media types and system instructions, on every route that takes a caller's own prompt."""
