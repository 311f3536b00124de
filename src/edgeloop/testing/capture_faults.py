"""Fault harnesses for the capture spool: kill -9 at random moments, and a day-long budget run.

Used by tests/improve (small counts) and benchmarks/capture_faults.py (full counts).
The kill harness runs ``python -m edgeloop.testing.capture_faults SPOOL LOG SEED`` as a
child that captures synthetic frames at full speed and appends ``K <sha256>`` to LOG
(flushed and fsynced) after each insert returns; the parent kills it with SIGKILL,
reopens the spool (reconciliation) and checks every invariant.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeloop.improve.capture import Capture, ModelRef
from edgeloop.improve.policy import policy_from_dict
from edgeloop.improve.spool import Spool
from edgeloop.types import Detections

NAMES = ("car", "truck", "person")
CHILD_POLICY = {
    "samplers": [{"type": "random", "min_score": 0.3, "tags": ["kill-test"]}],
    "budget": {"max_count": 150},
    "counters_flush_s": 0,
}


def synthetic_detections(rng: np.random.Generator, size_wh: tuple[int, int] = (32, 32)) -> Detections:
    """0-3 random boxes of ``NAMES`` with random confidences."""
    n = int(rng.integers(0, 4))
    w, h = size_wh
    xy = rng.uniform(0, [w / 2, h / 2], (n, 2))
    wh = rng.uniform(2, [w / 2, h / 2], (n, 2))
    return Detections(
        np.concatenate([xy, xy + wh], axis=1).astype(np.float32),
        rng.uniform(0.05, 1.0, n).astype(np.float32),
        rng.integers(0, len(NAMES), n).astype(np.int32),
        NAMES,
    )


def child(spool_dir: Path, log: Path, seed: int, max_count: int = 150) -> None:
    """Capture synthetic frames forever, logging each returned insert durably."""
    rng = np.random.default_rng(seed)
    policy = policy_from_dict({**CHILD_POLICY, "seed": seed, "budget": {"max_count": max_count}})
    with Capture(policy, Spool(spool_dir), "kill-test", ModelRef("synthetic", "1")) as capture:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, b"R\n")
        os.fsync(fd)
        frames: list[np.ndarray] = []
        while True:
            image = rng.integers(0, 256, (32, 32, 3), np.uint8)
            if frames and rng.random() < 0.05:  # an exact repeat: must be deduplicated
                image = frames[int(rng.integers(0, len(frames)))]
            frames = [*frames[-20:], image]
            decision = capture.offer(image, synthetic_detections(rng))
            if decision.kept:
                os.write(fd, f"K {decision.sha256}\n".encode())
                os.fsync(fd)
                if rng.random() < 0.1:
                    held = capture.spool.samples("captured")
                    capture.spool.mark_queued([s.sha256 for s in held[:3]])
                    if held:
                        capture.spool.ack(held[0].sha256)


@dataclass
class SpoolCheck:
    """What one reopening of a spool found (after its reconciliation)."""

    integrity: str = ""
    lost: int = 0
    corrupt: int = 0
    orphans: int = 0
    temp_files: int = 0
    counter_mismatches: list[str] = field(default_factory=list)
    reconciled: dict[str, int] = field(default_factory=dict)


def check_spool(spool_dir: Path, acknowledged: set[str]) -> SpoolCheck:
    """Reopen a spool and check every invariant against the acknowledged inserts."""
    with Spool(spool_dir) as spool:
        result = SpoolCheck(integrity=spool.integrity(), reconciled=spool.reconciled)
        db = spool._db
        states = dict(db.execute("SELECT sha256, state FROM samples").fetchall())
        evictions = spool.evicted()  # a hash evicted, captured again and evicted again appears twice
        evicted = set(evictions)
        live = {s for s, state in states.items() if state != "acked"}
        for sha in acknowledged:
            if sha not in states and sha not in evicted:
                result.lost += 1
        result.corrupt = len(spool.verify())
        result.orphans = sum(1 for p in spool.images.iterdir() if p.stem not in live)
        result.temp_files = sum(1 for _ in spool.temp.iterdir())
        c = spool.counters()
        drops = sum(v for k, v in c.items() if k.startswith("dropped:"))
        expected = {
            "kept": len(states) + len(evictions) + c.get("rows_without_file", 0),
            "evicted": len(evictions),
            "acked": sum(1 for s in states.values() if s == "acked"),
            "offered": c.get("kept", 0) + drops,
        }
        for name, value in expected.items():
            if c.get(name, 0) != value:
                result.counter_mismatches.append(f"{name}: counter {c.get(name, 0)}, actual {value}")
        if spool.size != (
            len(live),
            sum(spool.path(s).stat().st_size for s in live if spool.path(s).exists()),
        ):
            result.counter_mismatches.append(f"size {spool.size} differs from the files")
    return result


@dataclass
class KillReport:
    """Totals over all kill rounds."""

    kills: int = 0
    acknowledged: int = 0
    lost: int = 0
    corrupt: int = 0
    orphans: int = 0
    temp_files: int = 0
    integrity_failures: int = 0
    counter_mismatches: list[str] = field(default_factory=list)
    orphans_reconciled: int = 0
    temp_reconciled: int = 0
    rows_without_file: int = 0

    def add(self, check: SpoolCheck, round_: int) -> None:
        """Count one round's spool check into the totals."""
        self.lost += check.lost
        self.corrupt += check.corrupt
        self.orphans += check.orphans
        self.temp_files += check.temp_files
        self.integrity_failures += check.integrity != "ok"
        self.counter_mismatches += [f"round {round_}: {m}" for m in check.counter_mismatches]
        self.orphans_reconciled += check.reconciled.get("orphan_files_removed", 0)
        self.temp_reconciled += check.reconciled.get("temp_files_removed", 0)
        self.rows_without_file += check.reconciled.get("rows_without_file", 0)


