"""A bandwidth cap in bytes/s: a token bucket over the bytes written, as pure functions.

``reserve(bucket, n, now)`` takes ``n`` bytes' worth of tokens (the level may go
below zero: a debt) and says how long to wait before writing them, so a sender
writes in chunks and sleeps between them; over any long window the bytes written
stay within ``rate * window + burst``. ``Throttle`` binds a bucket to a clock and a
sleep function (fake ones in tests).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from edgeloop.errors import ConfigError

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(i?)(b|b/s|bps)?\s*$", re.IGNORECASE)
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}
_BINARY = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}


def parse_rate(text: str) -> int:
    """``500k``, ``2M``, ``1.5MB/s``, ``64KiB``, ``250000`` -> bytes per second (k, M, G are powers of
    1,000; Ki, Mi, Gi of 1,024)."""
    match = _RATE.match(text)
    if match is None:
        raise ConfigError(f"'{text}' is not a rate: write bytes per second, e.g. 500k, 2M or 250000")
    number, prefix, binary = float(match.group(1)), match.group(2).lower(), match.group(3)
    rate = int(number * (_BINARY if binary else _SCALE)[prefix])
    if rate < 1:
        raise ConfigError(f"'{text}': the rate must be at least 1 byte/s")
    return rate


def chunk_bytes(rate_bps: int | None) -> int:
    """Bytes per write: about a tenth of a second's worth when capped (1 KiB to 64 KiB), else 64 KiB."""
    if rate_bps is None:
        return 64 * 1024
    return max(1024, min(64 * 1024, rate_bps // 10))


@dataclass(frozen=True)
class Bucket:
    """Token-bucket state: ``tokens`` (bytes, may be negative) at time ``at_s``.

    Attributes:
        rate_bps: tokens added per second.
        burst_bytes: the most tokens held (the largest write that goes out at once after a pause).
    """

    rate_bps: float
    burst_bytes: float
    tokens: float
    at_s: float


def new_bucket(rate_bps: float, now_s: float, burst_bytes: float | None = None) -> Bucket:
    """A bucket holding one chunk; ``burst_bytes`` defaults to a quarter second at the rate.

    The burst lets a sender that waited for an answer (a request's round trip) catch up
    on that pause, so the rate while sending stays near the cap; over any window of T
    seconds at most ``rate * T + burst`` bytes go out (+8 % over 3 s with the default).
    """
    if rate_bps <= 0:
        raise ValueError("rate_bps must be positive")
    chunk = float(chunk_bytes(int(rate_bps)))
    burst = max(chunk, rate_bps / 4) if burst_bytes is None else float(burst_bytes)
    return Bucket(float(rate_bps), burst, min(burst, chunk), now_s)


def refill(bucket: Bucket, now_s: float) -> Bucket:
    """The bucket at ``now_s``: tokens added for the time passed, up to ``burst_bytes``."""
    elapsed = max(0.0, now_s - bucket.at_s)
    tokens = min(bucket.burst_bytes, bucket.tokens + elapsed * bucket.rate_bps)
    return replace(bucket, tokens=tokens, at_s=max(now_s, bucket.at_s))


def reserve(bucket: Bucket, n_bytes: int, now_s: float) -> tuple[Bucket, float]:
    """Take ``n_bytes`` of tokens at ``now_s``: the new state and the seconds to wait before writing."""
    level = refill(bucket, now_s)
    taken = replace(level, tokens=level.tokens - n_bytes)
    wait_s = 0.0 if taken.tokens >= 0 else -taken.tokens / taken.rate_bps
    return taken, wait_s


class Stopped(Exception):
    """Raised out of a paced write when the sender is stopping (the request is abandoned)."""


class Throttle:
    """Paces writes to ``rate_bps`` (None: no cap; then ``spend`` only counts).

    Args:
        rate_bps: the cap in bytes per second.
        clock: monotonic seconds.
        sleep: waits that many seconds (may return early when the caller is stopping).
    """

    def __init__(
        self,
        rate_bps: int | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate_bps = rate_bps
        self.chunk_bytes = chunk_bytes(rate_bps)
        self._clock = clock
        self._sleep = sleep
        self._bucket = new_bucket(rate_bps, clock()) if rate_bps is not None else None
        self.bytes_written = 0

    def spend(self, n_bytes: int) -> None:
        """Wait until ``n_bytes`` may be written, then count them."""
        if self._bucket is not None:
            self._bucket, wait_s = reserve(self._bucket, n_bytes, self._clock())
            if wait_s > 0:
                self._sleep(wait_s)
        self.bytes_written += n_bytes
