"""gemini_gateway.upstream.backoff_delay: jittered exponential backoff (docs/API.md §9)."""

from __future__ import annotations

import random

import pytest

from gemini_gateway.upstream.client import backoff_delay


class FixedRandom(random.Random):
    """A Random whose random() always returns `value`."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


CEILINGS = {1: 0.5, 2: 1.0, 3: 2.0, 4: 4.0, 5: 8.0, 6: 8.0, 10: 8.0}


@pytest.mark.parametrize(("attempt", "ceiling"), sorted(CEILINGS.items()))
def test_jitter_bounds(attempt: int, ceiling: float) -> None:
    assert backoff_delay(attempt, None, FixedRandom(0.0)) == pytest.approx(ceiling / 2)
    assert backoff_delay(attempt, None, FixedRandom(0.999999)) == pytest.approx(ceiling, rel=1e-5)
    rng = random.Random(attempt)
    for _ in range(200):
        assert ceiling / 2 <= backoff_delay(attempt, None, rng) <= ceiling


def test_grows_then_caps() -> None:
    lows = [backoff_delay(a, None, FixedRandom(0.0)) for a in range(1, 9)]
    assert lows == sorted(lows)
    assert lows[:5] == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert max(backoff_delay(a, None, FixedRandom(0.999999)) for a in range(1, 30)) <= 8.0


@pytest.mark.parametrize("asked", [0.0, 0.1, 26.0, 120.0])
@pytest.mark.parametrize("attempt", [1, 3, 8])
def test_never_below_asked(attempt: int, asked: float) -> None:
    for value in (0.0, 0.5, 0.999):
        assert backoff_delay(attempt, asked, FixedRandom(value)) >= asked


def test_asked_longer_than_backoff_is_used_as_is() -> None:
    assert backoff_delay(1, 26.0, FixedRandom(0.5)) == 26.0


def test_none_and_zero_asked_are_the_same() -> None:
    assert backoff_delay(2, None, FixedRandom(0.3)) == backoff_delay(2, 0.0, FixedRandom(0.3))


def test_default_rng_within_bounds() -> None:
    for _ in range(100):
        assert 0.25 <= backoff_delay(1, None) <= 0.5
