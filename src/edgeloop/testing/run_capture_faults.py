"""kill -9 against the real ``edgeloop run --capture``: the spool survives the whole command dying.

Each round starts ``edgeloop run BUNDLE --source VIDEO --capture POLICY --spool DIR``
as a subprocess running at full pipeline speed, with ``EDGELOOP_CAPTURE_KEPT_LOG``
set (the capture thread appends ``K <sha256>``, fsynced, after each insert
returned; ``improve.hook``), kills it with SIGKILL at a random moment after its
spool is open, then reopens the spool and checks every invariant with
``capture_faults.check_spool``: ``integrity_check`` ok, every acknowledged
insert present (or evicted) with an intact file, no orphan or temp files,
counters equal to the rows. Used by tests/stream (10 kills) and
``benchmarks/capture_faults.py --target run`` (100 and more).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from edgeloop.testing.capture_faults import KillReport, acknowledged, check_spool

RUN_POLICY = {
    # Every frame scores 1 (a near-zero interval), so on a full budget each newcomer evicts the
    # oldest sample: each restart reads the video from its start again, and the frames evicted
    # in earlier rounds come back, so inserts and evictions go on for the whole run.
    "samplers": [{"type": "interval", "seconds": 1e-6, "tags": ["kill-test"]}],
    "budget": {"max_count": 40},
    "image": {"jpeg_quality": 80},
    "counters_flush_s": 0,
}


@dataclass
class RunKillReport(KillReport):
    """``KillReport`` (``kills``: rounds killed) plus rounds whose command ended before its kill
    (cleanly, or with an error); every round's spool is checked."""

    ended_before_kill: int = 0
    crashed: int = 0
    inserts_logged: int = 0  # every insert that returned (an image evicted and kept again counts twice)


def _ready_count(log: Path) -> int:
    return log.read_text().count("R\n") if log.exists() else 0


def run_kill_rounds(
    root: Path, bundle: Path, video: Path, kills: int, seed: int = 0, max_delay_s: float = 1.5
) -> RunKillReport:
    """Start ``edgeloop run --capture`` on ``video``, SIGKILL it at a random moment, check the spool;
    ``kills`` times."""
    root.mkdir(parents=True, exist_ok=True)
    spool_dir, log, policy = root / "spool", root / "acknowledged.log", root / "policy.json"
    policy.write_text(json.dumps(RUN_POLICY))  # YAML is a superset of JSON
    rng, report = random.Random(seed), RunKillReport()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "EDGELOOP_CAPTURE_KEPT_LOG": str(log)}
    args = [
        sys.executable, "-m", "edgeloop.cli", "run", str(bundle), "--source", str(video),
        "--capture", str(policy), "--spool", str(spool_dir), "--device-id", "kill-test",
        "--stats-every", "0",
    ]  # fmt: skip
    for round_ in range(kills):
        ready = _ready_count(log)
        with open(root / "stderr.txt", "w") as stderr:
            proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
            deadline = time.monotonic() + 120
            while _ready_count(log) <= ready:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    raise RuntimeError(
                        f"edgeloop run did not start: {(root / 'stderr.txt').read_text()[-2000:]}"
                    )
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, max_delay_s))
            if proc.poll() is not None:
                report.ended_before_kill += proc.returncode == 0
                report.crashed += proc.returncode != 0
            else:
                os.kill(proc.pid, signal.SIGKILL)
                report.kills += 1
            proc.wait()
        report.add(check_spool(spool_dir, acknowledged(log)), round_)
    report.acknowledged = len(acknowledged(log))
    report.inserts_logged = sum(line.startswith("K ") for line in log.read_text().splitlines())
    return report
