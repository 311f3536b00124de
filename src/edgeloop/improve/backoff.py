"""Exponential back-off with full jitter, as a pure function and a small stateful helper.

``delay = uniform(0, min(cap, base * 2**attempt))`` (the "full jitter" of the AWS
architecture blog): retries of many devices spread out instead of arriving
together when a hub comes back. ``attempt`` counts consecutive failures from 0 and
resets on the first success.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

BASE_S = 0.5
CAP_S = 60.0


def ceiling_s(attempt: int, base_s: float = BASE_S, cap_s: float = CAP_S) -> float:
    """The largest delay after ``attempt`` consecutive failures (0-based): ``min(cap, base * 2**attempt)``."""
    if attempt < 0:
        raise ValueError("attempt counts failures from 0")
    if attempt > 64:  # 2**64 * base is past any cap; avoids a huge float
        return cap_s
    return min(cap_s, base_s * 2.0**attempt)


def full_jitter_s(attempt: int, unit: float, base_s: float = BASE_S, cap_s: float = CAP_S) -> float:
    """The delay after ``attempt`` failures for a uniform draw ``unit`` in [0, 1)."""
    return unit * ceiling_s(attempt, base_s, cap_s)


@dataclass
class Backoff:
    """Consecutive failures and the next delay; ``success()`` starts over.

    Args:
        base_s: ceiling of the first delay.
        cap_s: no delay is longer than this.
        draw: uniform draws in [0, 1) (a seeded ``random.Random().random`` in tests).
    """

    base_s: float = BASE_S
    cap_s: float = CAP_S
    draw: Callable[[], float] = field(default_factory=lambda: random.SystemRandom().random)
    failures: int = 0

    def failure(self) -> float:
        """Count a failure; the seconds to wait before the next try."""
        delay = full_jitter_s(self.failures, self.draw(), self.base_s, self.cap_s)
        self.failures += 1
        return delay

    def success(self) -> None:
        """A request succeeded: the next failure waits at most ``base_s`` again."""
        self.failures = 0
