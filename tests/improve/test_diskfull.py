"""Acceptance: a full disk or an I/O error degrades capture, never inference, and capture comes back.

On a real size-capped filesystem (``capped_fs``: ext4 on a loop device, or tmpfs)
the kernel answers ENOSPC. After every phase: no temp file, every file is its
row's (sha256), no row without its file, ``integrity_check`` ok, and the
counters equal the decisions returned (``offered = kept + every drop``).
benchmarks/capture_diskfull.py measures the pipeline's frames/s while full.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeloop.bundle import Bundle
from edgeloop.improve import Capture, Decision, Spool, policy_from_dict
from edgeloop.improve.diskguard import BACKOFF_S, MAX_BACKOFF_S, failure_reason
from edgeloop.predictor import Predictor
from edgeloop.testing.capped_fs import CappedFs
from edgeloop.testing.capture_budget import FakeClock
from edgeloop.types import Detections
from tests.conftest import run_cli, scene_640x480

SPOOL_FILES = {"spool.db", "spool.db-wal", "spool.db-shm", "lock", "images", "tmp"}


def policy(min_free_bytes: int = 0) -> dict[str, object]:
    return {
        "samplers": [{"type": "random", "min_score": 0}],  # every frame is worth keeping
        "budget": {"max_count": None, "max_bytes": None, "min_free_bytes": min_free_bytes},
        "image": {"max_size": None, "jpeg_quality": 95},
        "counters_flush_s": 0,
        "seed": 0,
    }


def noise_frames(seed: int = 0) -> Callable[[], np.ndarray]:
    """Distinct noisy 120x160 frames (~40 KB as JPEG), so nothing is a duplicate."""
    rng = np.random.default_rng(seed)
    return lambda: rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)


def audit(spool: Spool) -> None:
    """No partial file, no file without a row, no row without its whole file, a sound database."""
    assert not list(spool.temp.iterdir())
    assert {p.name for p in spool.root.iterdir()} <= SPOOL_FILES
    assert {p.stem for p in spool.images.iterdir()} == {s.sha256 for s in spool.samples()}
    assert all(p.suffix == ".jpg" for p in spool.images.iterdir())
    assert spool.verify() == []  # every file's sha256 equals its row's
    assert spool.integrity() == "ok"


def check_counters(spool: Spool, decisions: list[Decision]) -> None:
    counters = spool.counters()
    reasons = Counter(d.reason for d in decisions)
    drops = {k.removeprefix("dropped:"): v for k, v in counters.items() if k.startswith("dropped:")}
    assert counters["offered"] == len(decisions) == counters["kept"] + sum(drops.values())
    assert counters["kept"] == reasons.pop("kept", 0) == len(spool.samples())
    assert drops == dict(reasons)


def offer_until(
    capture: Capture, clock: FakeClock, frame: Callable[[], np.ndarray], stop: Callable[[Decision], bool]
) -> list[Decision]:
    """Offer a frame every 0.1 s (fake clock) until ``stop`` says so (at most 60 s)."""
    decisions = []
    for _ in range(600):
        clock.now += 0.1
        decisions.append(capture.offer(frame()))
        if stop(decisions[-1]):
            return decisions
    raise AssertionError(f"gave up after 60 s: {Counter(d.reason for d in decisions)}")


def test_filling_the_disk_during_capture(capped_fs: CappedFs) -> None:
    clock, frame = FakeClock(), noise_frames()
    capture = Capture(policy_from_dict(policy()), Spool(capped_fs.path / "spool"), clock=clock)
    decisions = [capture.offer(frame()) for _ in range(5)]
    assert [d.reason for d in decisions] == ["kept"] * 5
    capped_fs.fill(leave_bytes=300_000)  # room for a few more, then the kernel says ENOSPC
    decisions += offer_until(capture, clock, frame, lambda d: d.reason == "disk_full")
    full_at = clock.now
    decisions += offer_until(capture, clock, frame, lambda d: clock.now - full_at >= 30)
    full = [d for d in decisions if d.reason == "disk_full"]
    tried = [d for d in full if not d.detail.startswith("capture paused")]
    assert {d.reason for d in decisions} == {"kept", "disk_full"}
    assert len(tried) <= 30 / MAX_BACKOFF_S + len(BACKOFF_S)  # backs off: 300 frames, few writes
    assert all("No space left" in d.detail or "disk is full" in d.detail for d in tried)  # the kernel's
    audit(capture.spool)
    check_counters(capture.spool, decisions)
    assert capture.disk.state["writing"] is False

    capped_fs.release()
    freed_at = clock.now
    decisions += offer_until(capture, clock, frame, lambda d: d.kept)
    assert clock.now - freed_at <= MAX_BACKOFF_S + 0.1  # resumes by itself, well within 10 s
    decisions += [capture.offer(frame()) for _ in range(3)]
    assert [d.reason for d in decisions[-3:]] == ["kept"] * 3
    audit(capture.spool)
    check_counters(capture.spool, decisions)
    capture.close()
    with Spool(capped_fs.path / "spool") as spool:  # nothing for reconciliation to repair
        assert spool.reconciled == {"rows_without_file": 0}
        audit(spool)
        check_counters(spool, decisions)


def test_the_reserve_stops_capture_before_the_disk_is_full(capped_fs: CappedFs) -> None:
    clock, frame = FakeClock(), noise_frames(1)
    reserve = 4 * 1024**2
    capped_fs.fill(leave_bytes=reserve + 400_000)
    capture = Capture(policy_from_dict(policy(reserve)), Spool(capped_fs.path / "spool"), clock=clock)
    decisions = offer_until(capture, clock, frame, lambda d: d.reason == "disk_full")
    full_at = clock.now
    decisions += offer_until(capture, clock, frame, lambda d: clock.now - full_at >= 10)
    full = [d for d in decisions if d.reason == "disk_full"]
    assert full and all("below the reserve" in d.detail for d in full)  # never a kernel ENOSPC
    assert capped_fs.free() > reserve // 2  # the spool's SQLite WAL may use a little of it
    audit(capture.spool)
    check_counters(capture.spool, decisions)
    capped_fs.release()
    freed_at = clock.now
    decisions += offer_until(capture, clock, frame, lambda d: d.kept)
    assert clock.now - freed_at <= MAX_BACKOFF_S + 0.1
    check_counters(capture.spool, decisions)
    capture.close()


def test_an_io_error_degrades_capture_and_it_resumes(capped_fs: CappedFs) -> None:
    """The spool's temp folder made immutable (EPERM even for root) while capture runs."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr missing (apt-get install e2fsprogs)")
    clock, frame = FakeClock(), noise_frames(2)
    capture = Capture(policy_from_dict(policy()), Spool(capped_fs.path / "spool"), clock=clock)
    decisions = [capture.offer(frame()) for _ in range(3)]
    locked = subprocess.run(["chattr", "+i", str(capture.spool.temp)], capture_output=True, text=True)
    if locked.returncode:
        capture.close()
        pytest.skip(f"{capped_fs.kind} cannot make a folder immutable: {locked.stderr.strip()}")
    try:
        decisions += offer_until(capture, clock, frame, lambda d: clock.now >= 20)
    finally:
        subprocess.run(["chattr", "-i", str(capture.spool.temp)], check=True)
    errors = [d for d in decisions if d.reason == "io_error"]
    assert {d.reason for d in decisions} == {"kept", "io_error"} and len(errors) > 150
    assert "Operation not permitted" in errors[0].detail
    audit(capture.spool)
    check_counters(capture.spool, decisions)
    restored_at = clock.now
    decisions += offer_until(capture, clock, frame, lambda d: d.kept)
    assert clock.now - restored_at <= MAX_BACKOFF_S + 0.1
    audit(capture.spool)
    check_counters(capture.spool, decisions)
    capture.close()


