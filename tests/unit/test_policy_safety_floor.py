"""A caller policy's `safety_floor` with a threshold that is not a name is refused, never dropped (policies.py).

Dropping it would leave the entry's floor empty, and an empty floor replaces
the global SAFETY_FLOOR for that caller: a typo would lift the floor.
"""

from __future__ import annotations

import json

import pytest

from gemini_gateway.policies import PolicyError, parse_policies
from gemini_gateway.runtime import configuration_problems

HATE = "HARM_CATEGORY_HATE_SPEECH"
BASE = {
    "CLOUDFLARE_ACCOUNT_ID": "test-account",
    "AI_GATEWAY_ID": "test-gateway",
    "GEMINI_API_KEY": "test-gemini-key-1",
    "ALLOW_UNAUTHENTICATED": "true",
    "SAFETY_FLOOR": f"{HATE}=BLOCK_LOW_AND_ABOVE",
}


@pytest.mark.parametrize("threshold", [1, None, True, ["BLOCK_NONE"]])
def test_a_threshold_that_is_not_a_name_is_refused(threshold: object) -> None:
    with pytest.raises(PolicyError, match=r"uid:\*\.safety_floor"):
        parse_policies(json.dumps({"uid:*": {"safety_floor": {HATE: threshold}}}))


def test_it_stops_the_start() -> None:
    policies = json.dumps({"uid:*": {"safety_floor": {HATE: 4}}})
    problems = dict(configuration_problems({**BASE, "CALLER_POLICIES": policies}))
    assert "safety_floor" in problems["CALLER_POLICIES"]
