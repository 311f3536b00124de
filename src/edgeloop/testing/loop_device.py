"""The device process of the capture -> sync -> hub fault harness (``edgeloop.testing.loop_faults``).

``python -m edgeloop.testing.loop_device --spool S --hub URL --frames N ...`` (the hub
token in ``EDGELOOP_HUB_TOKEN``) is what a camera with ``run --capture POLICY --hub URL`` does:
the real ``Capture`` over a ``Spool`` keeps frames, and the real ``BackgroundSync`` thread sends
them to the hub. The frames are synthetic and deterministic: frame ``i`` always has the same
pixels and boxes, so its stored JPEG (and sha256) is known in advance.

Resuming: after each frame is offered, its index is appended to the progress file; a
restarted device continues after the last index there. A frame offered again (the kill
landed between the offer and the progress line) is deduplicated by the spool. Each kept
frame's sha256 is appended to the kept log (``K <sha256>``, fsynced) after its insert
returned, as ``CaptureHook`` does under ``EDGELOOP_CAPTURE_KEPT_LOG``.

``edgeloop run`` has no way to start a source at frame ``i``, so this child stands in for
it; capture and sync are the same objects ``run --capture --hub`` uses.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeloop.imaging import ImageArray, encode_jpeg
from edgeloop.improve.background import BackgroundSync
from edgeloop.improve.capture import Capture, ModelRef
from edgeloop.improve.policy import CapturePolicy, policy_from_dict
from edgeloop.improve.spool import Spool
from edgeloop.improve.sync_targets import TargetOptions
from edgeloop.testing.capture_faults import synthetic_detections
from edgeloop.types import Detections

TOKEN_ENV = "EDGELOOP_HUB_TOKEN"
FRAME_WH = (96, 96)
JPEG_QUALITY = 90
DEVICE_NAME = "loop-device"


def synthetic_frame(seed: int, index: int) -> tuple[ImageArray, Detections]:
    """Frame ``index`` of the run ``seed``: (96, 96, 3) uint8 BGR pixels unique to it, and 0-3 boxes."""
    rng = np.random.default_rng([seed, index])
    blocks = rng.integers(0, 256, (12, 12, 3), np.uint8)
    image = np.ascontiguousarray(np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1))
    return image, synthetic_detections(rng, FRAME_WH)


def frame_sha256(seed: int, index: int) -> str:
    """The sha256 of the JPEG capture stores for frame ``index`` (the policy below changes no pixel)."""
    image, _ = synthetic_frame(seed, index)
    return hashlib.sha256(encode_jpeg(image, JPEG_QUALITY)).hexdigest()


def keep_all_policy(frames: int, seed: int) -> CapturePolicy:
    """Keep every frame (random scores, so sync's order is exercised); a budget nothing is evicted by."""
    return policy_from_dict(
        {
            "samplers": [{"type": "random", "min_score": 0.0, "tags": ["loop-faults"]}],
            "budget": {"max_count": frames + 1000, "max_bytes": None},
            "image": {"jpeg_quality": JPEG_QUALITY},
            "seed": seed,
            "counters_flush_s": 1.0,
        }
    )


def read_progress(path: Path) -> int:
    """How many frames were offered: one more than the last whole index line (0 when none)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64))
            tail = fh.read()
    except FileNotFoundError:
        return 0
    lines = [line for line in tail.split(b"\n")[:-1] if line.strip().isdigit()]  # the last may be partial
    return int(lines[-1]) + 1 if lines else 0


@dataclass(frozen=True)
class DeviceOptions:
    """What the device child is told on its command line."""

    spool: Path
    hub_url: str
    frames: int
    seed: int
    progress: Path
    kept_log: Path
    batch: int = 8
    timeout_s: float = 3.0
    fps: float = 0.0  # 0: as fast as capture goes


def run_device(options: DeviceOptions) -> int:
    """Capture frames from the progress point to the end while syncing; then keep syncing until
    SIGTERM. Returns the exit status (0)."""
    token = os.environ.get(TOKEN_ENV, "")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    policy = keep_all_policy(options.frames, options.seed)
    start = read_progress(options.progress)
    capture = Capture(policy, Spool(options.spool), DEVICE_NAME, ModelRef("synthetic", "1"))
    target = TargetOptions(options.hub_url, token, timeout_s=options.timeout_s, batch=options.batch)
    sync = BackgroundSync(options.spool, "hub", target)
    kept_fd = os.open(options.kept_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    progress_fd = os.open(options.progress, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(kept_fd, b"R\n")
    os.fsync(kept_fd)
    period = 1.0 / options.fps if options.fps > 0 else 0.0
    try:
        for index in range(start, options.frames):
            if stop.is_set():
                break
            if sync.error:  # the sync thread must outlive every fault; a stop is a finding
                raise RuntimeError(f"background sync stopped: {sync.error}")
            began = time.monotonic()
            image, detections = synthetic_frame(options.seed, index)
            decision = capture.offer(image, detections)
            if decision.kept:
                os.write(kept_fd, f"K {decision.sha256}\n".encode())
                os.fsync(kept_fd)
            os.write(progress_fd, f"{index}\n".encode())
            if period:
                stop.wait(max(0.0, period - (time.monotonic() - began)))
        while not stop.wait(0.2):  # every frame offered: sync goes on until the conductor stops it
            if sync.error:
                raise RuntimeError(f"background sync stopped: {sync.error}")
    finally:
        sync.close()
        capture.close()
        os.close(kept_fd)
        os.close(progress_fd)
    return 0


def main(argv: list[str]) -> int:
    """``python -m edgeloop.testing.loop_device --spool S --hub URL --frames N ...`` (kept light:
    nothing of the hub or SQLAlchemy is imported, so a restarted device starts quickly)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m edgeloop.testing.loop_device")
    for name in ("--spool", "--progress", "--kept-log"):
        parser.add_argument(name, type=Path, required=True)
    parser.add_argument("--hub", required=True)
    parser.add_argument("--frames", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=0.0)
    a = parser.parse_args(argv)
    return run_device(
        DeviceOptions(a.spool, a.hub, a.frames, a.seed, a.progress, a.kept_log, a.batch, a.timeout, a.fps)
    )


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