def test_inference_keeps_running_and_capture_returns_within_10_s(
    capped_fs: CappedFs, yolo_bundle: Bundle
) -> None:
    """Real clock, real model: every frame is still predicted; capture resumes within 10 real seconds."""
    scene = scene_640x480()
    decisions: list[Decision] = []
    with (
        Predictor(yolo_bundle) as predictor,
        Capture(policy_from_dict(policy()), Spool(capped_fs.path / "spool")) as capture,
    ):
        expected = predictor.predict(scene)
        assert isinstance(expected, Detections) and len(expected) == 2

        def step(i: int) -> Decision:
            frame = scene.copy()
            frame[0, :4] = np.frombuffer(i.to_bytes(12, "little"), np.uint8).reshape(4, 3)  # distinct JPEGs
            detections = predictor.predict(frame)
            assert isinstance(detections, Detections)
            assert np.array_equal(detections.class_id, expected.class_id)  # inference is unaffected
            return capture.offer(frame, detections)

        decisions += [step(i) for i in range(3)]
        capped_fs.fill()  # to the last block
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            decisions.append(step(len(decisions)))
        assert decisions[-1].reason == "disk_full"
        capped_fs.release()
        freed_at = time.monotonic()
        while not decisions[-1].kept and time.monotonic() - freed_at < 10:
            decisions.append(step(len(decisions)))
        assert decisions[-1].kept and time.monotonic() - freed_at < 10
        audit(capture.spool)
        check_counters(capture.spool, decisions)


