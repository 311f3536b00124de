"""``CaptureHook``: one ``Capture`` fed from a bounded queue by its own thread.

What ``edgeloop run --capture`` and ``edgeloop serve --capture`` put beside
inference. ``submit`` never waits for the disk and never raises: when the
capture thread is still busy with earlier frames and 64 MiB of frames already
wait for it, the frame is skipped and counted (``skipped:busy``); an unexpected error in the
capture thread is counted (``errors``) and capture goes on with the next frame.
Inference therefore never waits on, nor fails because of, capture.

Test-only: with ``EDGELOOP_CAPTURE_KEPT_LOG=PATH`` in the environment, the hook
appends ``R`` when it starts and ``K <sha256>`` after each insert returned, each
line fsynced, so a kill -9 harness knows which inserts it must find again.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from edgeloop.errors import ConfigError
from edgeloop.imaging import ImageArray
from edgeloop.improve.capture import Capture, ModelRef
from edgeloop.improve.policy import CapturePolicy
from edgeloop.improve.spool import Spool
from edgeloop.types import Detections

KEPT_LOG_ENV = "EDGELOOP_CAPTURE_KEPT_LOG"
MODEL_FREE_SAMPLERS = ("interval", "scene_change", "random")
QUEUE_BYTES = 64 * 2**20  # about 23 frames of 720p, 8 of 1080p


@dataclass(frozen=True)
class _Offer:
    image: ImageArray
    detections: Detections | None
    model: ModelRef | None
    flagged: bool


def default_device_id() -> str:
    """The device id stored with samples when none is given: the host name."""
    return socket.gethostname() or "device"


class CaptureHook:
    """Offers frames to ``capture`` on a background thread; ``submit`` returns at once.

    Args:
        capture: the one ``Capture`` every frame goes through (closed by ``close``).
        queue_bytes: pixels (bytes) waiting for the capture thread before new frames are
            skipped; one frame is always accepted when none waits.
    """

    def __init__(self, capture: Capture, queue_bytes: int = QUEUE_BYTES) -> None:
        self.capture = capture
        self.queue_bytes = queue_bytes
        self._queue: queue.Queue[_Offer | None] = queue.Queue()
        self._waiting_bytes = 0  # of the frames in the queue; guarded by _skip_lock
        self._lock = threading.Lock()  # the spool's counters are read while the thread offers
        self._skip_lock = threading.Lock()
        self.skipped = 0
        self.errors = 0
        self.last_error: str | None = None
        self._final: dict[str, int] | None = None
        self._start = capture.spool.counters()
        self._closed = False
        self._log_fd = _open_kept_log()
        self._thread = threading.Thread(target=self._work, name="capture", daemon=True)
        self._thread.start()

    @classmethod
    def open(
        cls,
        policy: CapturePolicy,
        spool_dir: str | Path,
        device_id: str | None = None,
        model: ModelRef | None = None,
    ) -> CaptureHook:
        """Open the spool (reconciling it) and start the capture thread.

        Raises:
            SpoolError: the spool folder cannot be opened (e.g. another process holds it).
        """
        spool = Spool(spool_dir)
        return cls(Capture(policy, spool, device_id or default_device_id(), model))

    def submit(
        self,
        image_bgr: ImageArray,
        detections: Detections | None,
        model: ModelRef | None = None,
        flagged: bool = False,
    ) -> bool:
        """Queue one frame for capture; False when it was skipped (capture busy, or closed)."""
        if self._closed:
            return False
        size = int(getattr(image_bgr, "nbytes", 0))
        with self._skip_lock:  # not the capture lock: that one is held during a whole offer
            if self._waiting_bytes and self._waiting_bytes + size > self.queue_bytes:
                self.skipped += 1
                return False
            self._waiting_bytes += size
        self._queue.put(_Offer(image_bgr, detections, model, flagged))
        return True

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            with self._skip_lock:
                self._waiting_bytes -= int(getattr(item.image, "nbytes", 0))
            with self._lock:
                try:
                    decision = self.capture.offer(item.image, item.detections, item.model, None, item.flagged)
                    if decision.kept and self._log_fd is not None:
                        os.write(self._log_fd, f"K {decision.sha256}\n".encode())
                        os.fsync(self._log_fd)
                except Exception as exc:  # capture must never take the process (or this thread) down
                    self.errors += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"

    def counters(self) -> dict[str, int]:
        """The spool's counters since it was created (``offered``, ``kept``, ``evicted``,
        ``dropped:REASON``, ...), ``held`` and ``held_bytes`` now, and this hook's
        ``skipped:busy`` and ``errors``."""
        with self._lock:
            if self._final is not None:
                return dict(self._final)
            held, held_bytes = self.capture.spool.size
            counts = self.capture.spool.counters()
            return {
                **dict.fromkeys(("offered", "kept", "evicted"), 0),
                **counts,
                "held": held,
                "held_bytes": held_bytes,
                "skipped:busy": self.skipped,
                "errors": self.errors,
            }

    def run_counters(self) -> dict[str, int]:
        """``counters()`` counted since this hook opened the spool (``held*``: now)."""
        now = self.counters()
        return {
            k: v - self._start.get(k, 0) if k not in ("held", "held_bytes") else v for k, v in now.items()
        }

    def close(self) -> None:
        """Offer what is queued, stop the thread, commit the counters, close the spool. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)  # after the frames already queued, which are offered first
        self._thread.join()
        try:
            final = self.counters()
        except sqlite3.Error as exc:  # the database went bad: what this hook knows, and the error
            self.errors += 1
            self.last_error = f"reading the counters: {exc}"
            final = {"skipped:busy": self.skipped, "errors": self.errors}
        with self._lock:
            with contextlib.suppress(sqlite3.Error, OSError):
                self.capture.close()
            self._final = final
        if self._log_fd is not None:
            os.close(self._log_fd)

    def __enter__(self) -> CaptureHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_kept_log() -> int | None:
    path = os.environ.get(KEPT_LOG_ENV)
    if not path:
        return None
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, b"R\n")
    os.fsync(fd)
    return fd


