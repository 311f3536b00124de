#!/usr/bin/env python
"""Capture spool under faults: kill -9 at random moments, and a day-long budget run.

1. ``--kills`` times: a child process captures synthetic frames through the
   ``Capture`` API at full speed (fsynced log of every insert that returned);
   it is killed with SIGKILL after a random delay; the spool is reopened and
   checked: integrity_check, every acknowledged insert present (or evicted, or
   acked) with its sha256 intact, no orphan or temp files, counters equal to
   the rows. Target: lost, corrupt, orphans, mismatches all 0.
2. ``--hours`` simulated hours at 1 frame/s (fake clock) into a ``--budget``
   frame budget; the kept set and every counter are recomputed offline.
   Target: exactly ``--budget`` kept, the same frames, the same counts.

    python benchmarks/capture_faults.py [--kills 100] [--hours 24] [--budget 5000] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from edgeloop.testing.capture_budget import budget_run
from edgeloop.testing.capture_faults import kill_rounds


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
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        if args.kills:
            t0 = time.perf_counter()
            kills = kill_rounds(Path(tmp) / "kill", args.kills, args.seed, args.max_delay)
            bad = (kills.lost, kills.corrupt, kills.orphans, kills.temp_files, kills.integrity_failures)
            failed |= any(bad) or bool(kills.counter_mismatches) or kills.rows_without_file > 0
            table(
                f"kill -9 ({time.perf_counter() - t0:.0f} s)",
                [
                    ("kills", kills.kills),
                    ("inserts acknowledged", kills.acknowledged),
                    ("lost", kills.lost),
                    ("corrupt (sha256 mismatch)", kills.corrupt),
                    ("orphan files after reopen", kills.orphans),
                    ("temp files after reopen", kills.temp_files),
                    ("integrity_check failures", kills.integrity_failures),
                    ("counter mismatches", len(kills.counter_mismatches)),
                    ("rows without a file", kills.rows_without_file),
                    ("orphans cleaned on reopen", kills.orphans_reconciled),
                    ("temp files cleaned on reopen", kills.temp_reconciled),
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