def test_write_failures_are_named_from_the_kernel_and_sqlite(capped_fs: CappedFs, tmp_path: Path) -> None:
    capped_fs.fill()
    with pytest.raises(OSError) as enospc, open(capped_fs.path / "more", "wb") as fh:
        fh.write(b"x" * 65536)
        fh.flush()
    assert failure_reason(enospc.value) == "disk_full"
    db = sqlite3.connect(tmp_path / "small.db")
    db.execute("CREATE TABLE t (x BLOB)")
    db.execute("PRAGMA max_page_count = 4")
    with pytest.raises(sqlite3.Error) as full:
        db.execute("INSERT INTO t VALUES (zeroblob(100000))")
    assert failure_reason(full.value) == "disk_full"
    db.close()
    with contextlib.suppress(FileNotFoundError):
        (capped_fs.path / "more").unlink()
    assert failure_reason(PermissionError(1, "Operation not permitted")) == "io_error"
    assert failure_reason(sqlite3.OperationalError("disk I/O error")) == "io_error"


def test_a_full_disk_costs_the_loop_no_extra_database_work(capped_fs: CappedFs) -> None:
    """While full, SQLite is asked to write once per counters_flush_s and once per back-off, not per frame."""
    clock, frame = FakeClock(), noise_frames(3)
    settings = {**policy(), "counters_flush_s": 1}
    capture = Capture(policy_from_dict(settings), Spool(capped_fs.path / "spool"), clock=clock)
    capture.offer(frame())
    capped_fs.fill()
    offer_until(capture, clock, frame, lambda d: d.reason == "disk_full")
    writes: list[str] = []
    capture.spool._db.set_trace_callback(lambda sql: writes.append(sql) if sql.startswith("BEGIN") else None)
    decisions = offer_until(capture, clock, frame, lambda d: len(writes) > 100 or clock.now >= 20)
    assert len(decisions) > 150 and {d.reason for d in decisions} == {"disk_full"}
    assert len(writes) <= 20 + 20 / BACKOFF_S[0]  # flushes (1/s) + writes tried; was one per frame
    capture.spool._db.set_trace_callback(None)
    capped_fs.release()
    decisions += offer_until(capture, clock, frame, lambda d: d.kept)
    capture.close()


def test_a_byte_budget_larger_than_the_disk_is_reported(capped_fs: CappedFs) -> None:
    settings = {**policy(1024**2), "budget": {"max_bytes": 10 * 1024**3, "min_free_bytes": 1024**2}}
    with Capture(policy_from_dict(settings), Spool(capped_fs.path / "a")) as capture:
        assert capture.budget_warning is not None and "lower budget.max_bytes" in capture.budget_warning
    settings["budget"] = {"max_bytes": 4 * 1024**2, "min_free_bytes": 1024**2}
    with Capture(policy_from_dict(settings), Spool(capped_fs.path / "b")) as capture:
        assert capture.budget_warning is None


def test_run_on_an_already_full_disk_infers_without_capture(
    capped_fs: CappedFs, yolo_bundle: Bundle, tmp_path: Path
) -> None:
    """A spool the full disk cannot even open turns capture off with a warning; every frame is
    still inferred (a spool held by another process stays an error: tests/stream)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((120, 160, 3), 40 * i, np.uint8))
    policy = tmp_path / "policy.yaml"
    policy.write_text("samplers: [{type: random, min_score: 0.0}]\nbudget: {min_free_bytes: 0}\n")
    capped_fs.fill()
    result = run_cli(
        "run", str(yolo_bundle.root), "--source", str(frames), "--summary-json",
        "--capture", str(policy), "--spool", str(capped_fs.path / "spool"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning: capture is off for this run" in result.stderr and "Traceback" not in result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1])["frames"] == 4
