"""Collecting frames before any model exists: sources -> model-free capture policy -> spool.

    source reader (one thread each) -> bounded queue -> capture (this thread)

What ``edgeloop capture --source SRC --spool DIR --policy P`` runs. Samplers are
the model-free ones (interval, scene_change, random; ``improve.hook.check_model_free``).
Each source has its own ``Capture`` over the one shared spool, so intervals,
scene changes and rate limits count per camera while the disk budget is shared.
File sources give every frame (the readers wait for capture); live sources keep
only the freshest frame, as in the video pipeline. ``stop()`` (e.g. from a signal
handler) ends the run within a fraction of a second.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeloop.errors import EdgeloopError, SourceError
from edgeloop.improve.capture import Capture
from edgeloop.improve.hook import check_model_free, default_device_id
from edgeloop.improve.policy import CapturePolicy
from edgeloop.improve.spool import Spool
from edgeloop.stream.frames import Event, Frame
from edgeloop.stream.sources import Source

POLL_S = 0.05


@dataclass(frozen=True)
class _End:
    source: str
    error: EdgeloopError | None = None


@dataclass
class CollectSummary:
    """What a finished collection reports.

    Attributes:
        frames: frames offered, per source.
        kept: frames kept, per source.
        dropped: live frames skipped while capture was busy, per source.
        counters: the spool's counters counted during this run (``offered``, ``kept``, ``dropped:*``).
        held: samples in the spool now (``held_bytes``: their size).
        errors: frames whose capture failed unexpectedly (the run went on).
    """

    duration_s: float
    stopped: bool
    frames: dict[str, int]
    kept: dict[str, int]
    dropped: dict[str, int]
    counters: dict[str, int]
    held: int
    held_bytes: int
    errors: int = 0
    error: EdgeloopError | None = None
    events: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "duration_s": round(self.duration_s, 3),
            "stopped": self.stopped,
            "sources": {
                name: {"frames": n, "kept": self.kept[name], "dropped": self.dropped[name]}
                for name, n in self.frames.items()
            },
            "counters": self.counters,
            "held": self.held,
            "held_bytes": self.held_bytes,
            "errors": self.errors,
            "error": str(self.error) if self.error else None,
        }


class Collector:
    """Runs ``sources`` through a model-free ``policy`` into the spool at ``spool_dir``.

    Raises:
        ConfigError: the policy needs a model (``check_model_free``).
        SpoolError: the spool cannot be opened.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        policy: CapturePolicy,
        spool_dir: str | Path,
        device_id: str | None = None,
        queue_size: int = 4,
        policy_name: str = "policy",
    ) -> None:
        check_model_free(policy, policy_name)
        self.sources = list(sources)
        self.spool = Spool(spool_dir)
        self._start = self.spool.counters()
        device = device_id or default_device_id()
        self.captures: dict[str, Capture] = {}
        for i, source in enumerate(self.sources):  # distinct random draws per camera
            seeded = replace_seed(policy, i)
            self.captures[source.name] = Capture(seeded, self.spool, device)
        self.frames = {s.name: 0 for s in self.sources}
        self.kept = {s.name: 0 for s in self.sources}
        self.errors = 0
        self._stop = threading.Event()
        self._stopped_by_user = False
        self._queue: queue.Queue[Frame | Event | _End] = queue.Queue(queue_size)

    def stop(self) -> None:
        """Ask the run to end soon (safe from signal handlers and other threads)."""
        self._stopped_by_user = True
        self._stop.set()

    def _put(self, item: Frame | Event | _End, drop: bool) -> bool:
        if drop:
            try:
                self._queue.put_nowait(item)
                return True
            except queue.Full:
                return False
        while not self._stop.is_set() or isinstance(item, _End):
            try:
                self._queue.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                pass
        return False

    def _read(self, source: Source) -> None:
        error: EdgeloopError | None = None
        try:
            for item in source.frames(self._stop):
                if not self._put(item, drop=source.live and isinstance(item, Frame)):
                    if self._stop.is_set():
                        break
                    source.dropped += 1
        except EdgeloopError as exc:
            error = exc
        except Exception as exc:  # a decoder crash must end the run with a message, not hang it
            error = SourceError(f"{source.name}: reading failed: {exc}")
        if error is not None:
            self._stop.set()
        self._put(_End(source.name, error), drop=False)

    def _offer(self, frame: Frame) -> None:
        try:
            decision = self.captures[frame.source].offer(frame.image)
        except Exception:  # capture degrades (counted), collection goes on
            self.errors += 1
            return
        self.frames[frame.source] += 1
        self.kept[frame.source] += decision.kept

    def run(self, on_status: Callable[[dict[str, Any]], None] | None = None) -> CollectSummary:
        """Run until every source ends, ``stop()`` is called, or a source fails; closes the spool."""
        started = last = time.monotonic()
        readers = [threading.Thread(target=self._read, args=(s,), daemon=True) for s in self.sources]
        for reader in readers:
            reader.start()
        ended = 0
        errors: list[EdgeloopError] = []
        events: list[str] = []
        try:
            while ended < len(self.sources):
                try:
                    item = self._queue.get(timeout=POLL_S)
                except queue.Empty:
                    item = None
                if isinstance(item, _End):
                    ended += 1
                    errors += [item.error] if item.error is not None else []
                elif isinstance(item, Event):
                    events.append(f"{item.source}: {item.kind}")
                elif isinstance(item, Frame) and not self._stop.is_set():
                    self._offer(item)
                if on_status is not None and time.monotonic() - last >= 0.5:
                    last = time.monotonic()
                    on_status(self.snapshot())
        finally:
            self._stop.set()
            counters, (held, held_bytes) = self.spool.counters(), self.spool.size  # committed + batched
            for capture in self.captures.values():
                capture.close()  # commits the batched counters; the spool closes once
        counters = {**dict.fromkeys(("offered", "kept", "evicted"), 0), **counters}
        delta = {k: v - self._start.get(k, 0) for k, v in counters.items()}
        delta = {k: v for k, v in delta.items() if v or k in ("offered", "kept", "evicted")}
        return CollectSummary(
            time.monotonic() - started,
            self._stopped_by_user,
            dict(self.frames),
            dict(self.kept),
            {s.name: s.dropped for s in self.sources},
            delta,
            held,
            held_bytes,
            self.errors,
            errors[0] if errors else None,
            events,
        )

    def snapshot(self) -> dict[str, Any]:
        """Frames offered and kept so far, per source."""
        return {
            s.name: {"frames": self.frames[s.name], "kept": self.kept[s.name], "dropped": s.dropped}
            for s in self.sources
        }


def replace_seed(policy: CapturePolicy, index: int) -> CapturePolicy:
    """``policy`` with its seed moved by ``index`` (None stays None: drawn at random)."""
    if policy.seed is None or index == 0:
        return policy
    return policy.model_copy(update={"seed": policy.seed + index})


__all__ = ["CollectSummary", "Collector"]
