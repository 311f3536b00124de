"""Sliding-window rate limits (per minute, hour and day) on an injectable clock."""

from __future__ import annotations

from bisect import bisect_right

from edgeloop.improve.policy import Limits

WINDOWS_S = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}


class RateLimiter:
    """Counts kept frames in sliding windows; ``blocked`` says which window is full.

    Times are readings of the capture's clock in seconds (a monotonic clock).
    Only frames that were actually kept are recorded, so refusals never eat the
    quota. A window ending at ``now`` holds the times in ``(now - length, now]``.
    """

    def __init__(self, limits: Limits) -> None:
        caps = {"minute": limits.per_minute, "hour": limits.per_hour, "day": limits.per_day}
        self._caps = {window: cap for window, cap in caps.items() if cap is not None}
        self._horizon_s = max((WINDOWS_S[w] for w in self._caps), default=0.0)
        self._times: list[float] = []  # ascending

    def blocked(self, now_s: float) -> str | None:
        """The first full window ('minute', 'hour' or 'day'), or None when a frame may be kept."""
        expired = bisect_right(self._times, now_s - self._horizon_s)
        if expired:
            del self._times[:expired]
        for window, cap in self._caps.items():
            if len(self._times) - bisect_right(self._times, now_s - WINDOWS_S[window]) >= cap:
                return window
        return None

    def record(self, now_s: float) -> None:
        """Count one kept frame at ``now_s``."""
        if self._caps:
            self._times.append(now_s)
