"""What the upstream pool writes: an HTTP/1.1 request head checked as h11 checks it.

The method and every header name are tokens (RFC 9110 `tchar`), no CR, LF
or NUL appears in the request line or a header value, and
`Transfer-Encoding` is read as a list of codings whose last one must be
`chunked` (then the body is sent chunked, and `Content-Length` may not be
there too). Anything else is `httpx.LocalProtocolError` before a byte is sent.
"""

from __future__ import annotations

import re

import httpx

__all__ = ["encode_request"]

_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_TOKEN = re.compile(_TCHAR + rb"+")
_FIELDS = re.compile(rb"(?:%s+: [^\r\n\x00]*\r\n)*" % _TCHAR)  # the header lines as they will be sent
_NOT_IN_TARGET = re.compile(rb"[\x00-\x20\x7f]")


def encode_request(
    request: httpx.Request, body: bytes, target: bytes | None = None, extra: bytes = b""
) -> tuple[bytes, bytes, bool]:
    """The request head, the body as it goes on the wire, and whether a compressed answer was asked for.

    `target` replaces the URL's path and query (the absolute form sent to an
    HTTP proxy); `extra` is more header lines, already checked. A request
    with no `Accept-Encoding` is sent `Accept-Encoding: identity`: an answer
    the function did not ask to be compressed cannot be a decompression bomb.
    """
    try:
        method = request.method.encode("ascii")
    except UnicodeEncodeError:
        method = b""
    if not _TOKEN.fullmatch(method):
        raise httpx.LocalProtocolError(f"the request method {request.method[:40]!r} is not a token", request=request)
    target = request.url.raw_path if target is None else target
    if _NOT_IN_TARGET.search(target):
        raise httpx.LocalProtocolError("the request target holds a space or a control character", request=request)
    raw = request.headers.raw
    fields = b"".join([b"%b: %b\r\n" % pair for pair in raw])
    # One line per header: a CR or LF inside a value would make more lines than headers.
    if not _FIELDS.fullmatch(fields) or fields.count(b"\n") != len(raw):
        raise httpx.LocalProtocolError(
            "a header name is not a token, or a header value holds CR, LF or NUL", request=request
        )
    names = b"\n" + fields.lower()
    chunked = b"\ntransfer-encoding:" in names and _chunked(request, raw)
    compressed_ok = b"\naccept-encoding:" in names
    identity = b"" if compressed_ok else b"Accept-Encoding: identity\r\n"
    head = b"%b %b HTTP/1.1\r\n%b%b%b\r\n" % (method, target, fields, identity, extra)
    if chunked:
        body = (b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)) if body else b"0\r\n\r\n"
    return head, body, compressed_ok


def _chunked(request: httpx.Request, raw: list[tuple[bytes, bytes]]) -> bool:
    """Whether the body is sent chunked: Transfer-Encoding read as a list of codings, as h11 reads it."""
    codings: list[bytes] = []
    has_length = False
    for name, value in raw:
        lower = name.lower()
        if lower == b"transfer-encoding":
            codings += [coding.strip().lower() for coding in value.split(b",") if coding.strip()]
        elif lower == b"content-length":
            has_length = True
    if not codings:
        return False
    if codings[-1] != b"chunked":
        raise httpx.LocalProtocolError("chunked must be the last transfer coding of a request", request=request)
    if has_length:
        raise httpx.LocalProtocolError(
            "a request may not have both Transfer-Encoding and Content-Length", request=request
        )
    return True
