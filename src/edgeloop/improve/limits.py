"""Sliding-window rate limits (per minute, hour and day) on an injectable clock."""

from __future__ import annotations

from collections import deque

from edgeloop.improve.policy import Limits

WINDOWS_S = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}


class RateLimiter:
    """Counts kept frames in sliding windows; ``blocked`` says which window is full.

    Times are readings of the capture's clock in seconds (any monotonic clock).
    Only frames that were actually kept are recorded, so refusals never eat the quota.
    """

    def __init__(self, limits: Limits) -> None:
        self._caps = {
            "minute": limits.per_minute,
            "hour": limits.per_hour,
            "day": limits.per_day,
        }
        longest = max((WINDOWS_S[w] for w, cap in self._caps.items() if cap is not None), default=0.0)
        self._horizon_s = longest
        self._times: deque[float] = deque()

    def _count_since(self, since_s: float) -> int:
        # deque is sorted: count from the right while times are inside the window
        n = 0
        for t in reversed(self._times):
            if t <= since_s:
                break
            n += 1
        return n

    def blocked(self, now_s: float) -> str | None:
        """The first full window ('minute', 'hour' or 'day'), or None when a frame may be kept."""
        while self._times and self._times[0] <= now_s - self._horizon_s:
            self._times.popleft()
        for window, cap in self._caps.items():
            if cap is not None and self._count_since(now_s - WINDOWS_S[window]) >= cap:
                return window
        return None

    def record(self, now_s: float) -> None:
        """Count one kept frame at ``now_s``."""
        if self._horizon_s > 0:
            self._times.append(now_s)
