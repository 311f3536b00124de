"""Store-and-forward sync: samples leave the spool only once a target holds them (LOOP.md, invariant 1).

``Syncer`` takes held samples from the spool (highest score first, then oldest),
checks each file against its sha256, sends it to a target (hub, folder, S3) with
the sha256 as the idempotency key, and acks the row only after the target said it
holds the sample (2xx). A sample the target refuses for good (4xx) is acked too and
counted as ``sync_rejected:<code>``; unreachable targets, 5xx and timeouts back
off with full jitter (0.5 s doubling to 60 s, reset on success). The state is the
spool itself: a restart sends what is still held, and a sample sent twice (a crash
between the target's answer and the ack: crash point ``sync_uploaded``) is held
once by the target (same key).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeloop.errors import EdgeloopError
from edgeloop.improve.acker import SpoolAcker
from edgeloop.improve.backoff import Backoff
from edgeloop.improve.bandwidth import Stopped, Throttle
from edgeloop.improve.faults import crash_point
from edgeloop.improve.records import Sample
from edgeloop.improve.sync_targets import Item, Result, Target, TargetUnavailable

ONCE_MAX_FAILURES = 3


class SyncFailed(EdgeloopError):
    """``--once`` gave up: the target stayed unavailable."""


@dataclass
class SyncStats:
    """What a sync run did. ``sent``: samples the target now holds (``stored`` + ``duplicate``);
    ``acked``: spool rows acked (sent and rejected); ``retries``: failed attempts backed off."""

    sent: int = 0
    stored: int = 0
    duplicate: int = 0
    acked: int = 0
    rejected: Counter[int] = field(default_factory=Counter)
    bytes_sent: int = 0
    retries: int = 0
    corrupt: int = 0
    started_s: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready numbers."""
        return {
            "sent": self.sent,
            "stored": self.stored,
            "duplicate": self.duplicate,
            "acked": self.acked,
            "rejected": {str(code): n for code, n in sorted(self.rejected.items())},
            "bytes": self.bytes_sent,
            "retries": self.retries,
            "corrupt": self.corrupt,
            "duration_s": round(time.monotonic() - self.started_s, 3),
        }

    def line(self) -> str:
        """One summary line."""
        rejected = sum(self.rejected.values())
        by_code = ", ".join(f"{code}: {n}" for code, n in sorted(self.rejected.items()))
        parts = [
            f"sent {self.sent} (stored {self.stored}, already there {self.duplicate})",
            f"acked {self.acked}",
            f"rejected {rejected}" + (f" ({by_code})" if by_code else ""),
            f"{self.bytes_sent / 1e6:.2f} MB",
            f"retries {self.retries}",
        ]
        if self.corrupt:
            parts.append(f"corrupt files left in the spool {self.corrupt}")
        return ", ".join(parts) + f" in {time.monotonic() - self.started_s:.1f} s"


@dataclass
class Progress:
    """What a progress display shows after each step."""

    stats: SyncStats
    backlog: int
    backlog_bytes: int
    state: str  # "sending", "idle", "waiting 3.2 s: <why>"


