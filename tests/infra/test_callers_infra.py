"""infra/: what the caller checks and shared rate limits need (README, Callers).

The checks' variables and the public-needs-a-check rule are covered in
test_terraform.py; here: a Memorystore REDIS_URL is only reachable through a
VPC connector, which is optional and validated.
"""

from __future__ import annotations

import re

from tests.infra.conftest import single
from tests.infra.test_terraform import _env_keys, _regex_of


def test_caller_check_env_is_wired(config):
    assert {
        "FIREBASE_PROJECT_ID",
        "APP_CHECK_PROJECT_NUMBER",
        "APP_CHECK_APP_IDS",
        "WEBHOOK_SECRET_SECRET",
        "RATE_LIMIT_PER_MINUTE",
        "RATE_LIMIT_BURST",
        "REDIS_URL",
    } <= _env_keys(config)


def test_vpc_connector_is_optional_and_validated(config):
    v = config.variables
    assert v["vpc_connector"]["default"] is None
    assert v["vpc_connector_egress_settings"]["default"] == "PRIVATE_RANGES_ONLY"
    (rx,) = _regex_of(config, "vpc_connector")
    assert re.search(rx, "projects/my-project/locations/us-central1/connectors/redis")
    for bad in ("redis", "projects/p/connectors/c", "projects/p/locations/r/connectors/"):
        assert not re.search(rx, bad), bad


def test_function_uses_the_connector_only_when_set(config):
    svc = single(config.resource("google_cloudfunctions2_function", "this").body["service_config"])
    assert svc["vpc_connector"] == "${var.vpc_connector}"
    assert "var.vpc_connector != null" in svc["vpc_connector_egress_settings"]