def acknowledged(log: Path) -> set[str]:
    """The sha256s a child logged (``K <sha256>``) after their insert returned."""
    lines = log.read_text().splitlines() if log.exists() else []
    return {line[2:] for line in lines if line.startswith("K ") and len(line) == 66}


def kill_rounds(root: Path, kills: int, seed: int = 0, max_delay_s: float = 0.5) -> KillReport:
    """Start the child, SIGKILL it at a random moment, check the spool; ``kills`` times."""
    spool_dir, log = root / "spool", root / "acknowledged.log"
    rng, report = random.Random(seed), KillReport()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for round_ in range(kills):
        ready = log.read_text().count("R\n") if log.exists() else 0
        args = [
            sys.executable,
            "-m",
            "edgeloop.testing.capture_faults",
            str(spool_dir),
            str(log),
            str(seed * 1000 + round_),
        ]
        proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while (log.read_text().count("R\n") if log.exists() else 0) <= ready:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"capture child did not start: {err[-2000:]}")
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, max_delay_s))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
        report.kills += 1
        report.add(check_spool(spool_dir, acknowledged(log)), round_)
    report.acknowledged = len(acknowledged(log))
    return report


def crash_at(root: Path, point: str, max_count: int = 5) -> SpoolCheck:
    """Run the child until it kills itself at the named crash point, then check the spool."""
    spool_dir, log = root / "spool", root / "acknowledged.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "EDGELOOP_CRASH_AT": point}
    args = [
        sys.executable,
        "-m",
        "edgeloop.testing.capture_faults",
        str(spool_dir),
        str(log),
        "7",
        str(max_count),
    ]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != -signal.SIGKILL:
        raise RuntimeError(
            f"the child did not crash at {point} (exit {result.returncode}): {result.stderr[-2000:]}"
        )
    return check_spool(spool_dir, acknowledged(log))


if __name__ == "__main__":
    child(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), *map(int, sys.argv[4:5]))