class Syncer:
    """Sends a spool's samples to a target until drained (``once``) or stopped.

    Args:
        acker: the spool, as sync sees it.
        target: where samples go.
        rate_bps: bandwidth cap in bytes/s over the bytes written (None: none).
        once: stop when nothing is held (and give up after a few failed tries).
        idle_s: how often an empty spool is looked at again.
        backoff: failure delays (a seeded one in tests).
        log: one line per notable event (a rejection, a wait); never holds the token.
        on_progress: called after each step.
    """

    def __init__(
        self,
        acker: SpoolAcker,
        target: Target,
        rate_bps: int | None = None,
        once: bool = False,
        idle_s: float = 1.0,
        backoff: Backoff | None = None,
        log: Callable[[str], None] = lambda line: None,
        on_progress: Callable[[Progress], None] = lambda progress: None,
    ) -> None:
        self.acker, self.target, self.once, self.idle_s = acker, target, once, idle_s
        self.backoff = backoff or Backoff()
        self.log, self.on_progress = log, on_progress
        self.stats = SyncStats()
        self._stop = threading.Event()
        self.throttle = Throttle(rate_bps, sleep=self._pause)
        self._bad: set[str] = set()  # files that do not match their sha256: never sent
        self._failures = 0

    def stop(self) -> None:
        """Ask ``run`` to return (a paced upload in progress is abandoned, not acked)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether ``stop`` was called."""
        return self._stop.is_set()

    def _pause(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise Stopped

    def run(self) -> SyncStats:
        """Send until drained (``once``) or stopped.

        Raises:
            TargetRefused: a setting is wrong (bad token, wrong URL, no permission).
            SyncFailed: with ``once``, the target stayed unavailable.
        """
        try:
            while not self._stop.is_set():
                if not self.step() and self.once:
                    break
        except Stopped:
            pass
        return self.stats

    def step(self) -> bool:
        """Send one batch; False when nothing was held (then wait ``idle_s`` unless ``once``)."""
        samples = self.acker.pending(self.target.max_batch, skip=self._bad)
        if not samples:
            self._report("idle")
            if not self.once:
                self._stop.wait(self.idle_s)
            return False
        self.acker.mark_queued(s.sha256 for s in samples if s.state == "captured")
        items = [item for s in samples if (item := self._load(s)) is not None]
        if not items:
            return True
        try:
            results = self.target.send(items, self.throttle)
        except TargetUnavailable as exc:
            self._failed(str(exc))
            return True
        retry = [r for r in results if r.outcome == "retry"]
        for result in results:
            self._record(result, items)
        if retry:
            self._failed(f"{len(retry)} sample(s) not taken now ({retry[0].code}: {retry[0].detail})")
        else:
            self.backoff.success()
            self._failures = 0
            self._report("sending")
        return True

    def _load(self, sample: Sample) -> Item | None:
        """The sample's bytes if its file is whole (None: gone meanwhile, or corrupt)."""
        try:
            data = self.acker.path(sample.sha256).read_bytes()
        except FileNotFoundError:  # evicted by capture, or pruned, since it was listed
            return None
        if hashlib.sha256(data).hexdigest() != sample.sha256:
            if self.acker.held(sample.sha256):  # not a file being replaced: it is damaged
                self._bad.add(sample.sha256)
                self.stats.corrupt += 1
                self.log(f"{sample.sha256[:12]}: the spool file does not match its sha256; left in the spool")
            return None
        return Item(sample, data)

    def _record(self, result: Result, items: list[Item]) -> None:
        if result.outcome in ("stored", "duplicate"):
            crash_point("sync_uploaded")
            size = next(len(i.data) for i in items if i.sha256 == result.sha256)
            self.stats.sent += 1
            self.stats.bytes_sent += size
            if result.outcome == "stored":
                self.stats.stored += 1
            else:
                self.stats.duplicate += 1
            self.stats.acked += self.acker.ack(result.sha256)
        elif result.outcome == "rejected":
            self.log(
                f"{result.sha256[:12]} rejected by {self.target.description} ({result.code}): "
                f"{result.detail or 'no reason given'}; acked, counted as sync_rejected:{result.code}"
            )
            self.stats.rejected[result.code] += 1
            self.stats.acked += self.acker.ack(result.sha256, rejected_code=result.code)

    def _failed(self, why: str) -> None:
        self.stats.retries += 1
        self._failures += 1
        if self.once and self._failures >= ONCE_MAX_FAILURES:
            raise SyncFailed(
                f"{why} (gave up after {self._failures} tries; without --once sync keeps trying)"
            )
        delay = self.backoff.failure()
        self.log(f"{why}; trying again in {delay:.1f} s")
        self._report(f"waiting {delay:.1f} s: {why}")
        if self._stop.wait(delay):
            raise Stopped

    def _report(self, state: str) -> None:
        count, size = self.acker.backlog()
        self.on_progress(Progress(self.stats, count, size, state))
