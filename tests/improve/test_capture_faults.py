"""Acceptance: kill -9 at random moments loses nothing; a day at 1 frame/s keeps exactly the best.

Scaled down here; benchmarks/capture_faults.py runs the full counts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeloop.testing.capture_budget import budget_run
from edgeloop.testing.capture_faults import crash_at, kill_rounds


def test_kill_9_loses_nothing(tmp_path: Path) -> None:
    report = kill_rounds(tmp_path, kills=10, seed=1)
    assert report.kills == 10 and report.acknowledged > 0
    assert (report.lost, report.corrupt, report.orphans, report.temp_files) == (0, 0, 0, 0)
    assert report.integrity_failures == 0 and report.rows_without_file == 0
    assert report.counter_mismatches == []


def test_budget_keeps_exactly_the_highest_valued(tmp_path: Path) -> None:
    """2 simulated hours at 1 frame/s into a 500-frame budget (the benchmark: 24 h into 5,000)."""
    report = budget_run(tmp_path, hours=2, max_count=500, seed=3)
    assert report.offers == 7200 and report.kept == 500
    assert report.kept_frames == report.expected_frames  # the 500 best, recomputed offline
    assert report.counters == report.expected_counters  # every drop, by reason, and every eviction
    drops = {k: v for k, v in report.counters.items() if k.startswith("dropped:")}
    assert set(drops) == {
        "dropped:privacy_drop",
        "dropped:not_selected",
        "dropped:probability",
        "dropped:budget",
    }
    assert report.counters["kept"] - report.counters["evicted"] == 500
    assert sum(drops.values()) + report.counters["kept"] == report.counters["offered"] == 7200


@pytest.mark.parametrize(
    ("point", "cleaned"),
    [
        ("temp_written", "temp_files_removed"),  # the temp file goes
        ("file_renamed", "orphan_files_removed"),  # the file without a row goes
        ("evicted", "orphan_files_removed"),  # the evicted sample's file goes
        ("acked", "orphan_files_removed"),  # the acked sample's file goes
    ],
)
def test_crash_in_each_window_of_the_write_protocol(tmp_path: Path, point: str, cleaned: str) -> None:
    check = crash_at(tmp_path, point)
    assert check.reconciled.get(cleaned) == 1 and check.reconciled.get("rows_without_file") == 0
    assert (check.lost, check.corrupt, check.orphans, check.temp_files) == (0, 0, 0, 0)
    assert check.integrity == "ok" and check.counter_mismatches == []
