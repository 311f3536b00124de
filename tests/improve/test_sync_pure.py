"""Back-off and the bandwidth bucket: pure functions, checked with a fake clock."""

from __future__ import annotations

import random

import pytest

from edgeloop.errors import ConfigError
from edgeloop.improve.backoff import Backoff, ceiling_s, full_jitter_s
from edgeloop.improve.bandwidth import Throttle, new_bucket, parse_rate, refill, reserve


def test_backoff_ceiling_doubles_from_half_a_second_to_a_minute() -> None:
    assert [ceiling_s(a) for a in range(9)] == [0.5, 1, 2, 4, 8, 16, 32, 60, 60]
    assert ceiling_s(10_000) == 60
    assert full_jitter_s(3, 0.0) == 0 and full_jitter_s(3, 0.5) == 2.0
    with pytest.raises(ValueError):
        ceiling_s(-1)


def test_backoff_full_jitter_spreads_and_resets_on_success() -> None:
    backoff = Backoff(draw=random.Random(1).random)
    delays = [backoff.failure() for _ in range(12)]
    assert all(0 <= d <= ceiling_s(i) for i, d in enumerate(delays))
    assert max(delays) <= 60 and len(set(delays)) == 12  # jittered, not a fixed schedule
    assert backoff.failures == 12
    backoff.success()
    assert backoff.failures == 0 and backoff.failure() <= 0.5
    # Many devices failing together: their first retries after 6 failures are spread over [0, 32 s).
    draws = random.Random(2)
    spread = [full_jitter_s(6, draws.random()) for _ in range(1000)]
    assert 14 < sum(spread) / len(spread) < 18 and min(spread) < 1 and max(spread) > 31


def test_bucket_refills_at_the_rate_up_to_the_burst() -> None:
    bucket = new_bucket(1000, now_s=0.0, burst_bytes=500)
    assert bucket.tokens == 500
    bucket, wait = reserve(bucket, 500, 0.0)
    assert wait == 0 and bucket.tokens == 0
    bucket, wait = reserve(bucket, 250, 0.0)  # a debt: wait until it is paid
    assert wait == pytest.approx(0.25)
    assert refill(bucket, 10.0).tokens == 500  # never above the burst
    assert refill(bucket, 0.1).tokens == pytest.approx(-150)


def test_throttle_holds_the_rate_over_a_long_run_with_a_fake_clock() -> None:
    now = [0.0]
    throttle = Throttle(50_000, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    rng = random.Random(3)
    for _ in range(2000):
        throttle.spend(rng.randint(1, throttle.chunk_bytes))
        now[0] += rng.uniform(0, 0.001)  # the time a write takes
    rate = throttle.bytes_written / now[0]
    assert throttle.chunk_bytes == 5000
    assert 0.97 * 50_000 <= rate <= 50_000 * 1.0 + throttle.chunk_bytes / now[0]


def test_throttle_without_a_cap_never_sleeps() -> None:
    slept: list[float] = []
    throttle = Throttle(None, clock=lambda: 0.0, sleep=slept.append)
    throttle.spend(10**9)
    assert slept == [] and throttle.bytes_written == 10**9


@pytest.mark.parametrize(
    ("text", "rate"),
    [("500k", 500_000), ("2M", 2_000_000), ("1.5MB/s", 1_500_000), ("64KiB", 65_536), ("250000", 250_000)],
)
def test_parse_rate(text: str, rate: int) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "-5k", "0", "5 parsecs"])
def test_parse_rate_refuses_nonsense(text: str) -> None:
    with pytest.raises(ConfigError, match="e.g. 500k" if text != "0" else "at least 1"):
        parse_rate(text)
