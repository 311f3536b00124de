#!/usr/bin/env python
"""Frames/s of a predict + capture loop while the spool's disk is full, against an uncapped disk.

Needs root: it mounts a size-capped filesystem (ext4 on a loop device, else tmpfs;
edgeloop.testing.capped_fs). Each round runs, in alternating order, ``--frames``
frames of the same loop (``Predictor.predict`` on a synthetic 640x480 frame, then
``Capture.offer``, with a random sampler keeping ``--keep`` of the frames):

  uncapped: the spool in a temporary folder on the ordinary disk
  full:     the spool on the capped filesystem, filled by capture itself during a warm-up
            (the kernel's ENOSPC), then topped up to the last block with a filler file
  off:      no capture (for reference)

It prints the medians, the ratio full/uncapped (target >= 0.90), the counts per
arm (frames, kept, dropped by reason, partial files, integrity_check), and how
long capture takes to resume once the filler is deleted (target < 10 s).

This measures the in-process loop (the Python API a user's own loop calls);
``edgeloop run --capture`` goes through the same ``Capture.offer``.

    sudo python benchmarks/capture_diskfull.py [--rounds 15] [--frames 100] [--keep 0.1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from edgeloop.importer import import_onnx
from edgeloop.improve import Capture, Spool, policy_from_dict
from edgeloop.predictor import Predictor
from edgeloop.testing.capped_fs import CappedFs, CappedFsUnavailable, capped_filesystem
from edgeloop.testing.onnx_models import colour_detector
from edgeloop.types import Detections


def scenes(n: int = 32) -> list[np.ndarray]:
    """Grey 640x480 frames with a red and a green square in varying places (both on the 32 px grid)."""
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(n):
        image = np.full((480, 640, 3), 128, np.uint8)
        for colour in ((0, 0, 255), (0, 255, 0)):
            x, y = 32 * rng.integers(0, 16), 32 * rng.integers(0, 10)
            image[y + 16 : y + 112, x : x + 96] = colour
        frames.append(image)
    return frames


def stamp(frame: np.ndarray, i: int) -> np.ndarray:
    """A copy whose corner encodes ``i``, so that every kept JPEG is distinct."""
    out = frame.copy()
    for k, byte in enumerate(i.to_bytes(4, "little")):  # 8x8 blocks survive JPEG quantisation
        out[:8, 8 * k : 8 * k + 8] = byte
    return out


class Arm:
    """One way of running the loop, with its own spool (or none) and its decisions."""

    def __init__(self, name: str, capture: Capture | None) -> None:
        self.name, self.capture = name, capture
        self.fps: list[float] = []
        self.reasons: Counter[str] = Counter()
        self.frames = 0
        self.offer_s: list[float] = []  # time inside Capture.offer, per measured round
        self.total_s: list[float] = []

    def run(self, predictor: Predictor, frames: list[np.ndarray], n: int, start: int) -> None:
        batch = [stamp(frames[(start + i) % len(frames)], start + i) for i in range(n)]
        offer_s = 0.0
        t0 = time.perf_counter()
        for frame in batch:
            detections = predictor.predict(frame)
            assert isinstance(detections, Detections)
            if self.capture is not None:
                t1 = time.perf_counter()
                self.reasons[self.capture.offer(frame, detections).reason] += 1
                offer_s += time.perf_counter() - t1
        elapsed = time.perf_counter() - t0
        self.fps.append(n / elapsed)
        self.offer_s.append(offer_s)
        self.total_s.append(elapsed)
        self.frames += n

    def offer_share(self) -> float:
        """Share of the loop's time spent in ``Capture.offer`` (measured rounds)."""
        return sum(self.offer_s) / sum(self.total_s)


def audit(spool: Spool) -> dict[str, object]:
    """Partial files (temp files, files without a row, files not matching their sha256), integrity."""
    rows = {s.sha256 for s in spool.samples()}
    files = {p.stem for p in spool.images.iterdir()}
    return {
        "temp files": len(list(spool.temp.iterdir())),
        "files without a row": len(files - rows),
        "rows without a file or with a wrong sha256": len(spool.verify()),
        "integrity_check": spool.integrity(),
    }