def check_model_free(policy: CapturePolicy, source: str = "policy") -> None:
    """Refuse what needs a model's detections when capturing without one.

    Raises:
        ConfigError: a sampler other than interval, scene_change or random, or a privacy
            rule that reads classes (drop_classes, blur_classes, crops_only).
    """
    hint = "capture without a model uses interval, scene_change and random; with a model, use " + (
        "edgeloop run BUNDLE --capture POLICY --spool DIR"
    )
    for i, entry in enumerate(policy.samplers):
        if entry.type not in MODEL_FREE_SAMPLERS:
            raise ConfigError(f"{source}: samplers.{i}.type: '{entry.type}' needs a model's results; {hint}")
    privacy = policy.privacy
    for key, value in (
        ("drop_classes", privacy.drop_classes),
        ("blur_classes", privacy.blur_classes),
        ("crops_only", privacy.crops_only),
    ):
        if value:
            raise ConfigError(
                f"{source}: privacy.{key}: needs a model's detections to find the classes or boxes, "
                f"and edgeloop capture runs without a model; remove it, or capture with "
                f"edgeloop run BUNDLE --capture POLICY --spool DIR"
            )


def counters_line(counters: dict[str, int]) -> str:
    """One line for a summary: offered, kept, evicted, drops by reason, skips and errors."""
    drops = {k.removeprefix("dropped:"): v for k, v in counters.items() if k.startswith("dropped:") and v}
    parts = [
        f"offered {counters.get('offered', 0)}",
        f"kept {counters.get('kept', 0)}",
        f"evicted {counters.get('evicted', 0)}",
    ]
    dropped = ", ".join(f"{reason} {n}" for reason, n in sorted(drops.items()))
    parts.append(f"dropped {sum(drops.values())}" + (f" ({dropped})" if dropped else ""))
    if counters.get("skipped:busy"):
        parts.append(f"skipped while busy {counters['skipped:busy']}")
    if counters.get("errors"):
        parts.append(f"errors {counters['errors']}")
    if "held" in counters:
        parts.append(f"spool holds {counters['held']} ({counters.get('held_bytes', 0) / 1e6:.1f} MB)")
    return ", ".join(parts)
