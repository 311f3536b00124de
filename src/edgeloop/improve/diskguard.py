"""Full disks and failing writes: name the failure, keep a free-space reserve, back off, re-probe.

A failed write (an image file or the SQLite database) is classified as
``disk_full`` (ENOSPC, EDQUOT, EFBIG, SQLITE_FULL) or ``io_error`` (anything
else: EIO, EROFS, EPERM, a folder replaced...). After a failure, capture pauses:
frames that would be stored are dropped at once, with the same reason, without
encoding or touching the disk, so the caller's loop (inference) keeps its pace.
The next write is tried after a back-off of 0.5, 1, 2, then at most 4 seconds,
so capture resumes by itself within ``MAX_BACKOFF_S`` (plus one frame) of the
disk recovering. Before each write, the filesystem's free space is read
(``statvfs``): a write that would leave less than ``min_free_bytes`` is not
started, so capture stops short of filling the disk that other programs share
(0 turns the check off: writes go on until the kernel answers ENOSPC).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
SQLITE_FULL = 13
BACKOFF_S = (0.5, 1.0, 2.0, 4.0)
MAX_BACKOFF_S = BACKOFF_S[-1]


def failure_reason(exc: BaseException) -> str:
    """``disk_full`` or ``io_error``: the drop reason for a write that raised ``exc``."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return "disk_full"
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if (isinstance(code, int) and code & 0xFF == SQLITE_FULL) or "disk is full" in str(exc):
            return "disk_full"
    return "io_error"


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@dataclass(frozen=True)
class Paused:
    """Why capture is not writing now, and for how long (seconds of the capture clock)."""

    reason: str
    detail: str
    retry_in_s: float


class DiskGuard:
    """Back-off state for one spool folder, on the capture's clock (not thread-safe: ``Capture`` locks).

    Args:
        path: the spool folder (its filesystem is the one checked).
        min_free_bytes: free space to leave on that filesystem.
        clock: monotonic seconds.
    """

    def __init__(self, path: Path, min_free_bytes: int, clock: Callable[[], float]) -> None:
        self.path, self.min_free_bytes, self._clock = path, min_free_bytes, clock
        self._failures = 0
        self._retry_at = 0.0
        self._reason = ""
        self._detail = ""

    def paused(self) -> Paused | None:
        """Not None while backing off after a failure: drop the frame without writing."""
        if not self._failures:
            return None
        now = self._clock()
        if now >= self._retry_at:  # time to try a write again
            return None
        return Paused(self._reason, f"capture paused after: {self._detail}", self._retry_at - now)

    def room_for(self, size: int) -> Paused | None:
        """Not None when writing ``size`` bytes would leave less than the reserve free.

        A reserve of 0 reads nothing: writes go on until the filesystem refuses one.
        """
        if not self.min_free_bytes:
            return None
        try:
            free = free_bytes(self.path)
        except OSError as exc:
            return self.failed("io_error", f"cannot read free space: {exc.strerror or exc}")
        if free - size < self.min_free_bytes:
            detail = f"{free} bytes free, below the reserve of {self.min_free_bytes} (budget.min_free_bytes)"
            return self.failed("disk_full", detail)
        return None

    def budget_warning(self, max_bytes: int | None, held_bytes: int) -> str | None:
        """A warning when the byte budget is larger than this filesystem can give the spool.

        The spool then meets ``disk_full`` before its budget, so it stops keeping new
        frames instead of evicting the lowest-valued ones for them.
        """
        try:
            room = held_bytes + free_bytes(self.path) - self.min_free_bytes
        except OSError:
            return None
        if max_bytes is None or max_bytes <= room:
            return None
        return (
            f"budget.max_bytes is {max_bytes} bytes but the spool's filesystem can give it about "
            f"{max(room, 0)} (held + free - budget.min_free_bytes): capture will stop at disk_full "
            "before the budget evicts; lower budget.max_bytes to keep evicting the lowest-valued"
        )

    def failed(self, reason: str, detail: str) -> Paused:
        """Record a failed (or refused) write; back off before the next one."""
        delay = BACKOFF_S[min(self._failures, len(BACKOFF_S) - 1)]
        self._failures += 1
        self._retry_at = self._clock() + delay
        self._reason, self._detail = reason, detail
        return Paused(reason, detail, delay)

    def succeeded(self) -> None:
        """A write went through: capture is healthy again."""
        self._failures = 0
        self._reason = self._detail = ""

    @property
    def state(self) -> dict[str, object]:
        """``{"writing": bool, "reason": ..., "detail": ..., "retry_in_s": ...}`` for status reports."""
        if not self._failures:
            return {"writing": True, "reason": "", "detail": "", "retry_in_s": 0.0}
        retry = max(0.0, self._retry_at - self._clock())
        return {"writing": False, "reason": self._reason, "detail": self._detail, "retry_in_s": retry}
