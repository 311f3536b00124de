#!/usr/bin/env python
"""Capture spool under faults: kill -9 at random moments, and a day-long budget run.

1. ``--kills`` times: a child process captures synthetic frames through the
   ``Capture`` API at full speed (fsynced log of every insert that returned);
   with ``--target run``, the child is the real ``edgeloop run BUNDLE --source
   VIDEO --capture POLICY --spool DIR`` at full pipeline speed (a colour-detector
   bundle on a 60 s synthetic video, ffmpeg's testsrc2);
   it is killed with SIGKILL after a random delay; the spool is reopened and
   checked: integrity_check, every acknowledged insert present (or evicted, or
   acked) with its sha256 intact, no orphan or temp files, counters equal to
   the rows. Target: lost, corrupt, orphans, mismatches all 0.
2. ``--hours`` simulated hours at 1 frame/s (fake clock) into a ``--budget``
   frame budget; the kept set and every counter are recomputed offline.
   Target: exactly ``--budget`` kept, the same frames, the same counts.

    python benchmarks/capture_faults.py [--kills 100] [--hours 24] [--budget 5000] [--seed 0]
        [--target api|run]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgeloop.importer import import_onnx
from edgeloop.testing.capture_budget import budget_run
from edgeloop.testing.capture_faults import KillReport, kill_rounds
from edgeloop.testing.onnx_models import colour_detector
from edgeloop.testing.run_capture_faults import run_kill_rounds


def run_target_kills(work: Path, kills: int, seed: int, max_delay_s: float) -> KillReport:
    """The kill rounds against ``edgeloop run --capture`` on a generated bundle and video."""
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is needed to make the test video: apt-get install ffmpeg")
    work.mkdir(parents=True)
    bundle = import_onnx(colour_detector(work / "colour.onnx"), work / "bundle").root
    video = work / "testsrc2.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
         "-t", "60", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )  # fmt: skip
    return run_kill_rounds(work / "rounds", bundle, video, kills, seed, max_delay_s)


def table(title: str, rows: list[tuple[str, object]]) -> None:
    print(f"\n{title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--max-delay", type=float, default=1.0, help="longest wait before a kill (s)")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--budget", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--target",
        choices=("api", "run"),
        default="api",
        help="kill a child using the Capture API (api) or the real `edgeloop run --capture` (run)",
    )
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        if args.kills:
            t0 = time.perf_counter()
            if args.target == "run":
                kills = run_target_kills(Path(tmp) / "run", args.kills, args.seed, args.max_delay)
            else:
                kills = kill_rounds(Path(tmp) / "kill", args.kills, args.seed, args.max_delay)
            bad = (kills.lost, kills.corrupt, kills.orphans, kills.temp_files, kills.integrity_failures)
            failed |= any(bad) or bool(kills.counter_mismatches) or kills.rows_without_file > 0
            failed |= getattr(kills, "crashed", 0) > 0
            table(
                f"kill -9, target {args.target} ({time.perf_counter() - t0:.0f} s)",
                [
                    ("kills", kills.kills),
                    ("inserts acknowledged (distinct images)", kills.acknowledged),
                    ("lost", kills.lost),
                    ("corrupt (sha256 mismatch)", kills.corrupt),
                    ("orphan files after reopen", kills.orphans),
                    ("temp files after reopen", kills.temp_files),
                    ("integrity_check failures", kills.integrity_failures),
                    ("counter mismatches", len(kills.counter_mismatches)),
                    ("rows without a file", kills.rows_without_file),
                    ("orphans cleaned on reopen", kills.orphans_reconciled),
                    ("temp files cleaned on reopen", kills.temp_reconciled),
                    *[
                        (k, v)
                        for k, v in vars(kills).items()
                        if k in ("inserts_logged", "ended_before_kill", "crashed")
                    ],
                ],
            )
            for line in kills.counter_mismatches[:10]:
                print(f"  ! {line}")
        if args.hours:
            t0 = time.perf_counter()
            report = budget_run(Path(tmp) / "budget", args.hours, args.budget, args.seed)
            same_frames = report.kept_frames == report.expected_frames
            same_counts = report.counters == report.expected_counters
            failed |= report.kept != args.budget or not same_frames or not same_counts
            rows: list[tuple[str, object]] = [
                ("offers (1 frame/s)", report.offers),
                ("kept at the end", report.kept),
                ("kept = the best (offline)", same_frames),
                ("counters = offline", same_counts),
            ]
            rows += [(name, value) for name, value in sorted(report.counters.items())]
            table(f"budget: {args.hours:g} h into {args.budget} ({time.perf_counter() - t0:.0f} s)", rows)
            if not same_counts:
                print(f"  ! offline: {report.expected_counters}")
    print("\nFAIL" if failed else "\nOK")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
