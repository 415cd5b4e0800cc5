"""gemini_gateway.secret_store: cache, shared fetches, refresh on rejection, stale on failure (docs/API.md §2, §9)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from gemini_gateway.errors import Unavailable
from gemini_gateway.secret_store import SecretRef, SecretStore

T = TypeVar("T")

NAME = "projects/test-project/secrets/gemini-key/versions/latest"
REF = SecretRef("Gemini API key", name=NAME)
TTL = 300.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeSecretManager:
    """An async fetcher that serves `values` in turn (the last one repeats), or raises `failure`."""

    def __init__(self, *values: str) -> None:
        self.values = list(values)
        self.calls: list[str] = []
        self.failure: Exception | None = None
        self.delay = 0.0

    async def __call__(self, name: str) -> str:
        self.calls.append(name)
        if self.delay:
            await asyncio.sleep(self.delay)
        else:
            await asyncio.sleep(0)
        if self.failure is not None:
            raise self.failure
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def run(make: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await make()

    return asyncio.run(main())


def store(fetcher: FakeSecretManager, clock: Clock, ttl: float = TTL) -> SecretStore:
    return SecretStore(fetcher, ttl, clock)


def test_cached_within_ttl_refetched_after() -> None:
    fetcher, clock = FakeSecretManager("test-gemini-key-1", "test-gemini-key-2"), Clock()
    secrets = store(fetcher, clock)

    async def scenario() -> list[str]:
        got = [await secrets.get(REF)]
        clock.now += TTL - 1
        got.append(await secrets.get(REF))
        clock.now += 2
        got.append(await secrets.get(REF))
        got.append(await secrets.get(REF))
        return got

    assert run(scenario) == ["test-gemini-key-1", "test-gemini-key-1", "test-gemini-key-2", "test-gemini-key-2"]
    assert fetcher.calls == [NAME, NAME]


def test_value_is_stripped() -> None:
    fetcher = FakeSecretManager("  test-gemini-key-1\n")
    assert run(lambda: store(fetcher, Clock()).get(REF)) == "test-gemini-key-1"


def test_fifty_concurrent_first_gets_share_one_fetch() -> None:
    fetcher, clock = FakeSecretManager("test-gemini-key-1"), Clock()
    fetcher.delay = 0.01
    secrets = store(fetcher, clock)

    async def scenario() -> list[str]:
        return list(await asyncio.gather(*(secrets.get(REF) for _ in range(50))))

    assert run(scenario) == ["test-gemini-key-1"] * 50
    assert len(fetcher.calls) == 1


def test_concurrent_failure_shared_too() -> None:
    fetcher, clock = FakeSecretManager("unused"), Clock()
    fetcher.failure = RuntimeError("boom")
    fetcher.delay = 0.01
    secrets = store(fetcher, clock)

    async def scenario() -> list[BaseException | str]:
        return list(await asyncio.gather(*(secrets.get(REF) for _ in range(20)), return_exceptions=True))

    results = run(scenario)
    assert all(isinstance(r, Unavailable) for r in results)
    assert len(fetcher.calls) == 1


def test_different_secrets_cached_separately() -> None:
    other = SecretRef("AI Gateway token", name="projects/test-project/secrets/gateway-token/versions/2")

    async def fetch(name: str) -> str:
        return "value-of-" + name.split("/")[3]

    secrets = SecretStore(fetch, TTL, Clock())

    async def scenario() -> tuple[str, str]:
        return await secrets.get(REF), await secrets.get(other)

    assert run(scenario) == ("value-of-gemini-key", "value-of-gateway-token")


def test_refresh_with_rejected_value_changed() -> None:
    fetcher, clock = FakeSecretManager("test-gemini-key-1", "test-gemini-key-2"), Clock()
    secrets = store(fetcher, clock)

    async def scenario() -> tuple[bool, str]:
        old = await secrets.get(REF)
        changed = await secrets.refresh(REF, old)
        return changed, await secrets.get(REF)

    assert run(scenario) == (True, "test-gemini-key-2")
    assert len(fetcher.calls) == 2


def test_refresh_with_rejected_value_unchanged() -> None:
    fetcher, clock = FakeSecretManager("test-gemini-key-1"), Clock()
    secrets = store(fetcher, clock)

    async def scenario() -> tuple[bool, str]:
        old = await secrets.get(REF)
        changed = await secrets.refresh(REF, old)
        return changed, await secrets.get(REF)

    assert run(scenario) == (False, "test-gemini-key-1")
    assert len(fetcher.calls) == 2


@pytest.mark.parametrize("values", [("test-gemini-key-1",), ("test-gemini-key-1", "test-gemini-key-2")])
def test_second_refresh_within_ten_seconds_does_not_fetch(values: tuple[str, ...]) -> None:
    fetcher, clock = FakeSecretManager(*values), Clock()
    secrets = store(fetcher, clock)

    async def scenario() -> tuple[bool, bool]:
        old = await secrets.get(REF)
        first = await secrets.refresh(REF, old)
        clock.now += 5
        second = await secrets.refresh(REF, old)
        return first, second

    first, second = run(scenario)
    assert len(fetcher.calls) == 2
    assert first == second == (len(values) == 2)


def test_refresh_again_after_ten_seconds_fetches() -> None:
    fetcher, clock = FakeSecretManager("test-gemini-key-1"), Clock()
    secrets = store(fetcher, clock)

    async def scenario() -> None:
        old = await secrets.get(REF)
        await secrets.refresh(REF, old)
        clock.now += 11
        await secrets.refresh(REF, old)

    run(scenario)
    assert len(fetcher.calls) == 3


def test_refresh_of_a_value_already_replaced_does_not_fetch() -> None:
    fetcher, clock = FakeSecretManager("test-gemini-key-1", "test-gemini-key-2"), Clock()
    secrets = store(fetcher, clock)

    async def scenario() -> bool:
        await secrets.get(REF)
        clock.now += TTL + 1
        await secrets.get(REF)  # now key-2
        return await secrets.refresh(REF, "test-gemini-key-1")

    assert run(scenario) is True
    assert len(fetcher.calls) == 2


def test_refresh_failure_returns_false() -> None:
    fetcher, clock = FakeSecretManager("test-gemini-key-1"), Clock()
    secrets = store(fetcher, clock)

    async def scenario() -> bool:
        old = await secrets.get(REF)
        fetcher.failure = RuntimeError("down")
        return await secrets.refresh(REF, old)

    assert run(scenario) is False


def test_refresh_of_literal_is_false_and_never_fetches() -> None:
    fetcher = FakeSecretManager("unused")
    ref = SecretRef("Gemini API key", literal="test-gemini-key-1")
    assert run(lambda: store(fetcher, Clock()).refresh(ref, "test-gemini-key-1")) is False
    assert fetcher.calls == []


def test_failure_with_stale_value_serves_stale() -> None:
    fetcher, clock = FakeSecretManager("test-gemini-key-1"), Clock()
    secrets = store(fetcher, clock)

    async def scenario() -> list[str]:
        got = [await secrets.get(REF)]
        clock.now += TTL + 1
        fetcher.failure = RuntimeError("Secret Manager down")
        got.append(await secrets.get(REF))
        got.append(await secrets.get(REF))  # within the retry pause: no new fetch
        clock.now += 11
        fetcher.failure = None
        fetcher.values = ["test-gemini-key-2"]
        got.append(await secrets.get(REF))
        return got

    assert run(scenario) == ["test-gemini-key-1", "test-gemini-key-1", "test-gemini-key-1", "test-gemini-key-2"]
    assert len(fetcher.calls) == 3


def test_failure_without_value_is_unavailable_without_leaking(caplog: pytest.LogCaptureFixture) -> None:
    fetcher, clock = FakeSecretManager("unused"), Clock()
    fetcher.failure = RuntimeError("payload test-gemini-key-1 in the exception text")
    secrets = store(fetcher, clock)
    with caplog.at_level(logging.WARNING, logger="gemini_gateway"), pytest.raises(Unavailable) as info:
        run(lambda: secrets.get(REF))
    error = info.value
    assert error.status == 503 and error.retryable
    assert "Gemini API key" in error.message
    assert NAME not in error.message and "gemini-key/" not in error.message
    assert "test-gemini-key-1" not in error.message and "payload" not in error.message
    for record in caplog.records:
        assert "test-gemini-key-1" not in record.getMessage()
        assert "test-gemini-key-1" not in str(getattr(record, "fields", ""))


def test_failure_then_recovery_fetches_again() -> None:
    fetcher, clock = FakeSecretManager("test-gemini-key-1"), Clock()
    fetcher.failure = RuntimeError("down")
    secrets = store(fetcher, clock)

    async def scenario() -> str:
        with pytest.raises(Unavailable):
            await secrets.get(REF)
        fetcher.failure = None
        return await secrets.get(REF)

    assert run(scenario) == "test-gemini-key-1"
    assert len(fetcher.calls) == 2


@pytest.mark.parametrize("empty", ["", "   ", "\n"])
def test_empty_secret_is_unavailable(empty: str) -> None:
    fetcher = FakeSecretManager(empty)
    with pytest.raises(Unavailable):
        run(lambda: store(fetcher, Clock()).get(REF))


def test_literal_never_fetches() -> None:
    fetcher = FakeSecretManager("unused")
    secrets = store(fetcher, Clock())
    ref = SecretRef("Gemini API key", literal="test-gemini-key-1")
    assert run(lambda: secrets.get(ref)) == "test-gemini-key-1"
    assert fetcher.calls == []


def test_neither_name_nor_literal_is_unavailable() -> None:
    fetcher = FakeSecretManager("unused")
    with pytest.raises(Unavailable) as info:
        run(lambda: store(fetcher, Clock()).get(SecretRef("AI Gateway token")))
    assert "AI Gateway token" in info.value.message
    assert fetcher.calls == []


def test_name_wins_over_literal() -> None:
    fetcher = FakeSecretManager("from-secret-manager")
    ref = SecretRef("Gemini API key", name=NAME, literal="test-gemini-key-1")
    assert run(lambda: store(fetcher, Clock()).get(ref)) == "from-secret-manager"


def test_cancelled_waiter_does_not_cancel_the_shared_fetch() -> None:
    fetcher, clock = FakeSecretManager("test-gemini-key-1"), Clock()
    fetcher.delay = 0.05
    secrets = store(fetcher, clock)

    async def scenario() -> str:
        first = asyncio.ensure_future(secrets.get(REF))
        await asyncio.sleep(0.01)
        first.cancel()
        return await secrets.get(REF)

    assert run(scenario) == "test-gemini-key-1"
    assert len(fetcher.calls) == 1
