"""callers/google_credentials.py: google-auth's expiry is naive UTC, whatever this machine's time zone is."""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Iterator

import pytest

from gemini_gateway.callers.google_credentials import GoogleAccessToken


class Credentials:
    """What google-auth's credentials hold after a refresh: a token and a naive UTC expiry."""

    token = "test-access-token"
    expiry: datetime.datetime | None = None

    def refresh(self, request: object) -> None:
        naive_utc = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        self.expiry = naive_utc + datetime.timedelta(hours=1)


@pytest.fixture(params=["America/New_York", "Asia/Tokyo", "UTC"])
def zone(request: pytest.FixtureRequest) -> Iterator[str]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_a_one_hour_token_is_kept_55_minutes_in_any_zone(zone: str) -> None:
    source = GoogleAccessToken()
    source._credentials = Credentials()
    token, until = source._refresh()
    assert token == "test-access-token"
    assert 55 * 60 - 5 <= until - time.monotonic() <= 55 * 60 + 5, zone
