"""Schemathesis against the function on loopback, from the generated OpenAPI document.

Every operation gets a bounded number of generated requests (schema-valid and
schema-invalid), sent with a valid client key to the real function process in
front of the AI Gateway emulator. Each answer must: not be a 5xx, have a
documented status and content type, match the documented schema, and come
back within the request timeout (no hang).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import schemathesis
from hypothesis import HealthCheck, assume, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gemini_gateway.openapi import build_openapi

from .conftest import CLIENT_KEYS, Function

MAX_EXAMPLES = 50  # per operation: ~15 s for the whole document on 2 cores
REQUEST_TIMEOUT = 10.0  # seconds: a request slower than this against the emulator is a hang
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

DOCUMENT = build_openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms(case: Any, fn: Function) -> None:
    # functions-framework's own route (`/{path:path}`, regex `.*`) does not match a path holding a line break,
    # so such a request never reaches the function: the framework answers a plain-text 404 itself.
    assume(not _CONTROL.search(unquote(case.formatted_path)))
    case.call_and_validate(
        base_url=fn.url,
        headers={"Authorization": f"Bearer {CLIENT_KEYS['ios-app']}"},
        checks=CHECKS,
        timeout=REQUEST_TIMEOUT,
    )