def resume_after_release(arm: Arm, capped: CappedFs, predictor: Predictor, frames: list[np.ndarray]) -> float:
    """Seconds from deleting the filler to the next kept frame (the loop keeps running meanwhile)."""
    assert arm.capture is not None
    capped.release()
    t0, i = time.perf_counter(), 10**6
    while time.perf_counter() - t0 < 30:
        frame = stamp(frames[i % len(frames)], i)
        detections = predictor.predict(frame)
        assert isinstance(detections, Detections)
        decision = arm.capture.offer(frame, detections)
        arm.reasons[decision.reason] += 1
        arm.frames += 1
        i += 1
        if decision.kept:
            return time.perf_counter() - t0
    return float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--frames", type=int, default=100, help="frames per arm per round")
    parser.add_argument("--keep", type=float, default=0.1, help="share of frames the policy keeps")
    args = parser.parse_args()
    policy = policy_from_dict(
        {
            "samplers": [{"type": "random", "min_score": 1 - args.keep}],
            "budget": {"max_count": None, "max_bytes": None, "min_free_bytes": 0},
            "counters_flush_s": 1,
            "seed": 0,
        }
    )
    frames = scenes()
    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        try:
            capped = stack.enter_context(capped_filesystem(tmp / "capped", 64 * 1024**2))
        except CappedFsUnavailable as exc:
            print(f"cannot run: {exc}", file=sys.stderr)
            return 2
        bundle = import_onnx(colour_detector(tmp / "colour.onnx"), tmp / "bundle")
        predictor = stack.enter_context(Predictor(bundle))
        uncapped = stack.enter_context(Capture(policy, Spool(tmp / "uncapped")))
        full = stack.enter_context(Capture(policy, Spool(capped.path / "spool")))
        arms = [Arm("uncapped", uncapped), Arm("full", full), Arm("off", None)]
        report = run_rounds(args, arms, capped, predictor, frames)
        resume_s = resume_after_release(arms[1], capped, predictor, frames)
        audits = {a.name: audit(a.capture.spool) for a in arms if a.capture is not None}
        counters = {a.name: a.capture.spool.counters() for a in arms if a.capture is not None}
        kind = capped.kind
    return print_report(args, arms, report, resume_s, audits, counters, kind)


def run_rounds(
    args: argparse.Namespace,
    arms: list[Arm],
    capped: CappedFs,
    predictor: Predictor,
    frames: list[np.ndarray],
) -> dict[str, object]:
    """Warm up (capture itself fills the capped disk), top it up, then measure interleaved rounds."""
    capped.fill(leave_bytes=2 * 1024**2)  # capture fills the last 2 MiB during the warm-up
    start = 0
    for arm in arms:
        while arm.name == "full" and arm.reasons["disk_full"] == 0 and start < 20 * args.frames:
            arm.run(predictor, frames, args.frames, start)
            start += args.frames
        arm.run(predictor, frames, args.frames, start)
        start += args.frames
        arm.fps.clear()
        arm.offer_s.clear()
        arm.total_s.clear()
    filled_by_capture = arms[1].reasons["kept"]
    capped.fill()  # and to the last block
    for r in range(args.rounds):
        for arm in arms[r % len(arms) :] + arms[: r % len(arms)]:  # each arm takes each position in turn
            arm.run(predictor, frames, args.frames, start)
            start += args.frames
    return {"kept before the disk filled": filled_by_capture, "free bytes while full": capped.free()}


def print_report(
    args: argparse.Namespace,
    arms: list[Arm],
    report: dict[str, object],
    resume_s: float,
    audits: dict[str, dict[str, object]],
    counters: dict[str, dict[str, int]],
    kind: str,
) -> int:
    def median(arm: Arm) -> float:
        return statistics.median(arm.fps)

    by_name = {arm.name: arm for arm in arms}
    ratio = median(by_name["full"]) / median(by_name["uncapped"])
    print(f"capture into a full {kind} filesystem vs an uncapped folder, {os.cpu_count()} CPUs")
    print(f"{args.rounds} rounds x {args.frames} frames per arm, policy keeps ~{args.keep:.0%}")
    for arm in arms:
        rounds = ", ".join(f"{f:.0f}" for f in arm.fps)
        share = f", {arm.offer_share():.1%} of the time in offer" if arm.capture is not None else ""
        print(f"  {arm.name:<9} median {median(arm):7.1f} frames/s  (rounds: {rounds}){share}")
    print(f"ratio full/uncapped: {ratio:.3f}  (target >= 0.90)")
    off = median(by_name["off"])
    print(f"ratio full/off:      {median(by_name['full']) / off:.3f}  (capture off, for reference)")
    print(f"ratio uncapped/off:  {median(by_name['uncapped']) / off:.3f}  (for reference)")
    for key, value in report.items():
        print(f"{key}: {value}")
    print(f"capture resumed {resume_s:.2f} s after the filler was deleted (target < 10 s)")
    failed = ratio < 0.9 or resume_s >= 10
    for name, audit_ in audits.items():
        arm, c = by_name[name], counters[name]
        drops = {k.removeprefix("dropped:"): v for k, v in c.items() if k.startswith("dropped:")}
        exact = c.get("offered") == arm.frames == c.get("kept", 0) + sum(drops.values())
        exact &= +arm.reasons == +Counter({"kept": c.get("kept", 0), **drops})  # = the decisions returned
        print(f"\n{name}: frames {arm.frames}, kept {c.get('kept', 0)}, dropped {drops}")
        print(f"  counters exact (offered = kept + drops = frames, = decisions): {exact}")
        for key, value in audit_.items():
            print(f"  {key}: {value}")
        failed |= not exact or audit_["integrity_check"] != "ok"
        failed |= any(v for k, v in audit_.items() if k != "integrity_check")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
