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
_TOKENS = re.compile(rb"%s+(?:\x00%s+)*" % (_TCHAR, _TCHAR))  # names joined by NUL
_NOT_IN_VALUES = re.compile(rb"[\r\n\x00]")
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
    if not _TOKENS.fullmatch(b"\x00".join([name for name, _ in raw])):
        raise httpx.LocalProtocolError("a header name is not a token", request=request)
    if _NOT_IN_VALUES.search(b"\t".join([value for _, value in raw])):
        raise httpx.LocalProtocolError("a header value holds a line break or NUL", request=request)
    chunked, compressed_ok = _framing(request, raw)
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in raw:
        parts += (name, b": ", value, b"\r\n")
    if not compressed_ok:
        parts.append(b"Accept-Encoding: identity\r\n")
    parts += (extra, b"\r\n")
    if chunked:
        body = (b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)) if body else b"0\r\n\r\n"
    return b"".join(parts), body, compressed_ok


def _framing(request: httpx.Request, raw: list[tuple[bytes, bytes]]) -> tuple[bool, bool]:
    """(whether the body is sent chunked, whether the request says which codings it accepts)."""
    codings: list[bytes] = []
    has_length = False
    accepts = False
    for name, value in raw:
        lower = name.lower()
        if lower == b"transfer-encoding":
            codings += [coding.strip().lower() for coding in value.split(b",") if coding.strip()]
        elif lower == b"content-length":
            has_length = True
        elif lower == b"accept-encoding":
            accepts = True
    if not codings:
        return False, accepts
    if codings[-1] != b"chunked":
        raise httpx.LocalProtocolError("chunked must be the last transfer coding of a request", request=request)
    if has_length:
        raise httpx.LocalProtocolError(
            "a request may not have both Transfer-Encoding and Content-Length", request=request
        )
    return True, accepts
